"""Sandbox hook for Optuna: records each study's trials (their params and time windows), its
best params and when they were read.

Writes ``optuna.jsonl`` into ``$OPSGRAFT_EVIDENCE_DIR``. Events:
``trial_start`` / ``trial_end`` bracket one trial (``study``, ``number``; ``trial_end`` adds its
``params`` and ``state``), from ``ask``/``tell`` and from the objective inside ``optimize``;
``optimize_end`` / ``tell`` / ``exit`` carry a study summary (trial counts, best params, and at
``optimize_end``/``exit`` the finished trials' numbers, states and params);
``best_access`` says the program read ``best_params`` or ``best_trial`` (never our own reads).
``t`` is ``time.monotonic_ns()``, comparable with the fit and torch hooks' timestamps, so the
checker can tell which training ran inside which trial. Never raises into the program.
"""

from __future__ import annotations

import atexit
import functools
import threading
from typing import Any

from opsgraft_evidence import emit, jsonable  # the hooks folder is on PYTHONPATH

TARGET = "optuna"
FILE = "optuna.jsonl"
_MAX_TRIALS = 2000  # per summary: enough for any corpus study, bounded for huge ones

_tl = threading.local()
_studies: list[Any] = []


def _params(trial: Any) -> dict[str, Any]:
    return {str(k): jsonable(v) for k, v in dict(trial.params).items()}


def _summary(study: Any, event: str, with_trials: bool = False) -> None:
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
            record["best_params"] = _params(best)
            record["best_value"] = jsonable(best.value)
            record["best_number"] = best.number
        if with_trials:
            record["trials"] = [
                {"number": t.number, "state": t.state.name, "params": _params(t)}
                for t in trials[-_MAX_TRIALS:]
                if t.state.is_finished()
            ]
        emit(FILE, record)
    except Exception:
        pass
    finally:
        _tl.internal = False


def _trial_event(study: Any, trial: Any, event: str, state: str | None = None) -> None:
    try:
        record: dict[str, Any] = {"event": event, "study": getattr(study, "study_name", ""), "number": trial.number}
        if event == "trial_end":
            record["params"] = _params(trial)
            record["state"] = state
        emit(FILE, record)
    except Exception:
        pass


def _remember(study: Any) -> None:
    if not any(s is study for s in _studies):
        _studies.append(study)


def _at_exit() -> None:
    for study in list(_studies):
        _summary(study, "exit", with_trials=True)


def _timed_objective(study: Any, func: Any) -> Any:
    """``func`` wrapped so that each call brackets its trial with trial_start/trial_end."""

    @functools.wraps(func)
    def objective(trial: Any, *args: Any, **kwargs: Any) -> Any:
        _trial_event(study, trial, "trial_start")
        state = "FAIL"
        try:
            result = func(trial, *args, **kwargs)
            state = "RETURNED"
            return result
        except BaseException as exc:
            state = "PRUNED" if type(exc).__name__ == "TrialPruned" else "FAIL"
            raise
        finally:
            _trial_event(study, trial, "trial_end", state)

    return objective


def install(module: Any) -> None:
    """Wrap Study.__init__/optimize/ask/tell and the best_params/best_trial properties."""
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
        def optimize(self: Any, func: Any, *args: Any, **kwargs: Any) -> Any:
            _remember(self)
            emit(FILE, {"event": "optimize_start", "study": getattr(self, "study_name", "")})
            try:
                wrapped = _timed_objective(self, func) if callable(func) else func
            except Exception:
                wrapped = func
            try:
                return original_optimize(self, wrapped, *args, **kwargs)
            finally:
                _summary(self, "optimize_end", with_trials=True)

        original_ask = Study.ask

        @functools.wraps(original_ask)
        def ask(self: Any, *args: Any, **kwargs: Any) -> Any:
            trial = original_ask(self, *args, **kwargs)
            _trial_event(self, trial, "trial_start")
            return trial

        original_tell = Study.tell

        @functools.wraps(original_tell)
        def tell(self: Any, trial: Any, *args: Any, **kwargs: Any) -> Any:
            result = original_tell(self, trial, *args, **kwargs)
            _remember(self)
            try:
                number = trial if isinstance(trial, int) else trial.number
                frozen = self.get_trials(deepcopy=False)[number]
                _trial_event(self, frozen, "trial_end", frozen.state.name)
            except Exception:
                pass
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
        Study.ask = ask  # type: ignore[method-assign]
        Study.tell = tell  # type: ignore[method-assign]
        for attr in ("best_params", "best_trial"):
            setattr(Study, attr, _watch(attr))
        Study._opsgraft_hooked = True  # type: ignore[attr-defined]
        atexit.register(_at_exit)
    except Exception:
        pass
