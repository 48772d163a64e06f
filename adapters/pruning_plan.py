"""The pruning calls laid out on the script's own epoch loop, in place.

Issue 16, held-out pruning at round 0 (0 of 4 tasks): with the installed API named in the rules
(adapters/prompts/notes_nncf.md, notes_torch_prune.md), the 1.5B model still invented calls, or copied
the worked example's inline batch loop into main() (NameError: X, idx). What it copies well is
concrete code on the script's own names. Before the first answer the tool reads, from the syntax
tree, the model the script builds, its epoch loop and an input batch, and from the instruction the
schedule (before training, at the start of epoch N, after the warm-up epochs, a ratio schedule) and
the amount; it shows the model those lines with the pruning calls written in. Nothing here runs the
script, and nothing is learned from a failure.
"""

from __future__ import annotations

import ast
import re

from opsgraft import pyast
from opsgraft.adapters.outline import MODULE, Outline, _scopes

_MAX_LINES = 30  # the excerpt's lines at most; a longer loop body is cut to its head
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
             "eighth": 8, "ninth": 9, "tenth": 10}
_NUM = r"(\d*\.\d+|\d+)"
_LAYERS = ("Conv1d", "Conv2d", "Conv3d", "Linear")


def _ratio(instruction: str) -> float | None:
    """The amount to prune: "ratio of 0.5", "start ratio 0.1", "prune 40%", "amount 0.3"."""
    low = instruction.lower()
    found = re.search(r"(?:ratio|amount|sparsity)\s+(?:of\s+|to\s+|=\s*)?" + _NUM, low)
    if found:
        value = float(found.group(1))
        return value / 100 if value > 1 else value
    found = re.search(r"(\d+(?:\.\d+)?)\s*%", low)
    return float(found.group(1)) / 100 if found else None


def _epochs(instruction: str, source: str) -> str:
    """The condition on the epoch counter, in terms of ``{e}`` ('' for before the loop).

    "at the start of epoch 3" -> ``{e} == 3``; "at the start of epochs 2, 4 and 6" -> ``{e} in (2, 4, 6)``;
    "after the second epoch" / "after 2 epochs" -> ``{e} == 2``; "after the warm-up epochs" -> the script's
    own warm-up setting (``args.warmup_epochs``, ``WARMUP_EPOCHS``) when it has one.
    """
    low = instruction.lower()
    many = re.search(r"epochs\s+(\d+(?:\s*(?:,|and|,\s*and)\s*\d+)+)", low)
    if many:
        values = re.findall(r"\d+", many.group(1))
        return "{e} in (" + ", ".join(values) + ")"
    one = re.search(r"(?:start of|beginning of|from|at|in)\s+epoch\s+(\d+)", low)
    if one and not re.search(r"scheduler|schedule", low):
        return "{e} == " + one.group(1)
    after = re.search(r"after\s+(?:the\s+)?(\w+)\s+epochs?\b", low)
    if after:
        word = after.group(1)
        n = _ORDINALS.get(word) or (int(word) if word.isdigit() else None)
        if n is None:
            trimmed = re.sub(r"(st|nd|rd|th)$", "", word)
            n = int(trimmed) if trimmed.isdigit() else None
        if n is not None:
            return "{e} == " + str(n)
    if re.search(r"warm[- ]?up", low):
        dest = re.search(r"add_argument\(\s*[\"']--(warm[-_]?up[\w-]*)[\"']", source, re.IGNORECASE)
        if dest:
            return "{e} == args." + dest.group(1).replace("-", "_")
        const = re.search(r"^(WARM_?UP\w*)\s*=", source, re.IGNORECASE | re.MULTILINE)
        if const:
            return "{e} == " + const.group(1)
    return ""


def _nn(source: str) -> str:
    """How the script names torch.nn: `nn.` when it imports it so, else `torch.nn.`."""
    if re.search(r"^\s*(from torch import (.*\b)?nn\b|import torch\.nn as nn\b)", source, re.MULTILINE):
        return "nn."
    return "torch.nn."


def _layer_types(instruction: str, source: str) -> list[str]:
    """The layer classes to prune: those the instruction names, else those the script builds."""
    named = [t for t in _LAYERS if re.search(rf"\b{t}\b", instruction)]
    if named:
        return named
    built = [t for t in _LAYERS if re.search(rf"\b{t}\(", source)]
    return built or ["Linear"]


