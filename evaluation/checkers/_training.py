"""Whether logged metrics can have come from training: what the sandbox hooks saw train, and when.

Shared by ``mlflow-tracking`` and ``wandb-run``. The evidence is ``fit.jsonl`` (hook_fit_sklearn,
_keras, _lightning: fits with their wall-clock start and end, throttled ``partial_fit`` lines)
and ``torch.jsonl`` (hook_torch: optimizer steps and ``Tensor.backward`` calls with their first and
last wall time). Each hook writes an ``install`` line when its framework is imported, which tells
"imported but nothing trained" (a failure) from "trained with something no hook sees" (numpy,
xgboost's native API: not judged, ``training_observed`` is None).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opsgraft.evaluation.checkers._evidence import read_jsonl

# Metric timestamps are whole milliseconds (MLflow) and the hooks' wall times are floats: a
# training step that began in the same millisecond as a metric still counts as before it.
_SLACK_S = 0.002

# Training libraries no hook observes: when the sources import one, a missing fit is not proof
# that nothing was trained.
UNHOOKED = ("xgboost", "lightgbm", "catboost", "jax", "flax", "tensorflow", "statsmodels", "mxnet")

_ENTRY = {"keras": "Model.fit", "lightning": "Trainer.fit"}
_NOTHING_TRAINED = "no fit, partial_fit, Model.fit, Trainer.fit, optimizer step or backward pass"


@dataclass(frozen=True)
class Activity:
    """One stretch of training the hooks saw, in Unix seconds."""

    what: str
    start: float
    end: float


@dataclass(frozen=True)
class Training:
    """What the hooks report: which frameworks were imported, what trained, what only fit data."""

    imported: tuple[str, ...]
    activities: tuple[Activity, ...]
    transforms: tuple[str, ...]  # sklearn fits of non-predictors (scalers): preprocessing only

    @property
    def observable(self) -> bool:
        """Whether some hooked framework was imported, so training would have been seen."""
        return bool(self.imported or self.activities)


def read_training(evidence_dir: Path) -> Training:
    """The training activity recorded in ``evidence_dir`` (empty when the hooks saw nothing)."""
    imported: list[str] = []
    activities: list[Activity] = []
    transforms: list[str] = []
    for record in read_jsonl(evidence_dir / "fit.jsonl"):
        event = record.get("event")
        if event == "install":
            imported.append(str(record.get("hook", "?")))
            continue
        wall = _num(record.get("wall"))
        if wall is None or event not in ("fit", "fit_end", "partial_fit"):
            continue
        framework = str(record.get("framework", "?"))
        # sklearn names its estimator; Model.fit / Trainer.fit is what keras and Lightning train by.
        name = record.get("estimator") if framework == "sklearn" else _ENTRY.get(framework, "fit")
        what = f"{framework} {name}.{event}" if framework == "sklearn" else f"{framework} {name}"
        if record.get("predictor") is False:  # a scaler or encoder fitted its statistics
            transforms.append(what)
            continue
        start = _num(record.get("wall_start"))
        activities.append(Activity(what, wall if start is None else start, wall))
    for record in read_jsonl(evidence_dir / "torch.jsonl"):
        event = record.get("event")
        if event == "install":
            imported.append("torch")
        elif event in ("exit", "backward"):
            first, last = _num(record.get("first_wall")), _num(record.get("last_wall"))
            if first is not None:
                what = "torch backward" if event == "backward" else "torch optimizer steps"
                activities.append(Activity(what, first, last if last is not None else first))
        elif event in ("optimizer", "step"):  # lines written during training, before any exit line
            wall = _num(record.get("wall"))
            if wall is not None:
                activities.append(Activity("torch optimizer steps", wall, wall))
    return Training(tuple(dict.fromkeys(imported)), tuple(activities), tuple(dict.fromkeys(transforms)))


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def clock(seconds: float) -> str:
    """``seconds`` (Unix time) as a local HH:MM:SS.mmm, for reasons a person reads."""
    return time.strftime("%H:%M:%S", time.localtime(seconds)) + f".{int(seconds * 1000) % 1000:03d}"


def training_reason(
    training: Training,
    first: float | None,
    last: float | None,
    source_imports: Iterable[str],
    evidence: dict[str, Any],
) -> str | None:
    """Why the metrics logged between ``first`` and ``last`` (Unix seconds) did not come from training.

    Training counts when it began no later than the last metric: during the logging (per-epoch
    metrics) or before it (a fit, then its scores; staged predictions replayed after one fit).
    Fills ``evidence`` with ``training_observed`` (None: nothing observable), ``trained`` and
    ``metrics_window``. ``source_imports`` are the top-level modules the program's sources import.
    """
    if first is not None and last is not None:
        evidence["metrics_window"] = [clock(first), clock(last)]
    if not training.observable:
        evidence["training_observed"] = None
        return None
    before = [a for a in training.activities if last is None or a.start <= last + _SLACK_S]
    evidence["trained"] = sorted({a.what for a in training.activities})[:10]
    if before:
        evidence["training_observed"] = True
        if first is not None and last is not None:
            evidence["training_in_window"] = any(a.start <= last and a.end >= first for a in before)
        return None
    unhooked = sorted(set(source_imports) & set(UNHOOKED))
    if not training.activities and unhooked:
        # Trained (perhaps) with a library no hook sees; say so instead of failing on it.
        evidence["training_observed"] = None
        evidence["unobservable_training"] = unhooked
        return None
    evidence["training_observed"] = False
    frameworks = ", ".join(training.imported) or "a framework"
    if not training.activities:
        only = f" (only {', '.join(training.transforms[:3])}, which fits no model)" if training.transforms else ""
        return (
            f"{frameworks} was imported but no training was observed ({_NOTHING_TRAINED}){only}: "
            "log the metrics the training produces, not fixed or made-up values"
        )
    start = min(a.start for a in training.activities)
    assert last is not None and first is not None
    return (
        f"the metrics were logged at {clock(first)}-{clock(last)} but no training (fit/step) was "
        f"observed up to then; training first started at {clock(start)}: log the metrics the "
        "training produces, during or after it"
    )


def distinct_values(series: Iterable[Any]) -> int:
    """How many different finite numbers ``series`` holds (non-numbers are ignored)."""
    return len({v for v in (_num(x) for x in series) if v is not None})
