"""A record holds enough to judge its candidates again without the LLM."""

import json

from opsgraft.adapters.records import load_record, record_candidates, record_task
from opsgraft.evaluation.evaluator import judge
from tests.adapters.test_adapt_cli import ADAPTED, ANSWER
from tests.conftest import make_cassette, run_cli


def test_record_rejudges_without_the_llm(sklearn_script, tmp_path):
    cassette = make_cassette(tmp_path / "c.jsonl", sklearn_script, "tracking:mlflow", [ANSWER])
    code, _, err = run_cli(["adapt", str(sklearn_script), "--add", "tracking:mlflow", "--backend", "replay",
                            "--cassette", str(cassette), "--run", "--n", "1", "--repair", "0"])
    assert code == 0, err
    record_path = sklearn_script.parent / "train_tracking_mlflow.opsgraft.json"
    record = load_record(record_path)
    task = record_task(record)
    [candidate] = record_candidates(record)
    assert candidate.files["train.py"] == ADAPTED
    first = record["attempts"][0]["result"]
    again = judge(task, candidate)
    assert again.status == first["status"] == "passed"
    assert json.loads(record_path.read_text())["options"]["n"] == 1


def test_evaluate_cli_takes_a_record(sklearn_script, tmp_path):
    cassette = make_cassette(tmp_path / "c.jsonl", sklearn_script, "tracking:mlflow", [ANSWER])
    assert run_cli(["adapt", str(sklearn_script), "--add", "tracking:mlflow", "--backend", "replay",
                    "--cassette", str(cassette)])[0] == 0
    record_path = sklearn_script.parent / "train_tracking_mlflow.opsgraft.json"
    code, out, err = run_cli(["evaluate", str(record_path), "--out", str(tmp_path / "eval")])
    assert code == 0, err
    results = [json.loads(line) for line in (tmp_path / "eval" / "results.jsonl").read_text().splitlines()]
    assert [r["status"] for r in results] == ["passed"]
    assert results[0]["task_id"] == "user:train.py"
