"""``mlflow-registration``: a registered model version, made by a FINISHED run, that serves predictions.

Logging a model is not registering it: only a version in the model registry (of the program's
own sqlite store) whose run finished counts. And registering is not serving: the version must
load back through ``mlflow.pyfunc`` and predict on a few rows of what the program trained on
(``rows-*.npy``, kept by the sandbox hooks), so that a LightningModule logged under the
scikit-learn flavor, or an unfitted estimator, fails. Loading unpickles the program's own code,
so it runs in a subprocess of the program's environment, never in the evaluator.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from opsgraft.evaluation.checkers._evidence import run_reason
from opsgraft.evaluation.checkers.base import CheckContext, verdict
from opsgraft.evaluation.checkers.mlflow_tracking import (
    all_runs,
    missing_store_reason,
    open_client,
    store_path,
)
from opsgraft.registry import checkers
from opsgraft.types import Verdict

log = logging.getLogger(__name__)

NAME = "mlflow-registration"
PREDICT_TIMEOUT_S = 120
_MARK = "OPSGRAFT-PREDICT "
# The MLflow flavor (and its log_model) of the framework whose hook kept rows-<name>.npy.
_FLAVOR_OF_ROWS = {
    "torch": ("pytorch", "mlflow.pytorch"),
    "keras": ("keras", "mlflow.keras"),
    "sklearn": ("sklearn", "mlflow.sklearn"),
}

# Run as ``python -c`` in the program's workdir and environment: argv = model URI, evidence folder.
# Prints one line, _MARK + JSON: the stage it reached (load, predict, loaded, predicted) and the
# error or the shapes. Every try is on a copy of the rows as the program had them first.
_PREDICT = r"""
import glob, importlib, json, os, sys

MARK = "OPSGRAFT-PREDICT "
ORDER = {"pytorch": "torch", "sklearn": "sklearn", "keras": "keras", "tensorflow": "keras"}
FRAMEWORKS = ("sklearn", "pytorch", "keras", "tensorflow")


def say(**record):
    sys.stdout.write("\n" + MARK + json.dumps(record, default=str) + "\n")
    sys.stdout.flush()


def describe(exc):
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return (type(exc).__name__ + (": " + lines[0] if lines else ""))[:300]


def variants(rows, model):
    import numpy as np
    if rows.dtype.names:  # a DataFrame's rows, with its column names
        import pandas as pd
        yield pd.DataFrame.from_records(rows)
        return
    yield rows
    if rows.dtype.kind in "fiub" and rows.dtype != np.float32:
        yield rows.astype(np.float32)  # torch modules want float32; numpy gives float64
    try:
        schema = model.metadata.get_input_schema()
        names = schema.input_names() if schema is not None and schema.has_input_names() else []
    except Exception:
        names = []
    if names and rows.ndim == 2 and rows.shape[1] == len(names):
        import pandas as pd
        yield pd.DataFrame(rows, columns=names)


def load(uri, flavors):
    # pyfunc, or the framework's own flavor when MLflow gave the model no pyfunc flavor
    own = [f for f in FRAMEWORKS if f in flavors]
    via = "mlflow.pyfunc" if "python_function" in flavors or not own else "mlflow." + own[0]
    return importlib.import_module(via).load_model(uri), via


def predict(model, via, data):
    if via == "mlflow.pytorch":
        import torch
        with torch.no_grad():
            return model(torch.as_tensor(data))
    return model.predict(data)


def main():
    uri, folder = sys.argv[1], sys.argv[2]
    import numpy as np
    from mlflow.models import get_model_info

    try:
        flavors = dict(get_model_info(uri).flavors)
    except Exception:
        flavors = {}
    backend = (flavors.get("keras") or {}).get("keras_backend")
    if backend:  # a server of this model would run with the backend it was saved with
        os.environ.setdefault("KERAS_BACKEND", str(backend))
    names = sorted(flavors)
    via = "mlflow.pyfunc"
    try:
        model, via = load(uri, flavors)
    except (Exception, SystemExit) as exc:
        return say(stage="load", via=via, error=describe(exc), flavors=names)
    first = [ORDER[f] for f in names if f in ORDER]
    files = sorted(glob.glob(os.path.join(folder, "rows-*.npy")),
                   key=lambda p: (os.path.basename(p)[5:-4] not in first, p))
    if not files:
        return say(stage="loaded", via=via, flavors=names)
    errors = []
    for path in files:
        try:
            rows = np.load(path, allow_pickle=True)
        except Exception as exc:
            errors.append((os.path.basename(path), describe(exc)))
            continue
        for data in variants(rows, model):
            try:
                out = predict(model, via, data)
            except (Exception, SystemExit) as exc:
                errors.append((os.path.basename(path), describe(exc)))
                continue
            try:
                shape = list(np.shape(out))
            except Exception:
                shape = None
            return say(stage="predicted", via=via, flavors=names, rows=os.path.basename(path),
                       input_shape=list(rows.shape), output_shape=shape)
    say(stage="predict", via=via, flavors=names, rows=errors[0][0], error=errors[0][1],
        tries=len(errors))


