"""Benchmark the evaluator's GPU path: each torch task's reference judged on cpu and on cuda, side by side.

    python bench/evaluator_gpu.py [--task ID ...] [--reps 1] [--json FILE]

For each task (default: every corpus task whose reference moves its model to CUDA when a GPU
is visible and whose imports are installed here), the reference is judged, sandbox and checker
as ``opsgraft corpus check`` does, with ``device="cpu"`` and ``device="cuda"``, alternating.
Prints each wall time (median of ``--reps``), the ratio cpu/cuda, both statuses, and the device
the torch hook saw the optimizer's parameters on (``torch.jsonl`` evidence), so a "cuda" run
that silently trained on the CPU shows up. Needs a visible GPU; without one it says so and exits 2.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

from opsgraft.config import apply_offline_env
from opsgraft.evaluation.corpus import input_files, load_corpus, reference_files
from opsgraft.evaluation.evaluator import judge
from opsgraft.evaluation.executors import detect_gpus
from opsgraft.types import Candidate, SampleResult, Task

IMPORT = re.compile(r"^\s*(?:import|from)\s+([A-Za-z_]\w*)", re.MULTILINE)


def gpu_tasks(requested: list[str]) -> tuple[list[Task], list[str]]:
    """The tasks to measure, and the ones skipped with the reason."""
    tasks = {t.id: t for t in load_corpus()}
    unknown = [t for t in requested if t not in tasks]
    if unknown:
        sys.exit(f"no corpus task {unknown[0]!r}")
    chosen, skipped = [], []
    for task in [tasks[t] for t in requested] if requested else sorted(tasks.values(), key=lambda t: t.id):
        source = "\n".join(reference_files(task).values())
        if not requested and "cuda" not in source and "accelerator" not in source:
            continue
        missing = sorted({m for m in IMPORT.findall(source) if importlib.util.find_spec(m) is None})
        if missing:
            skipped.append(f"{task.id} (not installed: {', '.join(missing)})")
            continue
        chosen.append(task)
    return chosen, skipped


def hook_devices(result: SampleResult) -> list[str]:
    """Devices of the optimizers the torch hook saw in this sample."""
    evidence = Path(result.execution.workdir).parent / ".sandbox" / "evidence" / "torch.jsonl"
    if not evidence.is_file():
        return []
    records = [json.loads(line) for line in evidence.read_text().splitlines() if line.strip()]
    return sorted({str(r.get("device")) for r in records if r.get("event") == "optimizer"})


def judged(task: Task, device: str) -> tuple[float, str, list[str]]:
    """(wall seconds, status, devices seen) of one reference judged on ``device``."""
    files = {**input_files(task), **reference_files(task)}
    result = judge(task, Candidate(task.id, 0, files, task.entry), device=device, keep_workdir=True,
                   cuda_devices="0" if device == "cuda" else None)
    try:
        status = result.status
        if status != "passed" and result.verdict and result.verdict.reasons:
            status += f" ({result.verdict.reasons[0][:80]})"
        elif status != "passed":
            status += f" ({result.execution.stderr_tail[-200:]!r})"
        return result.execution.wall_s, status, hook_devices(result)
    finally:
        shutil.rmtree(Path(result.execution.workdir).parent, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", action="append", default=[], help="Corpus task id (repeatable).")
    parser.add_argument("--reps", type=int, default=1, help="Runs per device and task (median).")
    parser.add_argument("--json", type=Path, default=None, help="Also write the rows here.")
    args = parser.parse_args()
    apply_offline_env()
    gpus = detect_gpus()
    if not gpus:
        print("no GPU is visible (nvidia-smi -L and torch find none): nothing to compare", file=sys.stderr)
        sys.exit(2)
    tasks, skipped = gpu_tasks(args.task)
    print(f"{len(gpus)} GPU(s), {os.cpu_count()} CPUs, python {sys.version.split()[0]}; "
          f"{len(tasks)} task(s), skipped: {'; '.join(skipped) or 'none'}")
    rows: list[dict[str, Any]] = []
    for task in tasks:
        walls: dict[str, list[float]] = {"cpu": [], "cuda": []}
        last: dict[str, tuple[str, list[str]]] = {}
        for _ in range(args.reps):
            for device in ("cpu", "cuda"):
                wall, status, devices = judged(task, device)
                walls[device].append(wall)
                last[device] = (status, devices)
        cpu, cuda = statistics.median(walls["cpu"]), statistics.median(walls["cuda"])
        row = {"task": task.id, "cpu_s": cpu, "cuda_s": cuda, "ratio": cpu / cuda,
               "cpu_status": last["cpu"][0], "cuda_status": last["cuda"][0],
               "cpu_devices": last["cpu"][1], "cuda_devices": last["cuda"][1]}
        rows.append(row)
        print(f"{task.id:40} cpu {cpu:6.1f} s {last['cpu'][0]:8} on {','.join(last['cpu'][1]) or '-':7} | "
              f"cuda {cuda:6.1f} s {last['cuda'][0]:8} on {','.join(last['cuda'][1]) or '-':7} | "
              f"cpu/cuda {cpu / cuda:.2f}", flush=True)
    if rows:
        total_cpu, total_cuda = sum(r["cpu_s"] for r in rows), sum(r["cuda_s"] for r in rows)
        print(f"all {len(rows)} references: cpu {total_cpu:.1f} s, cuda {total_cuda:.1f} s, "
              f"ratio cpu/cuda {total_cpu / total_cuda:.2f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
