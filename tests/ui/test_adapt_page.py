"""The Adapt page through its HTTP API: the run is the CLI's, saved configs rerun it, bad input is one line."""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import pytest

from opsgraft.commands.config_file import from_file
from tests.adapters.test_adapt_cli import ADAPTED, ANSWER
from tests.conftest import make_cassette, run_cli


@pytest.fixture
def page(sklearn_script: Path):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from opsgraft.ui.app import create_app

    root = sklearn_script.parent
    make_cassette(root / "c.jsonl", sklearn_script, "tracking:mlflow", [ANSWER])
    app = create_app(root)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client, app.state.ui


FORM = {"script": "train.py", "change": "tracking:mlflow", "mode": "zero-shot", "backend": "replay",
        "cassette": "c.jsonl", "n": "1", "temperature": "0.2", "repair": "0"}


def _job(client, state, form):  # type: ignore[no-untyped-def]
    response = client.post("/adapt/run", data=form)
    assert response.status_code == 200, response.text
    job_id = re.search(r'data-job-id="([^"]+)"', response.text).group(1)
    assert state.jobs.wait(job_id, 180) == "done", state.jobs.get(job_id)
    return job_id, response.text


def test_form_lists_scripts_and_registered_changes(page) -> None:  # type: ignore[no-untyped-def]
    client, _ = page
    form_html = client.get("/adapt").text
    assert '<option value="train.py"' in form_html
    assert '<option value="tracking:mlflow"' in form_html and '<option value="wandb-&gt;mlflow"' in form_html
    assert '<option value="replay"' in form_html and 'name="repair"' in form_html


def test_run_streams_verdicts_and_shows_the_diff(page, sklearn_script: Path) -> None:  # type: ignore[no-untyped-def]
    client, state = page
    job_id, started = _job(client, state, {**FORM, "run": "on"})
    assert "opsgraft adapt --config" in started
    job = state.jobs.get(job_id)
    messages = [e.get("message", "") for e in job["events"]]
    assert "round 0: generating 1 sample(s)" in messages
    assert "round 0, sample 1: running in the sandbox" in messages
    verdicts = [e for e in job["events"] if e.get("type") == "verdict"]
    assert [(v["verdict"], v["why"]) for v in verdicts] == [("passed", "")]
    page_html = client.get(f"/adapt/result/{job_id}").text
    assert 'id="adapt-verdict">passed<' in page_html and "mlflow-tracking" in page_html
    added = re.findall(r'<span class="diff-line add">(.*?)</span>(?=<span class="diff-line|</pre>)', page_html)
    diff = (sklearn_script.parent / "train_tracking_mlflow.diff").read_text().splitlines()
    plus = [x for x in diff if x.startswith("+") and not x.startswith("+++")]
    minus = [x for x in diff if x.startswith("-") and not x.startswith("---")]
    assert len(added) == len(plus) and page_html.count('class="diff-line del"') == len(minus) > 0
    assert f'data-added="{len(plus)}" data-removed="{len(minus)}"' in page_html
    assert any('<span class="kn">import</span><span class="w"> </span><span class="nn">mlflow' in x for x in added)
    assert (sklearn_script.parent / "train_tracking_mlflow.py").read_text() == ADAPTED
    record = client.get("/runs/files/train_tracking_mlflow.opsgraft.json")
    assert record.status_code == 200 and record.json()["status"] == "passed"


