"""A bench run directory written by hand, per evaluation/benchmark/RECORDS.md, for the report tests.

EXPECTED lists, per (cell, task), the finished samples as the rounds they passed at (None: never
passed), so that the tests can compute every number on their own with math.comb.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TASKS: dict[str, dict[str, str]] = {
    "tracking-a": {"functionality": "tracking", "component": "mlflow", "framework": "sklearn", "kind": "inline",
                   "split": "tune"},
    "tracking-b": {"functionality": "tracking", "component": "mlflow", "framework": "keras", "kind": "inline",
                   "split": "heldout"},
    "hpo-c": {"functionality": "hpo", "component": "optuna", "framework": "keras", "kind": "inline",
              "split": "heldout"},
    "pruning-d": {"functionality": "pruning", "component": "nncf", "framework": "pytorch", "kind": "inline",
                  "split": "tune"},
    "translate-e": {"functionality": "translation", "component": "dvc", "framework": "none", "kind": "translate",
                    "split": "tune"},
}

# (model, mode, temperature, task) -> one entry per finished sample: the round it passed at, or None.
# A sample that passed at round r has failed records for rounds 0..r-1; one that never passed ran
# rounds 0..LAST_ROUND.
LAST_ROUND = 2
EXPECTED: dict[tuple[str, str, float, str], list[int | None]] = {
    ("big", "zero-shot", 0.2, "tracking-a"): [0, 1, None],
    ("big", "zero-shot", 0.2, "tracking-b"): [0, 0, 2],
    ("big", "zero-shot", 0.2, "hpo-c"): [None, None, None],
    ("big", "zero-shot", 0.2, "pruning-d"): [0, 0, 1],
    ("big", "rag", 0.2, "tracking-a"): [0, 0, 0],
    ("big", "rag", 0.2, "hpo-c"): [1, None, None],
    ("big", "rag", 1.0, "tracking-a"): [None, 0, None],
    # n > k, where a biased estimate (e.g. c*k/n) and the unbiased one differ: 2 of 5 -> pass@3 0.9.
    ("big", "rag", 1.0, "hpo-c"): [None, 0, None, 2, None],
    ("small", "zero-shot", 0.2, "tracking-a"): [None, 2, None],
    ("small", "zero-shot", 0.2, "hpo-c"): [None, 0],  # a third sample is unfinished, see make_run
    ("big", "docs-search", 0.2, "translate-e"): [None, 1, 0],
}
FAIL_REASONS = {"hpo-c": "no Optuna study was created", "tracking-a": "no MLflow run finished"}
PRESERVED = {("big", "zero-shot", 0.2, "pruning-d"): [True, False, None]}
TOKENS = {"prompt": 100, "completion": 40}
WALL = {"retrieve": 0.5, "generate": 2.0, "judge": 3.0}


def record(model: str, mode: str, temperature: float, task: str, sample: int, rnd: int, status: str,
           final: bool, preserved: bool | None = None) -> dict[str, Any]:
    """One line of records.jsonl."""
    cell = f"{model}|{mode}|{temperature:g}"
    slug = cell.replace("|", "_")
    reason = "" if status == "passed" else FAIL_REASONS.get(task, "checker failed")
    return {
        "v": 1, "cell": cell, "model": model, "mode": mode, "temperature": temperature, "task": task,
        **TASKS[task], "sample": sample, "round": rnd, "final": final, "status": status, "reason": reason,
        "reasons": [reason] if reason else [], "preserved": preserved,
        "prompt_tokens": TOKENS["prompt"], "completion_tokens": TOKENS["completion"], "wall_s": dict(WALL),
        "seed": sample, "code_file": f"code/{slug}/{task}/s{sample}r{rnd}.py",
        "diff_file": f"code/{slug}/{task}/s{sample}r{rnd}.diff", "time": "2026-12-01T10:00:00Z",
    }


def chain(key: tuple[str, str, float, str], sample: int, passed_at: int | None,
          preserved: bool | None = None) -> list[dict[str, Any]]:
    """The records of one finished sample."""
    model, mode, temperature, task = key
    last = LAST_ROUND if passed_at is None else passed_at
    return [record(model, mode, temperature, task, sample, r, "passed" if r == passed_at else "failed",
                   final=r == last, preserved=preserved if r == passed_at else None) for r in range(last + 1)]


def make_run(run_dir: Path) -> Path:
    """Write run.json and records.jsonl (with an unfinished sample, a restarted one and a torn last line)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    run = {
        "opsgraft_bench": 1, "created": "2026-12-01T10:00:00Z", "opsgraft_version": "0.1.0",
        "opsgraft_commit": "abc123", "corpus_version": "0123456789abcdef",
        "machine": {"hostname": "test", "platform": "linux", "python": "3.11", "cpus": 2, "mem_gib": 8.0, "gpu": None},
        "config": {"tasks": sorted(TASKS), "modes": ["zero-shot", "rag", "docs-search"], "temperatures": [0.2, 1.0],
                   "n": 3, "repair": LAST_ROUND, "seed": 0, "max_tokens": 2048, "models": []},
        "models": {"big": {"backend": "replay", "path": None, "sha256": None, "base_url": None, "model": None},
                   "small": {"backend": "replay", "path": None, "sha256": None, "base_url": None, "model": None}},
    }
    (run_dir / "run.json").write_text(json.dumps(run), encoding="utf-8")
    lines: list[dict[str, Any]] = []
    for key, samples in EXPECTED.items():
        preserved = PRESERVED.get(key, [None] * len(samples))
        for sample, passed_at in enumerate(samples):
            if key == ("big", "zero-shot", 0.2, "tracking-a") and sample == 2:
                # An attempt killed after round 0: its record stays, the resumed run starts the sample again.
                lines.append(record(*key, sample=2, rnd=0, status="failed", final=False))
            lines += chain(key, sample, passed_at, preserved[sample])
    # Unfinished: killed before its final record. Must not count.
    lines.append(record("small", "zero-shot", 0.2, "hpo-c", 2, 0, "failed", final=False))
    text = "".join(json.dumps(line) + "\n" for line in lines)
    # Torn last line: a passing final record cut mid-write. Counting it would finish sample 2 above.
    torn = json.dumps(record("small", "zero-shot", 0.2, "hpo-c", 2, 1, "passed", final=True))
    text += torn[: len(torn) // 2]
    (run_dir / "records.jsonl").write_text(text, encoding="utf-8")
    for key, samples in EXPECTED.items():
        for sample, passed_at in enumerate(samples):
            if passed_at is not None:
                rec = record(*key, sample=sample, rnd=passed_at, status="passed", final=True)
                path = run_dir / rec["diff_file"]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(f"--- a/train.py\n+++ b/train.py\n@@\n+import mlflow  # {key} s{sample}\n")
    return run_dir
