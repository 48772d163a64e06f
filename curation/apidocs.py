"""Render API reference HTML for an installed package from its docstrings and signatures.

Run in a child process (``python -m opsgraft.curation.apidocs``) so that importing hundreds of
third-party modules, their import-time side effects and crashes never touch the caller.
"""

from __future__ import annotations

import argparse
import html
import importlib
import importlib.util
import inspect
import json
import os
import re
import signal
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

RENDERER_VERSION = "6"
SKIP_PARTS = {
    "test", "tests", "testing", "conftest", "vendor", "vendored", "third_party", "thirdparty",
    "externals", "extern", "examples", "example", "benchmarks", "benchmark", "docs", "setup",
    "__main__", "migrations", "alembic", "proto", "protos", "js", "static", "templates",
}
SKIP_SUFFIXES = ("_pb2", "_pb2_grpc", "_test", "_tests")
MAX_METHODS = 60
MAX_DOC_CHARS = 5000
CSS = "body{font-family:sans-serif;max-width:60em;margin:auto} pre{background:#f4f4f4;padding:.5em}"


# -- module discovery (no imports) -------------------------------------------------------------
def discover(import_name: str) -> list[str]:
    """Public module names of a package, found on disk, public top-level API first."""
    spec = importlib.util.find_spec(import_name)
    if spec is None:
        return []
    names = [import_name]
    for base in spec.submodule_search_locations or []:
        root = Path(base)
        for path in root.rglob("*.py"):
            rel = path.relative_to(root).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
                if not parts:
                    continue
            if not all(p.isidentifier() for p in parts):
                continue
            if any(p.startswith("_") or p in SKIP_PARTS or p.startswith("test_") for p in parts):
                continue
            if parts[-1].endswith(SKIP_SUFFIXES):
                continue
            # A folder without __init__.py is not importable as a regular package.
            if any(not (root.joinpath(*parts[: i + 1]) / "__init__.py").exists() for i in range(len(parts) - 1)):
                continue
            names.append(".".join([import_name, *parts]))
    unique = list(dict.fromkeys(names))
    # Public top-level API first: shallow modules, and among them those the package's own
    # __init__ names (mlflow.pytorch, mlflow.sklearn...) before the rest, then alphabetically.
    init = ""
    if spec.origin and spec.origin.endswith("__init__.py"):
        try:
            init = Path(spec.origin).read_text(encoding="utf-8", errors="replace")
        except OSError:
            init = ""

    def mentioned(name: str) -> bool:
        last = name.rsplit(".", 1)[-1]
        return name in init or re.search(rf"(from|import)\s+[.\w]*\b{re.escape(last)}\b", init) is not None

    return sorted(unique, key=lambda n: (n.count("."), not mentioned(n), n))


# -- docstrings to HTML -------------------------------------------------------------------------
_DIRECTIVE = re.compile(r"^\s*\.\.\s+(code-block|code|testcode|sourcecode|doctest)::")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _blocks(doc: str) -> Iterator[tuple[str, str]]:
    """Split a docstring into ("code"|"text", content) blocks."""
    lines = doc.splitlines()
    i = 0
    para: list[str] = []

    def text_block() -> Iterator[tuple[str, str]]:
        if any(x.strip() for x in para):
            yield "text", "\n".join(para).strip("\n")
        para.clear()

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("```"):
            yield from text_block()
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith("```"):
                j += 1
            yield "code", "\n".join(lines[i + 1 : j])
            i = j + 1
            continue
        if stripped.startswith(">>>"):
            yield from text_block()
            j = i
            while j < len(lines) and lines[j].strip():
                j += 1
            yield "code", "\n".join(x.strip() for x in lines[i:j])
            i = j
            continue
        literal = _DIRECTIVE.match(line) or (stripped.endswith("::") and not stripped.startswith(".."))
        if literal:
            base = _indent(line)
            if not _DIRECTIVE.match(line):
                para.append(line.rstrip()[:-1])  # "Example::" reads as "Example:"
            yield from text_block()
            j = i + 1
            while j < len(lines) and (not lines[j].strip() or lines[j].lstrip().startswith(":")):
                j += 1  # blank lines and directive options such as ":caption:"
            start = j
            while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > base):
                j += 1
            body = lines[start:j]
            while body and not body[-1].strip():
                body.pop()
            if body:
                cut = min(_indent(x) for x in body if x.strip())
                yield "code", "\n".join(x[cut:] for x in body)
            i = j
            continue
        if not stripped:
            yield from text_block()
        else:
            para.append(line)
        i += 1
    yield from text_block()


