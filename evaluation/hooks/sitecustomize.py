"""opsgraft sandbox start-up: post-import hooks, and a best-effort audit of writes outside the sandbox.

The sandbox puts this folder first on PYTHONPATH, so ``site`` imports this module in every Python
process of a sample (the entry script and any Python child it starts). It must stay cheap: only
modules Python has loaded anyway (os, sys) are used at start-up.

Post-import hooks: every ``hook_*.py`` beside this file declares ``TARGET = "<module name>"`` and
``def install(module) -> None``. ``TARGET`` is read from the file's text (the hook module itself is
imported only when needed); ``install(module)`` runs right after ``TARGET`` is first imported. A
hook that raises is reported on stderr and otherwise ignored: it never breaks the program.

Write audit (only when ``OPSGRAFT_SANDBOX_ROOT`` is set): a ``sys.addaudithook`` hook notes Python
level writes (open for writing, mkdir, rename, remove, rmtree, sqlite3.connect...) to paths outside
the sample root (symlinks resolved, so a write through a link that leads outside counts), or into the sandbox's own ``<root>/.sandbox`` other than the hooks' evidence writes, appending them to ``<root>/.sandbox/outside_writes.log``. It does NOT see writes by
native code or by non-Python children (git, a shell). This is not a security mechanism: a program can
remove the hook's effects, bypass it, or lie. It only catches honest mistakes.

If another ``sitecustomize`` exists further down ``sys.path`` (a distribution's or pyenv's), it is
executed afterwards, so Python's own start-up customisation still happens.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_PREFIX = "[opsgraft-hooks]"


def _warn(message: str) -> None:
    try:
        sys.stderr.write(f"{_PREFIX} {message}\n")
    except Exception:
        pass


# --- post-import hooks -------------------------------------------------------------------------


def _read_target(path: str) -> str | None:
    """The value of the module-level ``TARGET = "..."`` line, parsed without importing the hook."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError:
        return None
    for line in text.splitlines():
        if not line.startswith("TARGET"):
            continue
        name, sep, value = line.partition("=")
        if not sep or name.strip() != "TARGET":
            continue
        value = value.split("#", 1)[0].strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            return value[1:-1].strip() or None
    return None


