"""The script's outline from its syntax tree (build), and the prompt block that shows it (render).

Where each functionality's code goes (insertion_points, the block's last part) is in adapters/insertion.py.

Computed before the first answer, never by running the script (issue 16, technique 1): the
1.5B model kept putting an Optuna objective at module level where main()'s data does not exist,
and registering a model before it was trained. Telling it the line numbers up front is cheaper
than learning them from a failed run.
"""

from __future__ import annotations

import ast
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from opsgraft import pyast
from opsgraft.adapters.specs import AdapterSpec

log = logging.getLogger(__name__)

MODULE = "<module>"
_DATA_CALL = re.compile(
    r"^(load_(?!model$|state_dict$|weights$)\w+|fetch_\w+|make_(classification|regression|blobs|moons|circles|"
    r"friedman\d)|read_(csv|parquet|json|table|excel|pickle)|loadtxt|genfromtxt|load_data|load_dataset|"
    r"train_test_split|DataLoader|TensorDataset|ImageFolder|MNIST|FashionMNIST|CIFAR10|CIFAR100)$")
_DATA_FUNC = re.compile(r"(?i)(data|loader|corpus|graph)|^(load|fetch|make|read)_")
_NOT_MODEL = re.compile(r"(?i)scaler|encoder$|imputer|vectori|pca|normaliz|tokeniz|trainer|optim|adam|sgd$|"
                        r"dataloader|dataset|generator|device|callback|loss$|tensor")
_MODEL_CALL = re.compile(r"(Regressor|Classifier|Regression|SVC|SVR|Sequential|Model|Net|Pipeline|Forest|"
                         r"Boost\w*|Module|GAN|VAE|Perceptron|MLP|GCN|CNN|make_pipeline)$")
_MODEL_NAME = re.compile(r"(?i)^(model|clf|net|estimator|regressor|classifier|reg|pipe|pipeline|gbm|rf|svm|mlp)")
_METRIC_CALL = re.compile(r"^(\w+_score|\w+_error|log_loss|score|evaluate|callback_metrics)$")
_METRIC_NAME = re.compile(r"(?i)^(val_|train_|test_|valid_|final_|best_)?(acc|accuracy|loss|mse|rmse|mae|r2|f1|"
                          r"auc|score|metric|error)\w*$")
_PRINT_METRIC = re.compile(r"(?i)acc|loss|mse|rmse|mae|r2|f1|auc|score|error")
_EPOCH_NAME = re.compile(r"(?i)epoch|^ep$|^step|iter")
_OPT_NAME = re.compile(r"(?i)opt")


@dataclass(frozen=True)
class Site:
    """One located fact: a line, the function it is in, and what it says."""

    line: int
    scope: str  # qualified function name, or MODULE
    text: str  # a short rendering of the code
    names: tuple[str, ...] = ()  # names the statement assigns
    end: int = 0  # last line of the statement (or loop) at the top of its function
    callee: str = ""  # for a call: the name of the function or method called


@dataclass(frozen=True)
class Outline:
    """Where things are in one script (all lines 1-based, in the original source)."""

    filename: str = ""
    functions: tuple[tuple[str, int, int], ...] = ()  # (qualified name, first line, last line)
    entry: str = ""  # what the `if __name__ == "__main__":` block calls, with its line
    framework: str = ""
    hyperparams: tuple[Site, ...] = ()
    data: tuple[Site, ...] = ()
    models: tuple[Site, ...] = ()
    training: tuple[Site, ...] = ()
    loops: tuple[Site, ...] = ()
    metrics: tuple[Site, ...] = ()
    assigned: dict[str, tuple[tuple[int, str], ...]] = field(default_factory=dict)  # scope -> (line, name)

    @property
    def empty(self) -> bool:
        return not self.functions and not self.training and not self.data and not self.hyperparams


def is_main_guard(stmt: ast.AST) -> bool:
    """``if __name__ == "__main__":`` (any test that reads ``__name__``)."""
    return isinstance(stmt, ast.If) and any(isinstance(n, ast.Name) and n.id == "__name__" for n in ast.walk(stmt.test))


