"""Sandbox hook for scikit-learn: records every outermost ``fit`` with the estimator's params.

Writes ``fit.jsonl`` into ``$OPSGRAFT_EVIDENCE_DIR``: one ``{"framework": "sklearn", ...}`` line
per successful outermost fit (nested fits inside a Pipeline or a search are not recorded), with
``t`` = the fit's start as ``time.monotonic_ns()``, the estimator's deep params and the shape of
what it was fitted on. Estimator classes defined after install are wrapped via
``BaseEstimator.__init_subclass__``. Never raises into the program.
"""

from __future__ import annotations

import functools
import threading
import time
import types
from typing import Any

from opsgraft_evidence import emit, jsonable  # the hooks folder is on PYTHONPATH

TARGET = "sklearn"
FILE = "fit.jsonl"
_METHODS = ("fit", "fit_transform", "fit_predict")

_tl = threading.local()


def _record(estimator: Any, started: int) -> None:
    try:
        params = estimator.get_params(deep=True)
    except Exception:
        params = {}
    record: dict[str, Any] = {
        "framework": "sklearn",
        "event": "fit",
        "t": started,
        "estimator": type(estimator).__name__,
        "params": {str(k): jsonable(v) for k, v in params.items()},
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


def _wrap(method: Any) -> Any:
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        depth = getattr(_tl, "depth", 0)
        _tl.depth = depth + 1
        started = time.monotonic_ns()
        try:
            result = method(self, *args, **kwargs)
        finally:
            _tl.depth = depth
        if depth == 0:
            _record(self, started)
        return result

    wrapper._opsgraft_wrapped = True  # type: ignore[attr-defined]
    return wrapper


def _wrap_class(cls: type) -> None:
    for name in _METHODS:
        method = cls.__dict__.get(name)
        if isinstance(method, types.FunctionType) and not getattr(method, "_opsgraft_wrapped", False):
            try:
                setattr(cls, name, _wrap(method))
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
    except Exception:
        pass
