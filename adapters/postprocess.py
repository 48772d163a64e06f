"""Minimal post-processing of an answer's code: put back what a small model drops by accident.

Three repairs, each reported as a note in the record, never applied to code that does not parse:
- a name the code uses but never binds, that the original imported or that has one standard
  import (``np``, ``prune``, ``wandb``, ``argparse``...), gets that import;
- an answer that dropped the original's ``if __name__ == "__main__":`` block gets it back when
  everything the block calls is still defined;
- a bare ``mlflow.start_run()`` statement in a function that also opens ``with mlflow.start_run():``
  goes, with that function's bare ``mlflow.end_run()``: the second start raises "Run ... is already
  active" (held-out Lightning tracking, 3 of 3 samples wrote both).
Nothing else is touched: a wrong API call stays wrong and is the repair loop's business.
"""

from __future__ import annotations

import ast
import builtins

from opsgraft import pyast

# name -> the one import that provides it, for names the corpus' models commonly forget.
STANDARD_IMPORTS: dict[str, str] = {
    "np": "import numpy as np",
    "pd": "import pandas as pd",
    "torch": "import torch",
    "nn": "from torch import nn",
    "F": "import torch.nn.functional as F",
    "prune": "from torch.nn.utils import prune",
    "mlflow": "import mlflow",
    "MlflowClient": "from mlflow import MlflowClient",
    "infer_signature": "from mlflow.models import infer_signature",
    "wandb": "import wandb",
    "optuna": "import optuna",
    "nncf": "import nncf",
    # the plan (adapters/pruning_plan.py) names them; 2 of 3 held-out answers used one without importing it
    "MultiStepMagnitudePruningScheduler":
        "from nncf.torch.function_hook.pruning.magnitude.schedulers import MultiStepMagnitudePruningScheduler",
    "ExponentialMagnitudePruningScheduler":
        "from nncf.torch.function_hook.pruning.magnitude.schedulers import ExponentialMagnitudePruningScheduler",
    "subprocess": "import subprocess",
    "os": "import os",
    "sys": "import sys",
    "json": "import json",
    "argparse": "import argparse",
    "logging": "import logging",
    "pickle": "import pickle",
    "time": "import time",
    "math": "import math",
    "random": "import random",
    "shutil": "import shutil",
    "Path": "from pathlib import Path",
    "cross_val_score": "from sklearn.model_selection import cross_val_score",
    "train_test_split": "from sklearn.model_selection import train_test_split",
    "accuracy_score": "from sklearn.metrics import accuracy_score",
    "mean_squared_error": "from sklearn.metrics import mean_squared_error",
    "r2_score": "from sklearn.metrics import r2_score",
    "f1_score": "from sklearn.metrics import f1_score",
}


def plugin_imports() -> dict[str, str]:
    """Names the installed plugins add to :data:`STANDARD_IMPORTS` (``opsgraft.plugins.add_standard_imports``)."""
    from opsgraft.registry import standard_imports

    out: dict[str, str] = {}
    for plugin in standard_imports.names():
        for name, line in dict(standard_imports.get(plugin)).items():
            if name not in STANDARD_IMPORTS:
                out.setdefault(str(name), str(line))
    return out


_BUILTINS = set(dir(builtins)) | {"__file__", "__name__", "__doc__", "__spec__", "__builtins__"}


def bound_names(tree: ast.AST) -> set[str]:
    """Every name the module binds anywhere (any scope): assignments, defs, args, imports, handlers."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            out.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            out.add(node.name)
        elif isinstance(node, ast.arg):
            out.add(node.arg)
        elif isinstance(node, ast.alias):
            out.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            out.add(node.name)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            out.update(node.names)
        elif isinstance(node, ast.MatchAs | ast.MatchStar) and node.name:
            out.add(node.name)
    return out


def undefined_names(tree: ast.AST) -> list[str]:
    """Names read but bound nowhere and not builtins, in order of first use."""
    bound = bound_names(tree)
    seen: dict[str, None] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            if node.id not in bound and node.id not in _BUILTINS:
                seen.setdefault(node.id)
    return list(seen)


def _import_lines(original: ast.Module, source: str) -> dict[str, str]:
    """name -> the original's import statement that binds it (single-name form)."""
    out: dict[str, str] = {}
    for node in original.body:
        if isinstance(node, ast.Import):
            for a in node.names:
                out[a.asname or a.name.split(".")[0]] = f"import {a.name}" + (f" as {a.asname}" if a.asname else "")
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                if a.name != "*":
                    alias = f" as {a.asname}" if a.asname else ""
                    out[a.asname or a.name] = f"from {node.module} import {a.name}{alias}"
    return out


