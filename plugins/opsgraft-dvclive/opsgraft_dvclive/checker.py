"""``dvclive-tracking``: DVCLive's own files hold params and per-step metrics that came from training.

The evidence is what DVCLive writes into its folder (``dvclive/`` unless ``Live(dir=...)``):
``params.yaml``, ``metrics.json`` (the summary ``next_step``/``end`` write) and one
``plots/metrics/<name>.tsv`` per metric with a ``step`` column and a value column. The folder is
found from the sandbox hook (``hooks/hook_dvclive.py``: where each ``Live`` was created); the hook
also says which metrics the program logged through ``Live.log_metric`` and when, so that files the
program wrote by hand do not count and metrics logged before any training do not either.

Fails on: no Live, no params, too few metrics, a single step (no ``next_step``, no Lightning
logger), metrics that never change over the steps, no summary, and metrics logged before training.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from opsgraft.plugins import (
    CheckContext,
    distinct_values,
    read_jsonl,
    read_training,
    run_reason,
    training_reason,
    verdict,
)
from opsgraft.types import Verdict

log = logging.getLogger(__name__)

NAME = "dvclive-tracking"
EVIDENCE = "dvclive.jsonl"
_MAX_FILES = 200


@dataclass
class LiveDir:
    """What one DVCLive folder holds."""

    path: Path
    params: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] | None = None
    series: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # metric -> (step, value)


def leaves(tree: Any, prefix: str = "") -> dict[str, Any]:
    """A nested mapping (params.yaml, metrics.json) flattened to ``a/b`` keys."""
    if not isinstance(tree, dict):
        return {prefix: tree} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}/{key}" if prefix else str(key)
        out.update(leaves(value, name) if isinstance(value, dict) else {name: value})
    return out


def read_tsv(path: Path) -> list[tuple[int, float]]:
    """The (step, value) rows of one DVCLive metric file; rows that do not parse are skipped."""
    rows: list[tuple[int, float]] = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return rows
    reader = csv.DictReader(io.StringIO(text), delimiter="\t")
    value_col = next((c for c in reader.fieldnames or [] if c not in ("step", "timestamp")), None)
    if value_col is None or "step" not in (reader.fieldnames or []):
        return rows
    for row in reader:
        try:
            step, value = int(row["step"]), float(row[value_col])
        except (TypeError, ValueError):
            continue
        if math.isfinite(value):
            rows.append((step, value))
    return rows


def read_live_dir(path: Path) -> LiveDir:
    """Read a DVCLive output folder (missing files stay empty)."""
    out = LiveDir(path)
    params_file, summary_file = path / "params.yaml", path / "metrics.json"
    if params_file.is_file():
        try:
            out.params = leaves(yaml.safe_load(params_file.read_text(encoding="utf-8")) or {})
        except (yaml.YAMLError, OSError, UnicodeDecodeError):
            out.params = {}
    if summary_file.is_file():
        try:
            loaded = json.loads(summary_file.read_text(encoding="utf-8"))
            out.summary = loaded if isinstance(loaded, dict) else {}
        except (json.JSONDecodeError, OSError, UnicodeDecodeError):
            out.summary = {}
    metrics = path / "plots" / "metrics"
    if metrics.is_dir():
        for tsv in sorted(metrics.rglob("*.tsv"))[:_MAX_FILES]:
            out.series[tsv.relative_to(metrics).with_suffix("").as_posix()] = read_tsv(tsv)
    return out


@dataclass(frozen=True)
class _Hooked:
    """What the hook saw: Live folders, metric names logged through Live, their wall times."""

    installed: bool
    dirs: tuple[Path, ...]
    logged: frozenset[str]
    walls: tuple[float, ...]
    param_keys: frozenset[str]


def _hooked(evidence_dir: Path) -> _Hooked:
    records = read_jsonl(evidence_dir / EVIDENCE)
    dirs = tuple(dict.fromkeys(Path(str(r["dir"])) for r in records if r.get("event") == "init" and r.get("dir")))
    metric_lines = [r for r in records if r.get("event") == "log_metric"]
    walls = tuple(float(r["wall"]) for r in metric_lines if isinstance(r.get("wall"), int | float))
    keys = frozenset(str(k) for r in records if r.get("event") == "log_params" for k in r.get("keys", []))
    return _Hooked(any(r.get("event") == "install" for r in records), dirs,
                   frozenset(str(r.get("name")) for r in metric_lines), walls, keys)


def check_dvclive(ctx: CheckContext, min_params: int = 1, min_metrics: int = 1, min_steps: int = 2) -> Verdict:
    """Pass when a DVCLive folder holds ``min_params`` params and ``min_metrics`` metrics that were
    logged through ``dvclive.Live`` at ``min_steps`` or more steps, not all constant, after training began."""
    evidence: dict[str, Any] = {}
    why_run = run_reason(ctx)
    if why_run:
        return verdict(NAME, [why_run], evidence)
    seen = _hooked(ctx.evidence_dir)
    workdir = ctx.workdir.resolve()
    dirs = [d for d in seen.dirs if d.resolve() == workdir or workdir in d.resolve().parents]
    if not dirs:
        stray = sorted(p.parent.parent.relative_to(ctx.workdir).as_posix()
                       for p in ctx.workdir.rglob("plots/metrics") if p.is_dir())[:3]
        if stray:
            return verdict(NAME, [f"DVCLive-like files were written ({', '.join(stray)}) but no dvclive.Live "
                                  "was created: log through dvclive.Live, not by writing its files"], evidence)
        what = "dvclive was imported but no dvclive.Live was created" if seen.installed else \
            "the program never used DVCLive (no dvclive.Live was created)"
        return verdict(NAME, [f"{what}: create one with `with Live() as live:`"], evidence)
    best: tuple[list[str], LiveDir] | None = None
    for folder in dirs:
        live = read_live_dir(folder)
        reasons = _judge(live, seen, min_params, min_metrics, min_steps, evidence)
        if best is None or len(reasons) < len(best[0]):
            best = (reasons, live)
        if not reasons:
            break
    assert best is not None
    reasons, live = best
    evidence.update(dir=live.path.relative_to(workdir).as_posix() if workdir in live.path.resolve().parents
                    else str(live.path), params=sorted(live.params)[:20], metrics=sorted(live.series)[:20],
                    steps={k: len({s for s, _ in v}) for k, v in sorted(live.series.items())[:20]})
    if not reasons and seen.walls:
        from opsgraft.evaluation.checkers.mlflow_tracking import files_imports

        why = training_reason(read_training(ctx.evidence_dir), min(seen.walls), max(seen.walls),
                              files_imports(ctx.files), evidence)
        if why:
            reasons.append(why)
    log.debug("dvclive-tracking judged %s: %s", live.path, reasons)
    return verdict(NAME, reasons, evidence)


def _judge(live: LiveDir, seen: _Hooked, min_params: int, min_metrics: int, min_steps: int,
           evidence: dict[str, Any]) -> list[str]:
    reasons: list[str] = []
    name = live.path.name
    if len(live.params) < min_params:
        reasons.append(f"{name}/params.yaml holds {len(live.params)} parameter(s), expected at least "
                       f"{min_params}: log the hyperparameters with live.log_params({{...}})")
    # Only metrics the program logged through Live.log_metric count; a file written by hand does not.
    series = {k: v for k, v in live.series.items() if k in seen.logged or k.replace("/", ".") in seen.logged}
    forged = sorted(set(live.series) - set(series))
    if forged:
        evidence["not_logged_through_live"] = forged[:10]
    if len(series) < min_metrics:
        more = f" ({', '.join(forged[:3])} not written by Live.log_metric)" if forged else ""
        reasons.append(f"{name}/plots/metrics holds {len(series)} metric(s) logged through DVCLive, expected at "
                       f"least {min_metrics}{more}: call live.log_metric(name, value) for each metric")
        return reasons
    steps = {k: len({s for s, _ in rows}) for k, rows in series.items()}
    if max(steps.values()) < min_steps:
        reasons.append(f"every metric was logged at {max(steps.values())} step(s), expected at least {min_steps}: "
                       "call live.next_step() after each epoch (or give Lightning a DVCLiveLogger)")
    stepped = {k: rows for k, rows in series.items() if steps[k] >= 2}
    if stepped and all(distinct_values(v for _, v in rows) < 2 for rows in stepped.values()):
        key, rows = sorted(stepped.items())[0]
        reasons.append(f"every metric logged at several steps kept one value ({key} = {rows[0][1]:g} at all "
                       f"{steps[key]} steps): log the value each epoch produces, not a fixed number")
    if live.summary is None:
        reasons.append(f"{name}/metrics.json was not written: call live.next_step() each epoch and live.end() "
                       "at the end, or use `with Live() as live:`")
    return reasons
