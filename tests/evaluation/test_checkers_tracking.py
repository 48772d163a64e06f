"""The mlflow-tracking, mlflow-registration and wandb-run checkers, on hand-made and real evidence.

Fast tests build MLflow stores with MlflowClient (from one migrated template db, copied, since
migrating a fresh sqlite store costs seconds) and W&B transaction logs with wandb's own protobuf
messages. The real-run tests execute corpus tasks in the sandbox and judge them.
"""

from __future__ import annotations

import shutil
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import opsgraft.evaluation.checkers  # noqa: F401  (registers the checkers)
from opsgraft.evaluation.checkers.base import CheckContext
from opsgraft.evaluation.checkers.mlflow_tracking import forbidden_imports
from opsgraft.evaluation.checkers.wandb_run import read_run
from opsgraft.registry import checkers
from opsgraft.types import ExecutionResult, Task, Verdict

TASK = Task(
    id="t",
    kind="inline",
    functionality="tracking",
    component="mlflow",
    framework="sklearn",
    instruction="",
    entry="train.py",
    files=("train.py",),
    checker="mlflow-tracking",
)
OK = ExecutionResult(status="passed", returncode=0, wall_s=1.0)


def ctx_for(
    workdir: Path, execution: ExecutionResult = OK, files: dict[str, str] | None = None
) -> CheckContext:
    return CheckContext(
        task=TASK,
        workdir=workdir,
        execution=execution,
        env={
            "MLFLOW_TRACKING_URI": f"sqlite:///{workdir}/mlflow.db",
            "WANDB_DIR": str(workdir),
            # the hooks' evidence of this test only (none written: training not observable)
            "OPSGRAFT_EVIDENCE_DIR": str(workdir / "evidence"),
        },
        files=files or {"train.py": "import mlflow\n"},
    )


def check(name: str, ctx: CheckContext, **kwargs: Any) -> Verdict:
    result: Verdict = checkers.get(name)(ctx, **kwargs)
    return result


# --- MLflow stores ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated MLflow sqlite store."""
    from mlflow.tracking import MlflowClient

    db = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture
def store(tmp_path: Path, template_db: Path) -> Iterator[Any]:
    """A client over ``tmp_path/mlflow.db``, a copy of the template."""
    from mlflow.tracking import MlflowClient

    db = tmp_path / "mlflow.db"
    shutil.copy(template_db, db)
    uri = f"sqlite:///{db}"
    yield MlflowClient(tracking_uri=uri, registry_uri=uri)


def make_run(
    client: Any,
    params: int = 2,
    metrics: dict[str, int] | None = None,
    status: str | None = "FINISHED",
    t0: float | None = None,
    value: Callable[[int], float] = lambda step: 1.0 / (step + 1),
) -> str:
    """A run with ``params`` params and, per metric, that many logged steps.

    With ``t0`` (Unix seconds) step ``i`` is logged at ``t0 + i``; otherwise now.
    """
    exp = client.get_experiment_by_name("Default")
    run = client.create_run(exp.experiment_id if exp else "0")
    rid = run.info.run_id
    for i in range(params):
        client.log_param(rid, f"p{i}", i)
    for key, steps in (metrics if metrics is not None else {"loss": 3}).items():
        for step in range(steps):
            stamp = None if t0 is None else int((t0 + step) * 1000)
            client.log_metric(rid, key, value(step), timestamp=stamp, step=step)
    if status:
        client.set_terminated(rid, status)
    return rid


def test_tracking_passes_a_finished_run_with_history(store: Any, tmp_path: Path) -> None:
    rid = make_run(store, params=3, metrics={"loss": 4, "acc": 4})
    v = check("mlflow-tracking", ctx_for(tmp_path), min_params=3, min_metrics=2, metric_history=True)
    assert v.passed, v.reasons
    assert v.evidence["run_id"] == rid
    assert v.evidence["metric_history"] == {"acc": 4, "loss": 4}


def test_tracking_fails_when_the_program_crashed(store: Any, tmp_path: Path) -> None:
    make_run(store)
    crashed = ExecutionResult(
        status="failed", returncode=1, wall_s=1.0, stderr_tail="Traceback...\nValueError: bad metric\n"
    )
    v = check("mlflow-tracking", ctx_for(tmp_path, crashed))
    assert not v.passed
    assert v.reasons == ("the program exited with code 1: ValueError: bad metric",)


