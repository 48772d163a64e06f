"""The Runs page: every run found under the root, newest first, with links to its reports and records.

What counts as a run, by the files it leaves: an adapt/translate record (``*.opsgraft.json``), a
benchmark run folder (``run.json`` + ``records.jsonl``), an ablation study folder (``study.json``) and
the Parameters page's grid runs (``<root>/.opsgraft/ui-runs/*``). Files are served from
``/runs/files/PATH`` (so a report's relative links to its plots work), only under the root, with a
``sandbox`` content policy: a served HTML page runs no script and cannot act as this page.
Markdown reports are rendered (raw HTML in them is escaped).
"""

from __future__ import annotations

import json
import mimetypes
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import FileResponse, Response

from opsgraft.errors import OpsgraftError
from opsgraft.ui.security import relative, resolve_under
from opsgraft.ui.state import ui_state

router = APIRouter()
SKIP_DIRS = frozenset({"__pycache__", "node_modules", "site-packages", "venv", "env"})
MAX_DIRS = 20_000  # folders walked per listing, so a huge root cannot stall the page
RECORD_MAX_BYTES = 50_000_000
REPORT_NAMES = ("report.html", "report.md")
SERVE_HEADERS = {"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"}


@dataclass
class RunEntry:
    """One run in the listing."""

    kind: str  # adapt | bench | ablation | grid
    path: str  # relative to the root: the record file or the run folder
    title: str
    mtime: float
    status: str = ""
    details: str = ""
    links: list[tuple[str, str]] = field(default_factory=list)  # (label, root-relative path)


def _walk(root: Path) -> Any:
    """``os.walk`` over the root, skipping hidden folders (but ``.opsgraft``) and environments."""
    seen = 0
    for dirpath, dirnames, filenames in os.walk(root):
        seen += 1
        if seen > MAX_DIRS:
            return
        dirnames[:] = sorted(d for d in dirnames if (d == ".opsgraft" or not d.startswith(".")) and d not in SKIP_DIRS)
        yield Path(dirpath), dirnames, filenames


def _mtime(*paths: Path) -> float:
    return max((p.stat().st_mtime for p in paths if p.exists()), default=0.0)


def _reports(root: Path, folder: Path, names: list[str]) -> list[tuple[str, str]]:
    found = [n for n in REPORT_NAMES if n in names]
    found += sorted(n for n in names if n.startswith("ablation_report") and n.endswith(".md"))
    return [(n, relative(root, folder / n)) for n in found]


def _record_entry(root: Path, path: Path) -> RunEntry | None:
    try:
        if path.stat().st_size > RECORD_MAX_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("opsgraft_record") != 1:
        return None
    stem = path.name.removesuffix(".opsgraft.json")
    links = [("record", relative(root, path))]
    for suffix in (".py", ".diff"):
        if (path.parent / (stem + suffix)).is_file():
            links.insert(-1, (suffix.lstrip("."), relative(root, path.parent / (stem + suffix))))
    script = Path(str(data.get("task", {}).get("entry", ""))).name
    return RunEntry("adapt", relative(root, path), f"{data.get('adapter', '?')} on {script}", _mtime(path),
                    status=str(data.get("status", "")),
                    details=f"{data.get('mode', '')}, {data.get('model', '')}, {len(data.get('attempts', []))} attempt(s)",
                    links=links)


def _bench_entry(root: Path, folder: Path, names: list[str]) -> RunEntry:
    try:
        header = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        header = {}
    models = ", ".join(header.get("models", {}) or {}) if isinstance(header, dict) else ""
    try:
        with (folder / "records.jsonl").open("rb") as fh:
            count = sum(1 for _ in fh)
    except OSError:
        count = 0
    return RunEntry("bench", relative(root, folder), f"benchmark {folder.name}",
                    _mtime(folder / "run.json", folder / "records.jsonl"),
                    status="reported" if "report.md" in names else "", details=f"{count} record(s); {models}",
                    links=[*_reports(root, folder, names), ("records", relative(root, folder / "records.jsonl"))])


