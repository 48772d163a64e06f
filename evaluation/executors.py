"""Where judge() runs: in this process, in a local process pool, or as Ray tasks; and GPU routing.

With ``device="cuda"`` and G GPUs, at most ``per_gpu`` samples (default 1) run per GPU at a time,
each with its own ``CUDA_VISIBLE_DEVICES``, and at most ``jobs`` in all. Results are yielded in
completion order.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import dataclass

from opsgraft.errors import ConfigError
from opsgraft.evaluation.evaluator import Job, Runner, judge
from opsgraft.evaluation.isolation import resolve as resolve_isolation
from opsgraft.evaluation.sandbox import DEFAULT_MEMORY_LIMIT
from opsgraft.types import SampleResult

log = logging.getLogger(__name__)

EXECUTORS = ("local", "ray")
DEVICES = ("auto", "cpu", "cuda")
# Workers are recycled now and then: checkers open a store per sample (SQLAlchemy engines...).
MAX_TASKS_PER_WORKER = 50


def detect_gpus() -> list[str]:
    """GPU ids this process may use: ``CUDA_VISIBLE_DEVICES`` if set, else ``nvidia-smi -L``, else torch."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g.strip() for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
            gpus = [str(i) for i, line in enumerate(ln for ln in out.splitlines() if ln.startswith("GPU "))]
            if gpus:
                return gpus
        except (OSError, subprocess.SubprocessError):
            pass
    import sys

    torch = sys.modules.get("torch")  # only ask torch if someone imported it already: it is slow
    if torch is not None and torch.cuda.is_available():
        return [str(i) for i in range(torch.cuda.device_count())]
    return []


def resolve_device(device: str) -> tuple[str, list[str]]:
    """``auto|cpu|cuda`` -> (device, GPU ids); ``cuda`` without a GPU is a ConfigError."""
    if device not in DEVICES:
        raise ConfigError(f"unknown device {device!r} (valid: {', '.join(DEVICES)})")
    if device == "cpu":
        return "cpu", []
    gpus = detect_gpus()
    if device == "cuda" and not gpus:
        raise ConfigError("--device cuda, but no GPU is visible (nvidia-smi -L finds none)")
    return ("cuda", gpus) if gpus else ("cpu", [])