def guard_span(tree: ast.Module) -> tuple[int, int]:
    """The lines of the module's first ``__name__`` guard; (0, -1) when it has none."""
    return next(((g.lineno, g.end_lineno or g.lineno) for g in tree.body if is_main_guard(g)), (0, -1))


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return f"{_dotted(node.func)}()"
    if isinstance(node, ast.Subscript):
        return f"{_dotted(node.value)}[]"
    return "?"


def _last(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _short(source: str, node: ast.AST, limit: int = 50) -> str:
    text = " ".join((ast.get_source_segment(source, node) or "").split())
    return text if len(text) <= limit else text[: limit - 4] + " ..."


def _targets(stmt: ast.AST) -> tuple[str, ...]:
    targets: list[ast.AST] = []
    if isinstance(stmt, ast.Assign):
        targets = list(stmt.targets)
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        targets = [stmt.target]
    elif isinstance(stmt, (ast.For, ast.With)):
        return ()
    out: list[str] = []
    for t in targets:
        for n in ast.walk(t):
            if isinstance(n, ast.Name):
                out.append(n.id)
    return tuple(out)


@dataclass
class _Scope:
    name: str
    body: list[ast.stmt]
    start: int
    end: int


def _scopes(tree: ast.Module) -> list[_Scope]:
    out = [_Scope(MODULE, [s for s in tree.body if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                       ast.ClassDef))], 1, 0)]

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{node.name}"
                out.append(_Scope(name, node.body, node.lineno, node.end_lineno or node.lineno))
                visit(node.body, f"{name}.")
            elif isinstance(node, ast.ClassDef):
                visit(node.body, f"{prefix}{node.name}.")
            elif isinstance(node, (ast.If, ast.With, ast.Try, ast.For, ast.While)):
                visit([n for n in ast.iter_child_nodes(node) if isinstance(n, ast.stmt)], prefix)
    visit(tree.body, "")
    return out


def _walk(body: list[ast.stmt]) -> Iterator[tuple[ast.AST, ast.stmt, ast.stmt]]:
    """(node, its statement, the top-level statement of the scope) for nodes outside nested defs."""
    for top in body:
        stack: list[tuple[ast.AST, ast.stmt]] = [(top, top)]
        while stack:
            node, stmt = stack.pop()
            yield node, stmt, top
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                    continue
                stack.append((child, child if isinstance(child, ast.stmt) else stmt))


def _framework(tree: ast.Module) -> str:
    """The framework's name as a person writes it ('' when none): the outline is read by the model."""
    from opsgraft.frameworks import LABELS, training_framework

    return LABELS.get(training_framework(tree), "")


def _literal(source: str, node: ast.AST) -> str | None:
    try:
        value = ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if isinstance(value, (int, float, str, bool)) or (
            isinstance(value, (list, tuple)) and all(isinstance(v, (int, float, str)) for v in value)):
        return _short(source, node, 30)
    return None


def build(source: str, filename: str = "script.py") -> Outline:
    """The outline of ``source``; an empty one when it does not parse (never raises for bad input)."""
    try:
        tree = pyast.parse(source, filename=filename)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return Outline(filename=filename)
    try:
        return _build(tree, source, filename)
    except RecursionError:  # a pathological nesting depth: no outline rather than no adaptation
        log.warning("%s: too deeply nested for an outline", filename)
        return Outline(filename=filename)


