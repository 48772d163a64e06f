"""The Parameters page through HTTP: refusals on the page, saving configs, a grid tracked in MLflow with a report."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from pathlib import Path

from fastapi.testclient import TestClient

from opsgraft.llm.scripted import ScriptedBackend
from opsgraft.types import Message
from opsgraft.ui.app import create_app


def best_answer(messages: Sequence[Message]) -> str:
    """A report citing the best run's recorded loss (verifiable) and one made-up number."""
    best = re.search(r"Best setting by \w+: run (\d+) \(([^)]*)\): (\w+) ([\d.e-]+)", messages[-1].content)
    assert best, messages[-1].content
    return (f"## Summary\nRun {best.group(1)} ({best.group(2)}) is best: {best.group(3)} {best.group(4)}.\n"
            "## Signs of overfitting\nThe validation loss tracks the training loss: none seen, gap 31.4159.\n")


def client_for(root: Path, answers: list | None = None) -> TestClient:  # type: ignore[type-arg]
    app = create_app(root, None, backend_factory=lambda: ScriptedBackend(answers or [best_answer]))
    return TestClient(app, base_url="http://127.0.0.1:8765")


def test_page_lists_scripts_and_shows_parameters(served: Path) -> None:
    client = client_for(served)
    page = client.get("/params")
    assert page.status_code == 200 and "scripts/tiny_fit.py" in page.text and 'href="/params"' in page.text
    form = client.get("/params/form", params={"script": "scripts/tiny_fit.py"})
    assert form.status_code == 200
    rows = re.findall(r'<tr data-param="(\w+)">\s*<td><code>\w+</code></td><td>(\w+)</td><td><code>([^<]*)</code>',
                      form.text)
    assert rows == [("lr", "float", "0.1"), ("epochs", "int", "3"), ("label", "str", '"tiny"')]


def test_refusals_are_shown_with_their_reason(served: Path) -> None:
    client = client_for(served)
    cases = {
        ("scripts/tiny_fit.py", "p:epochs", "3, three"): "epochs: &#39;three&#39; is not an int",
        ("scripts/tiny_fit.py", "p:lr", ",,"): "lr: empty grid",
        ("plain.py", "p:lr", "1"): "script has no config",
        ("../etc/passwd", "p:lr", "1"): "path outside the root",
    }
    for (script, field, value), reason in cases.items():
        for action in ("run", "save"):
            response = client.post(f"/params/{action}", data={"script": script, field: value})
            assert response.status_code == 422 and 'role="alert"' in response.text and reason in response.text
    assert client.get("/params/form", params={"script": "plain.py"}).status_code == 422
    assert client.app.state.ui.jobs.list() == []  # nothing was queued


def test_save_config_writes_json_and_keeps_an_existing_file(served: Path) -> None:
    client = client_for(served)
    data = {"script": "scripts/tiny_fit.py", "p:lr": "0.5", "target": "scripts/tiny.json"}
    first = client.post("/params/save", data=data)
    second = client.post("/params/save", data=data)
    assert "Saved <code>scripts/tiny.json</code>" in first.text
    assert "Saved <code>scripts/tiny_2.json</code>" in second.text and "exists" in second.text
    assert json.loads((served / "scripts/tiny.json").read_text()) == {"lr": 0.5, "epochs": 3, "label": "tiny"}
    grid = client.post("/params/save", data={**data, "p:epochs": "1,2"})
    assert grid.status_code == 422 and "grid of 2 points is not one config" in grid.text


