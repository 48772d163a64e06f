"""Local process pool, GPU routing (per_gpu samples per GPU at a time) and the Ray executor."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from opsgraft.errors import ConfigError
from opsgraft.evaluation.corpus import load_task_dir, reference_files
from opsgraft.evaluation.evaluator import Job
from opsgraft.evaluation.executors import LocalExecutor, RayExecutor, detect_gpus, make_runner, resolve_device
from opsgraft.types import Candidate

# Prints the GPU it was given and when it held it; writes "ok" so the checker passes.
TIMED = """
import os, time
start = time.time()
time.sleep(0.6)
open("out.txt", "w").write("ok")
print(os.environ["CUDA_VISIBLE_DEVICES"], os.environ["OPSGRAFT_DEVICE"], start, time.time())
"""


@pytest.fixture
def path_task(make_task: Callable[..., Path], checker_module: str):
    """A task whose checker is importable by path, so worker processes find it."""
    return load_task_dir(make_task("pooled", checker=f"{checker_module}:check"))


def _jobs(task, n: int, files: dict[str, str]) -> list[Job]:
    return [Job(task, Candidate(task.id, i, files, task.entry)) for i in range(n)]


def test_process_pool_judges_every_sample(path_task) -> None:
    results = list(LocalExecutor(jobs=2)(_jobs(path_task, 3, reference_files(path_task))))
    assert sorted(r.sample_index for r in results) == [0, 1, 2]
    assert {r.status for r in results} == {"passed"}


def test_one_sample_per_gpu_at_a_time(path_task) -> None:
    runner = LocalExecutor(jobs=4, device="cuda", gpus=("0", "1"))
    results = list(runner(_jobs(path_task, 6, {"train.py": TIMED})))
    assert {r.status for r in results} == {"passed"}, [r.execution.stderr_tail for r in results]
    spans: dict[str, list[tuple[float, float]]] = {}
    for r in results:
        gpu, device, start, end = r.execution.stdout_tail.split()
        assert device == "cuda" and r.execution.device == f"cuda:{gpu}"
        spans.setdefault(gpu, []).append((float(start), float(end)))
    assert set(spans) <= {"0", "1"}
    for intervals in spans.values():
        intervals.sort()
        for (_, end), (start, _) in zip(intervals, intervals[1:], strict=False):
            assert start >= end, "two samples shared a GPU"


def test_per_gpu_shares_a_gpu_between_that_many_samples(path_task) -> None:
    runner = LocalExecutor(jobs=4, device="cuda", gpus=("0",), per_gpu=2)
    assert runner.slots() == ["0", "0"]  # capped by the one GPU x 2, not by --jobs 4
    assert LocalExecutor(jobs=3, device="cuda", gpus=("0", "1"), per_gpu=2).slots() == ["0", "1", "0"]
    results = list(runner(_jobs(path_task, 4, {"train.py": TIMED})))
    assert {r.status for r in results} == {"passed"}, [r.execution.stderr_tail for r in results]
    spans = sorted((float(start), float(end)) for start, end in
                   (r.execution.stdout_tail.split()[2:] for r in results))
    assert all(r.execution.device == "cuda:0" for r in results)
    # two at a time on GPU 0: some samples overlap, never three at once
    overlaps = [max(0.0, min(a[1], b[1]) - max(a[0], b[0])) for a, b in zip(spans, spans[1:], strict=False)]
    assert any(o > 0.2 for o in overlaps), spans
    assert all(spans[i + 2][0] >= min(spans[i][1], spans[i + 1][1]) - 0.05 for i in range(len(spans) - 2)), spans
    with pytest.raises(ConfigError, match="per-gpu"):
        make_runner("local", jobs=2, device="cpu", per_gpu=0)


def test_detect_gpus_honours_cuda_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert detect_gpus() == ["2", "3"]
    assert resolve_device("auto") == ("cuda", ["2", "3"])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert detect_gpus() == []
    assert resolve_device("auto") == ("cpu", [])
    with pytest.raises(ConfigError, match="no GPU"):
        resolve_device("cuda")
    with pytest.raises(ConfigError):
        resolve_device("tpu")


def test_make_runner_validates() -> None:
    with pytest.raises(ConfigError):
        make_runner("local", jobs=0)
    with pytest.raises(ConfigError):
        make_runner("dask")
    assert isinstance(make_runner("ray", 2, "cpu"), RayExecutor)


def test_ray_executor(path_task, checker_module: str) -> None:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.environ["PYTHONPATH"]}})
    try:
        files = reference_files(path_task)
        results = list(RayExecutor(jobs=2)(_jobs(path_task, 2, files) + _jobs(path_task, 1, {})[:1]))
    finally:
        ray.shutdown()
    assert sorted(r.sample_index for r in results) == [0, 0, 1]
    assert sorted(r.status for r in results) == ["failed", "passed", "passed"]
