"""Read an adaptation record back: its task and final candidates, to judge again without the LLM."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from opsgraft.errors import InputError
from opsgraft.types import Candidate, Task, from_dict


def load_record(path: Path) -> dict[str, Any]:
    """The JSON of an ``.opsgraft.json`` record; InputError when it is not one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable record ({exc})") from None
    if not isinstance(data, dict) or data.get("opsgraft_record") != 1:
        raise InputError(f"{path}: not an opsgraft record")
    return data


def record_task(record: dict[str, Any]) -> Task:
    """The task the record was judged against."""
    return from_dict(Task, record["task"])


def record_candidates(record: dict[str, Any], final_only: bool = True) -> list[Candidate]:
    """The candidates of the record: the last one of each sample chain, or every attempt's.

    With every attempt, sample indices are renumbered so that each is unique.
    """
    attempts = [a for a in record["attempts"] if a.get("candidate")]
    if final_only:
        # A restore its chain did not keep (adapters/repair_loop.py) is not the chain's final: its passing attempt is.
        attempts = [a for a in attempts if a.get("kept", True)]
        last: dict[int, dict[str, Any]] = {}
        for a in attempts:
            last[a["sample"]] = a
        attempts = [last[k] for k in sorted(last)]
    out = []
    for i, a in enumerate(attempts):
        cand = from_dict(Candidate, a["candidate"])
        out.append(cand if final_only else replace(cand, sample_index=i))
    return out
