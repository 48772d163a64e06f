"""Registration's plan: the run and the registered log_model written after the training function's last line.

The spliced tests put the plan's code into scripts outside the corpus, run them against a real MLflow
sqlite store, and read the registry back: the plan is code that registers a model that loads, and the
script still prints and writes what it did.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from opsgraft.adapters import registration_plan
from opsgraft.adapters.outline import build
from opsgraft.adapters.specs import get_adapter, mlflow_flavor
from opsgraft.adapters.workflow import Workflow
from opsgraft.evaluation.corpus import input_files, load_task

HERE = Path(__file__).parent / "outside_corpus"
RIDGE = (HERE / "ridge_sweep.py").read_text()
BLOBS = (HERE / "mlp_blobs.py").read_text()

# a save after the final print, settings from argparse, and a return at the end of the training function
SAVED = '''"""Fit a gradient-boosted classifier on the breast cancer data and pickle it (not a corpus task)."""

import argparse
import pickle

from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.model_selection import train_test_split


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--trees", type=int, default=20)
    parser.add_argument("--depth", type=int, default=2)
    args = parser.parse_args()
    X, y = load_breast_cancer(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, random_state=1)
    clf = GradientBoostingClassifier(n_estimators=args.trees, max_depth=args.depth, random_state=1)
    clf.fit(X_tr, y_tr)
    score = clf.score(X_te, y_te)
    print(f"held-out accuracy {score:.3f}")
    with open("gbc.pkl", "wb") as fh:
        pickle.dump(clf, fh)
    return score


if __name__ == "__main__":
    main()
'''

# a training helper class at module level: the model is what the script saves, not the helper
HELPER = '''import torch
from torch import nn


class Fitter:
    def __init__(self, model):
        self.model = model
        self.opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def fit(self, x, y, epochs):
        for _ in range(epochs):
            self.opt.zero_grad()
            loss = nn.functional.mse_loss(self.model(x), y)
            loss.backward()
            self.opt.step()
        return float(loss)


if __name__ == "__main__":
    torch.manual_seed(0)
    epochs, width = 5, 8
    x = torch.randn(64, 4)
    y = x.sum(1, keepdim=True)
    fitter = Fitter(nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, 1)))
    final = fitter.fit(x, y, epochs)
    print(f"final mse {final:.4f}")
    torch.save(fitter.model.state_dict(), "fitter.pt")
'''


def _plan(source: str, instruction: str = 'register it as "x-model"', name: str = "train.py") -> list[str]:
    return registration_plan.skeleton(build(source, name), source, mlflow_flavor(source), instruction)


def _code(lines: list[str]) -> list[str]:
    start = lines.index("```python")
    return lines[start + 1:lines.index("```", start + 1)]


def _splice(source: str, lines: list[str]) -> str:
    """``source`` with the plan applied as a person would: the excerpt in place, the imports added on top."""
    span = re.search(r"lines (\d+)-(\d+) below", lines[0])
    assert span, lines
    a, b = int(span.group(1)), int(span.group(2))
    imports = re.findall(r"`(import [^`]+)`", lines[0])
    src = source.splitlines()
    src[a - 1:b] = _code(lines)
    return "\n".join(imports + src) + "\n"


def _run(code: str, tmp_path: Path) -> str:
    (tmp_path / "train.py").write_text(code)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
           "MLFLOW_DISABLE_TELEMETRY": "true"}
    done = subprocess.run([sys.executable, "train.py"], capture_output=True, text=True, timeout=300, env=env,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _registered(tmp_path: Path, name: str) -> tuple[dict[str, str], dict[str, float], str]:
    """The params and metrics of the run behind version 1 of ``name``, and what the loaded model predicts on."""
    probe = f'''
import mlflow, numpy as np
client = mlflow.MlflowClient()
version = client.get_model_version("{name}", "1")
run = client.get_run(version.run_id)
print(dict(run.data.params)); print(dict(run.data.metrics)); print(run.info.status)
model = mlflow.pyfunc.load_model(f"models:/{name}/1")
print(type(model.get_raw_model()).__name__)
'''
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
           "MLFLOW_DISABLE_TELEMETRY": "true"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, env=env,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    params, metrics, status, raw = done.stdout.strip().splitlines()[-4:]
    assert status == "FINISHED"
    return eval(params), eval(metrics), raw  # noqa: S307 - the probe's own dict reprs


@pytest.mark.parametrize(("instruction", "name"), [
    ('Register the model in the MLflow model registry under the name "wine-forest".', "wine-forest"),
    ("log it (with the 'test' metric) and register it as 'cancer-net'", "cancer-net"),
    ("Register the fitted model as \u201cdigits-v2\u201d.", "digits-v2"),
    ("Log and register the trained model.", "train-model"),
])
def test_the_registered_name_is_the_instructions_or_the_scripts(instruction, name):
    assert registration_plan.model_name(instruction, "train.py") == name


def test_the_run_goes_after_the_last_line_so_the_final_print_and_the_save_stay():
    lines = _plan(SAVED)
    code = _code(lines)
    assert "written after line 23" in lines[0] and "lines 19-24 below" in lines[0] and "in main()" in lines[0]
    assert code[:5] == SAVED.splitlines()[18:23]  # fit, score, print, the pickle save, as they are
    assert code[5:] == [
        "    with mlflow.start_run():",
        "        mlflow.log_params(vars(args))",
        '        mlflow.log_metrics({"accuracy": float(score)})',
        '        mlflow.sklearn.log_model(clf, name="model", registered_model_name="x-model"'
        + registration_plan.format_kwarg("sklearn") + ', pip_requirements=["scikit-learn"])',
        "    return score",
    ]


def test_a_model_fitted_in_a_loop_is_the_name_fit_returned_to_not_a_new_estimator():
    code = _code(_plan(RIDGE))
    assert any("log_model(model," in line for line in code), code
    assert '        mlflow.log_metrics({"r2": float(r2_score(y_te, model.predict(X_te)))})' in code


def test_the_trained_model_is_what_the_script_saves_when_a_helper_class_trains_it():
    lines = _plan(HELPER)
    code = _code(lines)
    assert "at module level" in lines[0]
    assert any("log_model(fitter.model," in line for line in code), code
    assert '        mlflow.log_params({"epochs": epochs, "width": width})' in code
    assert '        mlflow.log_metrics({"mse": float(final)})' in code


def test_the_installed_flavors_default_format_is_overridden_where_it_fails():
    # MLflow 3.17: scikit-learn's default (skops) refuses a RandomForest, PyTorch's (pt2) needs an input_example
    import mlflow.pytorch
    import mlflow.sklearn

    assert registration_plan.format_kwarg("sklearn") == (
        ', serialization_format="cloudpickle"' if "skops" in Path(mlflow.sklearn.__file__).read_text() else "")
    assert registration_plan.format_kwarg("pytorch") == (
        ', serialization_format="pickle"' if "SERIALIZATION_FORMAT_PT2" in Path(mlflow.pytorch.__file__).read_text()
        else "")
    assert registration_plan.format_kwarg("keras") == ""


def test_no_plan_for_a_script_that_already_runs_mlflow_or_trains_nothing():
    tracked = (HERE / "ridge_sweep_tracking_mlflow.py").read_text()
    assert "start_run" in tracked and _plan(tracked) == []
    assert _plan("import torch\nprint(torch.zeros(2))\n") == []
    assert _plan("def broken(:\n") == []
    assert registration_plan.skeleton(build(RIDGE, "r.py"), RIDGE, "", "") == []


@pytest.mark.parametrize(("source", "flavor"), [(SAVED, "sklearn"), (HELPER, "pytorch"), (BLOBS, "pytorch")])
def test_spliced_plan_registers_a_model_that_loads_and_keeps_what_the_script_did(source, flavor, tmp_path):
    (tmp_path / "before").mkdir()
    before = _run(source, tmp_path / "before")
    out = _run(_splice(source, _plan(source)), tmp_path)
    assert out.splitlines()[:len(before.splitlines())] == before.splitlines()  # every print, in order
    assert {p.name for p in (tmp_path / "before").iterdir()} - {"train.py"} <= {p.name for p in tmp_path.iterdir()}
    params, metrics, raw = _registered(tmp_path, "x-model")
    assert params and metrics
    assert raw != "NoneType"


def test_the_plan_replaces_the_worked_example_in_a_held_out_registration_prompt():
    task = load_task("registration-mlflow-keras-breast-cancer")
    source = input_files(task)[task.entry]
    wf = Workflow(spec=get_adapter("registration:mlflow"), script=Path(task.root) / task.entry, source=source,
                  task=task)
    assert wf.planned_registration and not wf.shows_example
    text = "\n".join(m["content"] if isinstance(m, dict) else m.content for m in wf.build_prompt(source).messages)
    assert 'registered_model_name="breast-cancer-keras"' in text
    assert '        mlflow.log_metrics({"accuracy": float(acc)})' in text
    assert "Example of the same change" not in text and "val_mae" not in text
    off = Workflow(spec=get_adapter("registration:mlflow"), script=Path(task.root) / task.entry, source=source,
                   task=task, exact_calls=False)
    assert not off.planned_registration and off.shows_example