def _example_input(o: Outline, scope: str, before: int) -> str:
    """One input batch the model accepts, from the data the scope loaded before line ``before``."""
    names: list[str] = []
    for d in o.data:
        if d.scope == scope and d.line <= before:
            names += [n for n in d.names if n != "_"]
    loaders = [n for n in names if "loader" in n.lower()]
    inputs = [n for n in names if n[:1] in "Xx" or "input" in n.lower() or "image" in n.lower()]
    train = [n for n in inputs if re.search(r"(?i)tr|train", n)]
    if train or inputs:
        return f"{(train or inputs)[0]}[:1]"
    if loaders:
        train_loaders = [n for n in loaders if "train" in n.lower()] or loaders
        return f"next(iter({train_loaders[0]}))[0][:1]"
    return ""


def _for_loop(body: list[ast.stmt], line: int) -> ast.For | None:
    return next((s for s in body if isinstance(s, ast.For) and s.lineno == line), None)


def _steps(instruction: str) -> dict[int, float]:
    """A multi-step schedule: "0.1 in epoch 0, 0.3 from epoch 1 and 0.5 from epoch 2" -> {0: 0.1, ...}."""
    pairs = re.findall(_NUM + r"\s+(?:in|from|at)\s+epoch\s+(\d+)", instruction.lower())
    return {int(epoch): float(ratio) for ratio, epoch in pairs}


def _nncf_calls(instruction: str, model: str, example: str) -> tuple[list[str], list[str], list[str]]:
    """(import lines, lines that prune, lines at the start of every epoch) for NNCF."""
    low = instruction.lower()
    mode = "nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_" + ("GLOBAL" if "global" in low else "LOCAL")
    ratio = _ratio(instruction) or 0.5
    imports = ["import nncf"]
    prune = [f"{model} = nncf.prune({model}, mode={mode}, ratio={ratio:g}, examples_inputs={example})"]
    every: list[str] = []
    if "exponential" in low:
        target = re.search(r"target ratio\s+(?:of\s+)?" + _NUM, low)
        at = re.search(r"(?:reached\s+)?(?:at|by)\s+epoch\s+(\d+)", low)
        imports.append("from nncf.torch.function_hook.pruning.magnitude.schedulers import "
                       "ExponentialMagnitudePruningScheduler")
        prune.append(f"scheduler = ExponentialMagnitudePruningScheduler({model}, mode={mode}, initial_ratio={ratio:g}, "
                     f"target_ratio={float(target.group(1)) if target else 0.5:g}, "
                     f"target_epoch={at.group(1) if at else 3})")
        every.append("scheduler.step()")
    elif "multistep" in low.replace("-", "").replace(" ", "") or _steps(instruction) and "schedul" in low:
        steps = _steps(instruction) or {0: ratio}
        imports.append("from nncf.torch.function_hook.pruning.magnitude.schedulers import "
                       "MultiStepMagnitudePruningScheduler")
        shown = ", ".join(f"{k}: {v:g}" for k, v in sorted(steps.items()))
        prune.append(f"scheduler = MultiStepMagnitudePruningScheduler({model}, mode={mode}, steps={{{shown}}})")
        every.append("scheduler.step()")
    return imports, prune, every


# the weight sparsity of the layers in `params`, printed; no expression with quotes inside the f-string: 3 of 3
# held-out answers inlined `params` there (SyntaxError before Python 3.12)
_SPARSITY_REPORT = ["zeros = sum(int((m.weight == 0).sum()) for m, _ in params)",
                    "sparsity = zeros / sum(m.weight.numel() for m, _ in params)",
                    'print(f"weight sparsity: {sparsity:.3f}")']


def _kinds(nn: str, types: list[str]) -> str:
    """The isinstance() class argument for the layer ``types``: `nn.Linear` or `(nn.Conv2d, nn.Linear)`."""
    kinds = ", ".join(nn + t for t in types)
    return f"({kinds})" if len(types) > 1 else kinds


def _params(model: str, nn: str, types: list[str]) -> str:
    """The line listing the (layer, "weight") pairs of ``model`` to prune."""
    return f'params = [(m, "weight") for m in {model}.modules() if isinstance(m, {_kinds(nn, types)})]'


