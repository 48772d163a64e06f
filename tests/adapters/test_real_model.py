"""End to end with the real embedded model (slow: minutes on 2 CPU cores)."""

import hashlib
import json

import pytest

from tests.conftest import model_available, run_cli

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not model_available(), reason="embedded model not assembled (run scripts/setup.sh)"),
]


def test_adapt_with_the_local_model_and_run(sklearn_script, tmp_path):
    before = hashlib.sha256(sklearn_script.read_bytes()).hexdigest()
    code, out, err = run_cli(["adapt", str(sklearn_script), "--add", "tracking:mlflow", "--backend", "local",
                              "--run", "--n", "1", "--repair", "0", "--no-cache", "--timeout", "180"])
    assert code == 0, err
    assert hashlib.sha256(sklearn_script.read_bytes()).hexdigest() == before
    adapted = sklearn_script.parent / "train_tracking_mlflow.py"
    assert adapted.is_file() and "mlflow" in adapted.read_text()
    assert "+import mlflow" in (sklearn_script.parent / "train_tracking_mlflow.diff").read_text()
    record = json.loads((sklearn_script.parent / "train_tracking_mlflow.opsgraft.json").read_text())
    result = record["attempts"][0]["result"]
    assert result["status"] in {"passed", "failed", "timeout"}
    assert result["verdict"] is None or result["verdict"]["checker"] == "mlflow-tracking"
    assert "check:   mlflow-tracking:" in out
    assert record["attempts"][0]["generation"]["usage"]["completion_tokens"] > 0
