"""A static check of an answer's code before it is repaired: every error that is certain without running it.

A failed program shows the model one error, the first one Python hit. The 1.5B model then fixes
that one, and the next round dies on the next: a name copied from the worked example, an import
of a function the installed version does not have, ``mlflow.summary``. This check lists them all
at once, in Python's own wording, so the repair prompt (and its hints, which match that wording)
covers every one of them in a single round:

- a syntax error (nothing else can be checked then);
- names used but never defined (pyflakes: undefined names and locals used before assignment);
- imports that do not resolve in the installed packages, and attributes of imported modules that
  the installed version lacks, with close matches from the module's real names.

Imports are resolved in a child interpreter, which imports the libraries (never the checked code)
with the sandbox's offline environment. Modules that are files of the task itself are not probed.
The findings never change a verdict: the sandbox run decides pass or fail; they only go into the
repair prompt and the records.
"""

from __future__ import annotations

import ast
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from opsgraft import pyast

log = logging.getLogger(__name__)
MAX_FINDINGS = 8
PROBE_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Finding:
    """One certain error: the line it is on and Python's wording of it."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def check(code: str, filename: str = "train.py", *, local_modules: Iterable[str] = (),
          probe: bool = True) -> list[Finding]:
    """The certain errors in ``code``, in line order, at most MAX_FINDINGS.

    ``local_modules`` are top-level module names the task's own files provide (not probed).
    ``probe=False`` skips the child interpreter (only syntax and names).
    """
    try:
        tree = pyast.parse(code, filename)
    except SyntaxError as exc:
        return [Finding(exc.lineno or 0, f"SyntaxError: {exc.msg}")]
    findings = undefined_names(tree, filename)
    if probe:
        findings += unresolved(tree, set(local_modules))
    findings.sort(key=lambda f: f.line)
    return findings[:MAX_FINDINGS]


def undefined_names(tree: ast.Module, filename: str) -> list[Finding]:
    """pyflakes' undefined names and locals referenced before assignment."""
    from pyflakes import checker, messages

    wanted = (messages.UndefinedName, messages.UndefinedLocal)
    out: list[Finding] = []
    star = False
    w = checker.Checker(tree, filename=filename)
    for m in w.messages:
        if isinstance(m, messages.ImportStarUsed):
            star = True
        if isinstance(m, wanted):
            name = m.message_args[0]
            if isinstance(m, messages.UndefinedLocal):
                out.append(Finding(m.lineno, f"UnboundLocalError: local variable '{name}' is used before it "
                                             "is assigned"))
            else:
                out.append(Finding(m.lineno, f"NameError: name '{name}' is not defined"))
    # After `from x import *` any name may come from x: pyflakes cannot tell, so neither can we.
    return [] if star else out


@dataclass(frozen=True)
class _Ref:
    line: int
    kind: str  # "import": module; "from": module + name; "attr": module + dotted attribute chain
    module: str
    name: str = ""


def references(tree: ast.Module) -> list[_Ref]:
    """The imports of ``tree`` and the attribute chains read from module aliases bound once by an import."""
    refs: list[_Ref] = []
    aliases: dict[str, str] = {}  # name -> module it is bound to
    rebound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                refs.append(_Ref(node.lineno, "import", a.name))
                bound = a.asname or a.name.split(".")[0]
                target = a.name if a.asname else a.name.split(".")[0]
                if aliases.get(bound, target) != target:
                    rebound.add(bound)
                aliases[bound] = target
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for a in node.names:
                if a.name != "*":
                    refs.append(_Ref(node.lineno, "from", node.module, a.name))
                    rebound.add(a.asname or a.name)  # may be a module; its attributes are not followed
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            rebound.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            rebound.add(node.name)
            args = node.args if not isinstance(node, ast.ClassDef) else None
            if args is not None:
                rebound.update(a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs])
                rebound.update(a.arg for a in (args.vararg, args.kwarg) if a is not None)
    modules = {k: v for k, v in aliases.items() if k not in rebound}
    seen: set[tuple[str, str]] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not isinstance(node.ctx, ast.Load):
            continue
        chain: list[str] = []
        cur: ast.expr = node
        while isinstance(cur, ast.Attribute):
            chain.append(cur.attr)
            cur = cur.value
        if not isinstance(cur, ast.Name) or cur.id not in modules:
            continue
        dotted = ".".join(reversed(chain))
        if (cur.id, dotted) in seen:
            continue
        # Only the longest chain of a node is kept; its prefixes are checked on the way.
        seen.add((cur.id, dotted))
        refs.append(_Ref(node.lineno, "attr", modules[cur.id], dotted))
    # An attribute chain that is a prefix of a longer one from the same alias adds nothing.
    attrs = [r for r in refs if r.kind == "attr"]
    longer = {(r.module, r.name) for r in attrs}
    refs = [r for r in refs if r.kind != "attr" or not any(
        m == r.module and n.startswith(r.name + ".") for m, n in longer)]
    return refs


