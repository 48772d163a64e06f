"""Judging for the benchmark: the evaluator's executors behind one thread-safe ``judge(task, candidate)``.

Task workers call it from threads while the model generates for another task, so the sandbox's
verdict never holds up the next generation. ``--jobs`` bounds the samples judged at once: with one,
judging runs in the calling thread (as ``opsgraft evaluate --jobs 1``); with more, in a persistent
pool of spawned worker processes (checkers keep module-level state, e.g. mlflow's tracking URI);
with ``--executor ray``, as Ray tasks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager
from typing import Any

from opsgraft.types import Candidate, SampleResult, Task


class JudgePool:
    """``judge(task, candidate)`` through ``make_runner(executor, jobs, device, isolation=...)``."""

    def __init__(self, executor: str = "local", jobs: int = 1, device: str = "auto", isolation: str = "auto",
                 timeout_s: float | None = None, preserved: bool = False):
        import inspect

        from opsgraft.evaluation.executors import MAX_TASKS_PER_WORKER, LocalExecutor, make_runner

        extra = {"preserved": preserved} if "preserved" in inspect.signature(make_runner).parameters else {}
        self.runner = make_runner(executor, jobs, device, timeout_s, isolation=isolation, **extra)
        # what a verdict may depend on besides the code: a kept judgement is reused only under the same
        self.settings = {"executor": executor, "device": device, "isolation": isolation, "timeout_s": timeout_s,
                         "preserved": preserved}
        self.jobs = jobs
        self._sem = threading.Semaphore(jobs)
        self._procs: ProcessPoolExecutor | None = None
        self._slots: queue.Queue[str | None] = queue.Queue()
        self.calls = 0
        self._count = threading.Lock()
        # While a sample runs on this machine: a context manager from the model that shares the cores
        # (opsgraft/llm/engine.py Engine.lend_core); not for Ray, whose samples run elsewhere.
        self.lender: Callable[[], AbstractContextManager[None]] | None = None
        self._local_runs = isinstance(self.runner, LocalExecutor)
        if self._local_runs and jobs > 1:
            for slot in self.runner.slots():
                self._slots.put(slot)
            ctx = multiprocessing.get_context("spawn")  # forking a threaded parent can deadlock the child
            self._procs = ProcessPoolExecutor(jobs, mp_context=ctx, max_tasks_per_child=MAX_TASKS_PER_WORKER)

    def _kwargs(self) -> dict[str, Any]:
        """The executor's judge() settings (whatever fields this version of it has)."""
        names = {f.name for f in dataclasses.fields(self.runner)}  # type: ignore[arg-type]
        wanted = ("device", "timeout_s", "keep_workdir", "isolation", "memory_limit", "pass_env", "preserved")
        kw = {name: getattr(self.runner, name) for name in wanted if name in names}
        kw["keep_workdir"] = kw.get("keep_workdir", False)
        return kw

    def judge(self, task: Task, candidate: Candidate) -> SampleResult:
        """Judge one sample; blocks while ``jobs`` others are being judged."""
        from opsgraft.evaluation.evaluator import Job, judge

        with self._count:
            self.calls += 1
        lend = self.lender if self.lender is not None and self._local_runs else contextlib.nullcontext
        with self._sem, lend():
            if self._procs is None:
                return next(iter(self.runner([Job(task, candidate)])))
            slot = self._slots.get()
            try:
                threads = max(1, (os.cpu_count() or 1) // self.jobs)
                return self._procs.submit(judge, task, candidate, cuda_devices=slot, threads=threads,
                                          **self._kwargs()).result()
            finally:
                self._slots.put(slot)

    def close(self) -> None:
        """Stop the worker processes (pending work is dropped)."""
        if self._procs is not None:
            self._procs.shutdown(wait=False, cancel_futures=True)
