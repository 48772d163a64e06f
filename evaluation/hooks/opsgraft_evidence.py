"""What every sandbox hook shares: writing an evidence line, and turning values into JSON.

The hooks (``hook_*.py``) import this module by name: the sandbox puts this folder first on
``PYTHONPATH``. Evidence goes to ``$OPSGRAFT_EVIDENCE_DIR``, a folder the sandbox makes outside
the program's workdir (``<root>/.sandbox/evidence``), so no file the candidate ships can land
there. While :func:`emit` writes, ``writing.active`` is set: the write audit of
``sitecustomize.py`` reports any other write into the sandbox's own folder as a write outside the
workdir, so a program that writes "evidence" itself fails. Never raises into the program.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

# Set while a hook writes evidence; read by sitecustomize's write audit.
writing = threading.local()


def emit(filename: str, record: dict[str, Any]) -> None:
    """Append ``record`` as one JSON line to ``$OPSGRAFT_EVIDENCE_DIR/filename``.

    Adds ``t`` (``time.monotonic_ns()``, for ordering within a machine), ``wall`` (Unix time in
    seconds, comparable with MLflow's and W&B's timestamps) and ``pid`` unless the record has them.
    """
    folder = os.environ.get("OPSGRAFT_EVIDENCE_DIR")
    if not folder:
        return
    writing.active = True
    try:
        record.setdefault("t", time.monotonic_ns())
        record.setdefault("wall", time.time())
        record.setdefault("pid", os.getpid())
        line = json.dumps(record, default=repr) + "\n"
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, filename), "a", encoding="utf-8") as fh:
            fh.write(line)
    except Exception:
        pass
    finally:
        writing.active = False


def jsonable(value: Any) -> Any:
    """A JSON scalar for ``value``: numbers, strings, bools and None as they are, numpy/torch 0-d
    values as Python numbers, anything else as a short ``repr``."""
    scalar_value = scalar(value)
    if scalar_value is not None or value is None:
        return scalar_value
    return repr(value)[:200]


def scalar(value: Any) -> Any:
    """``value`` as a JSON scalar (numpy/torch 0-d values unwrapped), or None when it is not one."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:
        try:
            return scalar(item())
        except Exception:
            return None
    return None
