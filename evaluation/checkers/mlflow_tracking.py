"""``mlflow-tracking``: a FINISHED MLflow run with params and metrics in the program's own store.

The evidence is the sqlite store the sandbox points ``MLFLOW_TRACKING_URI`` at, and what the
sandbox hooks saw train (``_training``): the metrics must be logged no earlier than training
began, and with ``metric_history`` some metric must change over the steps. The source is only
read for ``forbid_imports`` (translation tasks), a static check on top of the evidence, and to
tell training no hook can see (xgboost...) from none. The helpers at the top are shared with the
other MLflow and W&B checkers.
"""

from __future__ import annotations

import ast
import importlib
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opsgraft import pyast
from opsgraft.evaluation.checkers._evidence import run_reason
from opsgraft.evaluation.checkers._training import Training, distinct_values, read_training, training_reason
from opsgraft.evaluation.checkers.base import CheckContext, verdict
from opsgraft.frameworks import top_level_imports
from opsgraft.registry import checkers
from opsgraft.types import Verdict

log = logging.getLogger(__name__)

NAME = "mlflow-tracking"
STORE_FILE = "mlflow.db"
_MAX_RUNS = 200
_MAX_KEYS = 100  # metric histories read per run


def forbidden_imports(files: Mapping[str, str], modules: Iterable[str]) -> list[str]:
    """Modules of ``modules`` that some Python source in ``files`` still imports."""
    wanted = {m.split(".")[0] for m in modules}
    if not wanted:
        return []
    return sorted(files_imports(files) & wanted)


def files_imports(files: Mapping[str, str]) -> set[str]:
    """The top-level modules the Python sources in ``files`` import."""
    found: set[str] = set()
    for path, source in files.items():
        if path.endswith(".py"):
            found |= _imported_roots(source)
    return found


def _imported_roots(source: str) -> set[str]:
    """The top-level modules ``source`` imports, statically (opsgraft.frameworks) or by a literal
    ``__import__``/``import_module`` call: a program that hides its framework import still trains with it."""
    try:
        tree = pyast.parse(source)
    except SyntaxError:
        # A file that does not parse cannot run either; a regex still tells what it imports.
        return set(re.findall(r"^\s*(?:from|import)\s+([A-Za-z_]\w*)", source, re.MULTILINE))
    roots = top_level_imports(tree) or set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if fname in ("__import__", "import_module") and isinstance(node.args[0].value, str):
                roots.add(node.args[0].value.split(".")[0])
    return roots


def store_path(ctx: CheckContext) -> Path:
    """The sqlite file the program was told to track into."""
    uri = ctx.env.get("MLFLOW_TRACKING_URI", "")
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///") :])
    return ctx.workdir / STORE_FILE


def missing_store_reason(ctx: CheckContext) -> str:
    """A hint on where the program's MLflow data went, given that the expected store is absent."""
    elsewhere = sorted(p.name for p in ctx.workdir.glob("*.db") if p.name != STORE_FILE)
    if (ctx.workdir / "mlruns").is_dir():
        elsewhere.insert(0, "mlruns/")
    if elsewhere:
        return (
            "no MLflow store at the environment's MLFLOW_TRACKING_URI, but "
            f"{', '.join(elsewhere[:3])} was written: do not call mlflow.set_tracking_uri(), "
            "the environment already sets it"
        )
    return "no MLflow store was created: the program logged nothing to MLflow"


@contextmanager
def open_client(db: Path) -> Iterator[Any]:
    """An MlflowClient over the sqlite store ``db`` (tracking and registry), released afterwards."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{db}"
    try:
        yield MlflowClient(tracking_uri=uri, registry_uri=uri)
    finally:
        _release_engines(uri)


def _release_engines(uri: str) -> None:
    """Close the connections of the SQLAlchemy engines MLflow caches per store URI.

    A checker judges thousands of sandboxes in one process; without this every deleted
    sandbox store would stay open. The engines stay cached (MLflow's cached stores hold them
    too) and simply reconnect if the same store is read again.
    """
    for module in ("mlflow.store.tracking.sqlalchemy_store", "mlflow.store.model_registry.sqlalchemy_store"):
        try:
            engine = importlib.import_module(module).SqlAlchemyStore._engine_map.get(uri)
            if engine is not None:
                engine.dispose()
        except Exception as exc:  # a private MLflow detail: losing it only costs open files
            log.debug("could not release %s engine: %s", module, exc)


def all_runs(client: Any) -> list[Any]:
    """Every run of every experiment in the store, deleted ones included, newest first."""
    from mlflow.entities import ViewType

    exps = client.search_experiments(view_type=ViewType.ALL)
    if not exps:
        return []
    return list(
        client.search_runs(
            [e.experiment_id for e in exps],
            run_view_type=ViewType.ALL,
            max_results=_MAX_RUNS,
            order_by=["attributes.start_time DESC"],
        )
    )


def unfinished_reason(runs: list[Any]) -> str:
    """Why none of ``runs`` counts as finished."""
    if not runs:
        return "the MLflow store holds no run: start one with mlflow.start_run()"
    statuses = sorted({r.info.status for r in runs})
    if "RUNNING" in statuses:
        return (
            f"no MLflow run ended as FINISHED (statuses: {', '.join(statuses)}): end the run "
            "with mlflow.end_run() or use `with mlflow.start_run():`"
        )
    return f"no MLflow run ended as FINISHED (statuses: {', '.join(statuses)})"


def _histories(client: Any, run_id: str, keys: Iterable[str]) -> dict[str, list[Any]]:
    """Every logged value (``Metric``: value, step, timestamp in ms) of the run's metrics."""
    return {k: list(client.get_metric_history(run_id, k)) for k in sorted(keys)[:_MAX_KEYS]}