def test_tracking_fails_on_timeout(tmp_path: Path) -> None:
    v = check(
        "mlflow-tracking", ctx_for(tmp_path, ExecutionResult(status="timeout", returncode=None, wall_s=60))
    )
    assert not v.passed and "time limit" in v.reasons[0]


def test_tracking_without_a_store(tmp_path: Path) -> None:
    v = check("mlflow-tracking", ctx_for(tmp_path))
    assert not v.passed and "no MLflow store" in v.reasons[0]
    (tmp_path / "tracking.db").write_bytes(b"")
    v = check("mlflow-tracking", ctx_for(tmp_path))
    assert not v.passed and "tracking.db was written" in v.reasons[0] and "set_tracking_uri" in v.reasons[0]
    (tmp_path / "mlruns").mkdir()
    v = check("mlflow-tracking", ctx_for(tmp_path))
    assert not v.passed and "mlruns/, tracking.db was written" in v.reasons[0]


def test_tracking_with_an_empty_store(store: Any, tmp_path: Path) -> None:
    v = check("mlflow-tracking", ctx_for(tmp_path))
    assert not v.passed and "holds no run" in v.reasons[0]


def test_tracking_fails_on_a_run_left_running(store: Any, tmp_path: Path) -> None:
    make_run(store, status=None)
    v = check("mlflow-tracking", ctx_for(tmp_path))
    assert not v.passed
    assert "RUNNING" in v.reasons[0] and "end_run" in v.reasons[0]
    assert v.evidence["finished_runs"] == 0


def test_tracking_fails_on_a_failed_run(store: Any, tmp_path: Path) -> None:
    make_run(store, status="FAILED")
    v = check("mlflow-tracking", ctx_for(tmp_path))
    assert not v.passed and "FAILED" in v.reasons[0]


def test_tracking_counts_params_and_metrics(store: Any, tmp_path: Path) -> None:
    make_run(store, params=2, metrics={})
    v = check("mlflow-tracking", ctx_for(tmp_path), min_params=3, min_metrics=1)
    assert not v.passed
    assert any("2 parameter(s), expected at least 3" in r for r in v.reasons)
    assert any("0 metric(s), expected at least 1" in r for r in v.reasons)


def test_tracking_metric_history(store: Any, tmp_path: Path) -> None:
    make_run(store, metrics={"loss": 1, "acc": 1})
    assert check("mlflow-tracking", ctx_for(tmp_path), metric_history=False).passed
    v = check("mlflow-tracking", ctx_for(tmp_path), metric_history=True)
    assert not v.passed and "only once" in v.reasons[0]
    assert v.evidence["metric_history"] == {"acc": 1, "loss": 1}


def test_tracking_judges_the_best_of_several_runs(store: Any, tmp_path: Path) -> None:
    make_run(store, params=0, metrics={})
    good = make_run(store, params=2, metrics={"loss": 5})
    make_run(store, status=None)
    v = check("mlflow-tracking", ctx_for(tmp_path), min_params=2, metric_history=True)
    assert v.passed, v.reasons
    assert v.evidence["run_id"] == good and v.evidence["runs"] == 3


def test_tracking_forbidden_imports_come_on_top_of_the_evidence(store: Any, tmp_path: Path) -> None:
    make_run(store, params=3, metrics={"loss": 3})
    clean = {"train.py": "import mlflow\nimport wandbish\n"}
    assert check("mlflow-tracking", ctx_for(tmp_path, files=clean), forbid_imports=["wandb"]).passed
    dirty = {"train.py": "import mlflow\n", "util.py": "def f():\n    from wandb.sdk import wandb_run\n"}
    v = check("mlflow-tracking", ctx_for(tmp_path, files=dirty), forbid_imports=["wandb"])
    assert not v.passed and v.reasons == ("the program still imports wandb; replace it with mlflow entirely",)
    (tmp_path / "wandb").mkdir()
    v = check("mlflow-tracking", ctx_for(tmp_path, files=clean), forbid_imports=["wandb"])
    assert not v.passed and "./wandb" in v.reasons[0]


