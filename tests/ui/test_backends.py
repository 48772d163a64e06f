"""opsgraft/ui/backends.py: the server holds one LLM backend per model spec, shared by its jobs and its report."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from opsgraft.commands._common import backend_pool, event_listener, make_backend
from opsgraft.llm.scripted import ScriptedBackend
from opsgraft.ui.backends import BackendPool, SharedBackend
from tests.adapters.test_adapt_cli import ANSWER
from tests.conftest import make_cassette

FORM = {"script": "train.py", "change": "tracking:mlflow", "mode": "zero-shot", "backend": "replay",
        "cassette": "c.jsonl", "n": "1", "temperature": "0.2", "repair": "0", "run": "on"}


@pytest.fixture
def counted_replays(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every ReplayBackend built from now on (make_backend imports the class when it is called)."""
    import opsgraft.llm.replay as replay

    built: list[Any] = []

    class CountingReplay(replay.ReplayBackend):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            built.append(self)

    monkeypatch.setattr(replay, "ReplayBackend", CountingReplay)
    return built


def _run_job(client: Any, state: Any, form: dict[str, str]) -> str:
    response = client.post("/adapt/run", data=form)
    assert response.status_code == 200, response.text
    job_id = re.search(r'data-job-id="([^"]+)"', response.text).group(1)  # type: ignore[union-attr]
    assert state.jobs.wait(job_id, 180) == "done", state.jobs.get(job_id)
    return job_id


def test_adapt_jobs_and_the_report_share_the_servers_backend(sklearn_script: Path, counted_replays: list[Any]) -> None:
    from fastapi.testclient import TestClient

    from opsgraft.ui.app import create_app

    root = sklearn_script.parent
    cassette = make_cassette(root / "c.jsonl", sklearn_script, "tracking:mlflow", [ANSWER])
    # What `opsgraft ui --backend replay --cassette c.jsonl` passes: the report's backend factory.
    app = create_app(root, backend_factory=lambda: make_backend("replay", None, None, "OPENAI_API_KEY", cassette,
                                                                None, False, None))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        state = app.state.ui
        first = _run_job(client, state, FORM)
        second = _run_job(client, state, {**FORM, "out_dir": "again"})
        report_backend = state.backend()
        verdicts = [e["verdict"] for j in (first, second) for e in state.jobs.get(j)["events"] if "verdict" in e]
    assert verdicts == ["passed", "passed"]
    assert len(counted_replays) == 1  # one cassette read for two jobs and the report
    assert isinstance(report_backend, SharedBackend) and report_backend.inner is counted_replays[0]
    assert counted_replays[0].replayed == 2  # both jobs were answered by that backend
    assert len(state.models) == 1


def test_another_model_spec_gets_its_own_backend(sklearn_script: Path, counted_replays: list[Any]) -> None:
    from fastapi.testclient import TestClient

    from opsgraft.ui.app import create_app

    root = sklearn_script.parent
    make_cassette(root / "c.jsonl", sklearn_script, "tracking:mlflow", [ANSWER])
    make_cassette(root / "d.jsonl", sklearn_script, "tracking:mlflow", [ANSWER])
    app = create_app(root)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        state = app.state.ui
        no_run = {k: v for k, v in FORM.items() if k != "run"}  # the sandbox adds nothing to what is tested here
        for cassette, out in (("c.jsonl", "one"), ("d.jsonl", "two"), ("c.jsonl", "three")):
            _run_job(client, state, {**no_run, "cassette": cassette, "out_dir": out})
    assert sorted(b.cassette.name for b in counted_replays) == ["c.jsonl", "d.jsonl"]
    assert len(state.models) == 2


def test_the_local_model_is_loaded_once_per_spec(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import opsgraft.llm

    loads: list[tuple[str, Any]] = []
    progress: list[Any] = []

    def load(name: str, **kw: Any) -> ScriptedBackend:  # stands in for loading the GGUF model
        loads.append((name, kw.get("model_file")))
        progress.append(kw["progress"])
        return ScriptedBackend(["x"], model="local-stand-in")

    monkeypatch.setattr(opsgraft.llm, "get_backend", load)
    pool = BackendPool()
    with pool.active():
        cached = make_backend("local", None, None, "OPENAI_API_KEY", None, None, False, None)
        recording = make_backend("local", None, None, "OPENAI_API_KEY", None, tmp_path / "rec.jsonl", True, None)
        other = make_backend("local", "0.5b", None, "OPENAI_API_KEY", None, None, True, None)
    assert loads == [("local", None), ("local", "0.5b")]
    # Each run keeps its own wrappers (cache, recorder) around the one loaded model.
    assert cached.inner is recording.inner and isinstance(cached.inner, SharedBackend)  # type: ignore[attr-defined]
    assert isinstance(other, SharedBackend) and other is not cached.inner  # type: ignore[attr-defined]
    assert backend_pool.get() is None
    make_backend("local", None, None, "OPENAI_API_KEY", None, None, True, None)  # no pool: a fresh load
    assert len(loads) == 3
    # The shared model's token counts reach whichever run is being served.
    heard: list[tuple[str, dict[str, Any]]] = []
    token = event_listener.set(lambda kind, data: heard.append((kind, data)))
    try:
        progress[0](0, 12, 2.0)
    finally:
        event_listener.reset(token)
    assert heard == [("tokens", {"sample": 0, "tokens": 12, "seconds": 2.0})]


def test_a_spec_is_built_once_when_threads_ask_together() -> None:
    pool, builds = BackendPool(), []

    def build() -> ScriptedBackend:
        builds.append(1)
        time.sleep(0.05)  # a model load: the others must wait for it, not start their own
        return ScriptedBackend(["x"])

    got: list[Any] = []
    threads = [threading.Thread(target=lambda: got.append(pool(("local", None), build))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1 and len(got) == 6 and all(g is got[0] for g in got)


def test_shared_calls_are_serialized() -> None:
    inside, overlaps = [0], []

    class Slow(ScriptedBackend):
        def generate(self, *args: Any, **kwargs: Any) -> Any:
            inside[0] += 1
            overlaps.append(inside[0])
            time.sleep(0.02)
            inside[0] -= 1
            return super().generate(*args, **kwargs)

    from opsgraft.types import Message

    shared = SharedBackend(Slow(["a"] * 4))
    threads = [threading.Thread(target=shared.generate, args=([Message("user", "hi")],)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == [1, 1, 1, 1] and shared.model == "scripted"
