"""``optuna-study``: an Optuna study with enough COMPLETE trials whose best params were used.

Evidence comes from the sandbox hooks, never from the source: ``optuna.jsonl`` (hook_optuna:
study summaries at the end of ``optimize``/``tell``/exit, reads of ``best_params``/``best_trial``)
and ``fit.jsonl`` (hook_fit_sklearn/_lightning/_keras: each training call with the settings it
could observe). A study passes when it has ``min_trials`` COMPLETE trials and a training call
started after the study's last trial that used its best params:

* a fit whose observed settings name-match some best params and agree with all of those
  (sklearn ``get_params(deep=True)``, Lightning ``hparams``/``max_epochs``/``batch_size``, Keras
  optimizer and layer config) passes;
* a fit that name-matches best params but disagrees fails, unless another fit agrees;
* when no fit after the study exposes any matching setting (e.g. a LightningModule that does not
  call ``save_hyperparameters``), reading ``best_params``/``best_trial`` after the study plus a
  training call after it is accepted. This is weaker: it cannot tell whether the values read
  were the ones trained with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opsgraft.evaluation.checkers._evidence import read_jsonl, run_reason, values_equal
from opsgraft.evaluation.checkers.base import CheckContext, verdict
from opsgraft.registry import checkers
from opsgraft.types import Verdict

NAME = "optuna-study"
_ALIASES = {"lr": "learning_rate", "learningrate": "learning_rate", "bs": "batch_size"}


def _norm(name: str) -> str:
    name = name.lower().strip("_")
    return _ALIASES.get(name, name)


def names_match(best_key: str, observed_key: str) -> bool:
    """True when a trial param and an observed setting plausibly name the same thing."""
    k = _norm(best_key)
    p = _norm(observed_key.split("__")[-1])
    return k == p or k.endswith("_" + p) or p.endswith("_" + k)


def compare(best: Mapping[str, Any], observed: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(agreeing, disagreeing) descriptions for the best params that some observed setting names."""
    agree: list[str] = []
    disagree: list[str] = []
    for key, value in best.items():
        hits = [(name, v) for name, v in observed.items() if names_match(key, name)]
        if not hits:
            continue
        if any(values_equal(value, v) for _, v in hits):
            agree.append(key)
        else:
            name, v = hits[0]
            disagree.append(f"{name}={v!r} but the best trial has {key}={value!r}")
    return agree, disagree


def _studies(events: list[dict[str, Any]]) -> dict[tuple[Any, str], dict[str, Any]]:
    """Per (pid, study): final COMPLETE count, time the optimisation ended, best params then."""
    studies: dict[tuple[Any, str], dict[str, Any]] = {}
    for event in sorted(events, key=lambda e: e.get("t", 0)):
        if event.get("event") not in ("optimize_end", "tell", "exit"):
            continue
        key = (event.get("pid"), str(event.get("study", "")))
        study = studies.setdefault(key, {"name": key[1], "n_complete": 0, "end_t": None, "best_params": None})
        study["n_complete"] = max(study["n_complete"], int(event.get("n_complete") or 0))
        if event.get("event") != "exit":
            study["end_t"] = event.get("t", 0)
            study["best_params"] = event.get("best_params")
        elif study["best_params"] is None:
            study["best_params"] = event.get("best_params")
    return studies


def _judge_study(
    study: dict[str, Any], fits: list[dict[str, Any]], reads: list[dict[str, Any]]
) -> str | None:
    """Why this study's best params were not used for a final fit, or None."""
    end = study["end_t"]
    if end is None:
        return f"study {study['name']!r} never ran optimize() or tell()"
    best = study["best_params"] or {}
    later = [f for f in fits if f.get("t", 0) > end]
    if not later:
        return (
            f"no training call (sklearn fit / Trainer.fit / Model.fit) started after study "
            f"{study['name']!r} finished, so its best params were never used for a final fit"
        )
    disagreements: list[str] = []
    for fit in later:
        agree, disagree = compare(best, fit.get("params") or {})
        if agree and not disagree:
            return None
        disagreements += [f"{fit.get('estimator', '?')}: {d}" for d in disagree]
    if disagreements:
        return (
            "the training after the study did not use its best params (" + "; ".join(disagreements[:3]) + ")"
        )
    read_later = any(r.get("t", 0) > end and r.get("study", study["name"]) == study["name"] for r in reads)
    if not read_later:
        return (
            f"study {study['name']!r}'s best_params/best_trial were never read after it finished, "
            f"so the final training cannot have used them"
        )
    return None


@checkers.register(NAME)
def check_optuna_study(ctx: CheckContext, min_trials: int = 5) -> Verdict:
    """Pass when a study has >= ``min_trials`` COMPLETE trials and its best params fed a later fit."""
    reason = run_reason(ctx)
    if reason:
        return verdict(NAME, [reason])
    events = read_jsonl(ctx.evidence_dir / "optuna.jsonl")
    fits = [f for f in read_jsonl(ctx.evidence_dir / "fit.jsonl") if f.get("event") == "fit"]
    reads = [e for e in events if e.get("event") == "best_access"]
    studies = _studies(events)
    evidence: dict[str, Any] = {
        "studies": [{k: v for k, v in s.items() if k != "end_t"} for s in studies.values()],
        "n_fits": len(fits),
        "n_best_reads": len(reads),
    }
    if not studies:
        return verdict(NAME, ["no Optuna study was optimized (the optuna hook saw none)"], evidence)
    big = [s for s in studies.values() if s["n_complete"] >= min_trials]
    if not big:
        most = max(s["n_complete"] for s in studies.values())
        return verdict(
            NAME,
            [f"the largest study has {most} COMPLETE trials; at least {min_trials} are required"],
            evidence,
        )
    reasons = []
    for study in big:
        why = _judge_study(study, fits, reads)
        if why is None:
            evidence["study"] = study["name"]
            return verdict(NAME, [], evidence)
        reasons.append(why)
    return verdict(NAME, reasons[:1] if len(reasons) == 1 else reasons[:3], evidence)