def _open_handles(path: Path) -> int:
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if _readlink(fd) == str(path))


def _readlink(fd: Path) -> str:
    try:
        return str(fd.readlink())
    except OSError:
        return ""


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_checkers_leave_no_store_open(store: Any, tmp_path: Path) -> None:
    make_run(store)
    db = tmp_path / "mlflow.db"
    assert check("mlflow-tracking", ctx_for(tmp_path)).passed
    assert _open_handles(db) == 0
    check("mlflow-registration", ctx_for(tmp_path))
    assert _open_handles(db) == 0


def test_forbidden_imports_sees_dynamic_and_broken_sources() -> None:
    assert forbidden_imports({"a.py": "import importlib\nimportlib.import_module('wandb')\n"}, ["wandb"]) == [
        "wandb"
    ]
    assert forbidden_imports({"a.py": "x = __import__('wandb.sdk')\n"}, ["wandb"]) == ["wandb"]
    assert forbidden_imports({"a.py": "import wandb as w\nthis is not python\n"}, ["wandb"]) == ["wandb"]
    assert (
        forbidden_imports({"a.py": "# import wandb\nimport mlflow\n", "README.md": "import wandb"}, ["wandb"])
        == []
    )
    assert forbidden_imports({"a.py": "from . import wandb\n"}, ["wandb"]) == []


# --- the metrics must come from training (hook evidence) ---------------------------------------

T0 = 1_800_000_000.0  # the first metric of the hand-made runs below: 2027-01-15, in Unix seconds


def write_evidence(workdir: Path, name: str, records: list[dict[str, Any]]) -> None:
    """Evidence lines as the sandbox hooks write them (``wall`` is ``time.time()``)."""
    import json

    folder = workdir / "evidence"
    folder.mkdir(exist_ok=True)
    with open(folder / name, "a", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in records)


def install(hook: str) -> dict[str, Any]:
    return {"event": "install", "hook": hook, "wall": T0 - 5}


def sk_fit(start: float, end: float, event: str = "fit", predictor: bool = True, name: str = "SGDRegressor") -> dict[str, Any]:
    return {"framework": "sklearn", "event": event, "estimator": name, "predictor": predictor, "wall_start": start, "wall": end}


def test_tracking_fails_when_sklearn_was_imported_but_nothing_trained(store: Any, tmp_path: Path) -> None:
    # The program of issue 14: params, two steps of made-up metrics, a scaler, no model.
    make_run(store, params=4, metrics={"val_mse": 2}, t0=T0)
    write_evidence(tmp_path, "fit.jsonl", [install("sklearn"), sk_fit(T0 - 2, T0 - 2, predictor=False, name="StandardScaler")])
    v = check("mlflow-tracking", ctx_for(tmp_path), min_params=3, metric_history=True)
    assert not v.passed
    assert v.reasons == (
        "sklearn was imported but no training was observed (no fit, partial_fit, Model.fit, "
        "Trainer.fit, optimizer step or backward pass) (only sklearn StandardScaler.fit, which fits "
        "no model): log the metrics the training produces, not fixed or made-up values",
    )
    assert v.evidence["training_observed"] is False


def test_tracking_passes_when_a_fit_ran_in_the_metrics_window(store: Any, tmp_path: Path) -> None:
    make_run(store, params=4, metrics={"val_mse": 5}, t0=T0)
    write_evidence(tmp_path, "fit.jsonl", [install("sklearn"), sk_fit(T0 - 0.5, T0 + 3.5, event="partial_fit")])
    v = check("mlflow-tracking", ctx_for(tmp_path), min_params=3, metric_history=True)
    assert v.passed, v.reasons
    assert v.evidence["training_observed"] is True and v.evidence["training_in_window"] is True
    assert v.evidence["trained"] == ["sklearn SGDRegressor.partial_fit"]


def test_tracking_passes_metrics_logged_after_one_fit(store: Any, tmp_path: Path) -> None:
    # Fit once, then replay staged predictions (gbm-staged) or log final scores: before the window.
    make_run(store, params=4, metrics={"val_logloss": 5}, t0=T0)
    write_evidence(tmp_path, "fit.jsonl", [install("sklearn"), sk_fit(T0 - 3, T0 - 1)])
    v = check("mlflow-tracking", ctx_for(tmp_path), metric_history=True)
    assert v.passed, v.reasons
    assert v.evidence["training_in_window"] is False


