"""``ablation``: an ablation study whose trials really differ and were really trained.

The program writes ``results`` (default ``ablation_results.json``): a JSON list of
``{"name": "baseline" | <trial>, "metric": float, "n_params": int}`` (``mode: model``) or
``{"name": ..., "metric": float, "features": [column, ...]}`` (``mode: features``). Passes when a
``baseline`` entry and at least ``min_trials`` other entries are present, metrics are finite, and
parameter counts / feature sets differ from the baseline and from each other. With
``verify_training`` (default) each entry must also match a training the hooks observed: an
optimizer over exactly ``n_params`` parameters that stepped (hook_torch), or a scikit-learn fit
on that many columns, with those names when the data had names (hook_fit_sklearn). Each variant
must also have got at least ``min_step_ratio`` of the baseline's training: optimizer steps (model)
or fits (features). A variant stepped once, or for one epoch of many, or fitted once on a holdout
split against the baseline's 5-fold cross-validation, was not trained and evaluated the way the
baseline was, and its metric says nothing about the removed component.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from opsgraft.evaluation.checkers._evidence import read_jsonl, run_reason
from opsgraft.evaluation.checkers.base import CheckContext, verdict
from opsgraft.registry import checkers
from opsgraft.types import Verdict

NAME = "ablation"


def _load(path: Any, reasons: list[str]) -> list[dict[str, Any]]:
    if not path.is_file():
        reasons.append(f"{path.name} was not written")
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        reasons.append(f"{path.name} is not valid JSON ({exc.__class__.__name__})")
        return []
    if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
        reasons.append(f"{path.name} must hold a JSON list of objects")
        return []
    return data


def _signature(entry: dict[str, Any], mode: str) -> Any:
    """What makes a trial different: its parameter count or its feature set (None when malformed)."""
    if mode == "model":
        value = entry.get("n_params")
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
    features = entry.get("features")
    if isinstance(features, list) and features and all(isinstance(f, str | int) for f in features):
        return frozenset(str(f) for f in features)
    return None


def _trained(ctx: CheckContext, mode: str) -> list[Any]:
    """Signatures of the trainings the hooks saw."""
    if mode == "model":
        events = read_jsonl(ctx.evidence_dir / "torch.jsonl")
        return sorted(
            {int(e["n_params"]) for e in events if e.get("event") == "optimizer" and "n_params" in e}
        )
    fits = [f for f in read_jsonl(ctx.evidence_dir / "fit.jsonl") if f.get("framework") == "sklearn"]
    return [(f.get("n_features_in"), frozenset(f.get("feature_names_in") or ())) for f in fits]


def _steps_by_size(ctx: CheckContext) -> dict[int, int]:
    """n_params -> the most optimizer steps any optimizer over that many parameters ran."""
    sizes: dict[tuple[Any, Any], int] = {}
    steps: dict[tuple[Any, Any], int] = {}
    for e in read_jsonl(ctx.evidence_dir / "torch.jsonl"):
        key = (e.get("pid"), e.get("opt"))
        if e.get("event") == "optimizer" and isinstance(e.get("n_params"), int):
            sizes[key] = e["n_params"]
        elif e.get("event") == "exit" and isinstance(e.get("steps"), int):
            steps[key] = max(steps.get(key, 0), e["steps"])
        elif e.get("event") == "step" and isinstance(e.get("opt_step"), int):
            # sampled steps: a lower bound where the run ended before its exit line
            steps[key] = max(steps.get(key, 0), e["opt_step"])
    out: dict[int, int] = {}
    for key, size in sizes.items():
        out[size] = max(out.get(size, 0), steps.get(key, 1))
    return out


def _amounts(ctx: CheckContext, signatures: list[Any], mode: str) -> list[int]:
    """How much training each entry got: optimizer steps (model) or scikit-learn fits (features)."""
    if mode == "model":
        by_size = _steps_by_size(ctx)
        return [by_size.get(s, 0) for s in signatures]
    trained = _trained(ctx, mode)
    return [sum(_was_trained(s, [t], mode) for t in trained) for s in signatures]


def _short_trained(entries: list[dict[str, Any]], amounts: list[int], ratio: float, mode: str) -> str | None:
    """Why some variant got far less training than the baseline (e.g. one epoch, or one holdout
    fit against 5-fold cross-validation), or None."""
    is_base = [str(e.get("name", "")).lower() == "baseline" for e in entries]
    base = max((a for a, b in zip(amounts, is_base, strict=True) if b), default=0)
    short = [
        f"{e.get('name')} ({a})"
        for e, a, b in zip(entries, amounts, is_base, strict=True)
        if not b and a < ratio * base
    ]
    if not short:
        return None
    unit = "optimizer steps" if mode == "model" else "fits"
    return (
        f"variants trained with far fewer {unit} than the baseline ({base}): {', '.join(short[:4])}; "
        f"every model of an ablation must get the same training and evaluation"
    )


def _was_trained(signature: Any, trained: list[Any], mode: str) -> bool:
    if mode == "model":
        return signature in trained
    return any(n == len(signature) and (not names or names == signature) for n, names in trained)


@checkers.register(NAME)
def check_ablation(
    ctx: CheckContext,
    results: str = "ablation_results.json",
    min_trials: int = 2,
    mode: Literal["model", "features"] = "model",
    verify_training: bool = True,
    min_step_ratio: float = 0.5,
) -> Verdict:
    """Pass when the results hold a baseline plus ``min_trials`` distinct, trained, finite trials."""
    reason = run_reason(ctx)
    if reason:
        return verdict(NAME, [reason])
    reasons: list[str] = []
    entries = _load(ctx.workdir / results, reasons)
    if reasons:
        return verdict(NAME, reasons)
    key = "n_params" if mode == "model" else "features"
    names = [str(e.get("name", "")) for e in entries]
    evidence: dict[str, Any] = {"names": names}
    baseline = [e for e in entries if str(e.get("name", "")).lower() == "baseline"]
    trials = [e for e in entries if str(e.get("name", "")).lower() != "baseline"]
    if not baseline:
        reasons.append('no entry named "baseline"')
    if len(trials) < min_trials:
        reasons.append(
            f"{len(trials)} ablation trial(s) besides the baseline; at least {min_trials} are required"
        )
    if len(set(names)) != len(names):
        reasons.append("trial names are not unique")
    for entry in entries:
        metric = entry.get("metric")
        if not isinstance(metric, int | float) or isinstance(metric, bool) or not math.isfinite(metric):
            reasons.append(f"entry {entry.get('name')!r} has no finite numeric metric")
    signatures = [_signature(e, mode) for e in entries]
    for entry, sig in zip(entries, signatures, strict=True):
        if sig is None:
            reasons.append(f"entry {entry.get('name')!r} has no valid {key!r}")
    valid = [s for s in signatures if s is not None]
    if len(set(valid)) != len(valid):
        reasons.append(
            f"some trials do not really differ: the same {key} appears more than once ({key} must "
            f"differ from the baseline and between trials)"
        )
    if verify_training and valid and not reasons:
        trained = _trained(ctx, mode)
        evidence["trained"] = [t if mode == "model" else t[0] for t in trained][:50]
        missing = [n for n, s in zip(names, signatures, strict=True) if not _was_trained(s, trained, mode)]
        if missing:
            what = (
                "an optimizer over that many parameters"
                if mode == "model"
                else "a scikit-learn fit on those columns"
            )
            reasons.append(f"no training was observed for {', '.join(missing[:4])} ({what})")
        else:
            short = _short_trained(entries, _amounts(ctx, signatures, mode), min_step_ratio, mode)
            if short:
                reasons.append(short)
    evidence["n_trials"] = len(trials)
    return verdict(NAME, reasons, evidence)
