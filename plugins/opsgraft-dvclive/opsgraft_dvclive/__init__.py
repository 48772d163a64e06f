"""opsgraft-dvclive: the ``tracking:dvclive`` adapter, its checker, sandbox hook and corpus tasks."""