def unresolved(tree: ast.Module, local_modules: set[str]) -> list[Finding]:
    """Imports and module attributes that do not exist in the installed packages."""
    refs = [r for r in references(tree) if r.module.split(".")[0] not in local_modules]
    if not refs:
        return []
    payload = json.dumps([[r.line, r.kind, r.module, r.name] for r in refs])
    from opsgraft.config import OFFLINE_ENV

    env = {**os.environ, **OFFLINE_ENV, "PYTHONWARNINGS": "ignore", "TF_CPP_MIN_LOG_LEVEL": "3"}
    try:
        proc = subprocess.run([sys.executable, "-c", _PROBE], input=payload, capture_output=True, text=True,
                              timeout=PROBE_TIMEOUT_S, env=env, cwd=os.path.expanduser("~"))
    except subprocess.TimeoutExpired:
        log.warning("static check: resolving imports took over %.0fs; skipped", PROBE_TIMEOUT_S)
        return []
    last = proc.stdout.strip().splitlines()[-1:] if proc.stdout.strip() else []
    if proc.returncode != 0 or not last:
        log.warning("static check: the import probe failed: %s", proc.stderr.strip()[-300:])
        return []
    try:
        rows = json.loads(last[0])
    except json.JSONDecodeError:
        log.warning("static check: unreadable probe output")
        return []
    return [Finding(int(line), str(message)) for line, message in rows]


# Runs in a child interpreter: reads the references as JSON on stdin, prints the failures as JSON.
# A reference that raises anything but ImportError/AttributeError while importing is not reported:
# only certain errors are findings.
_PROBE = r'''
import difflib, importlib, io, json, sys, contextlib
refs = json.loads(sys.stdin.read())
out, cache = [], {}

def load(name):
    if name not in cache:
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                cache[name] = ("ok", importlib.import_module(name))
        except ModuleNotFoundError as exc:
            cache[name] = ("missing", exc.name or name)
        except Exception as exc:
            cache[name] = ("broken", repr(exc))
    return cache[name]

def close(mod, name):
    names = [n for n in dir(mod) if not n.startswith("_")]
    hits = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    return (" (installed names close to it: " + ", ".join(hits) + ")") if hits else ""

def attribute(mod, modname, name):
    """(found, the object or a message)"""
    try:
        return True, getattr(mod, name)
    except AttributeError:
        pass
    except Exception:
        return True, None
    state, sub = load(modname + "." + name)
    if state == "ok":
        return True, sub
    if state == "broken":
        return True, None
    return False, None

for line, kind, module, name in refs:
    state, mod = load(module)
    if state == "missing":
        # reported once, at the import; not again at every use of the alias
        if kind != "attr" and (mod == module or module.startswith(str(mod) + ".")):
            out.append([line, "ModuleNotFoundError: No module named '%s'" % mod])
        continue
    if state != "ok":
        continue
    if kind == "from":
        found, _ = attribute(mod, module, name)
        if not found:
            out.append([line, "ImportError: cannot import name '%s' from '%s'%s" % (name, module, close(mod, name))])
    elif kind == "attr":
        obj, path = mod, module
        for part in name.split("."):
            if obj is None or not isinstance(obj, type(sys)):
                break  # past a module: a class or a function's attributes are not followed
            found, nxt = attribute(obj, path, part)
            if not found:
                out.append([line, "AttributeError: module '%s' has no attribute '%s'%s" % (path, part, close(obj, part))])
                break
            obj, path = nxt, path + "." + part
print(json.dumps(out))
'''


def local_module_names(files: Iterable[str]) -> set[str]:
    """Top-level module names a task's own files provide (``model.py`` -> model, ``pkg/x.py`` -> pkg)."""
    names: set[str] = set()
    for f in files:
        first = f.replace("\\", "/").split("/")[0]
        names.add(first[:-3] if first.endswith(".py") else first)
    return names
