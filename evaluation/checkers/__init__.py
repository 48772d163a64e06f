"""Checkers read the side effects a program left behind; each module registers its own.

Importing this package imports every module in it, so a new checker is one new file.
"""

from __future__ import annotations

import importlib
import pkgutil

from opsgraft.evaluation.checkers.base import CheckContext, Checker, verdict

for _info in pkgutil.iter_modules(__path__):
    if _info.name != "base":
        importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["CheckContext", "Checker", "verdict"]