def test_tracking_fails_metrics_logged_before_any_training(store: Any, tmp_path: Path) -> None:
    make_run(store, params=4, metrics={"loss": 3}, t0=T0)
    write_evidence(tmp_path, "fit.jsonl", [install("keras"), {"framework": "keras", "event": "fit", "wall": T0 + 10}])
    v = check("mlflow-tracking", ctx_for(tmp_path))
    assert not v.passed
    assert "no training (fit/step) was observed up to then" in v.reasons[0]
    assert "log the metrics the training produces" in v.reasons[0]


def test_tracking_sees_torch_steps_and_backward_passes(store: Any, tmp_path: Path) -> None:
    make_run(store, params=3, metrics={"loss": 4}, t0=T0)
    write_evidence(tmp_path, "torch.jsonl", [install("torch")])
    assert not check("mlflow-tracking", ctx_for(tmp_path)).passed
    write_evidence(tmp_path, "torch.jsonl", [{"event": "backward", "count": 8, "first_wall": T0 - 1, "last_wall": T0 + 4}])
    v = check("mlflow-tracking", ctx_for(tmp_path))
    assert v.passed and v.evidence["trained"] == ["torch backward"]
    (tmp_path / "evidence" / "torch.jsonl").unlink()
    write_evidence(tmp_path, "torch.jsonl", [install("torch"), {"event": "exit", "steps": 40, "first_wall": T0 + 1, "last_wall": T0 + 2}])
    assert check("mlflow-tracking", ctx_for(tmp_path)).passed


def test_tracking_without_a_hooked_framework_is_not_judged_on_training(store: Any, tmp_path: Path) -> None:
    make_run(store, params=3, metrics={"loss": 3}, t0=T0)
    v = check("mlflow-tracking", ctx_for(tmp_path), metric_history=True)
    assert v.passed and v.evidence["training_observed"] is None  # pure numpy: nothing to see
    # sklearn only loads the data; xgboost, which no hook sees, trains.
    write_evidence(tmp_path, "fit.jsonl", [install("sklearn")])
    v = check("mlflow-tracking", ctx_for(tmp_path, files={"train.py": "import xgboost\nimport sklearn\n"}))
    assert v.passed and v.evidence["training_observed"] is None
    assert v.evidence["unobservable_training"] == ["xgboost"]
    assert not check("mlflow-tracking", ctx_for(tmp_path)).passed


def test_tracking_fails_metrics_constant_over_steps(store: Any, tmp_path: Path) -> None:
    make_run(store, params=3, metrics={"val_loss": 3, "val_acc": 3}, t0=T0, value=lambda step: 0.25)
    write_evidence(tmp_path, "fit.jsonl", [install("lightning"), {"framework": "lightning", "event": "fit_end", "wall_start": T0 - 9, "wall": T0 - 1}])
    assert check("mlflow-tracking", ctx_for(tmp_path), metric_history=False).passed
    v = check("mlflow-tracking", ctx_for(tmp_path), metric_history=True)
    assert not v.passed
    assert v.reasons == (
        "every metric logged at several steps kept one value (val_acc = 0.25 at all 3 steps): log the "
        "value each epoch/step produces, not a fixed number",
    )
    assert v.evidence["trained"] == ["lightning Trainer.fit"] and v.evidence["training_observed"] is True


HOOKED_PROGRAM = """
import numpy as np
from sklearn.linear_model import SGDRegressor
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler
import torch

X = StandardScaler().fit_transform(np.random.default_rng(0).normal(size=(40, 3)))
y = X.sum(axis=1)
sgd = SGDRegressor()
for _ in range(5):
    sgd.partial_fit(X, y)
MLPRegressor(max_iter=3).partial_fit(X, y)
w = torch.zeros(3, requires_grad=True)
opt = torch.optim.SGD([w], lr=0.1)
for _ in range(3):
    opt.zero_grad()
    ((torch.tensor(X, dtype=torch.float32) @ w - torch.tensor(y)) ** 2).mean().backward()
    opt.step()
"""


