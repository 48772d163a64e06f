"""Retrieval + repair against zero-shot with the embedded model, on 8 corpus tasks, in one run.

Configurations (issue "Adapt and translate end to end"):
  A: --mode rag --n 3 --repair 2   (translations: --strategy docs-search)
  B: --mode zero-shot --n 3 --repair 0
Prints a pass@1/pass@3 table per configuration, their wall times, and the ratio of pass@3.
Needs the stores of the target components (`opsgraft curate --package mlflow` etc.).

Run: .venv/bin/python bench/adapt_modes.py [--tasks ID ...] [--out bench-out/adapt_modes.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from opsgraft.config import apply_offline_env

TASKS = [
    "tracking-mlflow-sklearn-diabetes",
    "tracking-wandb-pytorch-gcn",
    "registration-mlflow-sklearn-iris",
    "hpo-optuna-sklearn-svc",
    "pruning-nncf-digits-mlp",
    "pruning-torch-digits-mlp",
    "translate-gitpython-dvc-lfs-dataset",
    "translate-wandb-mlflow-mlp",
]
CONFIGS = {
    "A rag+repair": {"mode": "rag", "strategy": "docs-search", "n": 3, "repair": 2},
    "B zero-shot": {"mode": "zero-shot", "strategy": "", "n": 3, "repair": 0},
}


def run_config(name: str, cfg: dict[str, Any], tasks: list[str], backend: Any, out: Path) -> dict[str, Any]:
    """Adapt and judge every task under one configuration."""
    from opsgraft.adapters.workflow import corpus_workflow
    from opsgraft.evaluation.passk import pass_at_k

    rows = []
    t0 = time.perf_counter()
    for task_id in tasks:
        is_translation = task_id.startswith("translate-")
        flow = corpus_workflow(
            task_id,
            mode="zero-shot" if is_translation and not cfg["strategy"] else (cfg["strategy"] if is_translation else cfg["mode"]),
            strategy=cfg["strategy"] if is_translation else "",
        )
        t1 = time.perf_counter()
        try:
            result = flow.execute(backend, n=cfg["n"], repair=cfg["repair"], run=True,
                                  out_dir=out / name.split()[0] / task_id)
            finals = result.run.final()
            correct = sum(1 for a in finals.values() if a.passed)
            statuses = [a.result.status if a.result else "no-code" for a in finals.values()]
        except Exception as exc:  # a task that cannot even be prompted counts as 0 of n
            correct, statuses = 0, [f"error: {exc}"]
        rows.append({
            "task": task_id, "n": cfg["n"], "correct": correct, "statuses": statuses,
            "pass@1": pass_at_k(cfg["n"], correct, 1), "pass@3": pass_at_k(cfg["n"], correct, 3),
            "wall_s": round(time.perf_counter() - t1, 1),
        })
        print(f"  {name}: {task_id}: {correct}/{cfg['n']} {statuses} ({rows[-1]['wall_s']}s)", flush=True)
    wall = time.perf_counter() - t0
    mean = {k: sum(r[k] for r in rows) / len(rows) for k in ("pass@1", "pass@3")}
    return {"config": cfg, "rows": rows, "mean": mean, "wall_s": round(wall, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", nargs="*", default=TASKS)
    ap.add_argument("--out", type=Path, default=Path("bench-out/adapt_modes.json"))
    args = ap.parse_args()
    apply_offline_env()
    from opsgraft.config import responses_dir
    from opsgraft.llm.cache import CachedBackend
    from opsgraft.llm.local import LocalBackend

    backend = CachedBackend(LocalBackend(), responses_dir())
    report = {name: run_config(name, cfg, args.tasks, backend, args.out.parent) for name, cfg in CONFIGS.items()}
    print(f"\n{'task':40} " + " ".join(f"{n + ' p@1':>18} {n + ' p@3':>18}" for n in report))
    for i, task_id in enumerate(args.tasks):
        cells = " ".join(f"{r['rows'][i]['pass@1']:>18.2f} {r['rows'][i]['pass@3']:>18.2f}" for r in report.values())
        print(f"{task_id:40} {cells}")
    for name, r in report.items():
        print(f"{name}: mean pass@1 {r['mean']['pass@1']:.3f}, pass@3 {r['mean']['pass@3']:.3f}, wall {r['wall_s']}s")
    a, b = report["A rag+repair"]["mean"]["pass@3"], report["B zero-shot"]["mean"]["pass@3"]
    print(f"pass@3 A/B: {a / b:.2f}" if b else f"pass@3 A {a:.3f} vs B 0")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
