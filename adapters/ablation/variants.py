"""Mechanical removal of a component: the first variant of every trial, before any model is asked.

A marked layer assignment ``self.x = nn.Layer(...)`` becomes ``self.x = nn.Identity()`` so that
``forward`` still calls it; any other marked statement, and every statement of a hint block, is
deleted (a body left empty gets ``pass``). When the layer changed the width of what follows,
the variant fails with a shape error, and that is when the model is asked to repair it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping

from opsgraft import pyast
from opsgraft.adapters.ablation.annotations import Component

NOTE = "  # removed by opsgraft ablate"


def _identity(tree: ast.Module) -> str | None:
    """How this file spells ``torch.nn.Identity``, or None when it does not import torch."""
    spellings: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "torch":
            spellings += [f"{a.asname or 'nn'}.Identity()" for a in node.names if a.name == "nn"]
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "torch.nn" and alias.asname:
                    spellings.insert(0, f"{alias.asname}.Identity()")
                if alias.name == "torch":
                    spellings.append(f"{alias.asname or 'torch'}.nn.Identity()")
    # the shortest is the file's own idiom: nn.Identity() where it imports nn
    return min(spellings, key=len) if spellings else None


def _statements(tree: ast.Module) -> dict[int, ast.stmt]:
    """First line -> the innermost statement starting there."""
    out: dict[int, ast.stmt] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt):
            # a compound statement and its first child can share a line; the child is indented further
            if node.lineno not in out or node.col_offset > out[node.lineno].col_offset:
                out[node.lineno] = node
    return out


def remove(source: str, components: Iterable[Component]) -> str:
    """``source`` with the given components (of this file) removed mechanically."""
    tree = pyast.parse(source)
    lines = source.splitlines(keepends=True)
    statements = _statements(tree)
    identity = _identity(tree)
    replace: dict[int, str] = {}
    drop: set[int] = set()
    for comp in components:
        for number in comp.lines:
            stmt = statements.get(number)
            end = stmt.end_lineno or number if stmt is not None else number
            if (comp.kind == "line" and identity and isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], ast.Attribute) and isinstance(stmt.value, ast.Call)):
                indent = lines[number - 1][: len(lines[number - 1]) - len(lines[number - 1].lstrip())]
                replace[number] = f"{indent}{ast.unparse(stmt.targets[0])} = {identity}{NOTE}\n"
                drop.update(range(number + 1, end + 1))
            else:
                drop.update(range(number, end + 1))
    out: list[str] = []
    for i, line in enumerate(lines, 1):
        if i in replace:
            out.append(replace[i])
        elif i not in drop:
            out.append(line)
    return _fill_empty_bodies("".join(out))


def _fill_empty_bodies(code: str) -> str:
    """Add ``pass`` where removing statements left a block without a body (else it is returned as is)."""
    for _ in range(20):
        try:
            pyast.parse(code)
            return code
        except IndentationError as exc:
            if not exc.lineno:
                return code
            lines = code.splitlines(keepends=True)
            head = lines[exc.lineno - 2] if exc.lineno >= 2 else ""
            indent = head[: len(head) - len(head.lstrip())] + "    "
            lines.insert(exc.lineno - 1, f"{indent}pass{NOTE}\n")
            code = "".join(lines)
        except SyntaxError:
            return code
    return code


def variant_files(files: Mapping[str, str], components: Iterable[Component]) -> dict[str, str]:
    """Every input file, with the components removed from the files that hold them."""
    comps = list(components)
    out = dict(files)
    for name, source in files.items():
        mine = [c for c in comps if c.file == name and c.lines]
        if mine:
            out[name] = remove(source, mine)
    return out


# Layers whose first two arguments are (input width, output width).
WIDTH_LAYERS = frozenset({"Linear", "Bilinear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
                          "ConvTranspose3d", "LSTM", "GRU", "RNN"})


def _layers(tree: ast.Module) -> list[tuple[str, ast.Call]]:
    """``self.name = module.Layer(...)`` assignments in source order."""
    out = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Attribute)
                and isinstance(node.value, ast.Call) and node.value.args):
            out.append((node.targets[0].attr, node.value))
    return sorted(out, key=lambda item: (item[1].lineno, item[1].col_offset))


def _layer_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def fix_widths(original: str, variant: str, components: Iterable[Component]) -> str:
    """Give the layers after a removed ``Linear(a, b)``/``Conv(a, b, ...)`` the width ``a`` they now receive.

    Each later layer whose first argument is written ``b`` gets ``a`` instead, up to and including the
    next width-changing layer (a ``BatchNorm(b)`` in between changes too). Returns ``variant``
    unchanged where no removed layer changed the width.
    """
    removed_lines = {n for c in components for n in c.lines}
    layers = _layers(pyast.parse(original))
    edits: dict[str, tuple[str, str]] = {}  # attribute -> (old first argument, new one)
    for i, (_, call) in enumerate(layers):
        if call.lineno not in removed_lines or _layer_name(call) not in WIDTH_LAYERS or len(call.args) < 2:
            continue
        width_in, width_out = ast.unparse(call.args[0]), ast.unparse(call.args[1])
        if width_in == width_out:
            continue
        for name, later in layers[i + 1:]:
            if later.lineno in removed_lines:
                continue
            if ast.unparse(later.args[0]) == width_out:
                edits[name] = (width_out, width_in)
                if _layer_name(later) in WIDTH_LAYERS:
                    break
    if not edits:
        return variant
    lines = variant.splitlines(keepends=True)
    for name, call in _layers(pyast.parse(variant)):
        if name in edits and ast.unparse(call.args[0]) == edits[name][0] and call.args[0].end_col_offset is not None:
            arg = call.args[0]
            if arg.lineno != arg.end_lineno:
                continue
            line = lines[arg.lineno - 1]
            lines[arg.lineno - 1] = line[: arg.col_offset] + edits[name][1] + line[arg.end_col_offset:]
    return "".join(lines)
