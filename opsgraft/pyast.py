"""``ast.parse`` behind one process-wide lock.

CPython 3.11 keeps the AST constructor's recursion counter in interpreter-wide state. When two
threads parse at once and a garbage-collector finaliser lets the interpreter switch threads in
the middle of building the tree, the counter of one parse is changed by the other and ``ast.parse``
raises ``SystemError: AST constructor recursion depth mismatch`` (python/cpython#106905). The bench
runner parses on several worker threads (outline, static check, checkers), so every parse in
opsgraft goes through :func:`parse`. ruff's banned-api rule (TID251) keeps it that way.
"""

from __future__ import annotations

import ast
import threading

_LOCK = threading.Lock()


def parse(source: str | bytes, filename: str = "<unknown>") -> ast.Module:
    """``ast.parse(source, filename)``, one thread at a time."""
    with _LOCK:
        return ast.parse(source, filename)  # noqa: TID251 - the one sanctioned call
