"""Known failure patterns -> one concrete fix each, for the repair prompt.

The embedded 1.5B model, given only an error, tends to resubmit the same code. A repair prompt
that names the likely fix breaks that loop. Patterns match the checker's reasons and the
stderr tail; a hint only says what the docs and the environment notes already say, pointed at
the failure at hand. ``{1}``, ``{2}`` in a hint are the pattern's groups.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from collections.abc import Iterator, Sequence

from opsgraft import pyast

HINTS: tuple[tuple[str, str], ...] = (
    (r"(?:name |attribute )?'?(\w+)'?(?: is not defined)?\. Did you mean: '(\w+)'\?",
     "Python itself suggests `{2}` where the code wrote `{1}`: use `{2}` if that is what was meant, or a "
     "name the docs above show."),
    (r"requires `(\w+)` argument",
     "The call needs its `{1}` argument: pass `{1}=...` as the signature in the docs above shows."),
    (r"did not finish within",
     "The program ran past its time limit: keep the original amount of training (the same epochs, once "
     "per trial or stage), keep any study or search to a few trials, and never wait on a server or input."),
    (r"(\S+\.dvc) is not committed to git",
     "`{1}` was written but not committed: after `dvc add`, stage `{1}` and the `.gitignore` beside it "
     "with git (`repo.index.add([...])` in GitPython, or `git add`), then commit."),
    (r"maintenance mode|migrate-filestore|set_tracking_uri|localhost:5000|Connection refused",
     "Delete every `mlflow.set_tracking_uri(...)` call: MLFLOW_TRACKING_URI is already set to a database "
     "backend, and a file store or a server address fails here."),
    (r"NameError: name '(\w+)' is not defined",
     "`{1}` is used but never defined or imported: add its import at the top of the file, or define it in "
     "the scope where it is used."),
    (r"add the types you trust|trusted|skops",
     "Pass `serialization_format=\"cloudpickle\"` to `mlflow.sklearn.log_model` (the default skops format "
     "refuses this model type)."),
    (r"no PyTorch optimizer step was observed|the program trained nothing|no training was observed",
     "The program must still train: keep the original training loop with `optimizer.step()` and the "
     "`if __name__ == \"__main__\":` block that calls it."),
    (r"expected at least (\d+) parameter",
     "Log the hyperparameters with one `mlflow.log_params({...})` call holding at least {1} entries, "
     "inside the active run."),
    (r"metric\(s\), expected at least|logged no metric",
     "Log the metrics with `mlflow.log_metric(name, value, step=epoch)` inside the active run, once per "
     "epoch or stage."),
    (r"no version of a model named '([^']+)' is registered \(found: ([^)]+)\)",
     "A model was registered, but as `{2}`: register it under the name the task asks for, "
     "`registered_model_name=\"{1}\"` in `log_model` (a name in the docs above is only an example)."),
    (r"not registered|no registered model|no model version",
     "An MLflow model is NOT registered unless `registered_model_name=...` is passed to `log_model`."),
    (r"module 'dvc' has no attribute|dvc\.(init|add|push)\(",
     "DVC has no Python `dvc.init()`/`dvc.add()`/`dvc.push()`: run the CLI with "
     "`subprocess.run([\"dvc\", ...], check=True)`."),
    (r"You must call wandb\.init|wandb\.init\(\) before",
     "Call `wandb.init(project=..., config=...)` before the first `wandb.log`, and `wandb.finish()` at the end."),
    (r"module 'mlflow' has no attribute '(log_model|save_model|load_model)'",
     "MLflow has no top-level `mlflow.{1}`: use the flavor's function, e.g. `mlflow.sklearn.{1}(...)` for a "
     "scikit-learn model, `mlflow.pytorch.{1}(...)` for PyTorch."),
    (r"W&B run logged (\d+) history row\(s\), expected at least (\d+)",
     "The run has {1} history rows, at least {2} are needed: call `wandb.log({...}, step=epoch)` directly in the body of "
     "the epoch loop, not inside an `if` that runs on some epochs only (for example one that prints every 10 "
     "epochs); call `wandb.init` once before the loop and `wandb.finish()` once after it."),
    (r"ImportError: cannot import name '(\w+)' from '([\w.]+)'",
     "`{2}` has no `{1}` in the installed version: delete that import and use only the calls shown in the "
     "docs and rules above."),
    (r"ModuleNotFoundError: No module named '([\w.]+)'",
     "There is no module `{1}` here and nothing can be installed: delete that import and every use of it. "
     "The task needs only the modules the original script imports and the tool the task names."),
    (r"AttributeError: '(\w+)' object has no attribute '(\w+)'",
     "`{1}` objects have no `{2}`: remove that call, or use only the methods shown in the docs and rules above."),
    (r"AttributeError: module '([\w.]+)' has no attribute",
     "That attribute does not exist in the installed version of `{1}`: use only the calls shown in the docs "
     "and rules above."),
    (r"git-lfs was called|git lfs is still used|filter=lfs|git-lfs: not available",
     "Remove every git-lfs step (`git lfs install`, `git lfs track`, `.gitattributes`): DVC tracks the data now."),
    (r"still imports wandb|still wrote a W&B run",
     "Remove `import wandb` and every `wandb.` call; log the same values with mlflow."),
)


def all_hints() -> tuple[tuple[str, str], ...]:
    """:data:`HINTS` and then the installed plugins' hints (``opsgraft.plugins.add_hint``)."""
    from opsgraft.registry import repair_hints as plugin_hints

    return HINTS + tuple(plugin_hints.get(name) for name in plugin_hints.names())