def _scan_hooks(folder: str) -> dict[str, list[str]]:
    """Map each target module name to the hook files (paths) waiting for it."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return {}
    targets: dict[str, list[str]] = {}
    for name in names:
        if not (name.startswith("hook_") and name.endswith(".py")):
            continue
        path = os.path.join(folder, name)
        target = _read_target(path)
        if target is None:
            _warn(f"{name}: no module-level TARGET = '<module>' line; hook ignored")
            continue
        targets.setdefault(target, []).append(path)
    return targets


def _run_hooks(paths: list[str], module: object) -> None:
    """Import each hook file and call its ``install(module)``; nothing a hook does escapes."""
    for path in paths:
        hook_name = os.path.basename(path)[:-3]
        try:
            hook = sys.modules.get(hook_name)
            if hook is None:
                import importlib.util  # only now: a target was imported, start-up is over

                spec = importlib.util.spec_from_file_location(hook_name, path)
                if spec is None or spec.loader is None:
                    raise ImportError(f"cannot load {path}")
                hook = importlib.util.module_from_spec(spec)
                sys.modules[hook_name] = hook
                spec.loader.exec_module(hook)
            hook.install(module)  # type: ignore[attr-defined]
        except (Exception, SystemExit) as exc:
            _warn(
                f"{hook_name}.install({getattr(module, '__name__', '?')}) failed: {type(exc).__name__}: {exc}"
            )


class _HookLoader:
    """Wraps the real loader of a target module so that its hooks run once it has executed."""

    def __init__(self, loader: object, finder: "_PostImportFinder", fullname: str) -> None:
        self._loader = loader
        self._finder = finder
        self._fullname = fullname

    def create_module(self, spec: object) -> object:
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: object) -> None:
        # Put the real loader back first, so the module (and anyone inspecting it later) never
        # sees this wrapper.
        spec = getattr(module, "__spec__", None)
        if spec is not None:
            spec.loader = self._loader
        try:
            module.__loader__ = self._loader  # type: ignore[attr-defined]
        except Exception:
            pass
        self._loader.exec_module(module)  # type: ignore[attr-defined]
        self._finder.fire(self._fullname, module)

    def __getattr__(self, name: str) -> object:
        return getattr(self._loader, name)


class _PostImportFinder:
    """A meta-path finder that only wraps the loaders of modules somebody hooked."""

    def __init__(self, targets: dict[str, list[str]]) -> None:
        self.targets = targets

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> object:
        if fullname not in self.targets:
            return None
        spec = None
        for finder in sys.meta_path:
            if finder is self:
                continue
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        if spec is None:
            return None
        loader = getattr(spec, "loader", None)
        if loader is not None and hasattr(loader, "exec_module"):
            spec.loader = _HookLoader(loader, self, fullname)
        return spec

    def fire(self, fullname: str, module: object) -> None:
        """Run the hooks of ``fullname`` (once: only its first import counts)."""
        paths = self.targets.pop(fullname, None)
        if paths:
            _run_hooks(paths, module)


def _install_hooks() -> None:
    targets = _scan_hooks(_HERE)
    # Plugins' hook folders (opsgraft.plugins.add_hook_dir), passed by the sandbox.
    for folder in os.environ.get("OPSGRAFT_HOOK_DIRS", "").split(os.pathsep):
        if folder and folder != _HERE:
            for target, paths in _scan_hooks(folder).items():
                targets.setdefault(target, []).extend(paths)
    if not targets:
        return
    # A target that is somehow imported already gets its hooks now.
    for name in [n for n in targets if n in sys.modules]:
        _run_hooks(targets.pop(name), sys.modules[name])
    if targets:
        sys.meta_path.insert(0, _PostImportFinder(targets))  # type: ignore[arg-type]


# --- write audit -------------------------------------------------------------------------------

# event -> indexes of the path arguments it carries
_WRITE_EVENTS = {
    "open": (0,),
    "os.mkdir": (0,),
    "os.rename": (0, 1),  # os.replace raises os.rename too
    "os.remove": (0,),  # os.unlink too
    "os.rmdir": (0,),
    "os.truncate": (0,),
    "os.symlink": (1,),
    "os.link": (1,),
    "shutil.rmtree": (0,),
    "sqlite3.connect": (0,),
}
_IGNORED_PREFIXES = ("/dev/", "/proc/", "/sys/")


def _install_write_audit(root: str) -> None:
    roots = tuple({os.path.join(os.path.abspath(root), ""), os.path.join(os.path.realpath(root), "")})
    # The sandbox's own folder (evidence, logs, shims) is outside the workdir for the program too:
    # only the hooks' evidence writer (opsgraft_evidence.emit) may write there.
    own = tuple(os.path.join(r, ".sandbox", "") for r in roots)
    log_path = os.path.join(root, ".sandbox", "outside_writes.log")
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    seen: set[str] = set()
    busy = [False]

    def _outside(raw: object) -> str | None:
        if isinstance(raw, int) or raw is None:
            return None
        path = os.fsdecode(raw)  # type: ignore[arg-type]
        if path.startswith("file:") or path == ":memory:":
            return None
        path = os.path.abspath(path)
        if path.startswith(_IGNORED_PREFIXES):  # before resolving: /dev/stdout leads to .sandbox/stdout.txt
            return None
        # Resolved: a link in the workdir that points outside must not hide the write through it.
        path = os.path.realpath(path)
        if path.startswith(own):
            evidence = sys.modules.get("opsgraft_evidence")
            return None if getattr(getattr(evidence, "writing", None), "active", False) else path
        if path.startswith(roots) or path.startswith(_IGNORED_PREFIXES):
            return None
        # Python's own bytecode cache: the folder it makes beside a module imported for the first
        # time (the hooks' own in a fresh checkout) and the files in it.
        if "/__pycache__/" in path or os.path.basename(path) == "__pycache__":
            return None
        return path

    def audit(event: str, args: tuple) -> None:
        indexes = _WRITE_EVENTS.get(event)
        if indexes is None or busy[0]:
            return
        try:
            if event == "open" and not (len(args) > 2 and isinstance(args[2], int) and args[2] & write_flags):
                return
            for i in indexes:
                path = _outside(args[i]) if i < len(args) else None
                if path is None or path in seen or len(seen) >= 200:
                    continue
                seen.add(path)
                busy[0] = True
                try:
                    with open(log_path, "a", encoding="utf-8") as fh:
                        fh.write(f"{event}\t{path}\n")
                finally:
                    busy[0] = False
        except Exception:
            pass  # an audit hook that raises would abort the program's own operation

    sys.addaudithook(audit)


# --- chaining ----------------------------------------------------------------------------------


def _chain_next_sitecustomize() -> None:
    """Run the next ``sitecustomize.py`` on sys.path, which this module shadows."""
    here = os.path.realpath(_HERE)
    for entry in sys.path:
        candidate = os.path.join(entry, "sitecustomize.py") if entry else ""
        if not candidate or os.path.realpath(entry) == here or not os.path.isfile(candidate):
            continue
        try:
            with open(candidate, "rb") as fh:
                code = compile(fh.read(), candidate, "exec")
            exec(code, {"__name__": "_opsgraft_chained_sitecustomize", "__file__": candidate})
        except Exception as exc:
            _warn(f"chained sitecustomize {candidate} failed: {type(exc).__name__}: {exc}")
        return  # Python itself would only have run the first one


def _main() -> None:
    try:
        root = os.environ.get("OPSGRAFT_SANDBOX_ROOT")
        if root:
            _install_write_audit(root)
        _install_hooks()
    except Exception as exc:
        _warn(f"start-up failed: {type(exc).__name__}: {exc}")
    _chain_next_sitecustomize()


_main()
