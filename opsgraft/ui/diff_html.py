"""A unified diff as HTML: one row per line, classed ``add``/``del``/``hunk``/``file``/``ctx``, code coloured.

The code of each line is highlighted as Python with pygments when it is installed (line by line, so a
string spanning lines may be coloured as code; the +/- classes never depend on it); escaped text otherwise.
"""

from __future__ import annotations

import html
from functools import lru_cache
from typing import Any

CSS_SCOPE = ".diff"


@lru_cache(maxsize=1)
def _pygments() -> tuple[Any, Any] | None:
    try:
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer
    except ImportError:
        return None
    return PythonLexer(stripnl=False, ensurenl=False), HtmlFormatter(nowrap=True)


def _code(text: str) -> str:
    tools = _pygments()
    if tools is None or not text.strip():
        return html.escape(text)
    from pygments import highlight

    return highlight(text, tools[0], tools[1]).rstrip("\n")


def line_class(line: str) -> str:
    """The class of one diff line."""
    if line.startswith(("+++ ", "--- ")):
        return "file"
    if line.startswith("@@"):
        return "hunk"
    if line.startswith("+"):
        return "add"
    if line.startswith("-"):
        return "del"
    return "ctx"


def render(diff: str) -> str:
    """The diff as a ``<pre class="diff">`` of classed lines (counts of added/removed lines in data attributes)."""
    rows, added, removed = [], 0, 0
    for line in diff.splitlines():
        kind = line_class(line)
        if kind in ("add", "del", "ctx") and line:
            added += kind == "add"
            removed += kind == "del"
            body = f'<span class="mark">{html.escape(line[0])}</span>{_code(line[1:])}'
        else:
            body = html.escape(line)
        rows.append(f'<span class="diff-line {kind}">{body}</span>')
    # Rows are blocks: a newline between them would show as an empty line inside the <pre>.
    return f'<pre class="diff" data-added="{added}" data-removed="{removed}">' + "".join(rows) + "</pre>"


@lru_cache(maxsize=1)
def css() -> str:
    """The colours of the diff rows, plus pygments' token colours scoped to the diff."""
    base = (f"{CSS_SCOPE} {{ background: #fff; border: 1px solid #d7dce5; padding: .4rem 0; overflow: auto; "
            "font-size: 12.5px; line-height: 1.35; }\n"
            f"{CSS_SCOPE} .diff-line {{ display: block; padding: 0 .6rem; white-space: pre; }}\n"
            f"{CSS_SCOPE} .add {{ background: #e6ffec; }}\n{CSS_SCOPE} .del {{ background: #ffebe9; }}\n"
            f"{CSS_SCOPE} .hunk {{ background: #ddf4ff; color: #57606a; }}\n"
            f"{CSS_SCOPE} .file {{ color: #57606a; font-weight: 600; }}\n"
            f"{CSS_SCOPE} .mark {{ user-select: none; color: #6b7385; }}\n")
    tools = _pygments()
    return base + (tools[1].get_style_defs(CSS_SCOPE) if tools else "")
