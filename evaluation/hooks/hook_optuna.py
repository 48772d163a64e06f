"""Sandbox hook for Optuna: records each study's trials, its best params and when they were read.

Writes ``optuna.jsonl`` into ``$OPSGRAFT_EVIDENCE_DIR``. Events:
``optimize_end`` / ``tell`` / ``exit`` carry a study summary (trial counts, best params);
``best_access`` says the program read ``best_params`` or ``best_trial`` (never our own reads).
``t`` is ``time.monotonic_ns()``, comparable with the fit hooks' timestamps.
Never raises into the program.
"""

from __future__ import annotations

import atexit
import functools
import threading
from typing import Any

from opsgraft_evidence import emit, jsonable  # the hooks folder is on PYTHONPATH

TARGET = "optuna"
FILE = "optuna.jsonl"

_tl = threading.local()
_studies: list[Any] = []


def _summary(study: Any, event: str) -> None:
    """Emit what the study holds now; our own reads of best_* are not the program's."""
    _tl.internal = True
    try:
        from optuna.trial import TrialState

        trials = study.get_trials(deepcopy=False)
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        record: dict[str, Any] = {
            "event": event,
            "study": getattr(study, "study_name", ""),
            "n_trials": len(trials),
            "n_complete": len(complete),
            "best_params": None,
            "best_value": None,
        }
        if complete and len(study.directions) == 1:
            best = study.best_trial
            record["best_params"] = {k: jsonable(v) for k, v in best.params.items()}
            record["best_value"] = jsonable(best.value)
        emit(FILE, record)
    except Exception:
        pass
    finally:
        _tl.internal = False


def _remember(study: Any) -> None:
    if not any(s is study for s in _studies):
        _studies.append(study)


def _at_exit() -> None:
    for study in list(_studies):
        _summary(study, "exit")


def install(module: Any) -> None:
    """Wrap Study.optimize/tell/__init__ and the best_params/best_trial properties."""
    try:
        from optuna.study import Study
    except Exception:
        return
    if getattr(Study, "_opsgraft_hooked", False):
        return
    try:
        original_init = Study.__init__

        @functools.wraps(original_init)
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            original_init(self, *args, **kwargs)
            try:
                _remember(self)
            except Exception:
                pass

        original_optimize = Study.optimize

        @functools.wraps(original_optimize)
        def optimize(self: Any, *args: Any, **kwargs: Any) -> Any:
            _remember(self)
            emit(FILE, {"event": "optimize_start", "study": getattr(self, "study_name", "")})
            try:
                return original_optimize(self, *args, **kwargs)
            finally:
                _summary(self, "optimize_end")

        original_tell = Study.tell

        @functools.wraps(original_tell)
        def tell(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = original_tell(self, *args, **kwargs)
            _remember(self)
            _summary(self, "tell")
            return result

        def _watch(attr: str) -> property:
            getter = getattr(Study, attr).fget

            @functools.wraps(getter)
            def read(self: Any) -> Any:
                if not getattr(_tl, "internal", False):
                    emit(FILE, {"event": "best_access", "attr": attr, "study": getattr(self, "study_name", "")})
                return getter(self)

            return property(read)

        Study.__init__ = __init__  # type: ignore[method-assign]
        Study.optimize = optimize  # type: ignore[method-assign]
        Study.tell = tell  # type: ignore[method-assign]
        for attr in ("best_params", "best_trial"):
            setattr(Study, attr, _watch(attr))
        Study._opsgraft_hooked = True  # type: ignore[attr-defined]
        atexit.register(_at_exit)
    except Exception:
        pass
