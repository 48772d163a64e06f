"""Sandbox hook for Keras 3: records each ``Model.fit`` with the optimizer and layer settings.

Writes ``fit.jsonl`` into ``$OPSGRAFT_EVIDENCE_DIR``: one ``{"framework": "keras", ...}`` line per
call, written when it starts (``t`` = ``time.monotonic_ns()``). ``params`` holds the fit's
``epochs``/``batch_size``, the optimizer's config (``learning_rate``...) and each layer's scalar
config as ``<layer>__<key>``. The first rows of the first fit's ``x`` go to ``rows-keras.npy``.
A ``fit_end`` line follows when the call returns (``wall_start`` = its start), and an ``install``
line says keras was imported. Never raises into the program.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from opsgraft_evidence import emit, save_rows, scalar  # the hooks folder is on PYTHONPATH

TARGET = "keras"
FILE = "fit.jsonl"
_LAYER_KEYS = ("units", "filters", "rate", "kernel_size", "activation", "l1", "l2")


def _params(model: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key in ("epochs", "batch_size"):
        if scalar(kwargs.get(key)) is not None:
            params[key] = scalar(kwargs[key])
    try:
        for key, value in (model.optimizer.get_config() or {}).items():
            if scalar(value) is not None:
                params[f"optimizer__{key}"] = scalar(value)
    except Exception:
        pass
    try:
        for layer in model.layers:
            config = layer.get_config()
            for key in _LAYER_KEYS:
                value = config.get(key)
                if isinstance(value, list | tuple) and len(value) == 1:
                    value = value[0]
                if scalar(value) is not None:
                    params[f"{layer.name}__{key}"] = scalar(value)
    except Exception:
        pass
    return params


def install(module: Any) -> None:
    """Wrap ``keras.Model.fit``."""
    try:
        model_cls = module.Model
        if getattr(model_cls, "_opsgraft_hooked", False):
            return
        original = model_cls.fit

        @functools.wraps(original)
        def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                named = dict(kwargs)
                # fit(x, y, batch_size, epochs, ...) positionally
                for index, key in ((2, "batch_size"), (3, "epochs")):
                    if len(args) > index:
                        named[key] = args[index]
                named.setdefault("epochs", 1)
                emit(FILE,
                    {
                        "framework": "keras",
                        "event": "fit",
                        "estimator": type(self).__name__,
                        "params": _params(self, named),
                    }
                )
            except Exception:
                pass
            # The first rows of x (arrays and tensors; not datasets): what mlflow-registration
            # predicts on. Kept once per process.
            save_rows("keras", args[0] if args else kwargs.get("x"))
            wall_start = time.time()
            result = original(self, *args, **kwargs)
            # The end of training, so that checkers see the whole interval (wall_start..wall).
            emit(FILE, {"framework": "keras", "event": "fit_end", "wall_start": wall_start})
            return result

        model_cls.fit = fit
        model_cls._opsgraft_hooked = True
        emit(FILE, {"event": "install", "hook": "keras"})  # imported: a fit can be observed
    except Exception:
        pass
