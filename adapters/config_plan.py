"""The ``config:json`` plan of a script: its hard-coded settings, the DEFAULT_CONFIG they make, where each is read.

Issue 19: asked to move a script's settings into ``DEFAULT_CONFIG``, the 1.5B model wrote the worked
example's dict instead of the script's (``"units": 16, "epochs": 3`` for a script with ``Dense(32)``
and ``epochs=4``, even the example's seed), dropped ``weight_decay=0.0001`` because the example's
optimizer has none, and on Keras repeated one ``Dense(config["units"])`` line to the token cap. The
values are in the script's AST; the tool reads them before the first answer and says which key
replaces which literal on which line. With the answer scaffold on, the head of the answer (imports,
the dict and the ``--config`` loader, the contract of ``opsgraft/adapters/config_params.py``) is
written by the tool, and the model writes the rest.

What counts as a setting (no list of frameworks, only of names):
- a module-level constant holding a number, a bool, a list of numbers, or a short identifier string;
- a literal keyword argument whose name is a hyperparameter's (:data:`_KEYWORD`), in any call;
- a positional literal in the places where Python ML code puts one: ``range(N)`` of a training loop
  (``epochs``), the step of ``range(0, n, B)`` (``batch_size``, with the same literal in that loop's
  slices), ``Dropout(p)``, an optimizer's ``lr`` after the parameters, the units of every ``Dense``
  but the last, the width shared by consecutive ``Linear`` layers (``hidden``).
Verbosity, paths and data-split sizes are not settings. Seeds are (``random_state=0``, ``seed=1``,
``torch.manual_seed(0)``, a used ``SEED`` constant): left out of the dict, the model read
``config["seed"]`` and ``config["random_state"]`` anyway (KeyError), and naming them as lines to keep
made all 9 answers do it (cfg-json15).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any

from opsgraft import pyast
from opsgraft.adapters.outline import _last

CONFIG_NAME = "DEFAULT_CONFIG"
CONFIG_IMPORTS = ("import argparse", "import json", "import os", "import sys")
# The contract's loader (config_params.py): --config PATH overrides the defaults, an unknown key is an
# error, no flag or a missing file means the defaults. The worked examples use the same function.
LOADER = '''def load_config(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default=None, help="JSON file overriding DEFAULT_CONFIG")
    args = parser.parse_args(argv)
    config = dict(DEFAULT_CONFIG)
    if args.config and os.path.exists(args.config):
        with open(args.config, encoding="utf-8") as fh:
            overrides = json.load(fh)
        unknown = sorted(set(overrides) - set(DEFAULT_CONFIG))
        if unknown:
            sys.exit(f"error: unknown config key(s): {', '.join(unknown)}")
        config.update(overrides)
    return config'''

_KEYWORD = re.compile(
    r"^(lr|learning_rate(_init)?|weight_decay|momentum|nesterov|betas|eps|epochs|max_epochs|num_epochs|n_epochs"
    r"|batch_size|n_estimators|max_depth|min_samples_(split|leaf)|max_features|max_leaf_nodes|criterion"
    r"|dropout|units|hidden(_size|_dim|_units|_layer_sizes)?|num_layers|n_layers|alpha|l1_ratio|C|gamma"
    r"|kernel|degree|n_neighbors|max_iter|subsample|num_leaves|validation_split|patience|step_size|solver"
    r"|optimizer|filters|out_channels|kernel_size|embedding_dim|latent_dim|num_heads|warmup_steps"
    r"|label_smoothing|penalty)$")
_NOT_SETTING = re.compile(r"verbose|n_jobs|path|dir$|file|url|uri|name$|device|workers",
                          re.IGNORECASE)
_STR_KEYWORDS = {"criterion", "kernel", "solver", "optimizer", "penalty"}
_SEED_CALLS = {"manual_seed", "set_random_seed", "seed_everything", "seed"}
_OPTIMIZERS = {"SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam"}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,30}$")
_EPOCH_NAME = re.compile(r"epoch", re.IGNORECASE)


@dataclass(frozen=True)
class Setting:
    """One hard-coded value that becomes ``DEFAULT_CONFIG[key]``: where it is and how it reads there."""

    key: str
    value: Any
    lines: tuple[int, ...]  # every line that uses it
    text: str  # the source at its first site: `lr=0.003`, `range(8)`, `LR`
    constant: str = ""  # the module constant it replaces ('' for an inline literal)


def _value(node: ast.expr) -> Any:
    """The JSON value of a literal node (None when it is not a plain literal setting)."""
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if _IDENT.match(value) else None
    if isinstance(value, list | tuple) and value and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return list(value)
    return None


def _short(source: str, node: ast.AST, limit: int = 45) -> str:
    text = " ".join((ast.get_source_segment(source, node) or "").split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _number(node: ast.expr | None) -> int | float | None:
    value = _value(node) if node is not None else None
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


class _Found:
    """Settings by key, in the order found; the same key with another value gets a suffix."""

    def __init__(self) -> None:
        self.items: dict[str, Setting] = {}

    def add(self, key: str, value: Any, line: int, text: str, constant: str = "") -> None:
        base, i = key, 1
        while key in self.items and self.items[key].value != value:
            i += 1
            key = f"{base}_{i}"
        old = self.items.get(key)
        if old is None:
            self.items[key] = Setting(key, value, (line,), text, constant)
        elif line not in old.lines:
            self.items[key] = Setting(key, value, (*old.lines, line), old.text, old.constant)


def _is_training_loop(loop: ast.For) -> bool:
    if isinstance(loop.target, ast.Name) and _EPOCH_NAME.search(loop.target.id):
        return True
    calls = {_last(c) for c in ast.walk(loop) if isinstance(c, ast.Call)}
    return bool(calls & {"backward", "step", "fit", "train_on_batch", "training_step", "partial_fit"})


def _constants(tree: ast.Module, found: _Found) -> None:
    names: dict[str, Any] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name = stmt.targets[0].id
            value = _value(stmt.value)
            if value is not None and not name.startswith("_") and name.isupper() and not _NOT_SETTING.search(name):
                names[name] = value
    uses: dict[str, list[int]] = {n: [] for n in names}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in uses:
            uses[node.id].append(node.lineno)
    for name, value in names.items():
        key = name.lower() if len(name) > 1 else name  # `C` stays `C`, as sklearn spells it
        for use in sorted(set(uses[name])):  # a constant nothing reads is no setting
            found.add(key, value, use, name, constant=name)


def _linear_widths(calls: list[ast.Call]) -> set[int]:
    """Widths shared by consecutive Linear layers: the out size of one that is the in size of the next."""
    pairs = [(_number(c.args[0]), _number(c.args[1])) for c in calls
             if _last(c) == "Linear" and len(c.args) >= 2]
    outs = {b for _, b in pairs if isinstance(b, int)}
    ins = {a for a, _ in pairs if isinstance(a, int)}
    return outs & ins


def find(source: str) -> list[Setting]:
    """The settings of ``source`` in line order (``[]`` when it does not parse)."""
    try:
        tree = pyast.parse(source)
    except SyntaxError:
        return []
    found = _Found()
    _constants(tree, found)
    calls = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Call)), key=lambda c: (c.lineno, c.col_offset))
    dense = [c for c in calls if _last(c) == "Dense" and c.args and isinstance(_number(c.args[0]), int)]
    widths = _linear_widths(calls)
    batch_loops: list[tuple[ast.For, int | float]] = []
    for loop in (n for n in ast.walk(tree) if isinstance(n, ast.For)):
        it = loop.iter
        if not (isinstance(it, ast.Call) and _last(it) == "range"):
            continue
        if len(it.args) == 1 and isinstance(_number(it.args[0]), int) and _is_training_loop(loop):
            found.add("epochs", _number(it.args[0]), it.lineno, ast.get_source_segment(source, it) or "range")
        elif len(it.args) == 3 and isinstance(_number(it.args[2]), int):
            batch_loops.append((loop, _number(it.args[2]) or 0))
            found.add("batch_size", _number(it.args[2]), it.lineno, ast.get_source_segment(source, it) or "range")
    for loop, step in batch_loops:  # `X[i:i + 64]` in the batch loop reads the same setting
        for node in ast.walk(loop):
            if isinstance(node, ast.BinOp) and isinstance(node.right, ast.Constant) and node.right.value == step:
                found.add("batch_size", step, node.lineno, str(step))
    for call in calls:
        name = _last(call)
        for kw in call.keywords:
            if kw.arg is None or not _KEYWORD.match(kw.arg) or _NOT_SETTING.search(kw.arg):
                continue
            value = _value(kw.value)
            if value is None or (isinstance(value, str) and kw.arg not in _STR_KEYWORDS):
                continue
            found.add(kw.arg, value, kw.value.lineno, ast.get_source_segment(source, kw) or kw.arg)
        for kw in call.keywords:  # a seed is a setting too (see the module docstring)
            if kw.arg in ("random_state", "seed") and isinstance(_number(kw.value), int):
                found.add(kw.arg, _number(kw.value), kw.value.lineno, ast.get_source_segment(source, kw) or kw.arg)
        first = _number(call.args[0]) if call.args else None
        if name in _SEED_CALLS and isinstance(first, int):
            found.add("seed", first, call.lineno, _short(source, call))
        if name == "Dropout" and isinstance(first, float):
            found.add("dropout", first, call.lineno, _short(source, call))
        elif name in _OPTIMIZERS and len(call.args) >= 2 and _number(call.args[1]) is not None:
            found.add("lr", _number(call.args[1]), call.lineno, ast.get_source_segment(source, call.args[1]) or "")
        elif name == "Dense" and call in dense[:-1] and isinstance(first, int):
            found.add("units", first, call.lineno, _short(source, call))
        elif name == "Linear" and len(call.args) >= 2:
            for arg in call.args[:2]:
                width = _number(arg)
                if isinstance(width, int) and width in widths:
                    found.add("hidden", width, call.lineno, _short(source, call))
    return sorted(found.items.values(), key=lambda s: s.lines[0])


def default_config(settings: list[Setting]) -> str:
    """The ``DEFAULT_CONFIG = {...}`` line for ``settings`` (JSON values, the script's own)."""
    body = ", ".join(f"{json.dumps(s.key)}: {json.dumps(s.value)}" for s in settings)
    return f"{CONFIG_NAME} = {{{body}}}"


def plan_lines(settings: list[Setting], limit: int = 12) -> list[str]:
    """Outline lines: the dict to write and which key replaces what on which line."""
    if not settings:
        return []
    shown = settings[:limit]
    uses = []
    for s in shown:
        where = ", ".join(str(n) for n in s.lines[:4])
        was = f"`{s.constant}`" if s.constant else f"`{s.text}`" + (f": {json.dumps(s.value)}" if "(" in s.text else "")
        uses.append(f"line{'s' if len(s.lines) > 1 else ''} {where} {was} -> config[{json.dumps(s.key)}]")
    out = [f"- write {CONFIG_NAME} with the script's OWN values (not the example's): `{default_config(shown)}`",
           "- read each value from the config where the script had it: " + "; ".join(uses)]
    consts = [s.constant for s in shown if s.constant]
    if consts:
        out.append("- delete the constants " + ", ".join(f"`{c}`" for c in consts)
                   + " and use config[...] instead; change nothing else (seeds, data, prints stay)")
    else:
        out.append("- change nothing else: seeds, data, layers and prints stay as they are")
    return out


def head(source: str) -> str:
    """The answer's first lines for ``config:json`` ('' when the script has no settings or its own argparse).

    The original docstring and imports, the loader's imports, ``DEFAULT_CONFIG`` with the script's values,
    the loader, then the original module-level statements up to the first def or class minus the constants
    that moved into the config. The model continues at module level.
    """
    try:
        tree = pyast.parse(source)
    except SyntaxError:
        return ""
    settings = find(source)
    uses_argparse = any(isinstance(n, ast.Call) and _last(n) == "add_argument" for n in ast.walk(tree))
    if not settings or uses_argparse:
        return ""
    from opsgraft.adapters.scaffold import head_end

    lines = source.splitlines()
    end = head_end(tree)
    have = {ast.unparse(s) for s in tree.body if s.lineno <= end and isinstance(s, ast.Import | ast.ImportFrom)}
    added = [imp for imp in CONFIG_IMPORTS if imp not in have]
    moved = {s.constant for s in settings if s.constant}
    rest: list[str] = []
    for stmt in tree.body:
        if stmt.lineno <= end:
            continue
        if not isinstance(stmt, ast.Assign | ast.AnnAssign):
            break
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        if any(isinstance(t, ast.Name) and t.id in moved for t in targets):
            continue
        rest.append("\n".join(lines[stmt.lineno - 1:stmt.end_lineno or stmt.lineno]))
    text = "\n".join(lines[:end]).rstrip("\n")
    if added:
        text = f"{text}\n{chr(10).join(added)}" if text else "\n".join(added)
    text += f"\n\n{default_config(settings)}\n"
    if rest:
        text += "\n".join(rest) + "\n"
    text += f"\n\n{LOADER}\n\n\n"
    return text