def test_grid_runs_are_tracked_in_mlflow_and_reported(served: Path) -> None:
    client = client_for(served)
    panel = client.post("/params/run", data={"script": "scripts/tiny_fit.py", "p:lr": "0.1, 0.5", "p:epochs": "2,3"})
    job_id = re.search(r'data-job-id="(\w+)"', panel.text).group(1)  # type: ignore[union-attr]
    queue = client.app.state.ui.jobs
    assert queue.wait(job_id, 180) == "done", queue.get(job_id)
    result = client.get(f"/params/result/{job_id}").text
    assert len(re.findall(r'<tr class="run-row">', result)) == 4

    from mlflow.tracking import MlflowClient

    store = MlflowClient(f"sqlite:///{served.resolve() / '.opsgraft' / 'mlflow.db'}")
    experiment = store.get_experiment_by_name("opsgraft-ui/scripts/tiny_fit.py")
    runs = store.search_runs([experiment.experiment_id])
    chosen = sorted((r.data.params["lr"], r.data.params["epochs"]) for r in runs)
    assert chosen == [("0.1", "2"), ("0.1", "3"), ("0.5", "2"), ("0.5", "3")]
    for run in runs:
        assert run.data.params["label"] == "tiny" and run.info.status == "FINISHED"
        assert run.data.tags["opsgraft.script"] == "scripts/tiny_fit.py"
        history = store.get_metric_history(run.info.run_id, "loss")
        # tiny_fit prints "epoch 1 loss: ...": the printed epoch is the step, and no metric
        assert sorted(m.step for m in history) == list(range(1, int(run.data.params["epochs"]) + 1))
        assert "epoch" not in run.data.metrics
        assert "loss:" in Path(store.download_artifacts(run.info.run_id, "stdout.txt")).read_text()

    report = re.search(r'<article class="report" id="report">(.*?)</article>', result, re.S).group(1)  # type: ignore[union-attr]
    assert "31.4159 <strong class=\"unverified\">(unverified)</strong>" in report
    best = re.search(r"val_loss ([\d.]+)\.", report).group(1)  # type: ignore[union-attr]
    assert f"{best} <strong" not in report  # the recorded number is not marked
    grid_dir = next((served / ".opsgraft" / "ui-runs").iterdir())
    expected = {"report.md", "results.json", "val_loss_vs_lr.png", "val_loss_vs_epochs.png", "curve_loss.png"}
    assert expected <= {p.name for p in grid_dir.iterdir()}
    plots = re.findall(r'<img src="(/params/files/[^"]+\.png)"', result)
    assert plots and all(client.get(src).content[:4] == b"\x89PNG" for src in plots)
    assert client.get(f"/params/files/{grid_dir.name}/..%2F..%2Fmlflow.db").status_code == 404


def test_opening_a_script_pushes_a_reloadable_url(served: Path) -> None:
    client = client_for(served)
    form = client.get("/params/form", params={"script": "scripts/tiny_fit.py"}, headers={"HX-Request": "true"})
    assert form.headers["HX-Push-Url"] == "/params?script=scripts%2Ftiny_fit.py"
    page = client.get(form.headers["HX-Push-Url"])
    assert 'id="params-table"' in page.text and 'data-param="epochs"' in page.text


def test_cancel_stops_the_training_run_and_skips_the_rest(served: Path) -> None:
    (served / "slow.py").write_text(
        "import argparse, json, time\nDEFAULT_CONFIG = {'seconds': 60}\n"
        "p = argparse.ArgumentParser(); p.add_argument('--config'); a = p.parse_args()\n"
        "c = dict(DEFAULT_CONFIG, **json.load(open(a.config)))\nprint('loss: 1.0', flush=True)\n"
        "time.sleep(c['seconds'])\n")
    client = client_for(served)
    panel = client.post("/params/run", data={"script": "slow.py", "p:seconds": "60, 61"})
    job_id = re.search(r'data-job-id="(\w+)"', panel.text).group(1)  # type: ignore[union-attr]
    queue = client.app.state.ui.jobs
    deadline = time.monotonic() + 60
    while not any(e["message"].startswith("[1/2] training") for e in queue.get(job_id)["events"]):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(1.0)
    started = time.monotonic()
    assert client.post(f"/jobs/{job_id}/cancel").text == "cancelling…"
    assert queue.wait(job_id, 30) == "cancelled"
    assert time.monotonic() - started < 15
    grid = queue.get(job_id)["result"]["grid"]
    assert [p.status for p in grid.points] == ["cancelled"] and grid.cancelled  # the second point never ran

    from mlflow.tracking import MlflowClient

    store = MlflowClient(f"sqlite:///{served.resolve() / '.opsgraft' / 'mlflow.db'}")
    runs = store.search_runs([store.get_experiment_by_name("opsgraft-ui/slow.py").experiment_id])
    assert [r.info.status for r in runs] == ["KILLED"]
    assert "cancelled" in client.get(f"/params/result/{job_id}").text
