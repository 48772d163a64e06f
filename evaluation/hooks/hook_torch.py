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
its parameter count, the device of its first parameter, and in ``params`` its hyperparameters
(``lr``, ``weight_decay``, ``momentum``, ``beta1``...) and the trained model's layer sizes
(``<module path>.out_features``, ``.p`` of dropout...), which optuna-study matches to trial params), ``step`` (a measurement: sparsity, and the
weights' L1 norm, which shows whether they still learn) and one ``exit`` line per optimizer
(with ``first_wall``/``last_wall``, the ``time.time()`` of its first and last step); ``backward``
(``Tensor.backward`` calls: ``count``, ``first_wall``, ``last_wall``; at the first call and at
exit); ``install`` (torch was imported, so training can be observed).
The first rows of the trained model's first input (of the module owning the parameters of the
first optimizer that steps) go to ``rows-torch.npy``. Never raises into the program.
"""

from __future__ import annotations

import atexit
import time
import weakref
from typing import Any

from opsgraft_evidence import ROWS, emit, save_rows  # the hooks folder is on PYTHONPATH

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
_backward: dict[str, Any] = {"count": 0, "first_wall": None, "last_wall": None}
# Each module's first input (its first rows), until the first optimizer step tells which module
# is the trained model: its input is what mlflow-registration predicts on (rows-torch.npy).
_first_inputs: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_MAX_INPUTS = 64
_rows = {"done": False}


def _forward_pre(module: Any, args: Any) -> None:
    try:
        if module in _seen:
            return
        _seen.add(module)
        if not _rows["done"] and len(_first_inputs) < _MAX_INPUTS and args:
            first = args[0]
            if isinstance(first, _torch.Tensor) and first.dim() >= 1:
                _first_inputs[module] = first.detach()[:ROWS].clone()
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


_OPT_KEYS = ("lr", "weight_decay", "momentum", "dampening", "eps", "alpha", "nesterov", "amsgrad", "lr_decay")
_LAYER_KEYS = (
    "in_features", "out_features", "in_channels", "out_channels", "kernel_size", "hidden_size",
    "num_layers", "p", "num_heads", "embed_dim", "embedding_dim", "num_embeddings", "d_model",
)
_MAX_SETUP = 300


def _setup(optimizer: Any, ids: set[int]) -> dict[str, Any]:
    """The optimizer's hyperparameters and the trained model's layer sizes, as flat scalars."""
    out: dict[str, Any] = {}
    try:
        _collect_setup(optimizer, ids, out)
    except Exception:
        pass  # a partial record still serves; the optimizer line itself must not be lost
    return out


def _collect_setup(optimizer: Any, ids: set[int], out: dict[str, Any]) -> None:
    group = optimizer.param_groups[0] if optimizer.param_groups else {}
    for key in _OPT_KEYS:
        value = group.get("initial_lr", group.get(key)) if key == "lr" else group.get(key)
        value = value.item() if isinstance(value, _torch.Tensor) and value.numel() == 1 else value
        if isinstance(value, bool | int | float):
            out[key] = value
    betas = group.get("betas")
    if isinstance(betas, tuple | list) and len(betas) == 2:
        out["beta1"], out["beta2"] = (float(b) for b in betas)
    # The container owning most of the trained parameters is the model; its submodules' sizes
    # (and dropout rates, which own no parameters) are what a tuned architecture changes.
    owners = [(sum(id(p) in ids for p in m.parameters()), m) for m in list(_containers)]
    owners = [(n, m) for n, m in owners if n]
    if not owners:
        return
    # Ties (a LightningModule and its inner Sequential): the outermost, for stable paths.
    model = max(owners, key=lambda pair: (pair[0], sum(1 for _ in pair[1].modules())))[1]
    for name, sub in model.named_modules():
        for key in _LAYER_KEYS:
            value = getattr(sub, key, None)
            if isinstance(value, tuple | list) and len(set(value)) == 1:
                value = value[0]
            if isinstance(value, bool | int | float) and len(out) < _MAX_SETUP:
                out[f"{name}.{key}" if name else key] = value


def _sparsity(modules: list[Any]) -> tuple[float, int, float]:
    """(fraction of exact zeros, number of weights, L1 norm) of the effective weights; the norm
    tells the pruning checker whether the weights still learn."""
    zeros = total = 0
    l1 = 0.0
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
            l1 += float(weight.detach().abs().sum(dtype=_torch.float64).item())
    return (zeros / total if total else 0.0), total, l1


def _save_model_rows(ids: set[int]) -> None:
    """Save the first input of the module that owns the most of ``ids`` (the outermost on ties), once."""
    if _rows["done"]:
        return
    _rows["done"] = True
    try:
        owners = [
            (sum(id(p) in ids for p in module.parameters()), sum(1 for _ in module.modules()), rows)
            for module, rows in list(_first_inputs.items())
        ]
        owners = [owner for owner in owners if owner[0]]
        if owners:
            save_rows("torch", max(owners, key=lambda owner: owner[:2])[2])
    except Exception:
        pass
    finally:
        _first_inputs.clear()


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
                "first_wall": time.time(),
            }
            _optimizers[key] = info
            params = [p for group in optimizer.param_groups for p in group["params"]]
            _save_model_rows({id(p) for p in params})
            n_params = sum(p.numel() for p in params)
            info["n_params"] = n_params
            emit(FILE,
                {
                    "event": "optimizer",
                    "opt": info["index"],
                    "n_params": n_params,
                    "class": type(optimizer).__name__,
                    "device": str(params[0].device) if params else None,
                    "params": _setup(optimizer, {id(p) for p in params}),
                }
            )
        info["steps"] += 1
        info["last_wall"] = time.time()  # with first_wall: when this optimizer trained
        if _state["step"] < _state["next"]:
            return
        began = time.monotonic_ns()
        sparsity, n_weights, l1 = _sparsity(_trained_modules(info))
        emit(FILE,
            {
                "event": "step",
                "opt": info["index"],
                "opt_step": info["steps"],
                "step": _state["step"],
                "sparsity": sparsity,
                "n_weights": n_weights,
                "l1": l1,
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
            sparsity, n_weights, l1 = _sparsity(_trained_modules(info))
            emit(FILE,
                {
                    "event": "exit",
                    "l1": l1,
                    "measure_s": round(_state["spent"] / 1e9, 4),
                    "opt": info["index"],
                    "steps": info["steps"],
                    "n_params": info["n_params"],
                    "sparsity": sparsity,
                    "n_weights": n_weights,
                    "first_wall": info.get("first_wall"),
                    "last_wall": info.get("last_wall"),
                }
            )
        except Exception:
            pass
    if _backward["count"]:
        emit(FILE, {"event": "backward", **_backward})


def _wrap_backward(tensor_cls: Any) -> None:
    """Count ``Tensor.backward`` calls: training without a torch optimizer (manual SGD) shows too."""
    original = tensor_cls.backward

    def backward(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            now = time.time()
            _backward["count"] += 1
            _backward["last_wall"] = now
            if _backward["first_wall"] is None:
                _backward["first_wall"] = now
                emit(FILE, {"event": "backward", **_backward})
        except Exception:
            pass
        return original(self, *args, **kwargs)

    backward.__doc__ = original.__doc__
    tensor_cls.backward = backward


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
        _wrap_backward(module.Tensor)
        module._opsgraft_hooked = True
        atexit.register(_at_exit)
        emit(FILE, {"event": "install", "hook": "torch"})  # imported: training can be observed
    except Exception:
        pass
