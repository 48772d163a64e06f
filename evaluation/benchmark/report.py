"""Render RUN_DIR/report.md and a self-contained RUN_DIR/report.html from the records alone (no LLM).

``render(run_dir)`` is what ``opsgraft report`` and the end of ``opsgraft bench`` call. The numbers
come from tables.py, the figures from plots.py and the HTML page from report_html.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opsgraft.errors import ConfigError, InputError
from opsgraft.evaluation.benchmark import tables
from opsgraft.evaluation.benchmark.tables import Chain, Link, Table, TaskStat
from opsgraft.files import write_whole

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
PLOT_FILES = {"functionality": "plots/pass_by_functionality.png", "repair": "plots/pass_by_round.png"}


@dataclass
class Report:
    """Everything a renderer needs: run facts, tables and plot files (relative to the run dir)."""

    run_dir: Path
    run: Mapping[str, Any]
    facts: list[tuple[str, str]]
    tables: list[Table]
    plots: dict[str, str] = field(default_factory=dict)  # caption -> relative PNG path
    stats: dict[tuple[str, str], TaskStat] = field(default_factory=dict)


def load_run(run_dir: Path) -> dict[str, Any]:
    """RUN_DIR/run.json, refused unless it is an opsgraft bench run of the format we read."""
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: no such run directory")
    path = run_dir / "run.json"
    if not path.is_file():
        raise InputError(f"{run_dir}: not an opsgraft bench run directory (no run.json)")
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: unreadable run.json ({exc})") from None
    if not isinstance(run, dict) or run.get("opsgraft_bench") != FORMAT_VERSION:
        found = run.get("opsgraft_bench") if isinstance(run, dict) else None
        raise ConfigError(f"{path}: bench format {found!r}, this opsgraft reads format {FORMAT_VERSION}")
    return run


def load_chains(run_dir: Path) -> tuple[list[Chain], dict[str, int]]:
    """The finished chains of RUN_DIR/records.jsonl and counts of what was left out."""
    from opsgraft.evaluation.benchmark import records as records_mod

    records = records_mod.read_records(run_dir)
    chains = [Chain(tuple(rs)) for rs in records_mod.finished_chains(records)]
    keys = {records_mod.chain_key(r) for r in records}
    return chains, {"records": len(records), "finished": len(chains), "unfinished": len(keys) - len(chains)}


def model_repairs(run: Mapping[str, Any]) -> dict[str, int] | None:
    """Model -> the repair rounds it was given (its own, else the grid's); None where run.json does not say."""
    grid = (run.get("config") or {}).get("repair")
    out = {}
    for name, spec in (run.get("models") or {}).items():
        rounds = spec.get("repair", grid) if isinstance(spec, Mapping) else grid
        if not isinstance(rounds, int):
            return None
        out[name] = rounds
    return out or None


def build(run_dir: Path) -> Report:
    """Compute every table of the report of ``run_dir``."""
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    chains, counts = load_chains(run_dir)
    stats = tables.group_stats(chains)
    config = run.get("config") or {}
    models = _models(run, chains)
    machine = run.get("machine") or {}
    facts = [
        ("Run", str(run_dir.resolve().name)),
        ("Created", str(run.get("created", "?"))),
        ("opsgraft", f"{run.get('opsgraft_version', '?')} (commit {str(run.get('opsgraft_commit', '?'))[:12]})"),
        ("Corpus version", str(run.get("corpus_version", "?"))),
        ("Machine", ", ".join(f"{k}={machine[k]}" for k in ("hostname", "platform", "python", "cpus", "mem_gib", "gpu")
                              if k in machine) or "?"),
        ("Grid", f"modes {config.get('modes', '?')}, temperatures {config.get('temperatures', '?')}, "
                 f"n={config.get('n', '?')}, repair={config.get('repair', '?')}, seed={config.get('seed', '?')}"),
        ("Models", "; ".join(_model_fact(name, spec) for name, spec in (run.get("models") or {}).items())
         or ", ".join(models)),
        ("Samples", f"{counts['finished']} finished samples ({counts['records']} records); "
                    f"ignored: {counts['unfinished']} unfinished sample(s)"),
    ]
    built = [t for t in (tables.layout_table(stats, "inline", models), tables.layout_table(stats, "translate", models))
             if t is not None]
    built += [tables.split_table(stats), tables.repair_table(stats, model_repairs(run)), tables.cost_table(chains),
              tables.task_table(stats), tables.paper_table()]
    return Report(run_dir=run_dir, run=run, facts=facts, tables=built, stats=stats)


def render(run_dir: Path | str) -> dict[str, Path]:
    """Write report.md, report.html and plots/*.png into ``run_dir``; returns their paths by name."""
    from opsgraft.evaluation.benchmark import plots, report_html

    run_dir = Path(run_dir)
    report = build(run_dir)
    stats = report.stats
    written: dict[str, Path] = {}
    if stats:
        figures = {
            "functionality": ("pass@k by functionality, per model",
                              plots.functionality_png(tables.functionality_series(stats))),
            "repair": ("pass@k by repair round", plots.repair_png(tables.repair_series(stats, model_repairs(report.run)))),
        }
        for name, (caption, png) in figures.items():
            path = run_dir / PLOT_FILES[name]
            _write(path, png)
            report.plots[caption] = PLOT_FILES[name]
            written[f"plot:{name}"] = path
    written["markdown"] = _write(run_dir / "report.md", to_markdown(report).encode("utf-8"))
    written["html"] = _write(run_dir / "report.html", report_html.to_html(report).encode("utf-8"))
    log.info("report written: %s", ", ".join(str(p) for p in written.values()))
    return written


def to_markdown(report: Report) -> str:
    """The report as GitHub-flavoured Markdown; plots link to the PNG files beside it."""
    out = ["# opsgraft bench report", ""]
    out += [f"- **{k}**: {_md_escape(v)}" for k, v in report.facts]
    out.append("")
    for caption, rel in report.plots.items():
        out += [f"![{caption}]({rel})", ""]
    for table in report.tables:
        out += [f"## {table.title}", ""]
        if table.note:
            out += [f"_{_md_escape(table.note)}_", ""]
        out.append(_md_row(table.columns))
        out.append("|" + "|".join("---" for _ in table.columns) + "|")
        out += [_md_row(row) for row in table.rows]
        out.append("")
    return "\n".join(out)


def _md_row(cells: Sequence[tables.Cell]) -> str:
    texts = [f"[{_md_escape(c.text)}]({c.href})" if isinstance(c, Link) else _md_escape(c) for c in cells]
    return "| " + " | ".join(texts) + " |"


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _models(run: Mapping[str, Any], chains: Sequence[Chain]) -> list[str]:
    """Models in the config's order, then any others the records name."""
    order = list((run.get("models") or {}).keys())
    seen = {str(ch.first["model"]) for ch in chains}
    return [m for m in order if m in seen] + sorted(seen - set(order))


def _model_fact(name: str, spec: Any) -> str:
    if not isinstance(spec, Mapping):
        return name
    where = spec.get("path") or spec.get("base_url") or ""
    sha = f" sha256 {str(spec['sha256'])[:12]}" if spec.get("sha256") else ""
    own = "".join(f", {key} {spec[key]}" for key in ("modes", "repair") if spec.get(key) is not None)
    return f"{name} ({spec.get('backend', '?')}{' ' + str(where) if where else ''}{sha}{own})"


def _write(path: Path, data: bytes) -> Path:
    """Write whole, so that a reader never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_whole(path, data)
