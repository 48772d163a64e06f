"""The start of the answer, written by the tool: the script's head with the target's imports and helpers.

Issue 16: on GitPython -> DVC the 1.5B model wrote ``from dvc import init, add, push`` in the import
block, or called ``dvc("add", ...)`` without defining it, whatever the outline and the worked example
said; it also dropped the closing quotes of a module docstring. The head of a translated file is not
the model's to invent: the module docstring and the original imports stay, the source tool's imports
go, the target's imports and one-time helpers (``def dvc(*args)``) come in. The tool writes that head
as the first lines of the model's answer (an assistant prefill, on backends that continue one), and
the model writes the rest of the file after it. The head comes from the translation's call map
(``callmaps/*.yaml``, its ``scaffold:`` section): data about the target library, not about a script.
"""

from __future__ import annotations

import ast
import logging

from opsgraft import pyast
from opsgraft.adapters import callmap

log = logging.getLogger(__name__)

FENCE = "```python\n"


def head_end(tree: ast.Module) -> int:
    """The last line (1-based) of the leading docstring / import block; 0 when the script opens with code."""
    end = 0
    for i, stmt in enumerate(tree.body):
        is_doc = i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
            and isinstance(stmt.value.value, str)
        if is_doc or isinstance(stmt, ast.Import | ast.ImportFrom):
            end = stmt.end_lineno or stmt.lineno
            continue
        break
    return end


def _drops(stmt: ast.stmt, modules: tuple[str, ...]) -> bool:
    if isinstance(stmt, ast.Import):
        return all(a.name.split(".")[0] in modules for a in stmt.names)
    if isinstance(stmt, ast.ImportFrom):
        return (stmt.module or "").split(".")[0] in modules and not stmt.level
    return False


def build(source: str, translation_key: str) -> str:
    """The answer's first lines for translating ``source`` (``''`` when the translation has no scaffold)."""
    scaffold = callmap.scaffold(translation_key)
    if scaffold is None:
        return ""
    try:
        tree = pyast.parse(source)
    except SyntaxError:
        return ""
    end = head_end(tree)
    lines = source.splitlines()
    head = [callmap.retire(translation_key, line) for line in lines[:end]]  # "... with git-lfs" -> "... with DVC"
    # The module constants after the imports (`DATA = Path(...)`) come after the helpers, so the answer
    # continues at module level: a prefill that ends inside a helper's body had the model keep writing
    # that body (2048-token answers), and one that left the constants out lost their names.
    consts_end = end
    for stmt in tree.body:
        if stmt.lineno <= end:
            continue
        if not isinstance(stmt, ast.Assign | ast.AnnAssign):
            break
        consts_end = stmt.end_lineno or stmt.lineno
    consts = "\n".join(lines[end:consts_end]).strip("\n")
    # the source tool's imports leave (whole statements only; a mixed `import os, wandb` stays for the model)
    for stmt in sorted((s for s in tree.body if s.lineno <= end and _drops(s, scaffold.drop_imports)),
                       key=lambda s: -s.lineno):
        del head[stmt.lineno - 1:(stmt.end_lineno or stmt.lineno)]
    have = {ast.unparse(s) for s in tree.body if s.lineno <= end and isinstance(s, ast.Import | ast.ImportFrom)}
    added = [imp for imp in scaffold.imports if imp not in have]
    text = "\n".join(head).rstrip("\n")
    if added:
        text = f"{text}\n{chr(10).join(added)}" if text else "\n".join(added)
    if scaffold.define:
        text = f"{text}\n\n\n{scaffold.define.strip()}" if text else scaffold.define.strip()
    if consts:
        text = f"{text}\n\n\n{consts}"
    text += "\n\n"  # at module level, after a blank line: the model writes the next statement
    log.info("answer scaffold: %d lines of the original head, %d imports added", len(head), len(added))
    return f"{FENCE}{text}\n"