def _build(tree: ast.Module, source: str, filename: str) -> Outline:
    scopes = _scopes(tree)
    classes = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
    model_classes = {name for name, c in classes.items()
                     if any(re.search(r"Module|Model|Estimator", _dotted(b)) for b in c.bases)}
    # Local functions that load data / train, so that a call to them counts where it is made.
    loaders: set[str] = set()
    trainers: set[str] = set()
    for s in scopes:
        if s.name == MODULE or "." in s.name:
            continue
        calls = [n for n, _, _ in _walk(s.body) if isinstance(n, ast.Call)]
        if any(_DATA_CALL.match(_last(c)) for c in calls) or _DATA_FUNC.search(s.name):
            loaders.add(s.name)
        if any(_is_training(c) for c in calls):
            trainers.add(s.name)

    guard = guard_span(tree)
    data: list[Site] = []
    models: list[Site] = []
    training: list[Site] = []
    metrics: list[Site] = []
    loops: list[Site] = []
    hyper: list[Site] = []
    assigned: dict[str, list[tuple[int, str]]] = {}
    seen: set[tuple[int, str]] = set()

    def add(bucket: list[Site], site: Site) -> None:
        if (site.line, site.text) not in seen:
            seen.add((site.line, site.text))
            bucket.append(site)

    for s in scopes:
        for node, stmt, top in _walk(s.body):
            end = top.end_lineno or top.lineno
            if isinstance(node, ast.stmt):
                targets = _targets(node)
                for name in targets:
                    assigned.setdefault(s.name, []).append((node.lineno, name))
                value = getattr(node, "value", None)
                # `loss_fn = nn.CrossEntropyLoss()` builds a metric, it does not compute one
                built = isinstance(value, ast.Call) and _last(value)[:1].isupper()
                if any(_METRIC_NAME.match(n) for n in targets) and not built and not isinstance(value, ast.Constant):
                    add(metrics, Site(node.lineno, s.name, _short(source, node), targets, end))
            if isinstance(node, ast.For):
                inner = [c for c in ast.walk(node) if isinstance(c, ast.Call)]
                target = _dotted(node.target) if isinstance(node.target, ast.Name) else ""
                if any(_is_training(c) or _last(c) in trainers for c in inner) or _EPOCH_NAME.search(target):
                    header = f"for {_short(source, node.target, 20)} in {_short(source, node.iter, 40)}"
                    add(loops, Site(node.lineno, s.name, header, end=node.end_lineno or node.lineno))
            if not isinstance(node, ast.Call):
                if isinstance(node, ast.Attribute) and node.attr == "callback_metrics":
                    add(metrics, Site(node.lineno, s.name, _short(source, stmt), _targets(stmt), end))
                continue
            last, text = _last(node), _short(source, stmt)
            names = _targets(stmt)
            local = isinstance(node.func, ast.Name) and last != s.name and not guard[0] <= node.lineno <= guard[1]
            if last == "add_argument" and node.args and isinstance(node.args[0], ast.Constant):
                default = next((_literal(source, k.value) for k in node.keywords if k.arg == "default"), None)
                add(hyper, Site(node.lineno, s.name, f"--{str(node.args[0].value).lstrip('-')}"
                                f"{'=' + default if default else ''}"))
            if _DATA_CALL.match(last) or (local and last in loaders):
                add(data, Site(node.lineno, s.name, text, names, end))
            if _is_training(node) or (local and last in trainers):
                add(training, Site(node.lineno, s.name, _call_text(source, node), names, end, last))
            # a model class built anywhere (`trainer.fit(VAE(), ...)`), other models where assigned; the
            # layers a model class builds in its own methods are not "the model"
            inside_model = s.name.split(".")[0] in model_classes
            if not inside_model and _is_model(node, names, model_classes) and (
                    node is _value_call(stmt) or last in model_classes):
                add(models, Site(node.lineno, s.name, _short(source, node, 70), names, end))  # keep its arguments
            if _METRIC_CALL.match(last) or (last in {"log", "log_dict"} and _dotted(node.func).startswith("self.")):
                add(metrics, Site(node.lineno, s.name, text, names, end))
            elif last == "print" and _PRINT_METRIC.search(ast.get_source_segment(source, node) or ""):
                add(metrics, Site(node.lineno, s.name, text, names, end))
    for stmt in tree.body:  # module-level constants that look like hyperparameters
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name = stmt.targets[0].id
            value = _literal(source, stmt.value)
            if value is not None and not name.startswith("__"):
                hyper.append(Site(stmt.lineno, MODULE, f"{name}={value}", (name,)))
    functions = tuple((f"class {n.name}" if isinstance(n, ast.ClassDef) else f"{n.name}()", n.lineno,
                       n.end_lineno or n.lineno)
                      for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))
    def by_line(sites: list[Site]) -> tuple[Site, ...]:
        return tuple(sorted(sites, key=lambda x: x.line))

    return Outline(filename, functions, _entry(tree), _framework(tree), tuple(hyper),
                   by_line(data), by_line(models), by_line(training), by_line(loops), by_line(metrics),
                   {k: tuple(v) for k, v in assigned.items()})


def _call_text(source: str, call: ast.Call) -> str:
    """The call's code, keeping the method name when it is long (`cross_entropy(...).backward()`)."""
    text = _short(source, call)
    if text.endswith(" ...") and isinstance(call.func, ast.Attribute):
        return f"{_short(source, call.func.value, 40).replace(' ...', '...)')}.{call.func.attr}(...)"
    return text


