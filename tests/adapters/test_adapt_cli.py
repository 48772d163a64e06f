"""`opsgraft adapt` end to end with recorded answers: outputs, never overwriting, prechecks."""

import hashlib
import json

from tests.conftest import make_cassette, run_cli

ADAPTED = '''\
"""Train a ridge regressor on the diabetes data over a few alphas."""
import mlflow
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split


def main():
    X, y = load_diabetes(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0)
    with mlflow.start_run():
        mlflow.log_params({"alphas": "0.01,0.1,1.0", "test_size": 0.25})
        for epoch, alpha in enumerate([0.01, 0.1, 1.0]):
            model = Ridge(alpha=alpha).fit(X_tr, y_tr)
            r2 = r2_score(y_te, model.predict(X_te))
            mlflow.log_metric("r2", float(r2), step=epoch)
            print(f"epoch {epoch} alpha {alpha} r2 {r2:.3f}")


if __name__ == "__main__":
    main()
'''
ANSWER = f"Here is the script with MLflow tracking:\n\n```python\n{ADAPTED}```\n"


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_adapt_writes_new_file_diff_and_record(sklearn_script, tmp_path):
    cassette = make_cassette(tmp_path / "c.jsonl", sklearn_script, "tracking:mlflow", [ANSWER])
    before = sha(sklearn_script)
    code, out, err = run_cli(["adapt", str(sklearn_script), "--add", "tracking:mlflow", "--backend", "replay",
                              "--cassette", str(cassette)])
    assert code == 0, err
    assert sha(sklearn_script) == before
    adapted = sklearn_script.parent / "train_tracking_mlflow.py"
    assert adapted.read_text() == ADAPTED
    diff = (sklearn_script.parent / "train_tracking_mlflow.diff").read_text()
    assert "+import mlflow" in diff and diff.startswith("--- a/train.py")
    record = json.loads((sklearn_script.parent / "train_tracking_mlflow.opsgraft.json").read_text())
    assert record["adapter"] == "tracking:mlflow" and record["attempts"][0]["generation"]["text"] == ANSWER
    assert record["input_source"] == sklearn_script.read_text()
    assert record["status"] == "generated"  # code written, not judged: no --run
    assert f"adapted: {adapted}" in out


def test_second_run_never_overwrites(sklearn_script, tmp_path):
    cassette = make_cassette(tmp_path / "c.jsonl", sklearn_script, "tracking:mlflow", [ANSWER])
    args = ["adapt", str(sklearn_script), "--add", "tracking:mlflow", "--backend", "replay", "--cassette", str(cassette)]
    assert run_cli(args)[0] == 0
    first = sklearn_script.parent / "train_tracking_mlflow.py"
    first.write_text("# user edits\n")
    assert run_cli(args)[0] == 0
    assert first.read_text() == "# user edits\n"
    assert (sklearn_script.parent / "train_tracking_mlflow_2.py").read_text() == ADAPTED


def test_script_already_using_the_tool_is_left_alone(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(ADAPTED)
    code, out, _ = run_cli(["adapt", str(script), "--add", "tracking:mlflow", "--backend", "replay",
                            "--cassette", str(tmp_path / "unused.jsonl")])
    assert code == 0 and "already uses mlflow" in out
    assert [p.name for p in tmp_path.iterdir()] == ["train.py"]


def test_non_training_script_is_refused(tmp_path):
    script = tmp_path / "util.py"
    script.write_text("import json\n\n\ndef load(p):\n    return json.load(open(p))\n")
    code, _, err = run_cli(["adapt", str(script), "--add", "tracking:mlflow", "--backend", "replay",
                            "--cassette", str(tmp_path / "unused.jsonl")])
    assert code == 2 and "no training found" in err


def test_translation_key_is_refused_by_adapt(sklearn_script, tmp_path):
    code, _, err = run_cli(["adapt", str(sklearn_script), "--add", "gitpython->dvc", "--backend", "replay",
                            "--cassette", str(tmp_path / "x.jsonl")])
    assert code != 0 and "opsgraft translate" in err


def test_corpus_task_is_adapted_into_out_dir_and_judged(tmp_path):
    from opsgraft.adapters.workflow import corpus_workflow
    from opsgraft.evaluation.corpus import load_task, reference_files
    from tests.conftest import cassette_for_flow

    task_id = "tracking-mlflow-sklearn-diabetes"
    task = load_task(task_id)
    reference = reference_files(task)[task.entry]
    cassette = cassette_for_flow(tmp_path / "c.jsonl", corpus_workflow(task_id), [f"```python\n{reference}```"])
    out = tmp_path / "out"
    code, stdout, err = run_cli(["adapt", "--task", task_id, "--backend", "replay", "--cassette", str(cassette),
                                 "--run", "--n", "1", "--repair", "0", "--out-dir", str(out)])
    assert code == 0, err
    assert (out / "train_tracking_mlflow.py").read_text() == reference
    assert f"check:   {task.checker}: PASSED" in stdout


def test_run_defaults_to_the_best_measured_configuration():
    from opsgraft.commands._common import RUN_N, RUN_REPAIR, run_defaults

    assert (RUN_N, RUN_REPAIR) == (3, 2)
    assert run_defaults(False, None, None) == (False, 1, 0)  # no --run: one sample, nothing to repair
    assert run_defaults(True, None, None) == (True, 3, 2)
    assert run_defaults(False, None, 1) == (True, 3, 1)  # --repair implies --run
    assert run_defaults(True, 1, 0) == (True, 1, 0)  # explicit values win
    assert run_defaults(False, 2, 0) == (False, 2, 0)
