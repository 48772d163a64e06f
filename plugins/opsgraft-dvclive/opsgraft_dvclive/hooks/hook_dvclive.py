"""Sandbox hook for DVCLive: records what the program asked ``dvclive.Live`` to do, and when.

Writes ``dvclive.jsonl`` into ``$OPSGRAFT_EVIDENCE_DIR`` (outside the workdir, where the program
cannot write by accident). Events: ``init`` (the Live's output folder, absolute), ``log_metric``
(name, step, value: the first few thousand calls, then one ``dropped`` count at exit),
``log_params`` (the keys), ``next_step`` (the step it ended), ``end``. The checker reads the files
DVCLive wrote and uses these lines to tell files DVCLive wrote from files the program wrote itself,
and to time the metrics against the training the other hooks saw. Never raises into the program.
"""

from __future__ import annotations

import atexit
import functools
import os
from typing import Any

from opsgraft_evidence import emit, jsonable  # the core hooks folder is on PYTHONPATH

TARGET = "dvclive.live"
FILE = "dvclive.jsonl"
_MAX_METRIC_LINES = 5000
_dropped = [0, 0]  # [metric lines not written, metric lines written]


def _safe(record: dict[str, Any]) -> None:
    try:
        emit(FILE, record)
    except Exception:
        pass


def _wrap(cls: Any, name: str, before: Any) -> None:
    original = getattr(cls, name, None)
    if original is None or getattr(original, "_opsgraft_wrapped", False):
        return

    @functools.wraps(original)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        try:
            before(self, args, kwargs)
        except Exception:
            pass
        return result

    wrapper._opsgraft_wrapped = True  # type: ignore[attr-defined]
    setattr(cls, name, wrapper)


def _init(live: Any, args: tuple, kwargs: dict) -> None:
    _safe({"event": "init", "dir": os.path.abspath(str(live.dir)), "id": id(live)})


def _log_metric(live: Any, args: tuple, kwargs: dict) -> None:
    if _dropped[1] >= _MAX_METRIC_LINES:
        _dropped[0] += 1
        return
    _dropped[1] += 1
    name = args[0] if args else kwargs.get("name")
    value = args[1] if len(args) > 1 else kwargs.get("val")
    plot = kwargs.get("plot", args[3] if len(args) > 3 else True)
    _safe({"event": "log_metric", "name": str(name), "step": jsonable(live.step), "value": jsonable(value),
           "plot": bool(plot), "id": id(live)})


def _log_params(live: Any, args: tuple, kwargs: dict) -> None:
    params = args[0] if args else kwargs.get("params", {})
    _safe({"event": "log_params", "keys": [str(k) for k in dict(params)][:200], "id": id(live)})


def _next_step(live: Any, args: tuple, kwargs: dict) -> None:
    _safe({"event": "next_step", "step": jsonable(live.step), "id": id(live)})


def _end(live: Any, args: tuple, kwargs: dict) -> None:
    _safe({"event": "end", "id": id(live)})


def _at_exit() -> None:
    if _dropped[0]:
        _safe({"event": "dropped", "log_metric": _dropped[0]})


def install(module: Any) -> None:
    cls = module.Live
    _wrap(cls, "__init__", _init)
    _wrap(cls, "log_metric", _log_metric)
    _wrap(cls, "log_params", _log_params)  # log_param calls log_params
    _wrap(cls, "next_step", _next_step)
    _wrap(cls, "end", _end)
    atexit.register(_at_exit)
    _safe({"event": "install"})