def test_hooks_record_when_training_ran(tmp_path: Path) -> None:
    """The real hooks: install lines, throttled partial_fit lines, torch steps and backward walls."""
    import json
    import os
    import subprocess
    import sys
    import time

    from opsgraft.evaluation.checkers._training import read_training
    from opsgraft.evaluation.sandbox import hooks_dir

    evidence = tmp_path / "evidence"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "OPSGRAFT_SANDBOX_ROOT")}
    env.update(PYTHONPATH=str(hooks_dir()), OPSGRAFT_EVIDENCE_DIR=str(evidence))
    began = time.time()
    proc = subprocess.run([sys.executable, "-c", HOOKED_PROGRAM], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    fits = [json.loads(line) for line in (evidence / "fit.jsonl").read_text().splitlines()]
    partial = [(f["estimator"], f["count"]) for f in fits if f.get("event") == "partial_fit"]
    assert partial == [("SGDRegressor", 1), ("SGDRegressor", 2), ("SGDRegressor", 4), ("MLPRegressor", 1), ("SGDRegressor", 5)]
    scaler = [f for f in fits if f.get("estimator") == "StandardScaler"]
    assert [(f["event"], f["predictor"]) for f in scaler] == [("fit", False)]
    training = read_training(evidence)
    assert training.imported == ("sklearn", "torch")
    assert training.transforms == ("sklearn StandardScaler.fit",)
    spans = {a.what: (a.start, a.end) for a in training.activities}
    assert set(spans) == {"sklearn SGDRegressor.partial_fit", "sklearn MLPRegressor.partial_fit", "torch optimizer steps", "torch backward"}
    assert all(began <= start <= end <= time.time() for start, end in spans.values())
    torch_lines = [json.loads(line) for line in (evidence / "torch.jsonl").read_text().splitlines()]
    assert [t["count"] for t in torch_lines if t["event"] == "backward"] == [1, 3]
    assert [t["steps"] for t in torch_lines if t["event"] == "exit"] == [3]


# --- MLflow registry -------------------------------------------------------------------------


def model_dir(tmp_path: Path, name: str = "model", mlmodel: bool = True) -> Path:
    folder = tmp_path / "mlruns" / name
    folder.mkdir(parents=True)
    if mlmodel:
        (folder / "MLmodel").write_text("flavors: {}\n")
    return folder


def register(client: Any, name: str, run_id: str, source: Path) -> Any:
    if not client.search_registered_models(filter_string=f"name = '{name}'"):
        client.create_registered_model(name)
    return client.create_model_version(name, str(source), run_id=run_id)


def test_registration_finds_a_version_of_a_finished_run_then_loads_it(store: Any, tmp_path: Path) -> None:
    # Real models that load and predict: test_checkers_registration.py. A hand-made MLmodel passes
    # every registry check, and then fails to load.
    rid = make_run(store)
    register(store, "iris-classifier", rid, model_dir(tmp_path))
    v = check("mlflow-registration", ctx_for(tmp_path), model_name="iris-classifier")
    assert v.evidence["run_id"] == rid and v.evidence["model"] == "iris-classifier"
    assert not v.passed
    assert v.reasons[0].startswith("version 1 of 'iris-classifier' does not load through mlflow.pyfunc: ")


def test_registration_fails_without_any_model(store: Any, tmp_path: Path) -> None:
    make_run(store)
    v = check("mlflow-registration", ctx_for(tmp_path))
    assert not v.passed and v.reasons == ("no model was logged or registered in MLflow",)


def test_registration_tells_logged_from_registered(store: Any, tmp_path: Path) -> None:
    rid = make_run(store)
    store.create_logged_model(experiment_id="0", source_run_id=rid, name="model")
    v = check("mlflow-registration", ctx_for(tmp_path))
    assert not v.passed
    assert "logged but none was registered" in v.reasons[0] and "registered_model_name" in v.reasons[0]


def test_registration_checks_the_model_name(store: Any, tmp_path: Path) -> None:
    register(store, "iris_logreg", make_run(store), model_dir(tmp_path))
    v = check("mlflow-registration", ctx_for(tmp_path), model_name="iris-classifier")
    assert not v.passed
    assert v.reasons == ("no version of a model named 'iris-classifier' is registered (found: iris_logreg)",)


def test_registration_needs_a_finished_run(store: Any, tmp_path: Path) -> None:
    register(store, "m", make_run(store, status=None), model_dir(tmp_path))
    v = check("mlflow-registration", ctx_for(tmp_path), model_name="m")
    assert not v.passed and "RUNNING, not FINISHED" in v.reasons[0]


def test_registration_needs_the_model_files(store: Any, tmp_path: Path) -> None:
    register(store, "m", make_run(store), model_dir(tmp_path, mlmodel=False))
    v = check("mlflow-registration", ctx_for(tmp_path), model_name="m")
    assert not v.passed and "no model files" in v.reasons[0]


def test_registration_rejects_a_version_from_another_store(store: Any, tmp_path: Path) -> None:
    register(store, "m", "0" * 32, model_dir(tmp_path))
    v = check("mlflow-registration", ctx_for(tmp_path), model_name="m")
    assert not v.passed and "not linked to a run of this program" in v.reasons[0]


def test_registration_fails_when_the_program_crashed(tmp_path: Path) -> None:
    crashed = ExecutionResult(status="failed", returncode=2, wall_s=1.0, stderr_tail="AttributeError: x\n")
    v = check("mlflow-registration", ctx_for(tmp_path, crashed))
    assert v.reasons == ("the program exited with code 2: AttributeError: x",)


# --- W&B offline runs ------------------------------------------------------------------------

BLOCK = 32768


def _frame(kind: int, payload: bytes) -> bytes:
    crc = zlib.crc32(payload, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF
    return struct.pack("<IHB", crc, len(payload), kind) + payload


def write_wandb_log(path: Path, records: list[Any]) -> None:
    """A W&B transaction log in the LevelDB log framing, split across 32 KiB blocks as needed."""
    out = bytearray(struct.pack("<4sHB", b":W&B", 0xBEE1, 0))
    for rec in records:
        data, first = rec.SerializeToString(), True
        while True:
            left = BLOCK - len(out) % BLOCK
            if left < 7:
                out += b"\0" * left
                continue
            chunk, data = data[: left - 7], data[left - 7 :]
            last = not data
            kind = (1 if last else 2) if first else (4 if last else 3)
            out += _frame(kind, chunk)
            first = False
            if last:
                break
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out))


