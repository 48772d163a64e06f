"""``ablation``: an ablation study whose trials really differ and were really trained.

The program writes ``results`` (default ``ablation_results.json``): a JSON list of
``{"name": "baseline" | <trial>, "metric": float, "n_params": int}`` (``mode: model``) or
``{"name": ..., "metric": float, "features": [column, ...]}`` (``mode: features``). Passes when a
``baseline`` entry and at least ``min_trials`` other entries are present, metrics are finite, and
parameter counts / feature sets differ from the baseline and from each other. With
``verify_training`` (default) each entry must also match a training the hooks observed: an
optimizer over exactly ``n_params`` parameters that stepped (hook_torch), or a scikit-learn fit
on that many columns, with those names when the data had names (hook_fit_sklearn).
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
    evidence["n_trials"] = len(trials)
    return verdict(NAME, reasons, evidence)
