"""Train every point of a parameter grid in the sandbox and track each as one MLflow run.

The script runs as ``python SCRIPT --config point.json`` through
:func:`opsgraft.evaluation.sandbox.run_program` (timeout, limits, scrubbed environment; not a
security sandbox). The UI, not the script, logs to the project's store
``<root>/.opsgraft/mlflow.db``: params = the point's full config, metrics = the numbers the
script printed (see :func:`opsgraft.ui.grid.parse_printed`; a printed epoch/step counter is their MLflow step,
not a metric), its stdout as an artifact, and tags
naming the script and the grid. Files go to ``<root>/.opsgraft/ui-runs/<timestamp>/``.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from opsgraft.ui.grid import Script, parse_printed, varied

log = logging.getLogger(__name__)

CONFIG_FILE = "opsgraft_point.json"
SIBLING_MAX_BYTES = 5_000_000
SIBLINGS_MAX_BYTES = 20_000_000
DEFAULT_TIMEOUT_S = 900.0
EXPERIMENT_PREFIX = "opsgraft-ui/"


@dataclass
class PointResult:
    """One trained grid point."""

    index: int
    config: dict[str, Any]
    status: str
    wall_s: float
    metrics: dict[str, list[float]] = field(default_factory=dict)
    run_id: str = ""
    stderr_tail: str = ""
    # Per metric, the step of each value (the printed counter, see grid.parse_printed); empty: print order.
    steps: dict[str, list[float]] = field(default_factory=dict)
    step_name: str = ""  # the counter the steps are ("epoch"), "" for the print order

    def final(self) -> dict[str, float]:
        """The last value of each metric."""
        return {k: v[-1] for k, v in self.metrics.items() if v}

    def xs(self, name: str) -> list[float]:
        """The step of each value of metric ``name``: the printed counter's value, else 0, 1, ..."""
        values, steps = self.metrics.get(name, []), self.steps.get(name, [])
        return list(steps) if len(steps) == len(values) else [float(i) for i in range(len(values))]

    def int_steps(self, name: str) -> list[int]:
        """MLflow's (integer) steps of metric ``name``: the printed counter when whole, else 0, 1, ..."""
        xs = self.xs(name)
        return [int(x) for x in xs] if all(x.is_integer() for x in xs) else list(range(len(xs)))


@dataclass
class GridResult:
    """A finished (or cancelled) grid: where its files are and what each point gave."""

    script: str
    out_dir: Path
    tracking_uri: str
    experiment: str
    points: list[PointResult]
    varied: list[str]
    cancelled: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (paths as strings)."""
        data = asdict(self)
        data["out_dir"] = str(self.out_dir)
        return data


def tracking_uri(data_dir: Path) -> str:
    """The sqlite MLflow store of the UI: ``<root>/.opsgraft/mlflow.db``."""
    return f"sqlite:///{Path(data_dir).resolve() / 'mlflow.db'}"


_MLFLOW_LOCK = threading.Lock()


class Tracker:
    """Logs grid points to the project's MLflow store (mlflow imported on first use)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.uri = tracking_uri(self.data_dir)
        self._client: Any = None

    def client(self) -> Any:
        """The MlflowClient over :attr:`uri`."""
        if self._client is None:
            from opsgraft.config import apply_offline_env

            apply_offline_env()  # MLFLOW_DISABLE_TELEMETRY and friends, before mlflow is imported
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(tracking_uri=self.uri)
        return self._client

    def experiment_id(self, name: str) -> str:
        """The id of experiment ``name``, created with its artifacts under ``<root>/.opsgraft/mlartifacts``."""
        client = self.client()
        with _MLFLOW_LOCK:
            found = client.get_experiment_by_name(name)
            if found is not None:
                return str(found.experiment_id)
            location = (self.data_dir / "mlartifacts").as_uri()
            return str(client.create_experiment(name, artifact_location=location))

    def log_point(self, experiment_id: str, script: str, grid: str, point: PointResult, n_points: int,
                  names: list[str], stdout: str) -> str:
        """One MLflow run for ``point``; returns its id."""
        from mlflow.entities import Metric, Param, RunStatus

        client = self.client()
        label = ", ".join(f"{k}={point.config[k]}" for k in names) or "defaults"
        run = client.create_run(experiment_id, run_name=f"{Path(script).stem} {point.index + 1}/{n_points}: {label}",
                                tags={"opsgraft.script": script, "opsgraft.grid": grid,
                                      "opsgraft.point": str(point.index), "opsgraft.status": point.status,
                                      "opsgraft.source": "ui"})
        run_id = str(run.info.run_id)
        params = [Param(k, (json.dumps(v) if not isinstance(v, str) else v)[:6000]) for k, v in point.config.items()]
        now = int(time.time() * 1000)
        metrics = [Metric(name, value, now, step) for name, values in point.metrics.items()
                   for step, value in zip(point.int_steps(name), values, strict=True)]
        for i in range(0, max(len(metrics), 1), 900):  # log_batch takes at most 1000 metrics
            client.log_batch(run_id, metrics=metrics[i:i + 900], params=params if i == 0 else [])
        client.log_text(run_id, stdout, "stdout.txt")
        status = {"passed": RunStatus.FINISHED, "cancelled": RunStatus.KILLED}.get(point.status, RunStatus.FAILED)
        client.set_terminated(run_id, RunStatus.to_string(status))
        return run_id