main()
"""


def _logged_model_count(client: Any, runs: list[Any]) -> int:
    """How many models the runs logged (MLflow 3 logged models), registered or not."""
    if not runs:
        return 0
    try:
        exp_ids = sorted({r.info.experiment_id for r in runs})
        return len(client.search_logged_models(experiment_ids=exp_ids, max_results=100))
    except Exception as exc:  # only a hint for the reason text; never decisive
        log.debug("could not list logged models: %s", exc)
        return 0


def _artifact_present(client: Any, mv: Any) -> bool | None:
    """Whether the version's model files (an MLmodel) exist on disk; None when it cannot be told.

    MLflow 3 points a version at its logged model (``models:/m-...``); older or hand-made
    versions point at ``runs:/<run>/<path>`` or at a folder.
    """
    source = str(mv.source or "")
    model_id = getattr(mv, "model_id", None)
    if not model_id and source.startswith("models:/m-"):
        model_id = source.removeprefix("models:/").split("/")[0]
    location: str | None = None
    try:
        if model_id:
            location = client.get_logged_model(model_id).artifact_location
        elif source.startswith("runs:/"):
            run_id, _, sub = source.removeprefix("runs:/").partition("/")
            location = f"{client.get_run(run_id).info.artifact_uri}/{sub}"
        elif source and "://" not in source.removeprefix("file://"):
            location = source
    except Exception as exc:  # an unknown model id or run: the run checks report it
        log.debug("cannot locate the files of %s v%s: %s", mv.name, mv.version, exc)
    if not location or "://" in location.removeprefix("file://"):
        return None
    return (Path(location.removeprefix("file://")) / "MLmodel").is_file()


@checkers.register(NAME)
def check_mlflow_registration(ctx: CheckContext, model_name: str | None = None) -> Verdict:
    """Pass when a registered version (of ``model_name``, if given) comes from a FINISHED run and
    loads back through ``mlflow.pyfunc`` to predict on the program's own input."""
    evidence: dict[str, Any] = {}
    exec_reason = run_reason(ctx)
    if exec_reason:
        return verdict(NAME, [exec_reason], evidence)
    db = store_path(ctx)
    if not db.is_file():
        return verdict(NAME, [missing_store_reason(ctx)], evidence)

    with open_client(db) as client:
        found = _judge_registry(client, model_name, evidence)
    if not found.passed:
        return found
    reason = _serve_reason(ctx, evidence)
    return verdict(NAME, [reason] if reason else [], evidence)


def _judge_registry(client: Any, model_name: str | None, evidence: dict[str, Any]) -> Verdict:
    """Pass when a version is READY, has model files and comes from a FINISHED run (noted in evidence)."""
    runs = all_runs(client)
    by_id = {r.info.run_id: r for r in runs}
    evidence["runs"] = len(runs)
    versions = list(client.search_model_versions(max_results=200))
    names = sorted({mv.name for mv in versions})
    evidence["registered_models"] = names
    if not versions:
        logged = _logged_model_count(client, runs)
        evidence["logged_models"] = logged
        if logged:
            return verdict(
                NAME,
                [
                    f"{logged} model(s) were logged but none was registered: pass "
                    "registered_model_name=... to log_model (or call mlflow.register_model)"
                ],
                evidence,
            )
        return verdict(NAME, ["no model was logged or registered in MLflow"], evidence)

    if model_name is not None:
        versions = [mv for mv in versions if mv.name == model_name]
        if not versions:
            return verdict(
                NAME,
                [f"no version of a model named {model_name!r} is registered (found: {', '.join(names)})"],
                evidence,
            )

    problems: list[str] = []
    for mv in sorted(versions, key=lambda v: int(v.version), reverse=True):
        run = by_id.get(mv.run_id) if mv.run_id else None
        if run is None:
            problems.append(f"version {mv.version} of {mv.name!r} is not linked to a run of this program")
            continue
        if run.info.status != "FINISHED":
            problems.append(
                f"version {mv.version} of {mv.name!r} comes from a run that ended {run.info.status}, "
                "not FINISHED"
            )
            continue
        if mv.status != "READY":
            problems.append(f"version {mv.version} of {mv.name!r} is {mv.status}, not READY")
            continue
        present = _artifact_present(client, mv)
        if present is False:
            problems.append(f"version {mv.version} of {mv.name!r} has no model files (no MLmodel)")
            continue
        evidence.update(model=mv.name, version=mv.version, run_id=mv.run_id, artifact_checked=present)
        return verdict(NAME, [], evidence)
    return verdict(NAME, problems[:3], evidence)


