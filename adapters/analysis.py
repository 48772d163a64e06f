"""Static looks at the user's script before any LLM call: valid input, tool present, training present."""

from __future__ import annotations

import ast
from pathlib import Path

from opsgraft import pyast
from opsgraft.errors import InputError

# Calls and names that mark a training script (fit/train loops across the supported frameworks).
_TRAIN_CALLS = {"fit", "train", "backward", "step", "fit_transform", "partial_fit", "train_on_batch", "train_step",
                "training_step"}


def read_source(path: Path) -> str:
    """The script's text, without a BOM; InputError for a missing, unreadable, non-Python or non-UTF-8 file."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a Python file")
    if path.suffix != ".py":
        raise InputError(f"{path}: not a Python file (expected a .py script)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        # utf-8-sig: Python runs a file that starts with a UTF-8 BOM, so it is read here too. The BOM
        # is dropped (ast.parse refuses U+FEFF in a str) and the adapted copy is plain UTF-8.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 (byte {exc.start})") from None
    parse(text, str(path))
    return text


def parse(source: str, filename: str) -> ast.Module:
    """ast.parse with a one-line InputError that says where."""
    try:
        return pyast.parse(source, filename=filename)
    except SyntaxError as exc:
        raise InputError(f"{filename}:{exc.lineno}:{exc.offset or 0}: syntax error: {exc.msg}") from None


def imported_paths(tree: ast.Module) -> set[str]:
    """Every dotted path imported anywhere in the tree, with each prefix ("a.b.c" -> a, a.b, a.b.c), and
    each name a ``from`` import binds (``from a import b`` -> a, a.b). For matching an adapter's
    ``imports`` such as ``mlflow.pytorch``; :func:`opsgraft.frameworks.top_level_imports` gives only the tops."""
    names: set[str] = set()

    def add(dotted: str) -> None:
        parts = dotted.split(".")
        for i in range(1, len(parts) + 1):
            names.add(".".join(parts[:i]))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            add(node.module)
            for alias in node.names:
                add(f"{node.module}.{alias.name}")
    return names


def uses_any(tree: ast.Module, modules: tuple[str, ...]) -> bool:
    """True when any of ``modules`` is imported."""
    return bool(imported_paths(tree) & set(modules))


def called_names(tree: ast.Module) -> set[str]:
    """Names of every function or method called (the attribute name for method calls)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute):
                out.add(func.attr)
            elif isinstance(func, ast.Name):
                out.add(func.id)
    return out


def passes_keyword(tree: ast.Module, keyword: str) -> bool:
    """True when some call passes ``keyword=``."""
    return any(
        isinstance(node, ast.Call) and any(k.arg == keyword for k in node.keywords) for node in ast.walk(tree)
    )


def is_training_script(tree: ast.Module) -> bool:
    """A fit/train call, a backward pass, or a method named like a training step."""
    if called_names(tree) & _TRAIN_CALLS:
        return True
    return any(
        isinstance(node, ast.FunctionDef) and node.name in {"training_step", "train_step", "train", "fit"}
        for node in ast.walk(tree)
    )


def already_present(tree: ast.Module, imports: tuple[str, ...], calls: tuple[str, ...] = (),
                    keywords: tuple[str, ...] = ()) -> bool:
    """True when the script already imports the tool, makes the marking call or passes the keyword."""
    if imports and uses_any(tree, imports):
        return True
    if calls and called_names(tree) & set(calls):
        return True
    return any(passes_keyword(tree, k) for k in keywords)
