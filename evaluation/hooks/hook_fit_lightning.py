"""Sandbox hook for PyTorch Lightning: records each ``Trainer.fit`` with what it can see of the setup.

Writes ``fit.jsonl`` into ``$OPSGRAFT_EVIDENCE_DIR``: one ``{"framework": "lightning", ...}`` line
per call, written when the call starts (``t`` = ``time.monotonic_ns()``), with the module's
``hparams`` (scalars only), the trainer's ``max_epochs`` and the train loader's ``batch_size``.
A ``fit_end`` line follows when the call returns (``wall_start`` = its start), and an
``install`` line says Lightning was imported. Never raises into the program.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from opsgraft_evidence import emit, scalar  # the hooks folder is on PYTHONPATH

TARGET = "pytorch_lightning"
FILE = "fit.jsonl"


def _params(trainer: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    model = args[0] if args else kwargs.get("model")
    try:
        for key, value in dict(getattr(model, "hparams", {}) or {}).items():
            plain = scalar(value)
            if plain is not None:
                params[str(key)] = plain
    except Exception:
        pass
    try:
        params["max_epochs"] = scalar(trainer.fit_loop.max_epochs)
    except Exception:
        pass
    loader = args[1] if len(args) > 1 else kwargs.get("train_dataloaders")
    batch_size = scalar(getattr(loader, "batch_size", None))
    if batch_size is not None:
        params["batch_size"] = batch_size
    return params


def install(module: Any) -> None:
    """Wrap ``Trainer.fit``."""
    try:
        trainer_cls = module.Trainer
        if getattr(trainer_cls, "_opsgraft_hooked", False):
            return
        original = trainer_cls.fit

        @functools.wraps(original)
        def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                model = args[0] if args else kwargs.get("model")
                emit(FILE,
                    {
                        "framework": "lightning",
                        "event": "fit",
                        "estimator": type(model).__name__,
                        "params": _params(self, args, kwargs),
                    }
                )
            except Exception:
                pass
            wall_start = time.time()
            result = original(self, *args, **kwargs)
            # The end of training, so that checkers see the whole interval (wall_start..wall).
            emit(FILE, {"framework": "lightning", "event": "fit_end", "wall_start": wall_start})
            return result

        trainer_cls.fit = fit
        trainer_cls._opsgraft_hooked = True
        emit(FILE, {"event": "install", "hook": "lightning"})  # imported: a fit can be observed
    except Exception:
        pass
