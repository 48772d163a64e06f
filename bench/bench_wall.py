"""Wall time of the benchmark as shipped (overlapped, batched where the backend can) against serial.

Runs the same selection, seeds and model twice, each into a fresh run directory, with the response
cache off: (i) as `opsgraft bench` runs (task workers share the model, judging overlaps generation,
the workers' prompts decode together, their n samples each as llama.cpp sequences: opsgraft/llm/engine.py),
(ii) serial: one sample generated, then judged, then the next. Prints shipped/serial wall time
(target <= 0.6) and each run's tokens/s. Heavy (runs the local model): run under
`flock /tmp/opsgraft-heavy.lock`.

The default selection is the smoke preset's (one task per functionality and kind), what a user
runs first. Two tasks (`--tasks tracking-mlflow-sklearn-diabetes registration-mlflow-sklearn-iris`,
the default until the engine) leave little to overlap: the last task's judging always trails.

Run: .venv/bin/python bench/bench_wall.py [--tasks ID ...] [--n 3] [--model PATH|replay:CASSETTE] [--max-tokens M]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from opsgraft.config import apply_offline_env


def smoke_tasks() -> list[str]:
    """The task ids of the smoke preset."""
    from opsgraft.evaluation.benchmark.config import load_config

    cfg, _ = load_config(preset="smoke")
    return list(cfg.tasks.ids)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", nargs="*", default=None, help="task ids (default: the smoke preset's)")
    ap.add_argument("--n", type=int, default=3)
    ap.add_argument("--temperature", type=float, default=0.2)
    ap.add_argument("--max-tokens", type=int, default=2048)
    ap.add_argument("--model", default=None, help="GGUF path, known name or replay:CASSETTE (default: embedded)")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("bench-out/bench_wall"))
    ap.add_argument("--order", nargs=2, default=["shipped", "serial"], choices=["shipped", "serial"])
    args = ap.parse_args()
    apply_offline_env()
    from opsgraft.evaluation.benchmark.config import parse_config, parse_model_flag
    from opsgraft.evaluation.benchmark.runner import RunOptions, make_grid, run_bench

    data = {"tasks": {"ids": args.tasks or smoke_tasks()}, "modes": ["zero-shot"], "temperatures": [args.temperature], "n": args.n,
            "repair": 0, "max_tokens": args.max_tokens}
    if args.model:
        data["models"] = [parse_model_flag(args.model).model_dump()]
    grid = make_grid(parse_config(data, "bench_wall"))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results = {}
    for way in args.order:
        opts = RunOptions(jobs=args.jobs, overlap=way == "shipped", batched=way == "shipped", cache=False,
                          render=False)
        s = run_bench(grid, args.out / f"{stamp}-{way}", opts)
        rate = s.completion_tokens / s.generate_busy_s if s.generate_busy_s else 0.0
        passed = sum(int(c["passed"]) for c in s.cells.values())
        results[way] = s.wall_s
        print(f"{way:8} wall {s.wall_s:7.1f}s  model busy {s.generate_busy_s:7.1f}s  {s.completion_tokens} tokens "
              f"{rate:6.1f} tok/s  {s.judge_calls} sandbox runs  {passed}/{s.chains_done} passed", flush=True)
    print(f"shipped/serial: {results['shipped'] / results['serial']:.2f} (target <= 0.6)")


if __name__ == "__main__":
    main()