def _serve_reason(ctx: CheckContext, evidence: dict[str, Any]) -> str | None:
    """Why the version in ``evidence`` cannot serve the program's own rows, or None when it can."""
    name, version = evidence["model"], evidence["version"]
    rows = sorted(p.name for p in ctx.evidence_dir.glob("rows-*.npy"))
    # No hooked framework trained (or none with array input): loading is all that can be asked.
    evidence["input_rows"] = rows or "none captured: only loading was checked"
    outcome = predict_registered(ctx, f"models:/{name}/{version}")
    evidence["serving"] = outcome
    stage = outcome.get("stage")
    if stage in ("predicted", "loaded"):
        return None
    where = f"version {version} of {name!r}"
    via = outcome.get("via") or "mlflow.pyfunc"
    hint = _flavor_hint(outcome, rows)
    if stage == "timeout":
        return f"{where} did not load and predict through mlflow.pyfunc within {PREDICT_TIMEOUT_S} s"
    if stage == "load":
        return f"{where} does not load through {via}: {outcome.get('error')}{hint}"
    if stage == "predict":
        return (
            f"{where} does not load and predict through {via} on the program's own input "
            f"({outcome.get('rows')}): {outcome.get('error')}{hint}"
        )
    return f"{where} could not be loaded to predict: {outcome.get('error') or 'the loader crashed'}"


def _flavor_hint(outcome: dict[str, Any], rows: list[str]) -> str:
    """A hint when the model was logged under another flavor than that of the framework that trained."""
    flavors = set(outcome.get("flavors") or [])
    captured = {file.removeprefix("rows-").removesuffix(".npy") for file in rows}
    # torch and keras first: an sklearn fit beside them is most often preprocessing.
    trained = [_FLAVOR_OF_ROWS[key] for key in ("torch", "keras", "sklearn") if key in captured]
    if not trained or any(flavor in flavors for flavor, _ in trained):
        return ""
    flavor, logger = trained[0]
    shown = ", ".join(sorted(flavors - {"python_function"})) or "python_function"
    return f" (logged under the {shown} flavor, but the program trained a {flavor} model: use {logger}.log_model)"


def predict_registered(ctx: CheckContext, uri: str, timeout_s: float = PREDICT_TIMEOUT_S) -> dict[str, Any]:
    """Load ``uri`` with mlflow.pyfunc and predict on the evidence rows, in a subprocess of the program's
    environment and workdir; the outcome as a dict with ``stage`` (``predicted``, ``loaded``, ``load``,
    ``predict``, ``timeout`` or ``crash``)."""
    argv = [sys.executable, "-c", _PREDICT, uri, str(ctx.evidence_dir)]
    proc = subprocess.Popen(
        argv,
        cwd=ctx.workdir,
        env=_predict_env(ctx),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,  # its own group: a timeout kills it all
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.communicate()
        return {"stage": "timeout"}
    finally:
        _kill_group(proc)  # children the model's code started must not outlive the verdict
    for line in reversed(out.splitlines()):
        if line.startswith(_MARK):
            try:
                record: dict[str, Any] = json.loads(line[len(_MARK) :])
                return record
            except ValueError:
                break
    last = [ln.strip() for ln in err.splitlines() if ln.strip()]
    return {"stage": "crash", "returncode": proc.returncode, "error": last[-1][:300] if last else None}


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _predict_env(ctx: CheckContext) -> dict[str, str]:
    """The program's environment without the sandbox hooks: loading the model is not the program."""
    from opsgraft.evaluation.sandbox import hooks_dir

    env = {k: v for k, v in ctx.env.items() if k not in ("OPSGRAFT_EVIDENCE_DIR", "OPSGRAFT_SANDBOX_ROOT")}
    hooks = str(hooks_dir())
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != hooks]
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    else:
        env.pop("PYTHONPATH", None)
    return env
