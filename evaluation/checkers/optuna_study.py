"""``optuna-study``: an Optuna study whose params really drive training, and whose best params
drive the final training.

Evidence comes from the sandbox hooks, never from the source. ``optuna.jsonl`` (hook_optuna):
each trial's params and time window (``trial_start``/``trial_end``), study summaries (trial states,
best params). The trainings: ``fit.jsonl`` (hook_fit_sklearn/_lightning/_keras: each training call
with the settings it could observe: sklearn ``get_params(deep=True)``, Lightning ``hparams``/
``max_epochs``/``batch_size``, Keras optimizer and layer config) and the ``optimizer`` lines of
``torch.jsonl`` (hook_torch: the optimizer's ``lr``/``weight_decay``/... and the trained model's
layer sizes). All carry ``t`` = ``time.monotonic_ns()``. A study with ``min_trials`` COMPLETE
trials passes when:

a. every param it tunes reached training: for at least half of the COMPLETE trials, a training
   inside the trial's window showed the trial's value under one and the same setting (the
   "channel": a name-matched setting such as ``svc__C`` for ``C``, or any setting holding the
   value, such as ``net.0.out_features`` for ``hidden``), and that setting followed the trial's
   values (a constant that happens to equal some of them is not a channel);
b. a training started after the study, and for every best param its channel (or a setting of a
   matching name) there holds the best trial's value.

A study over a parameter that no training uses, and a final fit with defaults, fail.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from opsgraft.evaluation.checkers._evidence import read_jsonl, run_reason, values_equal
from opsgraft.evaluation.checkers.base import CheckContext, verdict
from opsgraft.registry import checkers
from opsgraft.types import Verdict

NAME = "optuna-study"
_ALIASES = {"lr": "learning_rate", "learningrate": "learning_rate", "bs": "batch_size"}
_COMPLETE = ("COMPLETE", "RETURNED")  # summary state; hook_optuna's objective wrapper
_SHOWN = 3
_KERAS_SUFFIX = re.compile(r"_\d+(?=__)")


def _norm(name: str) -> str:
    name = name.lower().strip("_")
    return _ALIASES.get(name, name)


def _leaf(key: str) -> str:
    """The setting's own name: ``keras:dense__units`` -> ``units``, ``torch:net.0.p`` -> ``p``."""
    return re.split(r"__|\.", key.split(":", 1)[-1])[-1]


def names_match(best_key: str, observed_key: str) -> bool:
    """True when a trial param and an observed setting plausibly name the same thing."""
    k = _norm(best_key)
    p = _norm(_leaf(observed_key))
    return k == p or k.endswith("_" + p) or p.endswith("_" + k)


def same_value(a: Any, b: Any) -> bool:
    """Equal as a trial value and an observed setting: float32-tolerant, strings case-blind."""
    if isinstance(a, str) and isinstance(b, str):
        return a.strip().lower() == b.strip().lower()
    return values_equal(a, b)


def _observations(folder: Path) -> list[dict[str, Any]]:
    """Every observed training start as ``{"t", "what", "settings"}``: ``(source:name, value)`` pairs
    (a list: two Keras layers may share a name once numbering is stripped)."""
    obs: list[dict[str, Any]] = []
    for fit in read_jsonl(folder / "fit.jsonl"):
        if fit.get("event") == "fit":
            source = str(fit.get("framework", "fit"))
            # Keras numbers its automatic layer names per session (dense, dense_1...): one model
            # built per trial must keep one setting name.
            settings = [
                (f"{source}:{_KERAS_SUFFIX.sub('', str(k))}", v) for k, v in (fit.get("params") or {}).items()
            ]
            obs.append(
                {"t": fit.get("t", 0), "what": f"{source} {fit.get('estimator', '?')}", "settings": settings}
            )
    for event in read_jsonl(folder / "torch.jsonl"):
        if event.get("event") == "optimizer":
            settings = [(f"torch:{k}", v) for k, v in (event.get("params") or {}).items()]
            obs.append(
                {
                    "t": event.get("t", 0),
                    "what": f"torch {event.get('class', 'optimizer')}",
                    "settings": settings,
                }
            )
    return sorted(obs, key=lambda o: o["t"])


def _studies(events: list[dict[str, Any]]) -> dict[tuple[Any, str], dict[str, Any]]:
    """Per (pid, study): COMPLETE count, when optimisation ended, best params, trials with windows."""
    studies: dict[tuple[Any, str], dict[str, Any]] = {}
    for event in sorted(events, key=lambda e: e.get("t", 0)):
        kind = event.get("event")
        key = (event.get("pid"), str(event.get("study", "")))
        study = studies.setdefault(
            key, {"name": key[1], "n_complete": 0, "end_t": None, "best_params": None, "trials": {}}
        )
        if kind in ("trial_start", "trial_end"):
            trial = study["trials"].setdefault(
                event.get("number"), {"start": None, "end": None, "params": {}}
            )
            t = event.get("t", 0)
            if kind == "trial_start":
                trial["start"] = t if trial["start"] is None else min(trial["start"], t)
            else:
                trial["end"] = t if trial["end"] is None else max(trial["end"], t)
                trial["params"] = event.get("params") or trial["params"]
                trial["state"] = event.get("state") if trial.get("state") != "COMPLETE" else "COMPLETE"
            continue
        if kind not in ("optimize_end", "tell", "exit"):
            continue
        for summary in event.get("trials") or []:
            trial = study["trials"].setdefault(
                summary.get("number"), {"start": None, "end": None, "params": {}}
            )
            trial["state"] = summary.get("state")
            trial["params"] = summary.get("params") or trial["params"]
        study["n_complete"] = max(study["n_complete"], int(event.get("n_complete") or 0))
        if kind != "exit":
            study["end_t"] = event.get("t", 0)
            study["best_params"] = event.get("best_params")
        elif study["best_params"] is None:
            study["best_params"] = event.get("best_params")
    return {k: s for k, s in studies.items() if s["end_t"] is not None or s["n_complete"]}