def wandb_records(
    config: dict[str, Any], rows: list[dict[str, float]], exit_code: int | None = 0, t0: float | None = None
) -> list[Any]:
    import json

    from wandb.proto import wandb_internal_pb2 as pb

    recs = []
    run = pb.Record()
    run.run.run_id = "abc123"
    for key, value in config.items():
        item = run.run.config.update.add()
        item.key, item.value_json = key, json.dumps(value)
    recs.append(run)
    for step, row in enumerate(rows):
        rec = pb.Record()
        stamp = {} if t0 is None else {"_timestamp": t0 + step}
        for key, value in {**row, "_step": step, **stamp}.items():
            item = rec.history.item.add()
            item.key, item.value_json = key, json.dumps(value)
        rec.history.step.num = step
        recs.append(rec)
    if exit_code is not None:
        rec = pb.Record()
        rec.exit.exit_code = exit_code
        recs.append(rec)
    return recs


def run_file(workdir: Path) -> Path:
    return workdir / "wandb" / "offline-run-20260101_000000-abc123" / "run-abc123.wandb"


WANDB_ARGS = {"min_config": 2, "min_history": 3, "history_steps": 3}


def test_wandb_passes_config_and_history(tmp_path: Path) -> None:
    rows = [{"loss": 1.0 / (i + 1)} for i in range(4)]
    write_wandb_log(run_file(tmp_path), wandb_records({"lr": 0.1, "epochs": 4, "_wandb": {}}, rows))
    v = check("wandb-run", ctx_for(tmp_path), **WANDB_ARGS)
    assert v.passed, v.reasons
    assert v.evidence["config_keys"] == ["epochs", "lr"]
    assert v.evidence["history_rows"] == 4 and v.evidence["metrics"] == ["loss"]