def is_main_guard(node: ast.stmt) -> bool:
    """``if __name__ == "__main__":``."""
    return (
        isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__"
        and len(node.test.comparators) == 1 and isinstance(node.test.comparators[0], ast.Constant)
        and node.test.comparators[0].value == "__main__"
    )


def _insert_imports(code: str, tree: ast.Module, lines: list[str]) -> str:
    """Insert import lines after the last top-level import (else after the docstring)."""
    after = 0
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            after = node.end_lineno or node.lineno
        elif after == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) \
                and isinstance(node.value.value, str) and node is tree.body[0]:
            after = node.end_lineno or node.lineno
    src = code.splitlines(keepends=True)
    block = [ln + "\n" for ln in lines]
    if after and not src[after - 1].endswith("\n"):
        src[after - 1] += "\n"
    return "".join(src[:after] + block + src[after:])


def _is_call_to(node: ast.AST, dotted: str) -> bool:
    from opsgraft.adapters.outline import _dotted

    return isinstance(node, ast.Call) and _dotted(node.func) == dotted


def drop_double_run(code: str, tree: ast.Module) -> tuple[str, bool]:
    """Drop bare ``mlflow.start_run()``/``mlflow.end_run()`` statements of a body that also has ``with mlflow.start_run()``."""
    drop: list[ast.stmt] = []
    bodies = [tree.body] + [n.body for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    for body in bodies:
        inner = [n for stmt in body for n in ast.walk(stmt)]
        opens = any(isinstance(n, ast.With) and any(
            _is_call_to(i.context_expr, "mlflow.start_run")
            and not any(k.arg == "nested" for k in i.context_expr.keywords)  # type: ignore[attr-defined]
            for i in n.items) for n in inner)
        bare = [st for st in body if isinstance(st, ast.Expr) and _is_call_to(st.value, "mlflow.start_run")]
        if opens and bare:
            drop += bare + [st for st in body if isinstance(st, ast.Expr) and _is_call_to(st.value, "mlflow.end_run")]
    if not drop:
        return code, False
    lines = code.splitlines(keepends=True)
    for st in sorted(drop, key=lambda n: -n.lineno):
        del lines[st.lineno - 1:st.end_lineno or st.lineno]
    return "".join(lines), True


def complete(code: str, original: str) -> tuple[str, list[str]]:
    """The code with dropped imports and a dropped main block put back, and what was done."""
    try:
        tree = pyast.parse(code)
        orig_tree = pyast.parse(original)
    except SyntaxError:
        return code, []
    notes: list[str] = []
    if not any(is_main_guard(n) for n in tree.body):
        guard = next((n for n in orig_tree.body if is_main_guard(n)), None)
        if guard is not None:
            needed = {n.id for n in ast.walk(guard) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
            if needed - {"__name__"} <= bound_names(tree) | _BUILTINS:
                block = ast.get_source_segment(original, guard) or ""
                code = code.rstrip("\n") + "\n\n\n" + block + "\n"
                notes.append("post-processing: put back the original's `if __name__ == \"__main__\":` block")
                tree = pyast.parse(code)
    code, dropped = drop_double_run(code, tree)
    if dropped:
        notes.append("post-processing: dropped a bare mlflow.start_run()/end_run() beside `with mlflow.start_run():`")
        tree = pyast.parse(code)
    known = {**STANDARD_IMPORTS, **plugin_imports(), **_import_lines(orig_tree, original)}
    missing = [name for name in undefined_names(tree) if name in known]
    if missing:
        lines = list(dict.fromkeys(known[name] for name in missing))
        code = _insert_imports(code, tree, lines)
        notes.append("post-processing: added " + "; ".join(lines))
    return code, notes