def _value_call(stmt: ast.stmt) -> ast.AST | None:
    """The call an assignment makes, looking through `.to(device)`, `.cuda()` and `.fit(...)` chains."""
    value = getattr(stmt, "value", None)
    while (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)
           and value.func.attr in {"to", "cuda", "cpu", "float", "double", "fit"}
           and isinstance(value.func.value, ast.Call)):
        value = value.func.value
    return value


def _is_training(call: ast.Call) -> bool:
    last = _last(call)
    receiver = _dotted(call.func.value) if isinstance(call.func, ast.Attribute) else ""
    if last in {"fit", "partial_fit", "fit_generator", "train_on_batch"}:
        # `scaler.fit(X)` prepares data; `trainer.fit(model)` (Lightning) trains
        return (isinstance(call.func, ast.Attribute) and not _NOT_MODEL.search(receiver.split(".")[-1])) \
            or "trainer" in receiver.lower()
    if last == "backward":
        return True
    return last == "step" and bool(_OPT_NAME.search(receiver))


def _is_model(call: ast.Call, names: tuple[str, ...], model_classes: set[str]) -> bool:
    last = _last(call)
    if last in model_classes:  # the script's own nn.Module, even one named `AutoEncoder`
        return True
    if not last or _NOT_MODEL.search(last):
        return False
    if _MODEL_CALL.search(last):
        return True
    # `model = Net()`, and `model = build_model(...)` / `make_model(...)`: a factory the script calls
    factory = "model" in last.lower() or last.startswith(("build", "make_", "create"))
    return (last[:1].isupper() or factory) and any(_MODEL_NAME.match(n) for n in names)


def _entry(tree: ast.Module) -> str:
    for stmt in tree.body:
        if is_main_guard(stmt):
            calls = [f"{_dotted(n.func)}()" for n in ast.walk(stmt) if isinstance(n, ast.Call)]
            return f'`if __name__ == "__main__":` at line {stmt.lineno} calls {", ".join(calls[:3]) or "nothing"}'
    return ""


