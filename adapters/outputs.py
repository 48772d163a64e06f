"""What a script prints and which files it writes, found in its syntax tree, for the outline's "keep" line.

Measured on the benchmark: registration answers that passed the checker often no longer did what the
script did, because the 1.5B model ended the script the way the worked example ends (its
``print(f"macro F1 ...")`` for the script's ``print(f"test accuracy ...")``; a dropped
``trainer.save_checkpoint("cancer_net.ckpt")`` or ``torch.save``). The ``preserved`` verdict
(evaluation/preserved.py) compares exactly these: the lines printed and the files written. Listing
them up front, with their line numbers, tells the model what it must not remove.

Only call sites reachable when the script runs count: module-level code, the functions it refers to
(and the functions those refer to), every method of a class it refers to (frameworks call hooks
themselves), and decorated functions (a decorator may register them). A helper nothing refers to
is left out.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from opsgraft import pyast
from opsgraft.adapters.outline import MODULE, _dotted, _last, _scopes, _short, _walk

MAX_PRINTS = 6
MAX_FILES = 4

# method or function name -> (position, keyword) of its path argument; see _path_arg for the receiver-dependent ones
_WRITERS: dict[str, tuple[int, str]] = {
    "save_checkpoint": (0, "filepath"), "savefig": (0, "fname"), "save_weights": (0, "filepath"),
    "save_pretrained": (0, "save_directory"), "savetxt": (0, "fname"), "savez": (0, "file"),
    "savez_compressed": (0, "file"), "to_csv": (0, "path_or_buf"), "to_json": (0, "path_or_buf"),
    "to_parquet": (0, "path"), "to_pickle": (0, "path"), "to_excel": (0, "excel_writer"),
    "to_feather": (0, "path"), "to_hdf": (0, "path_or_buf"), "imwrite": (0, "filename"), "imsave": (0, "fname"),
    "write_html": (0, "file"), "write_image": (0, "file"),
}
_DUMPS = frozenset({"dump", "safe_dump"})  # pickle, json, yaml, joblib, cloudpickle, dill: (obj, file)
_DUMP_KEYWORDS = ("file", "fp", "stream", "filename")
_OPEN_MODULES = frozenset({"io", "gzip", "bz2", "lzma", "codecs"})  # module.open(path, mode) like the builtin
_TOOL_MODULES = frozenset({"mlflow", "keras", "tf", "tensorflow"})  # save_model(model, path)


@dataclass(frozen=True)
class Output:
    """A print call site or a file write: its line, function, and what it shows."""

    line: int
    scope: str
    text: str  # the print's code, or the path as written
    how: str = ""  # for a file: the call that writes it (pickle.dump, torch.save, open)

    @property
    def is_file(self) -> bool:
        return bool(self.how)


def _arg(call: ast.Call, pos: int, keywords: tuple[str, ...]) -> ast.expr | None:
    for k in call.keywords:
        if k.arg in keywords:
            return k.value
    return call.args[pos] if len(call.args) > pos and not isinstance(call.args[pos], ast.Starred) else None


def _receiver_root(call: ast.Call) -> str:
    node: ast.AST = call.func
    while isinstance(node, (ast.Attribute, ast.Call, ast.Subscript)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) and node is not call.func else ""


def _open_mode(call: ast.Call) -> tuple[ast.expr | None, str] | None:
    """(path, mode) of an ``open`` call: the builtin, ``gzip.open(path, mode)`` or ``Path(...).open(mode)``."""
    if _last(call) != "open":
        return None
    func = call.func
    if isinstance(func, ast.Name) or _receiver_root(call) in _OPEN_MODULES:
        path, mode = _arg(call, 0, ("file", "filename")), _arg(call, 1, ("mode",))
    elif isinstance(func, ast.Attribute):
        path, mode = func.value, _arg(call, 0, ("mode",))
    else:
        return None
    text = mode.value if isinstance(mode, ast.Constant) and isinstance(mode.value, str) else "r"
    return path, text


def _writes(mode: str) -> bool:
    return any(c in mode for c in "wax+")


def _path_arg(call: ast.Call) -> ast.expr | None:
    """The path a writing call writes to (None when it is no writer or names no path)."""
    last, root = _last(call), _receiver_root(call)
    method = isinstance(call.func, ast.Attribute)
    if last in _WRITERS:
        pos, kw = _WRITERS[last]
        return _arg(call, pos, (kw,))
    if last in {"write_text", "write_bytes"} and isinstance(call.func, ast.Attribute):
        return call.func.value
    if last == "save":
        if root == "torch":
            return _arg(call, 1, ("f",))
        if root in {"np", "numpy"}:
            return _arg(call, 0, ("file",))
        return _arg(call, 0, ("filepath", "fp", "path", "f")) if method else None
    if last == "save_model":  # mlflow.x.save_model(model, path), keras' save_model(model, path); booster.save_model(path)
        tool = root in _TOOL_MODULES or not method
        return _arg(call, 1 if tool else 0, ("path", "filepath", "fname"))
    if last == "export" and _dotted(call.func).endswith("onnx.export"):
        return _arg(call, 2, ("f",))
    if last in _DUMPS:
        return _arg(call, 1, _DUMP_KEYWORDS)
    return None


def _reachable(tree: ast.Module, scopes: dict[str, list[ast.stmt]]) -> set[str]:
    """The scopes that can run: module level and what it refers to, transitively (see the module docstring)."""
    top = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    live = {MODULE} | {name for name, n in top.items() if n.decorator_list}
    todo = list(live)
    while todo:
        scope = todo.pop()
        referred = {n.id if isinstance(n, ast.Name) else n.attr for n, _, _ in _walk(scopes.get(scope, []))
                    if isinstance(n, (ast.Name, ast.Attribute))}
        for name in referred & top.keys():
            if name not in live:
                live.add(name)
                todo += [s for s in scopes if s == name or s.startswith(f"{name}.")]
        # what a live function or method defines inside it runs with it
        for s in scopes:
            if s.startswith(f"{scope}.") and s not in live:
                live.add(s)
                todo.append(s)
    return {s for s in scopes if s.split(".")[0] in live or s == MODULE}


def find(source: str, filename: str = "script.py") -> list[Output]:
    """The script's reachable print call sites and file writes, in line order ([] when it does not parse)."""
    try:
        tree = pyast.parse(source, filename=filename)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    try:
        return _find(tree, source)
    except RecursionError:
        return []