def _assigned(node: ast.AST) -> Iterator[str]:
    """Names a statement binds in its own scope (not in nested functions or classes)."""
    stack = list(ast.iter_child_nodes(node))
    while stack:
        n = stack.pop()
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            if not isinstance(n, ast.Lambda):
                yield n.name
            continue
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            yield n.id
        stack.extend(ast.iter_child_nodes(n))


def local_to(name: str, source: str) -> str:
    """The function of ``source`` that assigns ``name`` as a local variable ('' if none, or if the
    module assigns it too: then it is visible everywhere)."""
    try:
        tree = pyast.parse(source)
    except SyntaxError:
        return ""
    if name in set(_assigned(ast.Module(body=[n for n in tree.body if not isinstance(
            n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)], type_ignores=[]))):
        return ""
    from opsgraft.adapters.postprocess import is_main_guard

    owners = [fn.name for fn in ast.walk(tree)
              if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef) and name in set(_assigned(fn))]
    if len(owners) <= 1:
        return owners[0] if owners else ""
    # Several functions bind it (`load()` makes X_tr and returns it, `main()` unpacks it): the one the
    # entry point calls is where new code can see it; else the last defined (callers follow callees).
    # Held-out bench, hpo keras-wine: the hint named load(), and all 3 repairs kept the objective outside main().
    called = {c.func.id for node in tree.body if is_main_guard(node)
              for c in ast.walk(node) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
    entry = [o for o in owners if o in called]
    return entry[0] if entry else owners[-1]



def scope_hint(text: str, original: str) -> str:
    """For ``NameError: name 'X'`` where the original script has X as a local of a function: where it lives.

    The model often moves code that uses a function's local (a new Optuna objective, a callback)
    to the module level, where the local does not exist; the generic NameError hint then reads
    like "import it", and the model repeated the same code (bench, hpo:optuna: 9 of 9 rounds).
    """
    m = re.search(r"NameError: name '(\w+)' is not defined", text)
    if m is None or not original:
        return ""
    name = m.group(1)
    function = local_to(name, original)
    if not function:
        return ""
    return (f"`{name}` is a local variable of `{function}()` in the original script, so code outside "
            f"`{function}()` cannot see it: keep the original code of `{function}()` that assigns `{name}`, "
            f"and define the code that uses `{name}` inside `{function}()` after that assignment, or pass "
            f"`{name}` to it as an argument (for a callback: `lambda trial: objective(trial, {name})`).")


# How many of the original's own names a foreign-name hint lists.
MAX_NAMES_LISTED = 12


def _all_names(tree: ast.Module) -> set[str]:
    """Every name ``tree`` binds or reads anywhere: variables, arguments, functions, classes, imports."""
    out: set[str] = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Name):
            out.add(n.id)
        elif isinstance(n, ast.arg):
            out.add(n.arg)
        elif isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            out.add(n.name)
        elif isinstance(n, ast.alias):
            out.add((n.asname or n.name).split(".")[0])
    return out


def _module_settings(tree: ast.Module) -> list[str]:
    """Module-level names assigned a literal (``EPOCHS = 8``, ``LR = 2e-3``), in file order."""
    out: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if isinstance(node.value, ast.Constant | ast.UnaryOp | ast.Tuple | ast.List):
                out += [t.id for t in targets if isinstance(t, ast.Name) and t.id not in out]
    return out