def _root(node: ast.AST) -> str:
    while isinstance(node, (ast.Attribute, ast.Call, ast.Subscript)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else ""


def tool_uses(source: str, modules: tuple[str, ...]) -> list[Site]:
    """Statements that use ``modules`` (or names bound from them, like `repo = Repo(".")`), in line order."""
    try:
        tree = pyast.parse(source)
    except (SyntaxError, ValueError):
        return []
    tainted: set[str] = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            tainted |= {(a.asname or a.name).split(".")[0] for a in n.names if a.name.split(".")[0] in modules}
        elif isinstance(n, ast.ImportFrom) and n.module and n.module.split(".")[0] in modules:
            tainted |= {a.asname or a.name for a in n.names}
    if not tainted:
        return []
    assigns = [n for n in ast.walk(tree) if isinstance(n, (ast.Assign, ast.AnnAssign, ast.With))]
    for _ in range(3):  # names bound from names bound from the tool
        for a in assigns:
            if isinstance(a, ast.With):
                for item in a.items:
                    if _root(item.context_expr) in tainted and isinstance(item.optional_vars, ast.Name):
                        tainted.add(item.optional_vars.id)
            elif a.value is not None and _root(a.value) in tainted:
                tainted |= set(_targets(a))
    out: dict[int, Site] = {}
    for s in _scopes(tree):
        for node, stmt, _ in _walk(s.body):
            if isinstance(node, (ast.Call, ast.Attribute, ast.Subscript)) and _root(node) in tainted:
                # a loop or `with` header that uses the tool shows as its first line
                first = (ast.get_source_segment(source, stmt) or "").splitlines()[:1]
                text = " ".join(first[0].split()) if first else ""
                out.setdefault(stmt.lineno, Site(stmt.lineno, s.name, text if len(text) <= 60 else text[:56] + " ..."))
    return [out[k] for k in sorted(out)]


def built_line(o: Outline, scope: str, site: Site, method: str = "") -> int:
    """The last line in ``scope``, up to ``site``, that assigns the object whose method ``site`` calls
    (`trainer` of `trainer.fit(...)`; ``method`` a regex the called method must match, '' any), else 0."""
    receiver = re.match(rf"([A-Za-z_]\w*)\.{method}", site.text)
    lines = [ln for ln, name in o.assigned.get(scope, ()) if receiver and name == receiver.group(1)
             and ln <= site.line]
    return max(lines, default=0)


def _label(scope: str) -> str:
    return "module level" if scope == MODULE else f"{scope}()"


def _listing(sites: list[Site] | tuple[Site, ...], limit: int = 4, scope: str | None = None,
             names: bool = False) -> str:
    """``line N: `code` `` for each site (``line N: `name` `` with ``names``), saying the function when not ``scope``."""
    parts = [f"line {x.line}" + ("" if scope == x.scope else f" in {_label(x.scope)}") + ": `"
             + (", ".join(x.names) if names and x.names else x.text) + "`" for x in sites[:limit]]
    more = f"; and {len(sites) - limit} more" if len(sites) > limit else ""
    return "; ".join(parts) + more


def work_scope(o: Outline) -> str:
    """The function that builds and trains the model (the one the functionality's code goes into)."""
    score: dict[str, int] = {"main": 0} if any(f == "main()" for f, _, _ in o.functions) else {}
    for bucket, weight in ((o.models, 3), (o.training, 3), (o.loops, 3), (o.data, 1), (o.metrics, 1)):
        for x in bucket:
            score[x.scope] = score.get(x.scope, 0) + weight
    if not score:
        return MODULE
    w = max(score, key=lambda k: (score[k], k == "main"))
    # A training function (`train(model, ...)`, `Trainer.fit`) is not where the model lives: climb to
    # the function that calls it, which builds the model and has the data.
    for _ in range(3):
        callers = [t.scope for t in o.training if t.callee == w.split(".")[-1] and t.scope not in (w, MODULE)]
        if not callers:
            break
        w = callers[0]
    return w


def render(source: str, spec: AdapterSpec, filename: str = "script.py", callmap: bool = True,
           keep_outputs: bool = False, exact_calls: bool = True, instruction: str = "") -> str:
    """The outline and insertion points as a short plain-text block ('' when the source has no outline).

    ``keep_outputs`` ends it with the prints and file writes the adapted script must keep (adapters/outputs.py);
    ``exact_calls``: tracking's points give the log calls to write (adapters/tracking_plan.py), HPO's the
    study on the script's own lines (adapters/hpo_plan.py, with ``instruction``'s number of trials), pruning's
    the calls in the script's epoch loop (adapters/pruning_plan.py, with ``instruction``'s schedule).
    """
    o = build(source, filename)
    if o.empty:
        return ""
    lines = [f"Outline of `{filename}` (line numbers of the script above):"]
    if o.framework:
        lines.append(f"- framework: {o.framework}")
    if o.functions:
        lines.append("- defines: " + ", ".join(f"{n} {a}-{b}" for n, a, b in o.functions[:6]))
    lines.append(f"- entry: {o.entry}" if o.entry else "- entry: no main guard; the script runs at module level")
    w = work_scope(o)
    lines.append(f"- the model is built and trained in {_label(w)} (the lines below are in it unless marked)")
    if o.hyperparams:
        lines.append("- hyperparameters: " + ", ".join(f"{h.text} (line {h.line})" for h in o.hyperparams[:5]))
    for title, bucket in (("data", o.data), ("model", o.models), ("training", o.training)):
        if bucket:
            lines.append(f"- {title}: {_listing(bucket, 2 if title == 'data' else 3, w)}")
    for lp in o.loops[:2]:
        lines.append(f"- loop: `{lp.text}` lines {lp.line}-{lp.end} in {_label(lp.scope)}")
    if o.metrics:
        lines.append(f"- metrics: {_listing(o.metrics, 3, w, True)}")
    from opsgraft.adapters.insertion import insertion_points  # it imports this module

    points = insertion_points(o, spec, source, callmap, exact_calls, instruction)
    if points:
        what = "the translated code" if spec.kind == "translate" else f"the {spec.functionality} code"
        lines.append(f"Where {what} goes:")
        lines += points
    if keep_outputs:
        from opsgraft.adapters.outputs import find, keep_line

        lines += [line for line in [keep_line(find(source, filename))] if line]
    return "\n".join(lines)
