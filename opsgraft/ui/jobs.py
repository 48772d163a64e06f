"""One worker thread runs the page's jobs in order: a second run waits, never shares the 2 cores.

A job is a function ``fn(emit, cancel)``: ``emit(dict)`` appends an event that the page streams
(server-sent events, ``/jobs/{id}/events``), and ``cancel`` is a :class:`threading.Event` the
function should check between steps. Cancelling a running job also kills, until the function
returns, every sandbox process this server started (the ``OPSGRAFT_SANDBOX_ROOT`` processes below
it, with their process groups and orphans: :func:`opsgraft.evaluation.procs.kill_tree`), so a
training run in progress stops at once and the next one the function starts dies too.
"""

from __future__ import annotations

import builtins
import logging
import os
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

log = logging.getLogger(__name__)

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]
Emit = Callable[[dict[str, Any]], None]
JobFn = Callable[[Emit, threading.Event], Any]
FINISHED: frozenset[str] = frozenset({"done", "failed", "cancelled"})
KILL_PERIOD_S = 0.2
_MARKER = b"OPSGRAFT_SANDBOX_ROOT="


class JobCancelled(Exception):  # noqa: N818  (a signal, not an error: raise it to stop a job early)
    """Raised by a job function that saw its cancel event; the job ends as ``cancelled``."""


@dataclass
class Job:
    """One queued or finished job; read it through :meth:`JobQueue.get` (a snapshot)."""

    id: str
    kind: str
    title: str
    fn: JobFn | None
    status: JobStatus = "queued"
    events: list[dict[str, Any]] = field(default_factory=list)
    result: Any = None
    error: str = ""
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    def snapshot(self) -> dict[str, Any]:
        """A plain dict copy: id, kind, title, status, events, result, error and times."""
        return {
            "id": self.id, "kind": self.kind, "title": self.title, "status": self.status,
            "events": list(self.events), "result": self.result, "error": self.error,
            "created": self.created, "started": self.started, "finished": self.finished,
        }


def sandbox_processes(parent: int | None = None) -> list[int]:
    """The processes below ``parent`` (default: this one) that carry the sandbox marker."""
    from opsgraft.evaluation import procs

    found = []
    for pid in procs.descendants(parent or os.getpid()):
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                env = fh.read()
        except OSError:
            continue
        if env.startswith(_MARKER) or b"\0" + _MARKER in env:
            found.append(pid)
    return found


def kill_sandboxes() -> int:
    """SIGKILL every sandbox process tree this process started; returns how many trees were hit."""
    from opsgraft.evaluation import procs

    pids = sandbox_processes()
    for pid in pids:
        try:
            procs.kill_tree(pid)
        except ValueError:
            continue
    return len(pids)


