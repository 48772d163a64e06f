"""mlflow-registration serves: the registered version must load through mlflow.pyfunc and predict
on the rows the sandbox hooks kept of the program's input. Real MLflow stores and models in
tmp_path, the real prediction subprocess, no mocks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import opsgraft.evaluation.checkers  # noqa: F401  (registers the checkers)
from opsgraft.evaluation.checkers.base import CheckContext
from opsgraft.evaluation.sandbox import hooks_dir
from opsgraft.registry import checkers
from opsgraft.types import ExecutionResult, Task, Verdict

TASK = Task(
    id="t",
    kind="inline",
    functionality="registration",
    component="mlflow",
    framework="sklearn",
    instruction="",
    entry="train.py",
    files=("train.py",),
    checker="mlflow-registration",
)
OK = ExecutionResult(status="passed", returncode=0, wall_s=1.0)


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated MLflow sqlite store (migrating a fresh one costs seconds)."""
    from mlflow.tracking import MlflowClient

    db = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture
def workdir(tmp_path: Path, template_db: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A program's workdir with its own store, made the active MLflow experiment of this process."""
    import mlflow

    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(template_db, work / "mlflow.db")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{work}/mlflow.db")
    # The template's Default experiment keeps its artifacts under the test's cwd: not here.
    exp = mlflow.create_experiment("program", artifact_location=str(work / "mlruns"))
    mlflow.set_experiment(experiment_id=exp)
    yield work
    mlflow.set_experiment(experiment_id="0")


def ctx_for(work: Path) -> CheckContext:
    env = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{work}/mlflow.db",
        "OPSGRAFT_EVIDENCE_DIR": str(work.parent / "evidence"),
        "PATH": os.environ.get("PATH", ""),
    }
    return CheckContext(task=TASK, workdir=work, execution=OK, env=env, files={"train.py": "import mlflow\n"})


def save_rows(work: Path, name: str, rows: np.ndarray) -> None:
    """What the sandbox hook of a framework keeps of the training input."""
    folder = work.parent / "evidence"
    folder.mkdir(exist_ok=True)
    np.save(folder / f"rows-{name}.npy", rows)


def check(ctx: CheckContext, **kwargs: Any) -> Verdict:
    result: Verdict = checkers.get("mlflow-registration")(ctx, **kwargs)
    return result


def log_sklearn(model: Any, name: str = "iris-classifier", **kwargs: Any) -> None:
    import mlflow
    import mlflow.sklearn

    with mlflow.start_run():
        mlflow.sklearn.log_model(model, name="model", registered_model_name=name, pip_requirements=[], **kwargs)


def iris() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    return X, y


