"""opsgraft/ui/jobs.py: one job at a time, in order; cancel stops a queued job and kills a running sandbox."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from opsgraft.evaluation import procs
from opsgraft.ui.app import create_app
from opsgraft.ui.jobs import JobQueue


@pytest.fixture
def queue():  # type: ignore[no-untyped-def]
    q = JobQueue()
    yield q
    q.shutdown()


def test_jobs_run_one_at_a_time_in_order(queue: JobQueue) -> None:
    running, overlap, order = [0], [], []
    lock = threading.Lock()

    def job(name: str):  # type: ignore[no-untyped-def]
        def fn(emit, cancel):  # type: ignore[no-untyped-def]
            with lock:
                running[0] += 1
                overlap.append(running[0])
            order.append(name)
            emit({"message": f"{name} working"})
            time.sleep(0.1)
            with lock:
                running[0] -= 1
            return name.upper()
        return fn

    ids = [queue.submit("t", name, job(name)) for name in ("a", "b", "c")]
    assert queue.get(ids[2])["status"] in ("queued", "running")
    assert [queue.wait(i, 10) for i in ids] == ["done", "done", "done"]
    assert order == ["a", "b", "c"] and max(overlap) == 1
    snap = queue.get(ids[1])
    assert snap["result"] == "B"
    assert [e["message"] for e in snap["events"]] == ["queued: b", "running: b", "b working", "done"]
    assert [e["seq"] for e in snap["events"]] == [0, 1, 2, 3]


def test_a_failing_job_is_failed_with_its_message(queue: JobQueue) -> None:
    def fn(emit, cancel):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom\nsecond line")

    job_id = queue.submit("t", "bad", fn)
    assert queue.wait(job_id, 10) == "failed"
    assert queue.get(job_id)["error"] == "boom second line"


def test_cancel_a_queued_job_never_runs_it(queue: JobQueue) -> None:
    gate = threading.Event()
    ran = []
    first = queue.submit("t", "blocker", lambda emit, cancel: gate.wait(10))
    second = queue.submit("t", "victim", lambda emit, cancel: ran.append(1))
    assert queue.cancel(second)
    gate.set()
    assert queue.wait(first, 10) == "done" and queue.wait(second, 10) == "cancelled"
    time.sleep(0.2)
    assert ran == [] and not queue.cancel(second)  # finished: nothing to cancel


def test_cancel_kills_the_running_sandbox_process_group(queue: JobQueue, tmp_path: Path) -> None:
    from opsgraft.evaluation.sandbox import run_program

    root = tmp_path / "sample"
    root.mkdir()
    pid_file = tmp_path / "pid"
    program = ("import os, subprocess, sys, time\n"
               "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'], start_new_session=True)\n"
               f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
               "time.sleep(120)\n")
    results = []

    def fn(emit, cancel):  # type: ignore[no-untyped-def]
        run = run_program({"main.py": program}, "main.py", root=root, timeout_s=120, memory_limit=None)
        results.append(run.result)
        return run.result.status

    job_id = queue.submit("t", "sleeper", fn)
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the program never started"
        time.sleep(0.05)
    child = int(pid_file.read_text())
    started = time.monotonic()
    assert queue.cancel(job_id)
    assert queue.wait(job_id, 20) == "cancelled"
    assert time.monotonic() - started < 10
    assert results and results[0].status == "failed"  # killed, not timed out
    assert not procs.alive(child)  # its own session's grandchild is gone too


def test_sse_streams_events_then_end(tmp_path: Path) -> None:
    app = create_app(tmp_path, None)
    client = TestClient(app, base_url="http://127.0.0.1:8765")
    queue = app.state.ui.jobs
    job_id = queue.submit("t", "emitter", lambda emit, cancel: [emit({"message": f"m{i}", "done": i}) for i in range(2)])
    with client.stream("GET", f"/jobs/{job_id}/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        body = "".join(response.iter_text())
    data = [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]
    assert [d.get("message") for d in data[:-1]] == ["queued: emitter", "running: emitter", "m0", "m1", "done"]
    assert "event: end" in body and data[-1] == {"status": "done"}
    assert client.get(f"/jobs/{job_id}").json()["status"] == "done"
    assert client.get("/jobs/nope/events").status_code == 404
    queue.shutdown()