def _ablation_entry(root: Path, folder: Path, names: list[str]) -> RunEntry:
    links = _reports(root, folder, names)
    if "ablation_results.json" in names:
        links.append(("results", relative(root, folder / "ablation_results.json")))
    return RunEntry("ablation", relative(root, folder), f"ablation {folder.name}",
                    _mtime(folder / "study.json", folder / "trials.jsonl", folder / "ablation_results.json"),
                    status="finished" if "ablation_results.json" in names else "unfinished", links=links)


def _grid_entry(root: Path, folder: Path, names: list[str]) -> RunEntry:
    script, points = "", 0
    try:
        grid = json.loads((folder / "grid.json").read_text(encoding="utf-8"))
        script, points = str(grid.get("script", "")), len(grid.get("points", []))
    except (OSError, ValueError, AttributeError):
        pass
    links = _reports(root, folder, names)
    links += [(n, relative(root, folder / n)) for n in ("results.json", "grid.json") if n in names]
    return RunEntry("grid", relative(root, folder), f"grid on {script or '?'}",
                    _mtime(*(folder / n for n in names)) or _mtime(folder),
                    status="finished" if "results.json" in names else "unfinished", details=f"{points} point(s)",
                    links=links)


def list_runs(root: Path) -> list[RunEntry]:
    """Every run under ``root``, newest first."""
    root = Path(root).resolve()
    grids = root / ".opsgraft" / "ui-runs"
    runs: list[RunEntry] = []
    for folder, _dirs, names in _walk(root):
        if folder.parent == grids:
            runs.append(_grid_entry(root, folder, names))
        elif "run.json" in names and "records.jsonl" in names:
            runs.append(_bench_entry(root, folder, names))
        elif "study.json" in names:
            runs.append(_ablation_entry(root, folder, names))
        for name in names:
            if name.endswith(".opsgraft.json"):
                entry = _record_entry(root, folder / name)
                if entry is not None:
                    runs.append(entry)
    runs.sort(key=lambda r: (r.mtime, r.path), reverse=True)
    return runs


@router.get("/runs")
def runs(request: Request) -> Response:
    """The listing (``?kind=adapt`` and so on narrows it)."""
    import datetime

    st = ui_state(request)
    kind = request.query_params.get("kind", "")
    entries = [r for r in list_runs(st.root) if not kind or r.kind == kind]
    rows = [{**r.__dict__, "when": datetime.datetime.fromtimestamp(r.mtime).strftime("%Y-%m-%d %H:%M:%S")}
            for r in entries]
    return st.render(request, "runs.html", active="Runs", rows=rows, kind=kind,
                     kinds=("adapt", "bench", "ablation", "grid"))


def render_markdown(text: str) -> str:
    """Markdown as HTML, with any raw HTML in it escaped."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table").render(text)


@router.get("/runs/files/{path:path}")
def served_file(path: str, request: Request) -> Response:
    """A file under the root; ``.md`` rendered inside the page (``?raw=1`` for the text)."""
    st = ui_state(request)
    try:
        full = resolve_under(st.root, path)
    except OpsgraftError as exc:
        return st.render(request, "_error.html", status_code=403, message=str(exc))
    if not full.is_file():
        return st.render(request, "_error.html", status_code=404, message=f"no such file under the root: {path}")
    if full.suffix == ".md" and not request.query_params.get("raw"):
        try:
            body = render_markdown(full.read_text(encoding="utf-8", errors="replace"))
        except ImportError:
            body = ""
        return st.render(request, "runs_markdown.html", active="Runs", path=relative(st.root, full), body=body,
                         text=full.read_text(encoding="utf-8", errors="replace") if not body else "")
    media = mimetypes.guess_type(full.name)[0] or "text/plain"
    if full.suffix in (".py", ".diff", ".jsonl", ".md", ".toml", ".txt", ".log", ".yaml", ".yml"):
        media = "text/plain"
    if media.startswith("text/") or media == "application/json":
        media += "; charset=utf-8"
    return FileResponse(full, media_type=media, headers=SERVE_HEADERS)