def test_a_fitted_sklearn_model_loads_and_predicts_on_the_programs_rows(workdir: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = iris()
    log_sklearn(LogisticRegression(max_iter=500).fit(X, y))
    save_rows(workdir, "sklearn", X[:5])
    v = check(ctx_for(workdir), model_name="iris-classifier")
    assert v.passed, v.reasons
    assert v.evidence["serving"]["stage"] == "predicted"
    assert v.evidence["serving"]["output_shape"] == [5]
    assert v.evidence["input_rows"] == ["rows-sklearn.npy"]


def test_an_unfitted_estimator_is_registered_but_cannot_predict(workdir: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    X, _ = iris()
    log_sklearn(LogisticRegression())
    save_rows(workdir, "sklearn", X[:5])
    v = check(ctx_for(workdir), model_name="iris-classifier")
    assert not v.passed
    assert v.reasons[0].startswith(
        "version 1 of 'iris-classifier' does not load and predict through mlflow.pyfunc on the "
        "program's own input (rows-sklearn.npy): NotFittedError"
    ), v.reasons


def test_a_torch_module_under_the_sklearn_flavor_fails_with_a_hint(workdir: Path) -> None:
    import torch

    class TinyNet(torch.nn.Module):  # local: cloudpickle stores it by value, as for a script's class
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Linear(4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.net(x)
            return out

    log_sklearn(TinyNet(), name="digits-mlp", serialization_format="cloudpickle")
    save_rows(workdir, "torch", iris()[0][:5].astype(np.float32))
    v = check(ctx_for(workdir), model_name="digits-mlp")
    assert not v.passed
    assert v.reasons == (
        "version 1 of 'digits-mlp' does not load and predict through mlflow.sklearn on the program's own "
        "input (rows-torch.npy): AttributeError: 'TinyNet' object has no attribute 'predict' "
        "(logged under the sklearn flavor, but the program trained a pytorch model: use "
        "mlflow.pytorch.log_model)",
    )


def test_without_captured_rows_loading_is_still_required(workdir: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = iris()
    log_sklearn(LogisticRegression(max_iter=500).fit(X, y), serialization_format="cloudpickle")
    v = check(ctx_for(workdir), model_name="iris-classifier")
    assert v.passed, v.reasons
    assert v.evidence["serving"]["stage"] == "loaded"
    assert v.evidence["input_rows"].startswith("none captured")
    # A model whose files cannot be loaded back fails even without rows.
    model_file = next((workdir / "mlruns").rglob("model.pkl"))
    model_file.write_bytes(b"not a pickle")
    v = check(ctx_for(workdir), model_name="iris-classifier")
    assert not v.passed
    assert v.reasons[0].startswith("version 1 of 'iris-classifier' does not load through mlflow.pyfunc: ")


# --- the hooks keep the rows -------------------------------------------------------------------


def run_hooked(code: str, evidence: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "OPSGRAFT_SANDBOX_ROOT")}
    env.update(PYTHONPATH=str(hooks_dir()), OPSGRAFT_EVIDENCE_DIR=str(evidence))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_the_sklearn_hook_keeps_the_first_fits_rows(tmp_path: Path) -> None:
    code = (
        "import numpy as np\n"
        "from sklearn.linear_model import LinearRegression\n"
        "X = np.arange(40.0).reshape(20, 2)\n"
        "LinearRegression().fit(X, X[:, 0])\n"
        "LinearRegression().fit(X + 100, X[:, 0])\n"  # only the first fit's rows are kept
    )
    proc = run_hooked(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = np.load(tmp_path / "rows-sklearn.npy")
    assert rows.tolist() == np.arange(10.0).reshape(5, 2).tolist()


def test_the_torch_hook_keeps_the_trained_models_input(tmp_path: Path) -> None:
    expected = tmp_path / "expected.npy"
    code = (
        "import numpy as np, torch\n"
        "frozen = torch.nn.Linear(3, 4)\n"  # runs first, but no optimizer trains it
        "model = torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.ReLU())\n"
        "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
        "with torch.no_grad():\n"
        "    h = frozen(torch.arange(24.0).reshape(8, 3))\n"
        "model(h).sum().backward()\n"
        "opt.step()\n"
        f"np.save({str(expected)!r}, h[:5].numpy())\n"
    )
    proc = run_hooked(code, tmp_path / "evidence")
    assert proc.returncode == 0, proc.stderr
    rows = np.load(tmp_path / "evidence" / "rows-torch.npy")
    assert rows.dtype == np.float32 and rows.shape == (5, 4)
    assert np.array_equal(rows, np.load(expected))


def test_a_model_that_hangs_on_load_is_stopped_at_the_time_limit(workdir: Path) -> None:
    import time

    import mlflow
    import mlflow.pyfunc

    from opsgraft.evaluation.checkers.mlflow_registration import predict_registered

    class Hangs(mlflow.pyfunc.PythonModel):  # local: stored by value, like a script's class
        def load_context(self, context: Any) -> None:
            time.sleep(300)

        def predict(self, context: Any, model_input: list[str], params: Any = None) -> list[str]:
            return model_input

    with mlflow.start_run():
        mlflow.pyfunc.log_model(name="model", python_model=Hangs(), registered_model_name="m", pip_requirements=[])
    began = time.monotonic()
    outcome = predict_registered(ctx_for(workdir), "models:/m/1", timeout_s=8)
    assert outcome == {"stage": "timeout"}
    assert time.monotonic() - began < 30