@dataclass(frozen=True)
class LocalExecutor:
    """Judges in this process when one at a time, else in a pool of ``jobs`` worker processes.

    Workers are processes, not threads, so checkers may use module-level state (mlflow's
    tracking URI, for one) without racing each other, and are recycled every
    :data:`MAX_TASKS_PER_WORKER` samples. They are started with "spawn": as with any
    multiprocessing code, a script that calls this must do so under ``if __name__ == "__main__":``.
    """

    jobs: int = 1
    device: str = "cpu"
    gpus: tuple[str, ...] = ()
    timeout_s: float | None = None
    keep_workdir: bool = False
    per_gpu: int = 1  # samples sharing one GPU at a time (small models leave an H200 idle)
    isolation: str = "none"  # none|bwrap (resolved by make_runner)
    memory_limit: int | None = DEFAULT_MEMORY_LIMIT  # bytes per sample, None for none
    pass_env: tuple[str, ...] = ()  # parent variables passed to every sample (--pass-env)
    preserved: bool = False  # also compare each sample with the original's cached run

    def slots(self) -> list[str | None]:
        """One entry per sample run at once: its GPU (round-robin over the GPUs), or None on cpu."""
        if self.device != "cuda":
            return [None] * self.jobs
        spread: list[str | None] = [gpu for _ in range(max(1, self.per_gpu)) for gpu in self.gpus]
        return spread[: self.jobs]

    def __call__(self, todo: Sequence[Job]) -> Iterator[SampleResult]:
        if not todo:
            return
        slots = self.slots()
        if len(slots) == 1:
            for job in todo:
                yield self._judge(job, slots[0])
            return
        cores_each = max(1, (os.cpu_count() or 1) // len(slots))  # side by side samples share the cores
        free: queue.Queue[str | None] = queue.Queue()
        for slot in slots:
            free.put(slot)
        # "spawn": forking a parent that runs threads can deadlock the child.
        ctx = multiprocessing.get_context("spawn")
        procs = ProcessPoolExecutor(len(slots), mp_context=ctx, max_tasks_per_child=MAX_TASKS_PER_WORKER)
        with procs, ThreadPoolExecutor(len(slots)) as waiters:

            def run(job: Job) -> SampleResult:
                slot = free.get()  # per_gpu samples per GPU (or one per worker) at a time
                try:
                    return procs.submit(
                        judge, job.task, job.candidate, device=self.device, cuda_devices=slot,
                        timeout_s=self.timeout_s, keep_workdir=self.keep_workdir, threads=cores_each,
                        isolation=self.isolation, memory_limit=self.memory_limit, pass_env=self.pass_env,
                        preserved=self.preserved,
                    ).result()
                finally:
                    free.put(slot)

            yield from _as_completed([waiters.submit(run, job) for job in todo])

    def _judge(self, job: Job, slot: str | None) -> SampleResult:
        return judge(
            job.task, job.candidate, device=self.device, cuda_devices=slot,
            timeout_s=self.timeout_s, keep_workdir=self.keep_workdir, isolation=self.isolation,
            memory_limit=self.memory_limit, pass_env=self.pass_env, preserved=self.preserved,
        )


def _as_completed(futures: list[Future[SampleResult]]) -> Iterator[SampleResult]:
    pending = set(futures)
    try:
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield fut.result()
    finally:
        for fut in pending:  # the consumer stopped or a job raised: drop what has not started
            fut.cancel()


def _ray_judge(job: Job, device: str, timeout_s: float | None, keep_workdir: bool,
               isolation: str = "none", memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
               pass_env: tuple[str, ...] = (), preserved: bool = False) -> SampleResult:
    """judge() inside a Ray worker, on the GPU Ray assigned to the task."""
    import ray

    gpu_ids = ray.get_gpu_ids() if device == "cuda" else []
    cuda = ",".join(str(int(g)) if isinstance(g, float) else str(g) for g in gpu_ids) or None
    return judge(job.task, job.candidate, device=device, cuda_devices=cuda, timeout_s=timeout_s,
                 keep_workdir=keep_workdir, isolation=isolation, memory_limit=memory_limit, pass_env=pass_env,
                 preserved=preserved)


@dataclass(frozen=True)
class RayExecutor:
    """Each judge() is a Ray task (one CPU, and one GPU with cuda); joins ``RAY_ADDRESS`` or starts Ray."""

    jobs: int = 1
    device: str = "cpu"
    timeout_s: float | None = None
    keep_workdir: bool = False
    per_gpu: int = 1
    isolation: str = "none"  # each Ray worker's machine must have bwrap for "bwrap"
    memory_limit: int | None = DEFAULT_MEMORY_LIMIT
    pass_env: tuple[str, ...] = ()
    preserved: bool = False

    def __call__(self, todo: Sequence[Job]) -> Iterator[SampleResult]:
        if not todo:
            return
        try:
            import ray
        except ImportError:
            raise ConfigError("--executor ray needs ray: pip install 'opsgraft[ray]'") from None
        if not ray.is_initialized():
            ray.init(address=os.environ.get("RAY_ADDRESS"), num_cpus=None if os.environ.get("RAY_ADDRESS") else self.jobs,
                     include_dashboard=False, log_to_driver=False)
        gpu_share = 1 / max(1, self.per_gpu) if self.device == "cuda" else 0
        remote = ray.remote(num_cpus=1, num_gpus=gpu_share)(_ray_judge)
        pending = [remote.remote(job, self.device, self.timeout_s, self.keep_workdir, self.isolation,
                                 self.memory_limit, self.pass_env, self.preserved) for job in todo]
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                yield ray.get(done[0])
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)


def make_runner(executor: str = "local", jobs: int = 1, device: str = "auto", timeout_s: float | None = None,
                keep_workdir: bool = False, per_gpu: int = 1, isolation: str = "none",
                memory_limit: int | None = DEFAULT_MEMORY_LIMIT, pass_env: Sequence[str] = (),
                preserved: bool = False) -> Runner:
    """The runner for ``--executor/--jobs/--device/--timeout/--per-gpu/--isolation/--memory-limit/--pass-env``.

    ``preserved`` also compares each sample with the original's run (:mod:`opsgraft.evaluation.preserved`).
    """
    if jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {jobs}")
    if per_gpu < 1:
        raise ConfigError(f"--per-gpu must be >= 1, got {per_gpu}")
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r} (valid: {', '.join(EXECUTORS)})")
    resolved, gpus = resolve_device(device)
    isolated = resolve_isolation(isolation)  # once here: bwrap asked for but broken is one clear error
    if executor == "ray":
        return RayExecutor(jobs, resolved, timeout_s, keep_workdir, per_gpu, isolated, memory_limit, tuple(pass_env),
                           preserved)
    return LocalExecutor(jobs, resolved, tuple(gpus), timeout_s, keep_workdir, per_gpu, isolated, memory_limit,
                         tuple(pass_env), preserved)
