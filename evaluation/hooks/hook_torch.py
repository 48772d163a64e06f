"""Sandbox hook for PyTorch: measures the effective weight sparsity of what each optimizer trains.

A global module forward-pre hook notes every module with a >= 2-d floating ``weight`` (Linear,
Conv...) that actually runs; a global optimizer step post hook counts steps and, on sampled
steps, measures the fraction of exact zeros in ``module.weight`` of the modules whose parameters
that optimizer updates (``weight_orig`` of torch.nn.utils.prune and parametrization originals
are the same Parameter objects, so they match). ``module.weight`` is what forward uses, so masks
of torch.nn.utils.prune and parametrizations show up. NNCF 3.x instead keeps the parameter dense
and multiplies it by a mask in a post-hook on the parameter inside the wrapped model's forward
(``model.__nncf_hooks``, ``post_hooks.<param>__0``): those masks are applied here too. Sampling backs off so that measuring takes at most about
2% of the run. Writes ``torch.jsonl`` into ``$OPSGRAFT_EVIDENCE_DIR``: ``optimizer`` (first step:
its parameter count and the device of its first parameter), ``step`` (a measurement) and one ``exit`` line per optimizer.
Never raises into the program.
"""

from __future__ import annotations

import atexit
import time
import weakref
from typing import Any

from opsgraft_evidence import emit  # the hooks folder is on PYTHONPATH

TARGET = "torch"
FILE = "torch.jsonl"
_BUDGET = 0.02
_MAX_MODULES = 20000

_seen: weakref.WeakSet[Any] = weakref.WeakSet()
_modules: list[Any] = []  # strong refs: the end-of-run measurement needs them
_containers: weakref.WeakSet[Any] = weakref.WeakSet()  # may get wrapped by NNCF after their first call
_NNCF_STORAGE = "__nncf_hooks"
_optimizers: dict[int, dict[str, Any]] = {}
_state = {"step": 0, "next": 1, "interval": 1, "spent": 0, "start": time.monotonic_ns()}
_torch: Any = None


def _forward_pre(module: Any, args: Any) -> None:
    try:
        if module in _seen:
            return
        _seen.add(module)
        if getattr(module, "_modules", None):
            _containers.add(module)
        weight = getattr(module, "weight", None)
        if (
            isinstance(weight, _torch.Tensor)
            and weight.dim() >= 2
            and weight.is_floating_point()
            and len(_modules) < _MAX_MODULES
        ):
            _modules.append(module)
    except Exception:
        pass


def _param_ids(optimizer: Any) -> set[int]:
    return {id(p) for group in optimizer.param_groups for p in group["params"]}


def _trained_modules(info: dict[str, Any]) -> list[Any]:
    """The seen modules with a parameter in this optimizer (cached until new modules show up)."""
    if info["cache_len"] != len(_modules) or not info["modules"]:
        optimizer = info["ref"]()
        ids = _param_ids(optimizer) if optimizer is not None else set()
        info["modules"] = [m for m in _modules if any(id(p) in ids for p in m.parameters())]
        info["cache_len"] = len(_modules)
    return list(info["modules"])


def _nncf_masks() -> dict[int, Any]:
    """id(parameter) -> the binary mask an NNCF post-hook multiplies it by in forward."""
    masks: dict[int, Any] = {}
    for model in list(_containers):
        storage = model._modules.get(_NNCF_STORAGE)
        if storage is None:
            continue
        for name, hook in storage.named_modules():
            parts = name.split(".")
            if len(parts) != 3 or parts[0] != "post_hooks" or "__" not in parts[1]:
                continue
            op_name, port = parts[1].rsplit("__", 1)
            if port != "0":
                continue
            mask = getattr(hook, "binary_mask", None)
            if mask is None and callable(getattr(hook, "loss", None)) and hasattr(hook, "mask"):
                mask = hook.loss()  # regularization-based masks: binary_mask(mask logits)
            if not isinstance(mask, _torch.Tensor):
                continue
            try:
                param = model.get_parameter(op_name.replace(":", "."))
            except Exception:
                continue
            masks[id(param)] = mask
    return masks


def _sparsity(modules: list[Any]) -> tuple[float, int]:
    zeros = total = 0
    done: set[int] = set()
    with _torch.no_grad():
        masks = _nncf_masks()
        for module in modules:
            weight = getattr(module, "weight", None)
            if not isinstance(weight, _torch.Tensor):
                continue
            key = weight.data_ptr()
            if key in done:
                continue
            done.add(key)
            mask = masks.get(id(weight))
            if mask is not None and mask.shape == weight.shape:
                weight = weight * mask
            total += weight.numel()
            zeros += weight.numel() - int(_torch.count_nonzero(weight).item())
    return (zeros / total if total else 0.0), total


def _step_post(optimizer: Any, args: Any, kwargs: Any) -> None:
    try:
        _state["step"] += 1
        key = id(optimizer)
        info = _optimizers.get(key)
        if info is None or info["ref"]() is not optimizer:
            info = {
                "ref": weakref.ref(optimizer),
                "index": len(_optimizers),
                "steps": 0,
                "modules": [],
                "cache_len": -1,
                "obj": optimizer,
            }
            _optimizers[key] = info
            params = [p for group in optimizer.param_groups for p in group["params"]]
            n_params = sum(p.numel() for p in params)
            info["n_params"] = n_params
            emit(FILE,
                {
                    "event": "optimizer",
                    "opt": info["index"],
                    "n_params": n_params,
                    "class": type(optimizer).__name__,
                    "device": str(params[0].device) if params else None,
                }
            )
        info["steps"] += 1
        if _state["step"] < _state["next"]:
            return
        began = time.monotonic_ns()
        sparsity, n_weights = _sparsity(_trained_modules(info))
        emit(FILE,
            {
                "event": "step",
                "opt": info["index"],
                "opt_step": info["steps"],
                "step": _state["step"],
                "sparsity": sparsity,
                "n_weights": n_weights,
            }
        )
        now = time.monotonic_ns()
        _state["spent"] += now - began
        if _state["spent"] > _BUDGET * (now - _state["start"]):
            _state["interval"] *= 2
        _state["next"] = _state["step"] + _state["interval"]
    except Exception:
        pass


def _at_exit() -> None:
    for info in list(_optimizers.values()):
        try:
            sparsity, n_weights = _sparsity(_trained_modules(info))
            emit(FILE,
                {
                    "event": "exit",
                    "measure_s": round(_state["spent"] / 1e9, 4),
                    "opt": info["index"],
                    "steps": info["steps"],
                    "n_params": info["n_params"],
                    "sparsity": sparsity,
                    "n_weights": n_weights,
                }
            )
        except Exception:
            pass


def install(module: Any) -> None:
    """Register the global forward-pre and optimizer-step-post hooks."""
    global _torch
    try:
        if getattr(module, "_opsgraft_hooked", False):
            return
        _torch = module
        _state["start"] = time.monotonic_ns()
        from torch.nn.modules.module import register_module_forward_pre_hook
        from torch.optim.optimizer import register_optimizer_step_post_hook

        register_module_forward_pre_hook(_forward_pre)
        register_optimizer_step_post_hook(_step_post)
        module._opsgraft_hooked = True
        atexit.register(_at_exit)
    except Exception:
        pass
