"""Benchmark the evaluator: sandbox overhead per sample, bwrap's on top, and --jobs 2 over --jobs 1.

    .venv/bin/python bench/evaluator.py [--task ID] [--reps 3] [--samples 6] [--tiny-reps 20]

1. Overhead: the same reference program run as a bare ``python script.py`` (same offline env and
   MLflow store location, in a plain tmp dir) and through ``sandbox.run_program`` (root layout,
   env scrubbing, hooks, rlimits, outside-write scan, clean-up), alternating; ratio of medians.
   Target <= 1.15.
2. Isolation: ``sandbox.run_program`` with ``isolation="bwrap"`` against the plain sandbox, alternating,
   on a tiny program (``--tiny-reps`` each: the fixed cost per sample shows) and on the reference
   (``--reps`` each); ratio of medians. bwrap is made the default only at <= 1.10.
3. Throughput: ``--samples`` copies of the reference judged (sandbox + checker) with
   ``LocalExecutor(jobs=1)`` and ``LocalExecutor(jobs=2)``; ratio of wall times. Target >= 1.7.

Uses a real corpus reference (a quick one by default), else a small built-in script.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from opsgraft.config import apply_offline_env, offline_env
from opsgraft.evaluation import isolation, sandbox
from opsgraft.evaluation.corpus import input_files, load_corpus, load_task_dir, reference_files
from opsgraft.evaluation.evaluator import Job
from opsgraft.evaluation.executors import LocalExecutor
from opsgraft.types import Candidate, Task

BUILTIN_SCRIPT = """
import json, math, random
random.seed(0)
w = [random.random() for _ in range(200)]
for epoch in range(60):
    w = [x - 0.01 * math.sin(x) for x in w]
json.dump({"loss": sum(w)}, open("out.json", "w"))
"""
BUILTIN_CHECKER = """
import json
from pathlib import Path
from opsgraft.evaluation.checkers.base import verdict

def check(ctx):
    path = Path(ctx.workdir) / "out.json"
    return verdict("bench-out-json", [] if path.is_file() and "loss" in json.loads(path.read_text()) else ["no out.json"])
