"""Retrieval + repair against zero-shot with the embedded model, on 8 corpus tasks, in one run.

Configurations (issue "Adapt and translate end to end"):
  A: --mode rag --n 3 --repair 2   (translations: --strategy docs-search)
  B: --mode zero-shot --n 3 --repair 0
Prints a pass@1/pass@3 table per configuration, their wall times, and the ratio of pass@3.
Needs the stores of the target components (`opsgraft curate --package mlflow`, ... and
`opsgraft curate --package torch.nn.utils.prune` for pruning:torch).

Run: .venv/bin/python bench/adapt_modes.py [--tasks ID ...] [--configs A B] [--out bench-out/adapt_modes.json]
     [--budget-min M]
Rows are saved as they finish and a rerun resumes (answers come back from the response cache).
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


def run_one(name: str, cfg: dict[str, Any], task_id: str, backend: Any, out: Path) -> dict[str, Any]:
    """Adapt and judge one task under one configuration: a table row."""
    from opsgraft.adapters.workflow import corpus_workflow
    from opsgraft.evaluation.passk import pass_at_k

    is_translation = task_id.startswith("translate-")
    strategy = cfg["strategy"] if is_translation else ""
    flow = corpus_workflow(task_id, mode=(strategy or "zero-shot") if is_translation else cfg["mode"],
                           strategy=strategy)
    t1 = time.perf_counter()
    rounds: list[list[str]] = []
    try:
        result = flow.execute(backend, n=cfg["n"], repair=cfg["repair"], run=True,
                              out_dir=out / name.split()[0] / task_id)
        finals = result.run.final()
        correct = sum(1 for a in finals.values() if a.passed)
        statuses = [a.result.status if a.result else "no-code" for a in finals.values()]
        for a in result.run.attempts:
            while len(rounds) <= a.round:
                rounds.append([])
            rounds[a.round].append(a.result.status if a.result else "no-code")
    except Exception as exc:  # a task that cannot even be prompted counts as 0 of n
        correct, statuses = 0, [f"error: {exc}"]
    return {
        "task": task_id, "n": cfg["n"], "correct": correct, "statuses": statuses, "rounds": rounds,
        "pass@1": pass_at_k(cfg["n"], correct, 1), "pass@3": pass_at_k(cfg["n"], correct, 3),
        "wall_s": round(time.perf_counter() - t1, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", nargs="*", default=TASKS)
    ap.add_argument("--out", type=Path, default=Path("bench-out/adapt_modes.json"))
    ap.add_argument("--record", type=Path, default=Path("bench-out/adapt_modes.jsonl"),
                    help="cassette of every model answer (replayable with --backend replay)")
    ap.add_argument("--configs", nargs="*", default=[n.split()[0] for n in CONFIGS], choices=[n.split()[0] for n in CONFIGS],
                    help="run only these configurations (A, B); the table compares what the output file holds")
    ap.add_argument("--budget-min", type=float, default=0.0,
                    help="stop starting new tasks after this many minutes (0: no limit); rerun to resume")
    args = ap.parse_args()
    apply_offline_env()
    from opsgraft.config import responses_dir
    from opsgraft.llm.cache import CachedBackend
    from opsgraft.llm.local import LocalBackend
    from opsgraft.llm.replay import ReplayBackend

    # The response cache makes a rerun resume where an interrupted one stopped, sample for sample.
    backend = ReplayBackend(args.record, strict=False, inner=CachedBackend(LocalBackend(), responses_dir()))
    report: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    for name, cfg in CONFIGS.items():
        report.setdefault(name, {"config": cfg, "rows": []})
    t0 = time.perf_counter()
    # Task by task, both configurations side by side: a cut-short run still compares like with like.
    for task_id in args.tasks:
        for name, cfg in CONFIGS.items():
            if name.split()[0] not in args.configs or any(r["task"] == task_id for r in report[name]["rows"]):
                continue
            if args.budget_min and time.perf_counter() - t0 > args.budget_min * 60:
                print(f"time budget spent; rerun to go on with {task_id}", flush=True)
                break
            row = run_one(name, cfg, task_id, backend, args.out.parent)
            report[name]["rows"].append(row)
            print(f"  {name}: {task_id}: {row['correct']}/{row['n']} rounds {row['rounds']} ({row['wall_s']}s)",
                  flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(report, indent=1))
    chosen = [n for n in CONFIGS if n.split()[0] in args.configs]
    done = [t for t in args.tasks if all(any(r["task"] == t for r in report[n]["rows"]) for n in chosen)]
    print(f"\n{'task':40} " + " ".join(f"{n + ' p@1':>18} {n + ' p@3':>18}" for n in chosen))
    for task_id in done:
        cells = []
        for name in chosen:
            row = next(r for r in report[name]["rows"] if r["task"] == task_id)
            cells.append(f"{row['pass@1']:>18.2f} {row['pass@3']:>18.2f}")
        print(f"{task_id:40} " + " ".join(cells))
    means = {}
    for name in chosen:
        rows = [r for r in report[name]["rows"] if r["task"] in done]
        if not rows:
            continue
        means[name] = {k: sum(r[k] for r in rows) / len(rows) for k in ("pass@1", "pass@3")}
        wall = sum(r["wall_s"] for r in rows)
        print(f"{name}: mean pass@1 {means[name]['pass@1']:.3f}, pass@3 {means[name]['pass@3']:.3f}, "
              f"wall {wall:.0f}s over {len(rows)} task(s)")
    if len(means) == 2:
        a, b = means["A rag+repair"]["pass@3"], means["B zero-shot"]["pass@3"]
        print(f"pass@3 A/B: {a / b:.2f}" if b else f"pass@3 A {a:.3f} vs B 0")
    if len(done) < len(args.tasks):
        print(f"{len(args.tasks) - len(done)} task(s) not run yet: rerun the same command to resume")


if __name__ == "__main__":
    main()