class JobQueue:
    """Jobs run one at a time, in submission order, on one daemon worker thread."""

    def __init__(self, *, kill: Callable[[], int] = kill_sandboxes) -> None:
        self._jobs: dict[str, Job] = {}
        self._order: list[str] = []
        self._cond = threading.Condition()
        self._kill = kill
        self._stopped = False
        self._worker = threading.Thread(target=self._run, name="opsgraft-ui-jobs", daemon=True)
        self._worker.start()

    def submit(self, kind: str, title: str, fn: JobFn) -> str:
        """Queue ``fn``; returns the job id at once."""
        job = Job(id=uuid.uuid4().hex[:12], kind=kind, title=title, fn=fn)
        with self._cond:
            self._jobs[job.id] = job
            self._order.append(job.id)
            job.events.append(_stamp({"type": "status", "status": "queued", "message": f"queued: {title}"}, 0))
            self._cond.notify_all()
        return job.id

    def get(self, job_id: str) -> dict[str, Any] | None:
        """A snapshot of the job (see :meth:`Job.snapshot`), or None for an unknown id."""
        with self._cond:
            job = self._jobs.get(job_id)
            return job.snapshot() if job else None

    def list(self) -> list[dict[str, Any]]:
        """Snapshots of every job, newest first."""
        with self._cond:
            return [self._jobs[i].snapshot() for i in reversed(self._order)]

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued job, or stop a running one (its sandbox processes are killed); False if finished/unknown."""
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None or job.status in FINISHED:
                return False
            job.cancel.set()
            if job.status == "queued":
                self._finish(job, "cancelled")
            self._cond.notify_all()
            return True

    def events_since(self, job_id: str, index: int, timeout: float) -> tuple[builtins.list[dict[str, Any]], str]:
        """Events from ``index`` on, waiting up to ``timeout`` s for one; with the job's status."""
        deadline = time.monotonic() + timeout
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None:
                return [], "unknown"
            while len(job.events) <= index and job.status not in FINISHED:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return list(job.events[index:]), job.status

    def wait(self, job_id: str, timeout: float | None = None) -> str:
        """Block until the job is finished (or ``timeout``); returns its status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            job = self._jobs[job_id]
            while job.status not in FINISHED:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._cond.wait(left)
            return job.status

    def shutdown(self) -> None:
        """Cancel everything and stop the worker (tests, server exit)."""
        with self._cond:
            self._stopped = True
            ids = list(self._order)
        for job_id in ids:
            self.cancel(job_id)
        with self._cond:
            self._cond.notify_all()

    # --- worker -------------------------------------------------------------------------------

    def _emit(self, job: Job, event: dict[str, Any]) -> None:
        with self._cond:
            job.events.append(_stamp(dict(event), len(job.events)))
            self._cond.notify_all()

    def _finish(self, job: Job, status: JobStatus, error: str = "") -> None:
        job.status, job.error, job.finished = status, error, time.time()
        message = {"done": "done", "failed": f"failed: {error}", "cancelled": "cancelled"}.get(status, status)
        job.events.append(_stamp({"type": "status", "status": status, "message": message}, len(job.events)))
        job.fn = None

    def _next(self) -> Job | None:
        with self._cond:
            while not self._stopped:
                for job_id in self._order:
                    job = self._jobs[job_id]
                    if job.status == "queued":
                        job.status, job.started = "running", time.time()
                        job.events.append(_stamp({"type": "status", "status": "running",
                                                  "message": f"running: {job.title}"}, len(job.events)))
                        self._cond.notify_all()
                        return job
                self._cond.wait()
            return None

    def _run(self) -> None:
        while True:
            job = self._next()
            if job is None:
                return
            done = threading.Event()
            killer = threading.Thread(target=self._kill_while_cancelled, args=(job, done), daemon=True)
            killer.start()
            status: JobStatus = "done"
            error = ""
            result: Any = None
            try:
                assert job.fn is not None
                result = job.fn(lambda event, job=job: self._emit(job, event), job.cancel)  # type: ignore[misc]
            except JobCancelled:
                status = "cancelled"
            except Exception as exc:  # noqa: BLE001  (a failed job is data for the page)
                status, error = "failed", " ".join(str(exc).split()) or type(exc).__name__
                log.debug("job %s failed:\n%s", job.id, traceback.format_exc())
            finally:
                done.set()
                killer.join()
            if job.cancel.is_set() and status != "failed":
                status = "cancelled"
            with self._cond:
                job.result = result
                self._finish(job, status, error)
                self._cond.notify_all()

    def _kill_while_cancelled(self, job: Job, done: threading.Event) -> None:
        """Once ``job`` is cancelled, kill its sandbox processes every :data:`KILL_PERIOD_S` until it returns."""
        while not done.is_set():
            if job.cancel.wait(KILL_PERIOD_S):
                break
        while not done.is_set():
            try:
                self._kill()
            except Exception:  # noqa: BLE001  (a kill that fails must not end the watcher)
                log.exception("killing the sandbox processes of job %s failed", job.id)
            done.wait(KILL_PERIOD_S)


def _stamp(event: dict[str, Any], seq: int) -> dict[str, Any]:
    event.setdefault("type", "log")
    event.setdefault("message", "")
    event["seq"] = seq
    event["t"] = round(time.time(), 3)
    return event
