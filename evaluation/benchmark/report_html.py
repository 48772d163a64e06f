"""The HTML page of a bench report: one self-contained file, inline CSS, plots as data: URIs.

Nothing is fetched when the page opens (no CDN, no web font, no script), so it reads the same on an
offline machine, attached to an e-mail or from a CI artifact. Links to diffs are relative to the run
directory the page lives in.
"""

from __future__ import annotations

import base64
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from opsgraft.evaluation.benchmark.tables import Cell, Link, Table

if TYPE_CHECKING:
    from opsgraft.evaluation.benchmark.report import Report

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto; max-width: 1400px;
       padding: 0 1em; color: #1a1a1a; background: #fff; }
h1 { font-size: 1.6em; margin-bottom: .2em; }
h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: .2em 1em; font-size: .9em; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; word-break: break-word; }
p.note { color: #555; font-size: .85em; max-width: 70em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: .85em; margin: .5em 0; }
th, td { border: 1px solid #ccc; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #f2f4f7; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr:nth-child(even) td { background: #fafbfc; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .85em; color: #555; }
nav a { margin-right: 1em; font-size: .9em; }
"""


def to_html(report: Report) -> str:
    """The whole page as a string."""
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>opsgraft bench report: {escape(report.run_dir.name)}</title>",
             f"<style>{CSS}</style></head><body>", "<h1>opsgraft bench report</h1>"]
    parts.append('<dl class="facts">')
    parts += [f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in report.facts]
    parts.append("</dl>")
    nav = [f'<a href="#{escape(t.key)}">{escape(t.title)}</a>' for t in report.tables]
    if report.plots:
        nav.insert(0, '<a href="#plots">Plots</a>')
    parts.append(f"<nav>{''.join(nav)}</nav>")
    if report.plots:
        parts.append('<h2 id="plots">Plots</h2>')
        for caption, rel in report.plots.items():
            data = base64.b64encode((report.run_dir / rel).read_bytes()).decode("ascii")
            parts.append(f'<figure><img class="plot" alt="{escape(caption)}" src="data:image/png;base64,{data}">'
                         f"<figcaption>{escape(caption)}</figcaption></figure>")
    parts += [_table(t) for t in report.tables]
    parts.append("</body></html>")
    return "\n".join(parts)


def _table(table: Table) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    body = "\n".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in table.rows)
    note = f'<p class="note">{escape(table.note)}</p>' if table.note else ""
    return (f'<h2 id="{escape(table.key)}">{escape(table.title)}</h2>{note}'
            f'<div class="scroll"><table class="report" data-key="{escape(table.key)}">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")


def _cell(cell: Cell) -> str:
    if isinstance(cell, Link):
        if not is_relative(cell.href):
            return f"<td>{escape(cell.text)}</td>"  # a record naming a URL or an absolute path gets no link
        return f'<td><a href="{escape(quote(cell.href))}">{escape(cell.text)}</a></td>'
    text = str(cell)
    numeric = bool(text) and all(ch in "0123456789.—/ %()" for ch in text)
    return f'<td class="num">{escape(text)}</td>' if numeric else f"<td>{escape(text)}</td>"


def is_relative(href: str) -> bool:
    """A path inside the run directory: no scheme, no host, not absolute."""
    parts = urlsplit(href)
    return not (parts.scheme or parts.netloc or href.startswith(("/", "\\")))