def sibling_files(script: Path) -> dict[str, str]:
    """The script plus the small UTF-8 text files beside it (data a script reads by relative path)."""
    files = {script.name: script.read_text(encoding="utf-8")}
    total = 0
    for entry in sorted(script.parent.iterdir()):
        if entry == script or entry.name.startswith(".") or not entry.is_file() or entry.is_symlink():
            continue
        size = entry.stat().st_size
        if size > SIBLING_MAX_BYTES or total + size > SIBLINGS_MAX_BYTES or entry.name == CONFIG_FILE:
            continue
        try:
            files[entry.name] = entry.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        total += size
    return files


def new_out_dir(data_dir: Path) -> Path:
    """A fresh ``ui-runs/<timestamp>`` folder (a suffix when two grids start in the same second)."""
    base = Path(data_dir) / "ui-runs"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, n = base / stamp, 2
    while path.exists():
        path, n = base / f"{stamp}_{n}", n + 1
    path.mkdir(parents=True)
    return path


def run_grid(script: Script, points: list[dict[str, Any]], data_dir: Path, *,
             emit: Callable[[dict[str, Any]], None], cancel: threading.Event,
             timeout_s: float = DEFAULT_TIMEOUT_S, threads: int | None = 2) -> GridResult:
    """Train each point of the grid in turn (stops early when ``cancel`` is set); each is one MLflow run."""
    from opsgraft.evaluation.sandbox import run_program

    out_dir = new_out_dir(data_dir)
    tracker = Tracker(data_dir)
    names = varied(points)
    experiment = EXPERIMENT_PREFIX + script.rel
    result = GridResult(script.rel, out_dir, tracker.uri, experiment, [], names)
    files = sibling_files(script.path)
    (out_dir / "grid.json").write_text(json.dumps({"script": script.rel, "points": points}, indent=2), encoding="utf-8")
    emit({"message": f"grid of {len(points)} point(s) on {script.rel}; files in {out_dir}", "done": 0,
          "total": len(points)})
    experiment_id = tracker.experiment_id(experiment)
    for index, config in enumerate(points):
        if cancel.is_set():
            result.cancelled = True
            break
        label = ", ".join(f"{k}={config[k]}" for k in names) or "defaults"
        emit({"message": f"[{index + 1}/{len(points)}] training {label}", "done": index, "total": len(points)})
        (out_dir / f"point_{index:02d}.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        sandbox_root = Path(tempfile.mkdtemp(prefix="opsgraft-ui-"))
        try:
            run = run_program({**files, CONFIG_FILE: json.dumps(config)}, script.path.name, root=sandbox_root,
                              timeout_s=timeout_s, threads=threads, args=["--config", CONFIG_FILE])
            stdout_path = sandbox_root / ".sandbox" / "stdout.txt"
            stdout = stdout_path.read_text(encoding="utf-8", errors="replace") if stdout_path.exists() else ""
        finally:
            shutil.rmtree(sandbox_root, ignore_errors=True)
        status = "cancelled" if cancel.is_set() else run.result.status
        printed = parse_printed(stdout)
        point = PointResult(index, config, status, run.result.wall_s, printed.metrics,
                            stderr_tail=run.result.stderr_tail[-1500:], steps=printed.steps,
                            step_name=printed.step_name)
        (out_dir / f"point_{index:02d}.stdout.txt").write_text(stdout, encoding="utf-8")
        point.run_id = tracker.log_point(experiment_id, script.rel, out_dir.name, point, len(points), names, stdout)
        result.points.append(point)
        finals = ", ".join(f"{k}={v:g}" for k, v in point.final().items()) or "no metrics printed"
        emit({"message": f"[{index + 1}/{len(points)}] {status} in {point.wall_s:.1f}s: {finals}",
              "done": index + 1, "total": len(points), "run_id": point.run_id})
        if status != "passed" and point.stderr_tail:
            emit({"message": "  " + point.stderr_tail.strip().splitlines()[-1][:300]})
        if status == "cancelled":
            result.cancelled = True
            break
    (out_dir / "results.json").write_text(json.dumps(result.to_json(), indent=2, default=str), encoding="utf-8")
    return result
