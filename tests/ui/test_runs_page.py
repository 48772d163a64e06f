"""The Runs page: what it finds under the root, in which order, and files served only from under the root."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from opsgraft.ui.runs_page import list_runs
from tests.adapters.test_adapt_cli import ANSWER
from tests.conftest import make_cassette, run_cli
from tests.evaluation.report_runs import make_run


def _age(path: Path, t: float) -> None:
    for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.utime(p, (t, t))


@pytest.fixture
def root(sklearn_script: Path, tmp_path: Path) -> Path:
    """A folder holding one run of each kind, each older than the next: record < bench < ablation < grid."""
    cassette = make_cassette(tmp_path / "c.jsonl", sklearn_script, "tracking:mlflow", [ANSWER])
    code, _, err = run_cli(["adapt", str(sklearn_script), "--add", "tracking:mlflow", "--backend", "replay",
                            "--cassette", str(cassette)])
    assert code == 0, err
    _age(tmp_path / "train_tracking_mlflow.opsgraft.json", 1_000_000)
    bench = make_run(tmp_path / "bench" / "run1")
    (bench / "report.md").write_text("# Bench report\n\n<script>alert(1)</script>\n\n![plot](plots/p.png)\n")
    (bench / "report.html").write_text("<html><body><table class=report><tr><td>x</td></tr></table></body></html>")
    _age(bench, 2_000_000)
    study = tmp_path / "ablate" / "train_ablation"
    study.mkdir(parents=True)
    (study / "study.json").write_text(json.dumps({"key": "k"}))
    (study / "ablation_results.json").write_text("{}")
    (study / "ablation_report.md").write_text("# Ablation\n")
    _age(study, 3_000_000)
    grid = tmp_path / ".opsgraft" / "ui-runs" / "20261201-100000"
    grid.mkdir(parents=True)
    (grid / "grid.json").write_text(json.dumps({"script": "train.py", "points": [{}, {}]}))
    (grid / "results.json").write_text("{}")
    _age(grid, 4_000_000)
    # Not runs: a JSON that is not a record, and one in a hidden folder that is not .opsgraft.
    (tmp_path / "x.opsgraft.json").write_text('{"hello": 1}')
    hidden = tmp_path / ".git"
    hidden.mkdir()
    (hidden / "y.opsgraft.json").write_text((tmp_path / "train_tracking_mlflow.opsgraft.json").read_text())
    return tmp_path


def test_every_kind_is_listed_newest_first(root: Path) -> None:
    runs = list_runs(root)
    assert [(r.kind, r.path) for r in runs] == [
        ("grid", ".opsgraft/ui-runs/20261201-100000"),
        ("ablation", "ablate/train_ablation"),
        ("bench", "bench/run1"),
        ("adapt", "train_tracking_mlflow.opsgraft.json"),
    ]
    grid, ablation, bench, record = runs
    assert grid.title == "grid on train.py" and grid.details == "2 point(s)" and grid.status == "finished"
    assert ablation.status == "finished" and ("ablation_report.md", "ablate/train_ablation/ablation_report.md") in ablation.links
    assert [label for label, _ in bench.links] == ["report.html", "report.md", "records"]
    assert record.title == "tracking:mlflow on train.py" and record.status == "generated"
    assert [label for label, _ in record.links] == ["py", "diff", "record"]


def test_page_links_reports_and_serves_them_confined(root: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    from fastapi.testclient import TestClient

    from opsgraft.ui.app import create_app

    outside = tmp_path_factory.mktemp("outside") / "secret.txt"
    outside.write_text("secret")
    (root / "link.txt").symlink_to(outside)
    with TestClient(create_app(root), base_url="http://127.0.0.1") as client:
        page = client.get("/runs").text
        assert page.index("ui-runs/20261201-100000") < page.index("bench/run1") < page.index("train_tracking_mlflow")
        assert 'href="/runs/files/bench/run1/report.html"' in page
        only = client.get("/runs", params={"kind": "bench"}).text
        assert "bench/run1" in only and "train_ablation" not in only
        report = client.get("/runs/files/bench/run1/report.html")
        assert report.status_code == 200 and report.headers["content-security-policy"] == "sandbox"
        md = client.get("/runs/files/bench/run1/report.md").text
        assert "<h1>Bench report</h1>" in md and "<script>alert(1)</script>" not in md
        assert '<img src="plots/p.png"' in md  # relative: resolves under /runs/files/bench/run1/
        raw = client.get("/runs/files/bench/run1/report.md", params={"raw": "1"})
        assert raw.text.startswith("# Bench report") and raw.headers["content-type"].startswith("text/plain")
        for bad in ("/runs/files/../outside/secret.txt", "/runs/files/link.txt", "/runs/files/%2e%2e/x"):
            response = client.get(bad)
            assert response.status_code in (403, 404) and "secret" not in response.text, bad
        assert client.get("/runs/files/link.txt").status_code == 403
        assert client.get("/runs/files/nothing.md").status_code == 404


def test_empty_root_says_so(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from opsgraft.ui.app import create_app

    assert list_runs(tmp_path) == []
    with TestClient(create_app(tmp_path), base_url="http://127.0.0.1") as client:
        assert "No runs under" in client.get("/runs").text