def _find(tree: ast.Module, source: str) -> list[Output]:
    scopes = {s.name: s.body for s in _scopes(tree)}
    live = _reachable(tree, scopes)
    out: dict[tuple[int, str], Output] = {}
    for scope, body in scopes.items():
        if scope not in live:
            continue
        calls = [n for n, _, _ in _walk(body) if isinstance(n, ast.Call)]
        # handles from open(path, "w"): `with open(...) as fh` and `fh = open(...)`
        handles: dict[str, tuple[ast.Call, ast.expr | None]] = {}
        for node, _, _ in _walk(body):
            pairs: list[tuple[ast.AST, ast.AST | None]] = []
            if isinstance(node, (ast.With, ast.AsyncWith)):
                pairs = [(i.context_expr, i.optional_vars) for i in node.items]
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                pairs = [(node.value, node.targets[0])]
            for value, target in pairs:
                if not isinstance(value, ast.Call) or not isinstance(target, ast.Name):
                    continue
                opened = _open_mode(value)
                if opened and _writes(opened[1]):
                    handles[target.id] = (value, opened[0])
        used: set[int] = set()  # open calls whose handle a dump writes to
        for call in calls:
            if isinstance(call.func, ast.Name) and call.func.id == "print":
                stream = next((k.value for k in call.keywords if k.arg == "file"), None)
                if stream is None or _dotted(stream) == "sys.stdout":
                    out.setdefault((call.lineno, ""), Output(call.lineno, scope, _short(source, call, 60)))
                continue
            path = _path_arg(call)
            if path is None:
                continue
            how = _dotted(call.func)
            how = how if len(how) <= 30 and "?" not in how else f"{_last(call)}"
            if isinstance(path, ast.Name) and path.id in handles:
                opener, path_node = handles[path.id]
                used.add(id(opener))
                if path_node is None:
                    continue
                path = path_node
            elif _last(call) in _DUMPS and not _pathlike(path):
                continue  # json.dump(obj, stream) with a stream from elsewhere (sys.stdout): no file we can name
            out.setdefault((call.lineno, how), Output(call.lineno, scope, _path_text(source, path), how))
        for opener, path_node in handles.values():
            if id(opener) not in used and path_node is not None:
                out.setdefault((opener.lineno, "open"), Output(opener.lineno, scope, _path_text(source, path_node),
                                                               "open"))
        for call in calls:  # open(path, "w") used without a name (open("x", "w").write(...))
            opened = _open_mode(call)
            if opened and _writes(opened[1]) and opened[0] is not None and id(call) not in used and not any(
                    call is h for h, _ in handles.values()):
                out.setdefault((call.lineno, "open"), Output(call.lineno, scope, _path_text(source, opened[0]),
                                                             "open"))
    return sorted(out.values(), key=lambda o: (o.line, o.how))


def _pathlike(node: ast.expr) -> bool:
    """A path as written: a string, an f-string, ``a / "b"``, ``Path(...)``, ``os.path.join(...)``, ``OUT_PATH``."""
    if isinstance(node, (ast.JoinedStr, ast.BinOp)) or (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        return True
    if isinstance(node, ast.Call):
        return _last(node) in {"Path", "PurePath", "join"}
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return any(w in name.lower() for w in ("path", "file", "fname", "dest", "target"))


def _path_text(source: str, node: ast.expr) -> str:
    """A string literal's value (also in ``Path("...")``), else the expression as written."""
    if isinstance(node, ast.Call) and _last(node) in {"Path", "PurePath"} and len(node.args) == 1 \
            and not node.keywords:
        node = node.args[0]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value if len(node.value) <= 50 else node.value[:46] + " ..."
    return _short(source, node, 50)


def keep_line(outputs: list[Output], max_prints: int = MAX_PRINTS, max_files: int = MAX_FILES) -> str:
    """The outline's line asking to keep ``outputs`` ('' when there are none)."""
    prints = [o for o in outputs if not o.is_file]
    files = [o for o in outputs if o.is_file]
    parts = [f"line {o.line} `{o.text}`" for o in prints[:max_prints]]
    if len(prints) > max_prints:
        parts.append(f"and {len(prints) - max_prints} more print(s)")
    parts += [f"line {o.line} writes `{o.text}` ({o.how})" for o in files[:max_files]]
    if len(files) > max_files:
        parts.append(f"and {len(files) - max_files} more file(s)")
    if not parts:
        return ""
    return "- keep unchanged (the adapted script must still print and write these): " + "; ".join(parts)
