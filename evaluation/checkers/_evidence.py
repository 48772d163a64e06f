"""Helpers shared by the hook-evidence checkers (Optuna, pruning, ablation, DVC)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from opsgraft.evaluation.checkers.base import CheckContext

log = logging.getLogger(__name__)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL evidence file; a missing file is empty, bad lines are skipped."""
    if not path.is_file():
        return []
    records: list[dict[str, Any]] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            log.debug("skipping a bad evidence line in %s", path)
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def run_reason(ctx: CheckContext) -> str | None:
    """Why the run itself disqualifies the candidate, or None when it exited 0."""
    ex = ctx.execution
    if ex.status == "passed":
        return None
    if ex.status == "timeout":
        return f"the program did not finish within its time limit ({ex.wall_s:.0f} s)"
    last = _last_line(ex.stderr_tail) or _last_line(ex.stdout_tail)
    tail = f": {last}" if last else ""
    if ex.status == "error":
        return f"the program could not be run{tail}"
    return f"the program exited with code {ex.returncode}{tail}"


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def values_equal(a: Any, b: Any, rel: float = 1e-5) -> bool:
    """Equality that tolerates float32 round trips; bools and numbers are not mixed up."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b and type(a) is type(b)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return abs(a - b) <= rel * max(abs(a), abs(b), 1e-12)
    return bool(a == b)