def test_wandb_reads_records_spanning_blocks(tmp_path: Path) -> None:
    config = {"big": "x" * 3 * BLOCK, "lr": 0.1}
    rows = [{"loss": float(i)} for i in range(2000)]
    write_wandb_log(run_file(tmp_path), wandb_records(config, rows))
    assert run_file(tmp_path).stat().st_size > 4 * BLOCK
    run = read_run(run_file(tmp_path))
    assert run.config["big"] == config["big"] and len(run.history) == 2000
    assert run.steps == list(range(2000)) and run.exit_code == 0


def test_wandb_keeps_what_precedes_a_truncated_tail(tmp_path: Path) -> None:
    write_wandb_log(run_file(tmp_path), wandb_records({"lr": 0.1}, [{"loss": 1.0}] * 5, exit_code=None))
    data = run_file(tmp_path).read_bytes()
    run_file(tmp_path).write_bytes(data[:-3])
    run = read_run(run_file(tmp_path))
    assert run.config == {"lr": 0.1} and len(run.history) == 4


def test_wandb_without_a_run(tmp_path: Path) -> None:
    v = check("wandb-run", ctx_for(tmp_path))
    assert not v.passed and "no W&B run was recorded" in v.reasons[0]
    (tmp_path / "wandb").mkdir()
    v = check("wandb-run", ctx_for(tmp_path))
    assert not v.passed and "holds no offline run" in v.reasons[0]


def test_wandb_unreadable_file(tmp_path: Path) -> None:
    run_file(tmp_path).parent.mkdir(parents=True)
    run_file(tmp_path).write_bytes(b"not a wandb log at all")
    v = check("wandb-run", ctx_for(tmp_path))
    assert not v.passed and v.reasons == ("the W&B run file could not be read",)


def test_wandb_counts_config_history_and_steps(tmp_path: Path) -> None:
    write_wandb_log(run_file(tmp_path), wandb_records({"lr": 0.1}, [{"loss": 0.5}]))
    v = check("wandb-run", ctx_for(tmp_path), **WANDB_ARGS)
    assert not v.passed
    assert any("config has 1 key(s), expected at least 2" in r for r in v.reasons)
    assert any("1 history row(s), expected at least 3" in r for r in v.reasons)
    assert any("spans 1 step(s), expected at least 3" in r for r in v.reasons)


def test_wandb_fails_on_a_nonzero_exit_record(tmp_path: Path) -> None:
    rows = [{"loss": 1.0 / (i + 1)} for i in range(3)]
    write_wandb_log(run_file(tmp_path), wandb_records({"a": 1, "b": 2}, rows, exit_code=1))
    v = check("wandb-run", ctx_for(tmp_path), **WANDB_ARGS)
    assert v.reasons == ("the W&B run exited with code 1",)


def test_wandb_fails_when_the_program_crashed(tmp_path: Path) -> None:
    write_wandb_log(run_file(tmp_path), wandb_records({"a": 1, "b": 2}, [{"loss": 1.0}] * 3))
    crashed = ExecutionResult(
        status="failed", returncode=1, wall_s=1.0, stderr_tail="UsageError: No API key\n"
    )
    v = check("wandb-run", ctx_for(tmp_path, crashed))
    assert v.reasons == ("the program exited with code 1: UsageError: No API key",)


def test_wandb_history_must_come_from_training(tmp_path: Path) -> None:
    rows = [{"loss": 1.0 / (i + 1)} for i in range(4)]
    write_wandb_log(run_file(tmp_path), wandb_records({"lr": 0.1, "epochs": 4}, rows, t0=T0))
    write_evidence(tmp_path, "torch.jsonl", [install("torch")])
    v = check("wandb-run", ctx_for(tmp_path), **WANDB_ARGS)
    assert not v.passed and v.reasons[0].startswith("torch was imported but no training was observed")
    write_evidence(tmp_path, "torch.jsonl", [{"event": "step", "wall": T0 + 20}])
    v = check("wandb-run", ctx_for(tmp_path), **WANDB_ARGS)
    assert not v.passed and "no training (fit/step) was observed up to then" in v.reasons[0]
    write_evidence(tmp_path, "torch.jsonl", [{"event": "step", "wall": T0 + 1.5}])
    v = check("wandb-run", ctx_for(tmp_path), **WANDB_ARGS)
    assert v.passed, v.reasons
    assert v.evidence["training_observed"] is True and v.evidence["training_in_window"] is True