"""
TINY_SCRIPT = "print('ok')\n"
# Quick references first: the bench should take minutes, not tens of them.
PREFERRED = ("sklearn", "none", "keras", "pytorch", "lightning")


def pick_task(task_id: str | None, scratch: Path) -> tuple[Task, str]:
    """The task to measure, and where it comes from."""
    tasks = load_corpus()
    if task_id:
        matches = [t for t in tasks if t.id == task_id]
        if not matches:
            sys.exit(f"no corpus task {task_id!r}")
        return matches[0], "corpus"
    tasks = [t for t in tasks if reference_files(t)]
    if tasks:
        tasks.sort(key=lambda t: (PREFERRED.index(t.framework) if t.framework in PREFERRED else 9, t.timeout_s, t.id))
        return tasks[0], "corpus"
    folder = scratch / "tasks" / "bench-builtin"
    (folder / "reference").mkdir(parents=True)
    (folder / "train.py").write_text("print('no output')\n")
    (folder / "reference" / "train.py").write_text(BUILTIN_SCRIPT)
    (scratch / "bench_checker.py").write_text(BUILTIN_CHECKER)
    sys.path.insert(0, str(scratch))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(scratch), os.environ.get("PYTHONPATH")]))
    (folder / "task.yaml").write_text(
        "id: bench-builtin\nkind: inline\nfunctionality: tracking\ncomponent: mlflow\nframework: none\n"
        "instruction: bench\nentry: train.py\nfiles: [train.py]\ntimeout_s: 60\nchecker: bench_checker:check\n"
    )
    return load_task_dir(folder), "built-in"


def bare_run(files: dict[str, str], entry: str, scratch: Path) -> float:
    """``python entry`` in a plain folder, with the offline env and the same MLflow store location."""
    folder = Path(tempfile.mkdtemp(dir=scratch))
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(content)
    env = {**os.environ, **offline_env(), "MLFLOW_TRACKING_URI": f"sqlite:///{folder}/mlflow.db",
           "WANDB_DIR": str(folder)}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, entry], cwd=folder, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"bare run failed:\n{proc.stderr[-2000:]}")
    shutil.rmtree(folder)
    return wall


def sandbox_run(task: Task, files: dict[str, str], scratch: Path, mode: str = "none") -> float:
    """The full sandbox call (prepare, run, scan) plus removing the root, as judge() does."""
    start = time.perf_counter()
    root = Path(tempfile.mkdtemp(dir=scratch))
    run = sandbox.run_program(files, task.entry, root=root, timeout_s=task.timeout_s, setup=task.setup,
                              isolation=mode)
    shutil.rmtree(root)
    wall = time.perf_counter() - start
    if run.result.status != "passed":
        sys.exit(f"sandbox run {run.result.status}:\n{run.result.stderr_tail[-2000:]}")
    return wall


def isolation_overhead(task: Task, files: dict[str, str], scratch: Path, reps: int, label: str) -> None:
    """bwrap against the plain sandbox on the same program, ``reps`` runs each, alternating."""
    sandbox_run(task, files, scratch, "bwrap")  # the first bwrap run pays for loading bwrap itself
    plain, boxed = [], []
    for _ in range(reps):
        plain.append(sandbox_run(task, files, scratch))
        boxed.append(sandbox_run(task, files, scratch, "bwrap"))
    p, b = statistics.median(plain), statistics.median(boxed)
    print(f"bwrap on {label}: sandbox {p:.3f} s, sandbox + bwrap {b:.3f} s (median of {reps}), "
          f"ratio {b / p:.3f} (default at <= 1.10), {(b - p) * 1000:+.0f} ms per sample")


def throughput(task: Task, files: dict[str, str], jobs: int, samples: int) -> tuple[float, int]:
    todo = [Job(task, Candidate(task.id, i, files, task.entry)) for i in range(samples)]
    start = time.perf_counter()
    results = list(LocalExecutor(jobs=jobs)(todo))
    return time.perf_counter() - start, sum(r.status == "passed" for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default=None, help="Corpus task id (default: a quick one).")
    parser.add_argument("--reps", type=int, default=3, help="Runs of each kind for the overhead.")
    parser.add_argument("--samples", type=int, default=6, help="Samples for the throughput.")
    parser.add_argument("--tiny-reps", type=int, default=20, help="Runs of each kind for bwrap on a tiny program.")
    args = parser.parse_args()
    apply_offline_env()
    with tempfile.TemporaryDirectory(prefix="opsgraft-bench-") as tmp:
        scratch = Path(tmp)
        task, origin = pick_task(args.task, scratch)
        files = {**input_files(task), **reference_files(task)}
        print(f"task: {task.id} ({origin} reference), {os.cpu_count()} CPUs, python {sys.version.split()[0]}")

        bare_run(files, task.entry, scratch)  # warm the page cache and the .pyc files first
        bare, boxed = [], []
        for _ in range(args.reps):
            bare.append(bare_run(files, task.entry, scratch))
            boxed.append(sandbox_run(task, files, scratch))
        b, s = statistics.median(bare), statistics.median(boxed)
        print(f"overhead: bare python {b:.3f} s, sandbox {s:.3f} s (median of {args.reps}), "
              f"ratio {s / b:.3f} (target <= 1.15), +{(s - b) * 1000:.0f} ms per sample")

        ok, why = isolation.available()
        if ok:
            tiny = replace(task, entry="main.py", setup="none", timeout_s=60)
            isolation_overhead(tiny, {"main.py": TINY_SCRIPT}, scratch, args.tiny_reps, "a tiny program")
            isolation_overhead(task, files, scratch, args.reps, f"the {task.id} reference")
        else:
            print(f"bwrap: not measured ({why})")

        t1, ok1 = throughput(task, files, 1, args.samples)
        t2, ok2 = throughput(task, files, 2, args.samples)
        print(f"throughput: {args.samples} samples, jobs=1 {t1:.2f} s ({ok1} passed), jobs=2 {t2:.2f} s "
              f"({ok2} passed), speed-up {t1 / t2:.2f}x (target >= 1.7)")


if __name__ == "__main__":
    main()