def foreign_name_hint(text: str, original: str) -> str:
    """For ``NameError``s on names the original script never mentions: list the names it does have.

    The 1.5B model copies the worked example's names (``UNITS``, ``N_TREES``, ``opt``) into a script
    that calls the same values something else; the generic hint ("add its import") does not say that
    the value already exists under another name (held-out bench, round 0: 7 of 13 failing tasks).
    """
    if not original:
        return ""
    try:
        tree = pyast.parse(original)
    except SyntaxError:
        return ""
    import builtins
    import difflib

    known = _all_names(tree)
    foreign = [name for name in dict.fromkeys(re.findall(r"NameError: name '(\w+)' is not defined", text))
               if name not in known and not hasattr(builtins, name)]
    if not foreign:
        return ""
    settings = _module_settings(tree)
    pool = sorted(known - set(settings) - {"__name__"})
    lower: dict[str, list[str]] = {}
    for known_name in [*settings, *pool]:
        lower.setdefault(known_name.lower(), []).append(known_name)
    close: list[str] = []
    for name in foreign:
        # Close spellings (`lr` for `LR`), and longer names that start with it (`optimizer` for `opt`).
        matches = difflib.get_close_matches(name.lower(), list(lower), n=2, cutoff=0.6)
        matches += [c for c in lower if len(name) >= 3 and c.startswith(name.lower()) and c not in matches][:2]
        close += [k for c in matches for k in lower[c] if k not in close]
    names = ", ".join(f"`{n}`" for n in foreign[:3])
    hint = (f"{names} {'is not a name' if len(foreign) == 1 else 'are not names'} of the original script "
            "(the worked example is another script: its names do not exist here). Use the original's own "
            "name for the same value, or drop it")
    if settings:
        hint += "; its module-level settings are " + ", ".join(f"`{n}`" for n in settings[:MAX_NAMES_LISTED])
    if close:
        hint += "; close names in it: " + ", ".join(f"`{n}`" for n in close[:MAX_NAMES_LISTED])
    return hint + "."


def module_hint(text: str) -> str:
    """For ``No module named 'a.b'`` where package ``a`` is installed: ``a.b`` may be a function.

    The model wrote ``from nncf.prune import prune`` and ``from nncf.pruning_statistic import ...``
    (bench, pruning:nncf), where ``nncf.prune`` is the function the task needs; the generic hint
    ("delete that import and every use of it") then pointed away from the right API.
    """
    m = re.search(r"ModuleNotFoundError: No module named '(\w+)\.([\w.]+)'", text)
    if m is None:
        return ""
    package, rest = m.group(1), m.group(2)
    try:
        installed = importlib.util.find_spec(package) is not None  # locates the package, imports nothing
    except (ImportError, ValueError):
        installed = False
    if not installed:
        return ""
    name = f"{package}.{rest}"
    return (f"`{name}` is not a module. If it is a function or class of `{package}` (see the docs above), "
            f"write `import {package}` and call `{name}(...)`; otherwise delete that import.")


def repair_hints(reasons: Sequence[str], stderr_tail: str, limit: int = 3, *, original: str = "") -> list[str]:
    """The hints whose patterns match the failure, most specific first, without duplicates.

    ``original`` is the script before adaptation: it tells where a name that is not defined
    lives (:func:`scope_hint`). No hint names the script line that failed: tried, the 1.5B model
    then rewrote that line (``set_tracking_uri("sqlite:///mlruns")``) instead of following the
    fix, and a repair chain that passed without it failed all three rounds with it.
    """
    text = "\n".join([*reasons, stderr_tail])
    scope, module = scope_hint(text, original), module_hint(text)
    foreign = "" if scope else foreign_name_hint(text, original)
    out: list[str] = [h for h in (scope, foreign, module) if h]
    for pattern, hint in all_hints():
        if (scope or foreign) and pattern.startswith("NameError"):
            continue  # the scope hint already says where the name lives; "import it" would contradict it
        if module and pattern.startswith("ModuleNotFoundError"):
            continue  # "delete every use of it" would contradict "call it as a function"
        m = re.search(pattern, text)
        if m is None:
            continue
        filled = hint
        for i, group in enumerate(m.groups(), 1):
            filled = filled.replace("{" + str(i) + "}", group or "it")
        if filled not in out:
            out.append(filled)
        if len(out) >= limit:
            break
    return out
