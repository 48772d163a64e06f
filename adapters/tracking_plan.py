"""The exact tracking calls for a script: its settings as the run's parameters, a log call before each metric print.

Issue 16, held-out tracking at round 0 (1 of 5 tasks): told *what* to log ("log as parameters: SEED,
MAX_DEPTH, ...", "log the metrics where they are computed: line 26: `acc`"), the 1.5B model wrote
the worked example's calls instead: ``mlflow.log_params({"epochs": EPOCHS, "alpha": ALPHA})`` on a
script that has neither (NameError), ``log_metric("val_loss", float(loss))`` where no ``loss`` exists,
and on the DCGAN a ``loss`` the epoch loop never defines. What a script reports is already in it:
its settings (adapters/config_plan.py reads them for config:json) and the values its own prints
show each epoch. Every expression a print formats is in scope at that print, so a log call placed
right before it, with the print's labels as metric names, runs wherever the print runs, including
inside a Keras or Lightning callback. The tool writes those calls out; the model places them.

Only f-strings and ``print("label", value, ...)`` arguments are read; a print whose values carry no
numeric format and no metric-like label gives nothing.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from opsgraft import pyast
from opsgraft.adapters import config_plan, outline
from opsgraft.adapters.outline import _last

_LABEL = re.compile(r"([A-Za-z_][\w./-]*)\s*[:=]?\s*$")
_STEP_LABEL = re.compile(r"(?i)^(epoch|ep|step|stage|iter|iteration|round|it|batch)s?$")
_METRIC_LABEL = re.compile(r"(?i)acc|loss|mse|rmse|mae|r2|f1|auc|score|error|elbo|kl|recon|ppl|perplexity|"
                           r"precision|recall|logloss|dist")
_NUMERIC_SPEC = re.compile(r"[dfeEgG%]$")
_LIMIT = 3  # print lines shown; the outline stays short


@dataclass(frozen=True)
class PrintedMetrics:
    """The numbers one print line reports: ``(label, expression)`` pairs and the step it reports them at."""

    line: int
    step: str  # an expression ('' when the print has none and no loop counter encloses it)
    values: tuple[tuple[str, str], ...]
    scope: str = ""  # the function the print is in (`PrintMetrics.on_validation_epoch_end`), '' at module level

    def call(self, component: str) -> str:
        """The log call to put right before the print."""
        if component == "wandb":
            items = [f'"{k}": float({v})' for k, v in self.values]
            if self.step:
                items.append(f'"epoch": {self.step}')
            return f"wandb.log({{{', '.join(items)}}})"
        body = "{" + ", ".join(f'"{k}": float({v})' for k, v in self.values) + "}"
        return f"mlflow.log_metrics({body}{', step=' + self.step if self.step else ''})"


def _segment(source: str, node: ast.AST) -> str:
    return " ".join((ast.get_source_segment(source, node) or "").split())


def _pairs(source: str, call: ast.Call) -> list[tuple[str, str, str]]:
    """(label, expression, format spec) for each value the print formats; label '' when none precedes it."""
    out: list[tuple[str, str, str]] = []
    label = ""
    parts: list[ast.expr] = []
    for arg in call.args:
        parts += list(arg.values) if isinstance(arg, ast.JoinedStr) else [arg]
    for part in parts:
        if isinstance(part, ast.Constant) and isinstance(part.value, str):
            found = _LABEL.search(part.value)
            label = found.group(1) if found else ""
            continue
        if isinstance(part, ast.FormattedValue):
            spec = "".join(v.value for v in getattr(part.format_spec, "values", ())
                           if isinstance(v, ast.Constant) and isinstance(v.value, str))
            out.append((label, _segment(source, part.value), spec))
        elif not isinstance(part, ast.Constant):
            out.append((label, _segment(source, part), ""))
        label = ""
    return out


def _loop_counters(tree: ast.AST) -> dict[int, str]:
    """For each print's line, the simple loop counter of the innermost `for` enclosing it (by line)."""
    spans: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.For):
            target = node.target
            if isinstance(target, ast.Tuple) and isinstance(node.iter, ast.Call) and _last(node.iter) == "enumerate":
                target = target.elts[0] if target.elts else target
            if isinstance(target, ast.Name):
                spans.append((node.lineno, node.end_lineno or node.lineno, target.id))
    out: dict[int, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _last(node) == "print":
            inner = [s for s in spans if s[0] <= node.lineno <= s[1]]
            if inner:
                out[node.lineno] = max(inner, key=lambda s: s[0])[2]
    return out


def _scopes(tree: ast.Module) -> dict[int, str]:
    """For each line inside a function, the function's qualified name (the innermost one)."""
    out: dict[int, str] = {}
    for scope in outline._scopes(tree)[1:]:  # the module comes first; an inner function after its outer one
        out.update(dict.fromkeys(range(scope.start, scope.end + 1), scope.name))
    return out


def printed_metrics(source: str, limit: int | None = _LIMIT, in_guard: bool = False) -> list[PrintedMetrics]:
    """The prints that report numbers, in line order (none for a script that does not parse); the first ``limit``.

    ``in_guard``: also the prints in the `if __name__ == "__main__":` block (at module level there).
    """
    try:
        tree = pyast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    guard = outline.guard_span(tree)
    counters = _loop_counters(tree)
    scopes = _scopes(tree)
    found: list[PrintedMetrics] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"):
            continue
        if guard[0] <= node.lineno <= guard[1] and not in_guard:
            continue
        counter = counters.get(node.lineno, "")
        step, values, labels = "", [], set()
        for label, expr, spec in _pairs(source, node):
            if not expr or "\n" in expr:
                continue
            if _STEP_LABEL.match(label) or (expr == counter and not _METRIC_LABEL.search(label)):
                step = step or expr
                continue
            numeric = bool(_NUMERIC_SPEC.search(spec)) and not spec.endswith("d")
            if not label or label in labels or not (numeric or _METRIC_LABEL.search(label)):
                continue
            labels.add(label)
            values.append((label, expr))
        if values:
            found.append(PrintedMetrics(node.lineno, step or counter, tuple(values), scopes.get(node.lineno, "")))
    return sorted(found, key=lambda p: p.line)[:limit]


def params_dict(source: str, limit: int = 8) -> str:
    """``{"lr": LR, "epochs": 8, ...}``: the script's settings (config_plan), by constant where there is one."""
    settings = config_plan.find(source)[:limit]
    items = [f'"{s.key}": {s.constant or repr(s.value)}' for s in settings]
    return "{" + ", ".join(items) + "}" if items else ""


def run_call(source: str, component: str) -> str:
    """The call that records the settings: ``mlflow.log_params({...})`` or ``wandb.init(..., config={...})``."""
    params = params_dict(source)
    if not params:
        return ""
    return f'wandb.init(project="opsgraft", config={params})' if component == "wandb" else f"mlflow.log_params({params})"


def metric_lines(source: str, component: str, scopes: set[str] | None = None) -> list[str]:
    """The outline's lines with a log call before each print that reports numbers ([] when none does).

    ``scopes``: only the prints in these functions ('' for module level); None: every print.
    """
    printed = [p for p in printed_metrics(source) if scopes is None or p.scope in scopes]
    if not printed:
        return []
    return (["- log what the script prints: right before each of these prints, at its indentation, add"]
            + [f"  - before line {p.line}{' in ' + p.scope + '()' if p.scope else ''}: `{p.call(component)}`"
               for p in printed])