def _text_html(text: str) -> str:
    lines = text.splitlines()
    structured = len(lines) > 1 and any(
        _indent(x) > _indent(lines[0]) or x.lstrip().startswith(("-", "*", ":")) for x in lines[1:]
    )
    if structured:
        return "<p>" + "<br>\n".join(html.escape(x.strip()) for x in lines) + "</p>"
    return "<p>" + html.escape(" ".join(x.strip() for x in lines)) + "</p>"


def doc_html(obj: Any) -> str:
    """The docstring of ``obj`` as HTML paragraphs and <pre> code blocks."""
    try:
        doc = inspect.getdoc(obj) or ""
    except Exception:
        doc = ""
    if len(doc) > MAX_DOC_CHARS:
        # Some docstrings run to pages (mlflow's log_model); the head carries the summary, the
        # main parameters and usually the example. Cut at a paragraph so no code block is cut.
        cut = doc.rfind("\n\n", 0, MAX_DOC_CHARS)
        doc = doc[: cut if cut > 0 else MAX_DOC_CHARS].rstrip() + "\n\n(truncated)"
    parts = []
    for kind, content in _blocks(doc):
        if kind == "code":
            parts.append(f'<pre><code class="language-python">{html.escape(content)}</code></pre>')
        else:
            parts.append(_text_html(content))
    return "\n".join(parts)


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+>")


def signature(obj: Any) -> str:
    """``(a, b=1) -> int`` or ``(...)`` when Python cannot tell.

    Memory addresses in default values (``<object object at 0x7f...>``) are cut, so the same
    package renders the same text, and the same chunk ids, every time.
    """
    try:
        return _ADDRESS.sub(">", str(inspect.signature(obj)))
    except (TypeError, ValueError):
        return "(...)"


# -- rendering ----------------------------------------------------------------------------------
def _members(module: ModuleType, root: str, is_package: bool) -> list[tuple[str, Any]]:
    declared = getattr(module, "__all__", None)
    explicit = isinstance(declared, list | tuple)
    names: list[Any] = list(declared or ()) if explicit else [n for n in vars(module) if not n.startswith("_")]
    out = []
    for name in names:
        if not isinstance(name, str) or name.startswith("_"):
            continue
        obj = getattr(module, name, None)
        if obj is None or inspect.ismodule(obj):
            continue
        if not (inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isbuiltin(obj) or callable(obj)):
            continue
        origin = getattr(obj, "__module__", None) or ""
        if not origin.startswith(root):
            continue
        # Plain modules document what they define; packages and __all__ also what they re-export.
        if not explicit and not is_package and origin != module.__name__:
            continue
        out.append((name, obj))
    return out


def _methods(cls: type, root: str) -> list[tuple[str, Any]]:
    out: dict[str, Any] = {}
    for klass in cls.__mro__:
        if not (getattr(klass, "__module__", "") or "").startswith(root):
            continue  # object, pydantic, abc...: their methods are noise here
        for name, value in vars(klass).items():
            if name.startswith("_") or name in out:
                continue
            if isinstance(value, staticmethod | classmethod):
                value = value.__func__
            if inspect.isfunction(value) or isinstance(value, property):
                out[name] = value
    return list(out.items())[:MAX_METHODS]


