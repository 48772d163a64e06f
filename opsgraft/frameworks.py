"""Which training framework a script uses: one import scanner and one table for every stage.

The adapters (MLflow flavor lookups, the outline's framework line, the worked example's framework)
and retrieval all ask "what does this code train with?"; they read the answer from here.

Two framework tables stay elsewhere on purpose, because they answer other questions:
- ``retrieval.strategies.FRAMEWORKS`` maps a *name in a doc's URL or heading* (``pytorch``,
  ``langchain``, ``spark``) to the imports that make that doc relevant. It covers LLM and data
  libraries that train nothing, and a name there may stand for several imports.
- ``evaluation.checkers.mlflow_registration.FRAMEWORKS`` lists MLflow *flavors found in a logged
  model*, which is what the program wrote, not what it imports.
The corpus task schema (``evaluation.corpus.TaskSpec.framework``) is a Literal of the frameworks
the corpus has tasks for, a subset of :data:`FRAMEWORKS` (tests/core/test_frameworks.py checks it).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from opsgraft import pyast

# Top-level import -> framework, first match wins: a Lightning script imports torch too, and a
# Keras or XGBoost one often loads or splits its data with sklearn.
IMPORT_TO_FRAMEWORK: tuple[tuple[str, str], ...] = (
    ("lightning", "lightning"), ("pytorch_lightning", "lightning"), ("keras", "keras"),
    ("tensorflow", "keras"), ("torch", "pytorch"), ("xgboost", "xgboost"), ("lightgbm", "lightgbm"),
    ("catboost", "catboost"), ("sklearn", "sklearn"),
)
FRAMEWORKS: tuple[str, ...] = tuple(dict.fromkeys(f for _, f in IMPORT_TO_FRAMEWORK))
# How a person names each (the outline shown to the model).
LABELS: dict[str, str] = {
    "lightning": "PyTorch Lightning", "keras": "Keras", "pytorch": "PyTorch", "xgboost": "XGBoost",
    "lightgbm": "LightGBM", "catboost": "CatBoost", "sklearn": "scikit-learn",
}
# The MLflow flavor module that logs each framework's models (Lightning models are PyTorch modules).
MLFLOW_FLAVORS: dict[str, str] = {
    "lightning": "pytorch", "keras": "keras", "pytorch": "pytorch", "xgboost": "xgboost",
    "lightgbm": "lightgbm", "catboost": "catboost", "sklearn": "sklearn",
}


def top_level_imports(code: str | ast.Module) -> set[str] | None:
    """The top-level names of the modules ``code`` imports anywhere (``torch.nn`` -> ``torch``), absolute
    imports only; None when ``code`` does not parse."""
    if isinstance(code, str):
        try:
            code = pyast.parse(code)
        except SyntaxError:
            return None
    out: set[str] = set()
    for node in ast.walk(code):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module.split(".")[0])
    return out


def training_framework(code: str | ast.Module, among: Iterable[str] | None = None) -> str:
    """The framework ``code`` trains with, by :data:`IMPORT_TO_FRAMEWORK`; '' when none (or it does not parse).

    ``among`` limits the answer to some frameworks (those a caller has material for), in the same order
    of precedence: an XGBoost script that splits its data with sklearn is ``sklearn`` among
    ``("sklearn", "pytorch")``.
    """
    imported = top_level_imports(code) or set()
    allowed = set(FRAMEWORKS if among is None else among)
    return next((f for module, f in IMPORT_TO_FRAMEWORK if f in allowed and module in imported), "")
