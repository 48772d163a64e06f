"""Retrieval + repair against zero-shot with the embedded model, on 8 corpus tasks: two bench runs.

A thin call of the benchmark runner (``opsgraft bench``), which records every sample and resumes:
  A: --modes rag (translations: docs-search) --n 3 --repair 2
  B: --modes zero-shot --n 3 --repair 0
Prints pass@1/pass@3 per configuration, their wall times and the ratio of pass@3. The reports are
in OUT/A and OUT/B (report.md, report.html). Needs the stores of the target components for rag
(`opsgraft curate --package mlflow`, ... and `opsgraft curate --package torch.nn.utils.prune`).

Run: .venv/bin/python bench/adapt_modes.py [--tasks ID ...] [--configs A B] [--out bench-out/adapt_modes]
Rerun the same command to resume an interrupted run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

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
    "A": {"modes": ["rag"], "translation_modes": ["docs-search"], "n": 3, "repair": 2},
    "B": {"modes": ["zero-shot"], "n": 3, "repair": 0},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", nargs="*", default=TASKS)
    ap.add_argument("--configs", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--out", type=Path, default=Path("bench-out/adapt_modes"))
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args()
    apply_offline_env()
    from opsgraft.evaluation.benchmark.config import parse_config
    from opsgraft.evaluation.benchmark.runner import RunOptions, make_grid, run_bench

    means = {}
    for name in args.configs:
        grid = make_grid(parse_config({**CONFIGS[name], "tasks": {"ids": args.tasks}}, f"config {name}"))
        summary = run_bench(grid, args.out / name, RunOptions(jobs=args.jobs))
        cells = summary.cells.values()
        means[name] = {k: sum(c.get(k, 0.0) * c["tasks"] for c in cells) / max(1, sum(c["tasks"] for c in cells))
                       for k in ("pass@1", "pass@3")}
        print(f"{name} {CONFIGS[name]}: pass@1 {means[name]['pass@1']:.3f}, pass@3 {means[name]['pass@3']:.3f}, "
              f"wall {summary.wall_s:.0f}s, {summary.chains_done} samples; report in {args.out / name}", flush=True)
    if len(means) == 2:
        a, b = means["A"]["pass@3"], means["B"]["pass@3"]
        print(f"pass@3 A/B: {a / b:.2f}" if b else f"pass@3 A {a:.3f} vs B 0")


if __name__ == "__main__":
    main()
