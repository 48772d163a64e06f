"""``opsgraft bench --mlflow DIR``: one MLflow run per grid cell with its pass@k, in a local store.

The store is SQLite (DIR/mlflow.db; MLflow 3 refuses new file stores). A resumed benchmark logs into
the same runs (found by tags), so ``mlflow ui --backend-store-uri sqlite:///DIR/mlflow.db`` shows
one run per cell and run directory, with the latest scores.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
EXPERIMENT = "opsgraft-bench"


def store_uri(store: Path) -> str:
    """The tracking URI of the store folder (created): its SQLite database."""
    folder = Path(store).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


def log_cells(store: Path, run_dir: Path, grid: Any, cells: Mapping[str, Mapping[str, float]]) -> list[str]:
    """Log (or update) one MLflow run per cell; returns the run ids."""
    from mlflow.tracking import MlflowClient

    from opsgraft.evaluation.benchmark.config import model_repair

    uri = store_uri(store)
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(EXPERIMENT)
    exp_id = exp.experiment_id if exp else client.create_experiment(
        EXPERIMENT, artifact_location=(Path(store).resolve() / "artifacts").as_uri())
    where = str(Path(run_dir).resolve())
    ids = []
    cfg = grid.cfg
    for cell, scores in cells.items():
        model, mode, temperature = cell.split("|")
        found = client.search_runs([exp_id], f"tags.opsgraft_bench_dir = '{where}' and tags.opsgraft_cell = '{cell}'")
        if found:
            run_id = found[0].info.run_id
        else:
            run = client.create_run(exp_id, run_name=cell, tags={"opsgraft_bench_dir": where, "opsgraft_cell": cell})
            run_id = run.info.run_id
            for key, value in {"model": model, "mode": mode, "temperature": temperature, "n": cfg.n,
                               "repair": model_repair(cfg, grid.models[model]) if model in grid.models else cfg.repair,
                               "seed": cfg.seed, "max_tokens": cfg.max_tokens,
                               "tasks": len(grid.tasks)}.items():
                client.log_param(run_id, key, value)
        for key, value in scores.items():
            client.log_metric(run_id, key.replace("@", "_at_"), float(value))
        client.set_terminated(run_id)
        ids.append(run_id)
    log.info("logged %d cell(s) to MLflow at %s", len(ids), uri)
    return ids
