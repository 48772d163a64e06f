"""Sandbox hook for scikit-learn: records every outermost ``fit`` with the estimator's params.

Writes ``fit.jsonl`` into ``$OPSGRAFT_EVIDENCE_DIR``: one ``{"framework": "sklearn", ...}`` line
per successful outermost fit (nested fits inside a Pipeline or a search are not recorded), with
``t`` = the fit's start as ``time.monotonic_ns()``, ``wall_start``/``wall`` = its start/end as
``time.time()``, ``predictor`` (whether the estimator predicts: a model, not a scaler), the
estimator's deep params and the shape of what it was fitted on. The first rows of the first
outermost fit's ``X`` go to ``rows-sklearn.npy``. ``partial_fit`` calls, which a
program may make thousands of times, are throttled: an ``event: "partial_fit"`` line on the
1st, 2nd, 4th, 8th... call of each estimator and one at exit, with ``count`` and the first call's
start as ``wall_start``. An ``{"event": "install", "hook": "sklearn"}`` line says sklearn was
imported, so a checker can tell "no training" from "training it cannot see". Estimator classes
defined after install are wrapped via ``BaseEstimator.__init_subclass__``. Never raises into the
program.
"""

from __future__ import annotations

import atexit
import functools
import threading
import time
import types
from typing import Any

from opsgraft_evidence import emit, jsonable, save_rows  # the hooks folder is on PYTHONPATH

TARGET = "sklearn"
FILE = "fit.jsonl"
_METHODS = ("fit", "fit_transform", "fit_predict", "partial_fit")

_tl = threading.local()
# id(estimator) -> its partial_fit calls: count, first start, last end, count at the last line
_partial: dict[int, dict[str, Any]] = {}


def _record(estimator: Any, started: int, wall_start: float, event: str = "fit", **extra: Any) -> None:
    try:
        params = estimator.get_params(deep=True)
    except Exception:
        params = {}
    record: dict[str, Any] = {
        "framework": "sklearn",
        "event": event,
        "t": started,
        "wall_start": wall_start,
        "estimator": type(estimator).__name__,
        "predictor": _predicts(estimator),
        "params": {str(k): jsonable(v) for k, v in params.items()},
        **extra,
    }
    n_features = getattr(estimator, "n_features_in_", None)
    if n_features is None and hasattr(estimator, "steps"):
        # A Pipeline's first step saw the raw columns.
        n_features = getattr(estimator.steps[0][1], "n_features_in_", None)
    if n_features is not None:
        record["n_features_in"] = jsonable(n_features)
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        record["feature_names_in"] = [str(n) for n in list(names)[:1000]]
    emit(FILE, record)


def _predicts(estimator: Any) -> bool:
    """Whether ``estimator`` is a model (it predicts), not only a transformer such as a scaler."""
    try:
        return callable(getattr(estimator, "predict", None))
    except Exception:  # an available_if check that raises something other than AttributeError
        return False


def _partial_fit_done(estimator: Any, started: int, wall_start: float) -> None:
    """Count one outermost partial_fit; write a line only on power-of-two counts (cheap)."""
    try:
        info = _partial.get(id(estimator))
        if info is None:
            info = _partial[id(estimator)] = {"count": 0, "wall_start": wall_start, "emitted": 0}
            info["name"] = type(estimator).__name__
            info["predictor"] = _predicts(estimator)
        info["count"] += 1
        info["wall_end"] = time.time()
        if info["count"] & (info["count"] - 1) == 0:
            info["emitted"] = info["count"]
            _record(estimator, started, info["wall_start"], "partial_fit", count=info["count"])
    except Exception:
        pass


def _partial_fit_exit() -> None:
    for info in list(_partial.values()):
        if info["count"] != info["emitted"]:
            emit(FILE, {
                "framework": "sklearn", "event": "partial_fit", "estimator": info["name"],
                "predictor": info["predictor"], "count": info["count"],
                "wall_start": info["wall_start"], "wall": info["wall_end"],
            })


def _wrap(method: Any, name: str) -> Any:
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        depth = getattr(_tl, "depth", 0)
        _tl.depth = depth + 1
        started, wall_start = time.monotonic_ns(), time.time()
        try:
            result = method(self, *args, **kwargs)
        finally:
            _tl.depth = depth
        if depth == 0:
            if name == "partial_fit":
                _partial_fit_done(self, started, wall_start)
            else:
                _record(self, started, wall_start)
            # X of the first fit: the rows mlflow-registration predicts on (kept once)
            save_rows("sklearn", args[0] if args else kwargs.get("X"))
        return result

    wrapper._opsgraft_wrapped = True  # type: ignore[attr-defined]
    return wrapper


def _wrap_class(cls: type) -> None:
    for name in _METHODS:
        method = cls.__dict__.get(name)
        if isinstance(method, types.FunctionType) and not getattr(method, "_opsgraft_wrapped", False):
            try:
                setattr(cls, name, _wrap(method, name))
            except Exception:
                pass
        # MLP's partial_fit sits behind sklearn's available_if descriptor: wrap the function inside.
        inner = getattr(method, "fn", None)
        if isinstance(inner, types.FunctionType) and not getattr(inner, "_opsgraft_wrapped", False):
            try:
                method.fn = _wrap(inner, name)  # type: ignore[union-attr]
            except Exception:
                pass


def _wrap_tree(cls: type) -> None:
    _wrap_class(cls)
    sub: type
    for sub in cls.__subclasses__():
        _wrap_tree(sub)


def install(module: Any) -> None:
    """Wrap fit methods of existing and future BaseEstimator subclasses."""
    try:
        from sklearn.base import BaseEstimator
    except Exception:
        return
    if getattr(BaseEstimator, "_opsgraft_hooked", False):
        return
    try:
        own = BaseEstimator.__dict__.get("__init_subclass__")

        def __init_subclass__(cls: type, **kwargs: Any) -> None:
            if own is not None:
                getattr(own, "__func__", own)(cls, **kwargs)
            else:
                super(BaseEstimator, cls).__init_subclass__(**kwargs)  # type: ignore[misc]
            _wrap_class(cls)

        BaseEstimator.__init_subclass__ = classmethod(__init_subclass__)  # type: ignore[assignment]
        _wrap_tree(BaseEstimator)
        BaseEstimator._opsgraft_hooked = True  # type: ignore[attr-defined]
        atexit.register(_partial_fit_exit)
        emit(FILE, {"event": "install", "hook": "sklearn"})
    except Exception:
        pass