def render_module(module: ModuleType, root: str, seen: set[int], is_package: bool) -> tuple[str, int]:
    """HTML of one module page and the number of objects it documents."""
    modname = module.__name__
    body = [f'<h1 id="{html.escape(modname)}">{html.escape(modname)}</h1>', doc_html(module)]
    count = 0
    aliases = []
    for name, obj in _members(module, root, is_package):
        qual = f"{modname}.{name}"
        if id(obj) in seen:
            aliases.append((qual, f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', name)}"))
            continue
        seen.add(id(obj))
        count += 1
        q = html.escape(qual)
        if inspect.isclass(obj):
            bases = ", ".join(b.__name__ for b in obj.__bases__ if b is not object)
            body.append(f'<section id="{q}"><h2 id="{q}">class {q}</h2>')
            body.append(f"<pre><code>class {html.escape(name)}({html.escape(bases)}):\n"
                        f"    def __init__{html.escape(signature(obj))}</code></pre>")
            body.append(doc_html(obj))
            for mname, meth in _methods(obj, root):
                if id(meth) in seen:  # inherited from a class documented already
                    continue
                seen.add(id(meth))
                mq = html.escape(f"{qual}.{mname}")
                if isinstance(meth, property):
                    body.append(f'<h3 id="{mq}">property {mq}</h3>{doc_html(meth)}')
                else:
                    body.append(f'<h3 id="{mq}">{mq}</h3>')
                    body.append(f"<pre><code>{html.escape(name)}.{html.escape(mname)}{html.escape(signature(meth))}</code></pre>")
                    body.append(doc_html(meth))
            body.append("</section>")
        else:
            body.append(f'<section id="{q}"><h2 id="{q}">{q}</h2>')
            body.append(f"<pre><code>{q}{html.escape(signature(obj))}</code></pre>")
            body.append(doc_html(obj))
            body.append("</section>")
    if aliases:  # links only: the docs live on the page that documented them first
        body.append("<p>Also available here: " + ", ".join(html.escape(a) for a, _ in aliases) + ".</p>")
    return "\n".join(body), count


# -- command-line reference ---------------------------------------------------------------------
PARSER_FACTORIES = ("get_main_parser", "get_parser", "build_parser", "create_parser", "make_parser")
MAX_CLI_PAGES = 120


def _argparse_pages(prog: str, parser: argparse.ArgumentParser) -> Iterator[tuple[str, str, str]]:
    """(command, description, help text) for every subcommand, depth first, the root first."""
    yield prog, parser.description or "", parser.format_help()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if sub.prog.split()[-1] != name:  # an alias (dvc exp / experiments): once is enough
                    continue
                yield from _argparse_pages(f"{prog} {name}", sub)


def _click_pages(prog: str, command: Any) -> Iterator[tuple[str, str, str]]:
    import click

    with click.Context(command, info_name=prog) as ctx:
        yield prog, inspect.cleandoc(command.help or command.short_help or ""), command.get_help(ctx)
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        if not getattr(sub, "hidden", False):
            yield from _click_pages(f"{prog} {name}", sub)


def _find_parser(target: Any) -> argparse.ArgumentParser | None:
    """An argparse parser behind a console-script function: a known factory in its module or .parser."""
    modname = getattr(target, "__module__", "") or ""
    for name in (modname, f"{modname}.parser"):
        try:
            module = importlib.import_module(name)
        except Exception:
            continue
        for factory in PARSER_FACTORIES:
            fn = getattr(module, factory, None)
            if callable(fn):
                try:
                    parser = fn()
                except Exception:
                    continue
                if isinstance(parser, argparse.ArgumentParser):
                    return parser
    return None


def cli_commands(import_name: str) -> list[tuple[str, str, str]]:
    """(command, description, help) for the console scripts of the distribution that provides ``import_name``."""
    import importlib.metadata as md

    out: list[tuple[str, str, str]] = []
    for dist_name in md.packages_distributions().get(import_name, []):
        try:
            scripts = [e for e in md.distribution(dist_name).entry_points if e.group == "console_scripts"]
        except md.PackageNotFoundError:
            continue
        for ep in scripts:
            if not ep.value.startswith(import_name + ".") and ep.value.split(":")[0] != import_name:
                continue
            try:
                target = ep.load()
            except Exception:
                continue
            if hasattr(target, "get_help") and hasattr(target, "make_context"):  # click
                out.extend(_click_pages(ep.name, target))
            elif (parser := _find_parser(target)) is not None:
                out.extend(_argparse_pages(ep.name, parser))
            if out:
                return out  # one script per package (wandb ships the same CLI as `wandb` and `wb`)
    return out


def render_cli(import_name: str, out: Path, version: str) -> list[dict[str, Any]]:
    """One page per top-level command (its subcommands as sections); the manifest entries."""
    commands = cli_commands(import_name)
    if not commands:
        return []
    root = commands[0][0]
    groups: dict[str, list[tuple[str, str, str]]] = {}
    for name, description, help_text in commands[1:]:
        top = " ".join(name.split()[:2])
        groups.setdefault(top, []).append((name, description, help_text))
    rendered = []
    for top, entries in list(groups.items())[:MAX_CLI_PAGES]:
        parts = []
        for name, description, help_text in entries:
            argv = ", ".join(f'"{w}"' for w in name.split())
            level = 2 if name != top else 1
            # What the command does first: it is what a query matches, the option list is not.
            parts.append(
                f"<h{level}>{html.escape(name)}</h{level}>"
                f"<p>{html.escape(description.strip())}</p>"
                f"<p>Shell command <code>{html.escape(name)}</code>; from Python: "
                f"<code>subprocess.run([{html.escape(argv)}, ...], check=True)</code>.</p>"
                f"<pre><code>{html.escape(help_text.strip())}</code></pre>"
            )
        slug = "cli-" + re.sub(r"[^A-Za-z0-9]+", "-", top).strip("-")
        nav = f'<a href="index.html">{html.escape(import_name)} {html.escape(version)} API</a>'
        (out / f"{slug}.html").write_text(page(f"{top} — {root} {version} command line", nav, "".join(parts)),
                                          encoding="utf-8")
        summary = entries[0][1].strip().split("\n")[0][:200]
        rendered.append({"module": slug, "objects": len(entries), "summary": f"command line: {top}. {summary}"})
    return rendered


def page(title: str, nav: str, body: str) -> str:
    """A complete HTML page with a navigation bar the crawler drops."""
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body><nav>{nav}</nav><main>{body}</main>"
            f"<footer>Generated by opsgraft from docstrings</footer></body></html>")


class _Timeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Timeout()


def render_package(import_name: str, out: Path, version: str, max_modules: int, budget_s: float,
                   import_timeout_s: int = 90, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Render index.html plus one page per importable module into ``out``; return a manifest."""
    warnings.simplefilter("ignore")
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    candidates = discover(import_name)
    rendered: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    seen: set[int] = set()
    use_alarm = hasattr(signal, "SIGALRM")
    if use_alarm:
        signal.signal(signal.SIGALRM, _alarm)
    attempts = (out / "attempts.txt").open("a", encoding="utf-8")
    for modname in candidates:
        if modname in skip:
            skipped.append({"module": modname, "reason": "crashed the interpreter on import"})
            continue
        if len(rendered) >= max_modules:
            skipped.append({"module": modname, "reason": "module cap"})
            continue
        if time.monotonic() - started > budget_s:
            skipped.append({"module": modname, "reason": "time budget"})
            continue
        # Written before the import: if the import kills the process, the parent skips this module.
        attempts.write(modname + "\n")
        attempts.flush()
        try:
            # The root import (torch, mlflow...) may take minutes on a busy machine and is never cut.
            if use_alarm and modname != import_name:
                signal.alarm(import_timeout_s)
            module = importlib.import_module(modname)
        except (Exception, SystemExit, _Timeout) as exc:  # a broken submodule is skipped, never fatal
            reason = "import timed out" if isinstance(exc, _Timeout) else f"{type(exc).__name__}: {exc}"
            skipped.append({"module": modname, "reason": reason.splitlines()[0][:200] if reason else "error"})
            continue
        finally:
            if use_alarm:
                signal.alarm(0)
        is_package = hasattr(module, "__path__")
        try:
            body, count = render_module(module, import_name, seen, is_package)
        except Exception as exc:
            skipped.append({"module": modname, "reason": f"render failed: {type(exc).__name__}: {exc}"[:200]})
            continue
        if count == 0 and modname != import_name and not (inspect.getdoc(module) or "").strip():
            skipped.append({"module": modname, "reason": "nothing public"})
            continue
        nav = f'<a href="index.html">{html.escape(import_name)} {html.escape(version)} API</a>'
        (out / f"{modname}.html").write_text(page(f"{modname} — {import_name} {version} API", nav, body), encoding="utf-8")
        summary = (inspect.getdoc(module) or "").strip().split("\n\n")[0].replace("\n", " ")[:200]
        rendered.append({"module": modname, "objects": count, "summary": summary})
    try:
        rendered += render_cli(import_name, out, version)
    except Exception as exc:  # a CLI that cannot be rendered costs its pages, not the package's
        skipped.append({"module": f"{import_name} command line", "reason": f"{type(exc).__name__}: {exc}"[:200]})
    items = "\n".join(
        f'<li><a href="{html.escape(m["module"])}.html">{html.escape(m["module"])}</a> {html.escape(m["summary"])}</li>'
        for m in rendered
    )
    index = page(f"{import_name} {version} API reference", "",
                 f"<h1>{html.escape(import_name)} {html.escape(version)} API reference</h1><ul>{items}</ul>")
    (out / "index.html").write_text(index, encoding="utf-8")
    manifest = {
        "import_name": import_name, "version": version, "renderer": RENDERER_VERSION,
        "rendered": rendered, "skipped": skipped, "candidates": len(candidates),
        "elapsed_s": round(time.monotonic() - started, 2),
    }
    attempts.close()
    (out / "attempts.txt").unlink()
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    """Child-process entry point."""
    parser = argparse.ArgumentParser(prog="python -m opsgraft.curation.apidocs")
    parser.add_argument("import_name")
    parser.add_argument("out", type=Path)
    parser.add_argument("--version", default="")
    parser.add_argument("--max-modules", type=int, default=150)
    parser.add_argument("--budget-s", type=float, default=150.0)
    parser.add_argument("--skip", default="", help="comma-separated modules not to import")
    args = parser.parse_args(argv)
    # Modules may print on import; keep stdout for nothing but our own last line.
    real_stdout = sys.stdout
    sys.stdout = sys.stderr
    skip = frozenset(x for x in args.skip.split(",") if x)
    manifest = render_package(args.import_name, args.out, args.version, args.max_modules, args.budget_s, skip=skip)
    real_stdout.write(json.dumps({"rendered": len(manifest["rendered"]), "skipped": len(manifest["skipped"])}) + "\n")
    real_stdout.flush()
    sys.stderr.flush()
    # Some extension modules crash while the interpreter tears down (nncf does); the work is done.
    os._exit(0)


if __name__ == "__main__":
    main()
