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
from dataclasses import replace

from opsgraft import pyast
from opsgraft.adapters.outline import MODULE, Outline, Site, _scopes, built_line
from opsgraft.adapters.tracking_plan import _pairs

_MAX_LINES = 16  # the objective's lines shown at most; the outline stays under about 500 tokens
_MINIMIZE = re.compile(r"(?i)loss|err|mse|mae|rmse|logloss|perplex|ppl|dist")

_ALIASES = {"lr": ("learning rate", "lr"), "learning_rate": ("learning rate",), "hidden": ("hidden", "width"),
            "width": ("width",), "units": ("units",), "n_estimators": ("n_estimators", "trees", "estimators"),
            "max_depth": ("max_depth", "depth"), "weight_decay": ("weight decay",), "dropout": ("dropout",),
            "momentum": ("momentum",), "C": ("c",), "gamma": ("gamma",), "alpha": ("alpha",),
            "batch_size": ("batch size",), "hidden_size": ("hidden",), "num_leaves": ("leaves",)}
_RANGE = re.compile(r"\(\s*(log scale,\s*)?(-?[\d.]+(?:e-?\d+)?)\s+to\s+(-?[\d.]+(?:e-?\d+)?)\s*\)"
                    r"|\(\s*one of\s+([^)]+)\)", re.IGNORECASE)
_INT = re.compile(r"^-?\d+$")


def _ranges(instruction: str) -> list[tuple[list[str], str]]:
    """(the words naming a value, the suggest arguments after its name) for each range the instruction gives."""
    out: list[tuple[list[str], str]] = []
    last = 0
    for found in _RANGE.finditer(instruction):
        before = re.split(r"[,;:()]|\band\b|\btuning\b", instruction[last:found.start()])[-1]
        last = found.end()
        words = re.findall(r"\w+", before.lower())
        if found.group(4):
            choices = [c.strip() for c in re.split(r",|\bor\b", found.group(4)) if c.strip()]
            out.append((words, f"[{', '.join(choices)}]"))
        else:
            low, high = found.group(2), found.group(3)
            kind = "int" if _INT.match(low) and _INT.match(high) else "float"
            out.append((words, f"{kind}:{low}, {high}{', log=True' if found.group(1) else ''}"))
    return out


def _named(name: str, words: list[str]) -> bool:
    return any(all(w in words for w in alias.split()) for alias in _ALIASES.get(name, (name.lower(),)))


def _default(name: str, value: object) -> str:
    """Suggest arguments around the script's own value, for an instruction that gives no range."""
    if name in {"dropout", "momentum"}:
        return f"float:0.0, {0.5 if name == 'dropout' else 0.99}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return ""
    if isinstance(value, int):
        return f"int:{max(1, value // 4)}, {max(2, value * 4)}"
    return f"float:{value / 10:g}, {value * 10:g}, log=True" if value > 0 else ""


def _suggest(name: str, args: str) -> str:
    if args.startswith("["):
        return f'trial.suggest_categorical("{name}", {args})'
    kind, _, rest = args.partition(":")
    return f'trial.suggest_{kind}("{name}", {rest})'


def _tuned(stmts: list[ast.stmt], instruction: str) -> dict[tuple[int, int, int], str]:
    """(line, first column, end column) of each tuned value in ``stmts`` -> its trial.suggest_* call."""
    ranges = _ranges(instruction)
    used: set[int] = set()
    out: dict[tuple[int, int, int], str] = {}
    for stmt in stmts:
        for call in [n for n in ast.walk(stmt) if isinstance(n, ast.Call)]:
            sites: list[tuple[str, ast.expr]] = [(k.arg, k.value) for k in call.keywords if k.arg]
            sites += [(a.attr, a) for a in call.args if isinstance(a, ast.Attribute)]
            for name, node in sites:
                if node.lineno != node.end_lineno or node.end_col_offset is None:
                    continue
                literal = isinstance(node, ast.Constant)
                if not (literal or isinstance(node, (ast.Attribute, ast.Subscript))):
                    continue
                if ranges:
                    hit = next((i for i, (words, _) in enumerate(ranges) if i not in used and _named(name, words)),
                               None)
                    if hit is None:
                        continue
                    used.add(hit)
                    args = ranges[hit][1]
                elif literal and name in _ALIASES and name != "batch_size":
                    args = _default(name, node.value)  # type: ignore[attr-defined]
                    if not args:
                        continue
                else:
                    continue
                out[(node.lineno, node.col_offset, node.end_col_offset)] = _suggest(name, args)
    return out


def _apply(lines: list[str], tuned: dict[tuple[int, int, int], str]) -> list[str]:
    """``lines`` (the whole source's) with each tuned value's text replaced, right to left on a line."""
    out = list(lines)
    for (line, a, b), text in sorted(tuned.items(), key=lambda kv: (kv[0][0], -kv[0][1])):
        raw = out[line - 1].encode()
        if 'f"' in out[line - 1]:  # inside an f-string in double quotes (Python 3.11: no nested double quotes)
            text = text.replace('"', "'")
        out[line - 1] = (raw[:a] + text.encode() + raw[b:]).decode()
    return out


def _body(tree: ast.Module, scope: str) -> list[ast.stmt] | None:
    """The statements of the function named ``scope`` (qualified: `Trainer.fit`), or the module's."""
    return next((s.body for s in _scopes(tree) if s.name == scope), None)


def _returned(source: str, stmt: ast.stmt, score: Site) -> tuple[str, str, bool]:
    """(the expression to return, its name for the direction, whether the statement is a print to drop)."""
    if score.names:
        name = [n for n in score.names if n != "_"][-1:] or list(score.names[-1:])
        return name[0], name[0], False
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) and isinstance(stmt.value.func, ast.Name) \
            and stmt.value.func.id == "print":
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
    built = built_line(o, scope, train[0])
    if built:
        first = min(first, built)
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
    lines = _apply(source.splitlines(), _tuned(stmts, instruction))
    if drop:  # the printed score, read again from the print with the tuned values in it
        printed = "\n".join(line.strip() for line in lines[stmts[-1].lineno - 1:end])
        try:
            again = pyast.parse(printed).body[0]
        except (SyntaxError, ValueError, IndexError):
            return []
        returned = _returned(printed, again, replace(score, names=()))[0] or returned
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
    return [f"- the study, {where} where line {start} is now: the objective runs {span} with the tuned values "
            "from trial, then returns the score; after it, build and train the model once more with the same "
            "lines and `**study.best_params`:",
            "```python", *code, "```"]