def _trace(trials: list[dict[str, Any]], obs: list[dict[str, Any]]) -> tuple[dict[str, str], list[str]]:
    """(param -> the setting that carried it into training, why other params did not reach it)."""
    channels: dict[str, str] = {}
    missing: list[str] = []
    names = sorted({p for trial in trials for p in trial["params"]})
    for param in names:
        mine = [t for t in trials if param in t["params"]]
        counts: Counter[str] = Counter()
        carried: dict[str, set[str]] = {}
        against: list[str] = []
        for trial in mine:
            value = trial["params"][param]
            inside = [o for o in obs if trial["start"] <= o["t"] <= trial["end"]]
            hits = {k for o in inside for k, v in o["settings"] if same_value(value, v)}
            for key in hits:
                counts[key] += 1
                carried.setdefault(key, set()).add(repr(value))
            if not hits:
                against += [
                    f"trial {trial['number']} suggested {param}={value!r}, its training had {k.split(':', 1)[-1]}={v!r}"
                    for o in inside
                    for k, v in o["settings"]
                    if names_match(param, k)
                ][:1]
        distinct = len({repr(t["params"][param]) for t in mine})
        usable = [k for k, n in counts.items() if 2 * n >= len(mine) and len(carried[k]) >= min(2, distinct)]
        if usable:
            channels[param] = max(usable, key=lambda k: (counts[k], names_match(param, k), k))
        elif against:
            missing.append(f"{param} ({against[0]})")
        else:
            missing.append(f"{param} (no training inside its trials had the suggested values)")
    return channels, missing


def _judge_final(
    best: Mapping[str, Any], channels: Mapping[str, str], later: list[dict[str, Any]]
) -> list[str]:
    """Why the training after the study did not use the best trial's values (empty when it did)."""
    problems: list[str] = []
    for param, value in best.items():
        channel = channels.get(param)
        if channel is None:
            continue
        settings = [(k, v) for o in later for k, v in o["settings"]]
        # The very setting that carried the param during the trials; another model layout after
        # the study may only show a setting of the same name.
        seen = [(k, v) for k, v in settings if k == channel] or [
            (k, v)
            for k, v in settings
            if names_match(param, k)
            or (_leaf(k) == _leaf(channel) and k.split(":")[0] == channel.split(":")[0])
        ]
        if any(same_value(value, v) for _, v in seen):
            continue
        if seen:
            k, v = seen[0]
            problems.append(f"{k.split(':', 1)[-1]}={v!r} but the best trial has {param}={value!r}")
        else:
            problems.append(
                f"no {channel.split(':', 1)[-1]} setting (how {param} reached training during the "
                f"trials) was seen after the study"
            )
    return problems


def _judge_study(study: dict[str, Any], obs: list[dict[str, Any]]) -> str | None:
    """Why this study's params did not drive training, or its best params the final one; or None."""
    end = study["end_t"]
    if end is None:
        return f"study {study['name']!r} never ran optimize() or tell()"
    trials = [
        {"number": n, **t}
        for n, t in study["trials"].items()
        if t.get("state") in _COMPLETE and t["start"] is not None and t["end"] is not None and t["params"]
    ]
    if not trials:
        return f"no COMPLETE trial of study {study['name']!r} suggested a param during a timed trial"
    channels, missing = _trace(trials, obs)
    if missing:
        return f"study {study['name']!r} tunes params that its trials' training did not use: " + "; ".join(
            missing[:_SHOWN]
        )
    later = [o for o in obs if o["t"] > end]
    if not later:
        return (
            f"no training call (sklearn fit / Trainer.fit / Model.fit / torch optimizer step) started "
            f"after study {study['name']!r} finished, so its best params were never used for a final fit"
        )
    problems = _judge_final(study["best_params"] or {}, channels, later)
    if problems:
        return (
            "the training after the study did not use its best params (" + "; ".join(problems[:_SHOWN]) + ")"
        )
    study["channels"] = {p: c for p, c in channels.items()}
    return None


@checkers.register(NAME)
def check_optuna_study(ctx: CheckContext, min_trials: int = 5) -> Verdict:
    """Pass when a study has >= ``min_trials`` COMPLETE trials whose params reached training, and
    its best params reached the training after it."""
    reason = run_reason(ctx)
    if reason:
        return verdict(NAME, [reason])
    events = read_jsonl(ctx.evidence_dir / "optuna.jsonl")
    obs = _observations(ctx.evidence_dir)
    studies = _studies(events)
    evidence: dict[str, Any] = {
        "studies": [
            {k: v for k, v in s.items() if k in ("name", "n_complete", "best_params")}
            for s in studies.values()
        ],
        "n_trainings": len(obs),
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
        why = _judge_study(study, obs)
        if why is None:
            evidence["study"] = study["name"]
            evidence["channels"] = study["channels"]
            return verdict(NAME, [], evidence)
        reasons.append(why)
    return verdict(NAME, reasons[:_SHOWN], evidence)
