"""The Optuna study's skeleton for a script: its own build-train-evaluate lines inside ``objective``, in place.

Issue 16, held-out HPO at round 0: told "define objective(trial) INSIDE main(), after line 35 where
`X_tr` exists", the 1.5B model still wrote a module-level objective (NameError: X_tr, in all 3
answers without the worked example) or copied the example's `fit` helper (all 3 with it). The
lines that build, train and score the model are in the script; the tool lays them out as the
objective, nested where the data exists, and the model replaces the tuned literals with
``trial.suggest_*`` calls. The ranges stay the task's; the number of trials is the instruction's (10 when it names none).
"""

from __future__ import annotations

import ast
import re

from opsgraft import pyast
from opsgraft.adapters.outline import MODULE, Outline, Site

_MAX_LINES = 16  # the objective's lines shown at most; the outline stays under about 500 tokens
_MINIMIZE = re.compile(r"(?i)loss|err|mse|mae|rmse|logloss|perplex|ppl|dist")


def _body(tree: ast.Module, scope: str) -> list[ast.stmt] | None:
    """The statements of the function named ``scope`` (qualified: `Trainer.fit`), or the module's."""
    if scope == MODULE:
        return [s for s in tree.body if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    body: list[ast.stmt] = tree.body
    for part in scope.split("."):
        node = next((n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                     and n.name == part), None)
        if node is None:
            return None
        body = node.body
    return body


def _returned(source: str, stmt: ast.stmt, score: Site) -> tuple[str, str, bool]:
    """(the expression to return, its name for the direction, whether the statement is a print to drop)."""
    if score.names:
        name = [n for n in score.names if n != "_"][-1:] or list(score.names[-1:])
        return name[0], name[0], False
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and isinstance(stmt.value.func, ast.Name) \
            and stmt.value.func.id == "print":
        from opsgraft.adapters.tracking_plan import _pairs

        for label, expr, _spec in _pairs(source, stmt.value):
            if expr and "\n" not in expr:
                return expr, label or expr, True
    return "", "", False


def trials(instruction: str) -> int:
    """The number of trials the instruction asks for ("at least 8 trials"), else 10."""
    found = re.search(r"(\d+)\s+trials", instruction)
    return int(found.group(1)) if found else 10


def skeleton(o: Outline, source: str, scope: str, instruction: str = "") -> list[str]:
    """The outline's lines with the study laid out in ``scope`` ([] when its lines cannot be told apart)."""
    try:
        tree = pyast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    body = _body(tree, scope)
    if not body:
        return []
    models = [m for m in o.models if m.scope == scope]
    train = [t for t in o.training if t.scope == scope]
    if not train:
        return []
    first = models[-1].line if models and models[-1].line <= train[0].line else train[0].line
    # the object that trains (`trainer.fit(...)`, `forest.fit(...)`) is built in the objective too, so that
    # every trial starts from scratch
    receiver = re.match(r"([A-Za-z_]\w*)\.", train[0].text)
    built = [ln for ln, name in o.assigned.get(scope, ()) if receiver and name == receiver.group(1)
             and ln <= train[0].line]
    if built:
        first = min(first, max(built))
    score = next((m for m in o.metrics if m.scope == scope and m.line >= train[0].line), None)
    if score is None:
        return []
    stmts = [s for s in body if (s.end_lineno or s.lineno) >= first and s.lineno <= score.line]
    if not stmts or len(stmts) > 12:
        return []
    returned, named, drop = _returned(source, stmts[-1], score)
    if not returned:
        return []
    start, end = stmts[0].lineno, stmts[-1].end_lineno or stmts[-1].lineno
    lines = source.splitlines()
    head = lines[start - 1]
    indent = head[: len(head) - len(head.lstrip())]
    code = [f"{indent}def objective(trial):"]
    for s in stmts[:-1] if drop else stmts:
        for line in lines[s.lineno - 1:(s.end_lineno or s.lineno)]:
            code.append(f"    {line}" if line.strip() else "")
    code.append(f"{indent}    return {returned}")
    if len(code) > _MAX_LINES:  # a long training block: the outline's other lines say where it goes
        return []
    direction = "minimize" if _MINIMIZE.search(f"{named} {score.text}") else "maximize"
    code += ["", f'{indent}study = optuna.create_study(direction="{direction}")',
             f"{indent}study.optimize(objective, n_trials={trials(instruction)})"]
    where = "at module level" if scope == MODULE else f"in {scope}()"
    span = f"lines {start}-{end}" if end > start else f"line {start}"
    return [f"- the study, {where} where line {start} is now: the objective runs {span} with the "
            "tuned values from trial.suggest_* in place of their literals, then returns the score:",
            "```python", *code, "```"]