def test_wandb_history_must_change_over_steps(tmp_path: Path) -> None:
    rows = [{"loss": 0.5, "acc": 0.1}] * 4
    write_wandb_log(run_file(tmp_path), wandb_records({"lr": 0.1, "epochs": 4}, rows, t0=T0))
    v = check("wandb-run", ctx_for(tmp_path), **WANDB_ARGS)
    assert v.reasons == (
        "every value logged at several steps stayed the same (acc = 0.1 in all 4 rows): log what "
        "each epoch/step produces, not a fixed number",
    )
    assert check("wandb-run", ctx_for(tmp_path), min_config=2, min_history=1, history_steps=1).passed


# --- real programs in the sandbox ------------------------------------------------------------


def _judge(task_id: str, variant: str) -> Any:
    from opsgraft.evaluation.corpus import load_task, mutant_files, reference_files
    from opsgraft.evaluation.evaluator import judge
    from opsgraft.types import Candidate

    task = load_task(task_id)
    if variant == "input":
        files: dict[str, str] = {}
    elif variant == "reference":
        files = reference_files(task)
    else:
        files = mutant_files(task)[variant]
    return judge(task, Candidate(task.id, 0, files, task.entry, origin=variant))


REAL: list[tuple[str, str, bool]] = [
    ("tracking-mlflow-sklearn-diabetes", "input", False),
    ("tracking-mlflow-sklearn-diabetes", "reference", True),
    ("tracking-mlflow-sklearn-diabetes", "constant-metrics", False),  # issue 14: trains nothing
    ("registration-mlflow-sklearn-iris", "reference", True),
    ("registration-mlflow-sklearn-iris", "logged-not-registered", False),
    ("registration-mlflow-sklearn-iris", "unfitted-pipeline", False),  # registered, cannot predict
    ("tracking-wandb-pytorch-gcn", "reference", True),
]
SLOW: list[tuple[str, str, bool]] = [
    ("tracking-wandb-pytorch-gcn", "input", False),
    ("tracking-wandb-pytorch-gcn", "summary-only", False),
    ("tracking-wandb-pytorch-gcn", "untrained-metrics", False),
    ("tracking-mlflow-lightning-digits-cnn", "final-value-every-step", False),
    ("translate-wandb-mlflow-sgd", "reference", True),
    ("translate-wandb-mlflow-sgd", "input", False),
    ("translate-wandb-mlflow-mlp", "both-trackers", False),
    ("registration-mlflow-sklearn-wine-forest", "reference", True),
    ("registration-mlflow-sklearn-wine-forest", "skops-default", False),
    ("registration-mlflow-lightning-digits", "sklearn-flavor-cloudpickle", False),
    ("tracking-mlflow-lightning-digits-cnn", "reference", True),
    ("tracking-mlflow-keras-digits-mlp", "reference", True),
]


def _assert_judged(
    task_id: str, variant: str, should_pass: bool, judge_fn: Callable[[str, str], Any]
) -> None:
    result = judge_fn(task_id, variant)
    reasons = result.verdict.reasons if result.verdict else ()
    detail = f"{result.status}: {reasons} / {result.execution.stderr_tail[-800:]}"
    assert (result.status == "passed") is should_pass, detail
    if not should_pass:
        assert result.status == "failed" and reasons, detail


@pytest.mark.parametrize(("task_id", "variant", "should_pass"), REAL, ids=[f"{t}:{v}" for t, v, _ in REAL])
def test_real_tasks(task_id: str, variant: str, should_pass: bool) -> None:
    _assert_judged(task_id, variant, should_pass, _judge)


@pytest.mark.slow
@pytest.mark.parametrize(("task_id", "variant", "should_pass"), SLOW, ids=[f"{t}:{v}" for t, v, _ in SLOW])
def test_real_tasks_slow(task_id: str, variant: str, should_pass: bool) -> None:
    _assert_judged(task_id, variant, should_pass, _judge)
