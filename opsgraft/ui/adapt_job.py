"""The Adapt page's job: ``opsgraft adapt --config FILE`` (or translate), run in-process, its events streamed.

The page writes the form as a config file (:mod:`opsgraft.commands.config_file`) and runs the very
command a user would type, so a run the page started and ``opsgraft adapt --config FILE`` cannot
differ. The command reports to :data:`opsgraft.commands._common.event_listener`; this module turns
those events into the job's messages and stops the run when the job is cancelled.
"""

from __future__ import annotations

import contextlib
import io
import threading
import time
from pathlib import Path
from typing import Any

from opsgraft.commands.config_file import Kind
from opsgraft.errors import ConfigError
from opsgraft.ui.backends import BackendPool

TOKEN_EVENT_PERIOD_S = 1.0  # at most one token-count event per sample per second


class _Listener:
    """Turns the command's (kind, data) events into job events; raises JobCancelled once cancelled."""

    def __init__(self, emit: Any, cancel: threading.Event) -> None:
        self.emit, self.cancel = emit, cancel
        self.total, self.done = 0, 0
        self.outcome: dict[str, Any] | None = None
        self._last_tokens: dict[int, float] = {}

    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        from opsgraft.ui.jobs import JobCancelled

        if self.cancel.is_set():
            raise JobCancelled("cancelled")
        if kind == "done":
            self.outcome = data
            return
        event = self.describe(kind, data)
        if event is not None:
            self.emit({"type": kind, "done": self.done, "total": max(self.total, 1), **event})

    def describe(self, kind: str, data: dict[str, Any]) -> dict[str, Any] | None:
        """The job event for one command event (None: not worth a line)."""
        if kind == "tokens":
            sample, now = int(data["sample"]), time.monotonic()
            if now - self._last_tokens.get(sample, 0.0) < TOKEN_EVENT_PERIOD_S:
                return None
            self._last_tokens[sample] = now
            rate = data["tokens"] / data["seconds"] if data["seconds"] > 0 else 0.0
            return {"sample": sample, "tokens": data["tokens"],
                    "message": f"  sample {sample + 1}: {data['tokens']} tokens, {rate:.1f} tok/s"}
        if kind == "retrieve":
            return {"message": f"retrieving docs ({data.get('strategy', '')})"}
        if kind == "generate":
            self.total += int(data["n"])
            return {"round": data["round"], "message": f"round {data['round']}: generating {data['n']} sample(s)"}
        if kind in ("repair", "resample", "restart"):
            if kind == "repair":
                self.total += 1
            what = {"repair": "repairing", "resample": "the answer repeated tried code; resampling",
                    "restart": "restarting from the original script"}[kind]
            return {"round": data["round"], "sample": data["sample"],
                    "message": f"round {data['round']}, sample {data['sample'] + 1}: {what}"}
        if kind == "judge":
            return {"round": data["round"], "sample": data["sample"],
                    "message": f"round {data['round']}, sample {data['sample'] + 1}: running in the sandbox"}
        if kind == "verdict":
            from opsgraft.adapters.repair_loop import summarize_failure

            self.done += 1
            attempt = data["attempt"]
            why = "" if data["status"] == "passed" else summarize_failure(attempt.result)
            return {"round": data["round"], "sample": data["sample"], "verdict": data["status"], "why": why,
                    "done": self.done,
                    "message": f"round {data['round']}, sample {data['sample'] + 1}: {data['status']}"
                               + (f": {why}" if why else "")}
        return None


def run_config(config: Path, kind: Kind, emit: Any, cancel: threading.Event,
               pool: BackendPool | None = None) -> dict[str, Any]:
    """Run ``opsgraft KIND --config CONFIG`` here; returns what it wrote and printed.

    With ``pool`` (the server's), the command's backend comes from it: the model is loaded once per
    server and model spec, not once per job.

    Returns:
        ``{"summary": what the command printed, "paths": {"code", "diff", "record"} or {} when it had
        nothing to do}``.

    Raises:
        ConfigError: the command refused its input (the message is the command's one line).
        JobCancelled: ``cancel`` was set.
    """
    import click

    from opsgraft.adapters.repair_loop import CheckerFault
    from opsgraft.commands._common import event_listener

    if kind == "adapt":
        from opsgraft.commands.adapt import adapt as command
    else:
        from opsgraft.commands.translate import translate as command
    listener = _Listener(emit, cancel)
    emit({"type": "start", "message": f"opsgraft {kind} --config {config}", "done": 0, "total": 1})
    printed = io.StringIO()
    token = event_listener.set(listener)
    fault = ""
    try:
        with contextlib.redirect_stdout(printed), (pool.active() if pool is not None else contextlib.nullcontext()):
            command.main(args=["--config", str(config)], prog_name=f"opsgraft {kind}", standalone_mode=False)
    except click.ClickException as exc:
        raise ConfigError(exc.format_message()) from None
    except CheckerFault as exc:  # the outputs were written; the page shows them with the fault
        listener.outcome, fault = {"result": exc.result}, str(exc)
    finally:
        event_listener.reset(token)
    summary = printed.getvalue()
    if listener.outcome is None:
        emit({"type": "finished", "message": summary.strip() or "nothing to do", "done": 1, "total": 1})
        return {"summary": summary, "paths": {}, "fault": fault}
    paths = {k: str(v) for k, v in listener.outcome["result"].paths.items()}
    emit({"type": "finished", "message": "finished", "done": max(listener.done, 1),
          "total": max(listener.total, listener.done, 1)})
    return {"summary": summary, "paths": paths, "fault": fault}