def test_the_page_run_is_the_command_line_run(page, sklearn_script: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client, state = page
    job_id, started = _job(client, state, FORM)
    config = Path(re.search(r"--config (\S+)</code>", started).group(1))
    assert config.is_file() and config.is_relative_to(sklearn_script.parent / ".opsgraft" / "ui-adapt")
    page_record = json.loads((sklearn_script.parent / "train_tracking_mlflow.opsgraft.json").read_text())
    code, _, err = run_cli(["adapt", "--config", str(config), "--out-dir", str(tmp_path / "cli")])
    assert code == 0, err
    cli_record = json.loads((tmp_path / "cli" / "train_tracking_mlflow.opsgraft.json").read_text())
    for key in ("adapter", "mode", "model", "options", "status", "input_source", "task"):
        assert page_record[key] == cli_record[key], key
    assert page_record["attempts"] == cli_record["attempts"]


def test_save_writes_a_config_file_never_over_another(page, sklearn_script: Path) -> None:  # type: ignore[no-untyped-def]
    client, _ = page
    root = sklearn_script.parent
    first = client.post("/adapt/save", data=FORM)
    second = client.post("/adapt/save", data={**FORM, "n": "2"})
    assert first.status_code == second.status_code == 200, first.text
    assert (root / "adapt-train.toml").is_file() and (root / "adapt-train_2.toml").is_file()
    assert "opsgraft adapt --config adapt-train_2.toml" in second.text
    choices = from_file(root / "adapt-train.toml", "adapt")
    assert (choices.script, choices.cassette, choices.n, choices.run) == ("train.py", "c.jsonl", 1, False)
    assert from_file(root / "adapt-train_2.toml", "adapt").n == 2
    # The saved file, copied with its inputs elsewhere, runs on its own.
    other = root.parent / "elsewhere"
    other.mkdir()
    for name in ("train.py", "c.jsonl", "adapt-train.toml"):
        shutil.copy(root / name, other / name)
    code, _, err = run_cli(["adapt", "--config", str(other / "adapt-train.toml")])
    assert code == 0, err
    assert (other / "train_tracking_mlflow.py").read_text() == ADAPTED
    # The form prefilled from it.
    form_html = client.get("/adapt", params={"config": "adapt-train_2.toml"}).text
    assert 'id="n" name="n" min="1" max="20" value="2"' in form_html


@pytest.mark.parametrize(("change", "expected"), [
    ({"script": "../outside.py"}, "path outside the root"),
    ({"script": "missing.py"}, "no such file under the root: missing.py"),
    ({"n": "50"}, "n: 50 is not in the range 1<=x<=20"),
    ({"n": "three"}, "n: Input should be a valid integer"),
    ({"backend": "nope"}, "backend: 'nope' is not one of"),
    ({"cassette": "/etc/passwd"}, "path outside the root"),
])
def test_bad_form_is_a_one_line_error_and_queues_nothing(page, change, expected) -> None:  # type: ignore[no-untyped-def]
    client, state = page
    response = client.post("/adapt/run", data={**FORM, **change})
    assert response.status_code == 400
    text = html.unescape(response.text)
    assert text.startswith('<div class="error"') and expected in text and "\n" not in text.strip(), text
    assert state.jobs.list() == []
    assert not list((state.root / ".opsgraft").rglob("*.toml"))  # a refused form leaves no config behind
    saved = client.post("/adapt/save", data={**FORM, **change})
    assert saved.status_code == 400 and expected in html.unescape(saved.text)
    assert not list(state.root.glob("*.toml"))


def test_a_cancelled_job_stops_before_writing(sklearn_script: Path) -> None:
    import threading

    from opsgraft.commands.config_file import parse_choices, to_file
    from opsgraft.ui.adapt_job import run_config
    from opsgraft.ui.jobs import JobCancelled

    root = sklearn_script.parent
    make_cassette(root / "c.jsonl", sklearn_script, "tracking:mlflow", [ANSWER])
    config = root / "a.toml"
    config.write_text(to_file(parse_choices({"script": "train.py", "add": "tracking:mlflow", "backend": "replay",
                                             "cassette": "c.jsonl", "n": 1}, "adapt")))
    cancel, events = threading.Event(), []

    def emit(event):  # type: ignore[no-untyped-def]
        events.append(event)
        cancel.set()  # the user presses Cancel as soon as the job starts

    with pytest.raises(JobCancelled):
        run_config(config, "adapt", emit, cancel)
    assert [e["type"] for e in events] == ["start"]
    assert not (root / "train_tracking_mlflow.py").exists()
    from opsgraft.commands._common import event_listener

    assert event_listener.get() is None  # the command run after it is not heard by this job


def test_a_translation_is_saved_for_opsgraft_translate(page, sklearn_script: Path) -> None:  # type: ignore[no-untyped-def]
    client, _ = page
    response = client.post("/adapt/save", data={**FORM, "change": "wandb->mlflow", "strategy": "none",
                                                 "save_name": "to-mlflow"})
    assert response.status_code == 200, response.text
    assert "opsgraft translate --config to-mlflow.toml" in response.text
    choices = from_file(sklearn_script.parent / "to-mlflow.toml", "translate")
    assert (choices.source, choices.target, choices.strategy) == ("wandb", "mlflow", "none")
    assert "add" not in (sklearn_script.parent / "to-mlflow.toml").read_text()