@checkers.register(NAME)
def check_mlflow_tracking(
    ctx: CheckContext,
    min_params: int = 1,
    min_metrics: int = 1,
    metric_history: bool = False,
    forbid_imports: Iterable[str] = (),
) -> Verdict:
    """Pass when one FINISHED run has ``min_params`` params and ``min_metrics`` metrics from training.

    The metrics must be logged no earlier than training (seen by the sandbox hooks) began. With
    ``metric_history`` at least one of the run's metrics must have more than one logged value
    (per-step logging, not just a final number), and they must not all stay constant.
    ``forbid_imports`` fails candidates whose sources still import one of the given modules.
    """
    reasons: list[str] = []
    evidence: dict[str, Any] = {}
    still = forbidden_imports(ctx.files, forbid_imports)
    if still:
        reasons.append(f"the program still imports {', '.join(still)}; replace it with mlflow entirely")
    if "wandb" in set(forbid_imports) and (ctx.workdir / "wandb").is_dir():
        reasons.append("the program still wrote a W&B run (./wandb); replace wandb with mlflow entirely")
    exec_reason = run_reason(ctx)
    if exec_reason:
        return verdict(NAME, [*reasons, exec_reason], evidence)

    db = store_path(ctx)
    if not db.is_file():
        return verdict(NAME, [*reasons, missing_store_reason(ctx)], evidence)
    origin = _Origin(read_training(ctx.evidence_dir), files_imports(ctx.files))
    with open_client(db) as client:
        return _judge_store(client, reasons, evidence, min_params, min_metrics, metric_history, origin)


@dataclass(frozen=True)
class _Origin:
    """What says where the metrics came from: the hooks' training record and the source's imports."""

    training: Training
    imports: set[str]

    def reasons(self, histories: dict[str, list[Any]], metric_history: bool, evidence: dict[str, Any]) -> list[str]:
        """Why these metric histories did not come from training (empty when they may have)."""
        out: list[str] = []
        stamps = [m.timestamp / 1000 for series in histories.values() for m in series]
        first, last = (min(stamps), max(stamps)) if stamps else (None, None)
        why = training_reason(self.training, first, last, self.imports, evidence)
        if why:
            out.append(why)
        stepped = {k: series for k, series in histories.items() if len(series) >= 2}
        if metric_history and stepped and all(distinct_values(m.value for m in s) < 2 for s in stepped.values()):
            key, series = sorted(stepped.items())[0]
            out.append(
                f"every metric logged at several steps kept one value ({key} = {series[0].value:g} "
                f"at all {len(series)} steps): log the value each epoch/step produces, not a fixed number"
            )
        return out


def _judge_store(
    client: Any,
    reasons: list[str],
    evidence: dict[str, Any],
    min_params: int,
    min_metrics: int,
    metric_history: bool,
    origin: _Origin,
) -> Verdict:
    runs = all_runs(client)
    evidence["runs"] = len(runs)
    finished = [r for r in runs if r.info.status == "FINISHED"]
    evidence["finished_runs"] = len(finished)
    if not finished:
        return verdict(NAME, [*reasons, unfinished_reason(runs)], evidence)

    # Judge the best finished run; a nested or per-trial layout still passes if one run qualifies.
    best: tuple[int, list[str], Any, dict[str, int], dict[str, Any]] | None = None
    for run in finished:
        run_reasons: list[str] = []
        n_params, n_metrics = len(run.data.params), len(run.data.metrics)
        if n_params < min_params:
            run_reasons.append(
                f"the run logged {n_params} parameter(s), expected at least {min_params} "
                "(mlflow.log_param / log_params)"
            )
        if n_metrics < min_metrics:
            run_reasons.append(
                f"the run logged {n_metrics} metric(s), expected at least {min_metrics} "
                "(mlflow.log_metric / log_metrics)"
            )
        histories = _histories(client, run.info.run_id, run.data.metrics) if n_metrics else {}
        history: dict[str, int] = {}
        if metric_history and n_metrics:
            history = {k: len(series) for k, series in histories.items()}
            if max(history.values()) < 2:
                run_reasons.append(
                    "every metric was logged only once; log it at every epoch/step with "
                    "mlflow.log_metric(key, value, step=...)"
                )
        origin_evidence: dict[str, Any] = {}
        if n_metrics:
            run_reasons += origin.reasons(histories, metric_history, origin_evidence)
        if best is None or len(run_reasons) < len(best[1]):
            best = (len(run_reasons), run_reasons, run, history, origin_evidence)
        if not run_reasons:
            break
    assert best is not None
    _, run_reasons, run, history, origin_evidence = best
    evidence.update(origin_evidence)
    evidence.update(
        run_id=run.info.run_id,
        params=sorted(run.data.params)[:20],
        metrics=sorted(run.data.metrics)[:20],
    )
    if history:
        evidence["metric_history"] = dict(sorted(history.items())[:20])
    log.debug("mlflow-tracking judged run %s: %s", run.info.run_id, run_reasons)
    return verdict(NAME, [*reasons, *run_reasons], evidence)