def _torch_calls(instruction: str, nn: str, types: list[str], model: str) -> tuple[list[str], list[str]]:
    """(the line listing the weights, the lines that prune) for torch.nn.utils.prune."""
    low = instruction.lower()
    amount = _ratio(instruction) or 0.5
    params = _params(model, nn, types)
    if "global" in low:
        method = "prune.RandomUnstructured" if "random" in low else "prune.L1Unstructured"
        return [params], [f"prune.global_unstructured(params, pruning_method={method}, amount={amount:g})"]
    if "structured" in low.replace("unstructured", ""):
        call = f"prune.ln_structured(m, name=name, amount={amount:g}, n=2, dim=0)"
    elif "random" in low:
        call = f"prune.random_unstructured(m, name=name, amount={amount:g})"
    else:
        call = f"prune.l1_unstructured(m, name=name, amount={amount:g})"
    return [params], ["for m, name in params:", f"    {call}"]


def skeleton(o: Outline, source: str, scope: str, component: str, instruction: str = "") -> list[str]:
    """The outline's lines with the pruning written into ``scope``'s epoch loop ([] when it has none)."""
    if component not in {"nncf", "torch-prune"}:
        return []
    try:
        tree = pyast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    body = next((s.body for s in _scopes(tree) if s.name == scope), None)
    loops = [lp for lp in o.loops if lp.scope == scope]
    if body and not loops and o.framework == "PyTorch Lightning" and component == "torch-prune":
        return _lightning(o, source, body, scope, instruction)
    if not body or not loops:
        return []
    loop = _for_loop(body, loops[0].line)
    if loop is None or not isinstance(loop.target, ast.Name) or not loop.body:
        return []
    models = [m for m in o.models if m.scope == scope and m.names and m.line < loop.lineno]
    if not models:
        return []
    model_line, model = models[-1].line, models[-1].names[0]
    counter = loop.target.id
    when = _epochs(instruction, source)
    lines = source.splitlines()
    loop_end = loop.end_lineno or loop.lineno
    # the model's statement may span lines: insert after its last line
    stmt = next((s for s in body if s.lineno <= model_line <= (s.end_lineno or s.lineno)), None)
    after_model = (stmt.end_lineno or stmt.lineno) if stmt is not None else model_line
    ind = " " * (len(lines[model_line - 1]) - len(lines[model_line - 1].lstrip()))
    body_ind = " " * loop.body[0].col_offset
    nn = _nn(source)
    wrapper: list[str] = []  # a module-level class the model needs
    first: list[str] = []  # right after the model is built
    start: list[str] = []  # at the top of every epoch
    end: list[str] = []  # right after the loop
    if component == "nncf":
        example = _example_input(o, scope, loop.lineno)
        if not example:
            return []
        imports, prune, every = _nncf_calls(instruction, model, example)
        if re.match(r"((torch\.)?nn\.)?Sequential\(", models[-1].text):
            # nncf.prune fails on a bare nn.Sequential (NotImplementedError in HookStorage): wrap it
            wrapper = [f"class Wrapped({nn}Module):", "    def __init__(self, net):", "        super().__init__()",
                       "        self.net = net", "", "    def forward(self, x):", "        return self.net(x)"]
            prune[0] = prune[0].replace(f"nncf.prune({model},", f"nncf.prune(Wrapped({model}),")
        if when and not every:
            start = [f"if {when.format(e=counter)}:", *("    " + p for p in prune)]
        else:
            first, start = prune, every
        end = [f"print(nncf.pruning_statistic({model}))"]
    else:
        types = _layer_types(instruction, source)
        params, prune = _torch_calls(instruction, nn, types, model)
        imports = ["from torch.nn.utils import prune"]
        first = params
        if when:
            start = [f"if {when.format(e=counter)}:", *("    " + p for p in prune)]
        else:
            first = params + prune
        if re.search(r"prune\.remove|permanent", instruction):
            # a remove guarded by is_pruned: an answer that wrote the loop twice (1 of 3 held-out ones) still runs
            end = ["for m, name in params:", "    if prune.is_pruned(m):", "        prune.remove(m, name)"]
        end += _SPARSITY_REPORT
    code: list[str] = []
    for ln in range(model_line, loop.lineno + 1):
        code.append(lines[ln - 1])
        if ln == after_model:
            code += [ind + c for c in first]
    code += [body_ind + c for c in start]
    rest = lines[loop.lineno:loop_end]
    if len(code) + len(rest) + len(end) > _MAX_LINES:  # a long loop body: its first statement, then a note
        head = loop.body[0].end_lineno or loop.body[0].lineno
        rest = lines[loop.lineno:head] + [f"{body_ind}# ... the rest of the loop body (to line {loop_end}) as it is"]
        if len(code) + len(rest) + len(end) > _MAX_LINES:
            return []
    code += rest + [ind + c for c in end]
    # the statement after the loop stays where it was: without it in view, 1 of 3 held-out answers wrote the
    # report over the script's final print
    after = next((st for st in body if st.lineno > loop_end), None)
    last = loop_end
    if after is not None and not isinstance(after, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        stop = after.end_lineno or after.lineno
        if stop - after.lineno < 3 and len(code) + stop - after.lineno < _MAX_LINES:
            code += lines[after.lineno - 1:stop]
            last = stop
    where = "at module level" if scope == MODULE else f"in {scope}()"
    span = f"lines {model_line}-{last}"
    pre = ["- nncf.prune needs a model class with its own forward, not a bare nn.Sequential: add at module level",
           "```python", *wrapper, "```"] if wrapper else []
    return pre + [f"- the pruning, {where}, written into {span} (the script's own lines; keep the rest of the file "
            f"as it is, and add {' and '.join(f'`{i}`' for i in imports)} to the imports):",
            "```python", *code, "```"]


def _lightning(o: Outline, source: str, body: list[ast.stmt], scope: str, instruction: str) -> list[str]:
    """torch.nn.utils.prune from a Lightning Callback: the epoch loop is the Trainer's, so the schedule is the
    callback's ``on_train_epoch_start`` on ``trainer.current_epoch``, passed to the script's own Trainer."""
    trainer = next((st for st in body if isinstance(st, ast.Assign) and isinstance(st.value, ast.Call)
                    and isinstance(st.value.func, ast.Attribute) and st.value.func.attr == "Trainer"
                    and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name)), None)
    fit = next((t for t in o.training if t.scope == scope and t.callee == "fit"), None)
    if trainer is None or fit is None or fit.line < trainer.lineno or any(
            k.arg == "callbacks" for k in trainer.value.keywords):  # type: ignore[attr-defined]
        return []
    call = trainer.value
    assert isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
    pl = ast.get_source_segment(source, call.func.value) or "pl"
    fit_stmt = next((st for st in body if st.lineno <= fit.line <= (st.end_lineno or st.lineno)), None)
    fitted = fit_stmt.value.args[0] if isinstance(fit_stmt, ast.Expr) and isinstance(fit_stmt.value, ast.Call) \
        and fit_stmt.value.args else None
    if fit_stmt is None or not isinstance(fitted, ast.Name):
        return []
    model = fitted.id
    nn = _nn(source)
    types = _layer_types(instruction, source)
    kind = _kinds(nn, types)
    [params], prune = _torch_calls(instruction, nn, types, "pl_module")
    when = _epochs(instruction, source)
    hook = "on_train_epoch_start" if when else "on_train_start"
    cls = ["class Pruning(" + pl + ".Callback):", f"    def {hook}(self, trainer, pl_module):",
           f"        {params}"]
    if when:
        cls += [f"        if {when.format(e='trainer.current_epoch')}:", *("            " + p for p in prune)]
    else:
        cls += ["        " + p for p in prune]
    if re.search(r"prune\.remove|permanent", instruction):
        cls += ["", "    def on_train_end(self, trainer, pl_module):", "        for m in pl_module.modules():",
                f"            if isinstance(m, {kind}) and prune.is_pruned(m):", '                prune.remove(m, "weight")']
    lines = source.splitlines()
    end = trainer.end_lineno or trainer.lineno
    stmt = lines[trainer.lineno - 1:end]
    if not stmt[-1].rstrip().endswith(")"):
        return []
    head = stmt[-1].rstrip()
    stmt[-1] = head[:-1] + (", " if not head[:-1].rstrip().endswith(("(", ",")) else "") + "callbacks=[Pruning()])"
    ind = " " * trainer.col_offset
    stop = fit_stmt.end_lineno or fit_stmt.lineno
    code = stmt + lines[end:stop] + [ind + c for c in [_params(model, nn, types), *_SPARSITY_REPORT]]
    after = next((st for st in body if st.lineno > stop), None)
    last = stop
    if after is not None and (after.end_lineno or after.lineno) - after.lineno < 3:
        last = after.end_lineno or after.lineno
        code += lines[after.lineno - 1:last]
    if len(code) + len(cls) > _MAX_LINES + 10:
        return []
    where = "at module level" if scope == MODULE else f"in {scope}()"
    return ["- the pruning runs in a Lightning Callback (the Trainer owns the epoch loop); add it at module level, "
            "after the imports:", "```python", *cls, "```",
            f"- and pass it to the Trainer, {where}, written into lines {trainer.lineno}-{last} (the script's own "
            "lines; keep the rest of the file as it is, and add `from torch.nn.utils import prune` to the imports):",
            "```python", *code, "```"]
