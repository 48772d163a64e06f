"""``mlflow-registration``: a registered model version made by a FINISHED run of the program.

Logging a model is not registering it: only a version in the model registry (of the program's
own sqlite store) whose run finished counts.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from opsgraft.evaluation.checkers.base import CheckContext, verdict
from opsgraft.evaluation.checkers.mlflow_tracking import (
    all_runs,
    execution_reason,
    missing_store_reason,
    open_client,
    store_path,
)
from opsgraft.registry import checkers
from opsgraft.types import Verdict

log = logging.getLogger(__name__)

NAME = "mlflow-registration"


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
    """Pass when a registered version (of ``model_name``, if given) comes from a FINISHED run."""
    evidence: dict[str, Any] = {}
    exec_reason = execution_reason(ctx)
    if exec_reason:
        return verdict(NAME, [exec_reason], evidence)
    db = store_path(ctx)
    if not db.is_file():
        return verdict(NAME, [missing_store_reason(ctx)], evidence)

    with open_client(db) as client:
        return _judge_registry(client, model_name, evidence)


def _judge_registry(client: Any, model_name: str | None, evidence: dict[str, Any]) -> Verdict:
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
