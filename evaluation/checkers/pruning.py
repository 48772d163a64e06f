"""``pruning``: weights were pruned to the target sparsity *during* training, and stayed pruned.

Evidence is ``torch.jsonl`` from hook_torch: for every optimizer, the effective sparsity (exact
zeros in ``module.weight`` of the >= 2-d weights it trains, i.e. what forward uses, masks
included) on sampled steps, and at exit. Passes when some optimizer had sparsity >= ``target_sparsity``
at a step followed by at least ``min_steps_after`` more steps of the same optimizer, its
weights still learned after that step (their L1 norm, ``l1``, changed; weights that an optimizer
"steps" without updating, being frozen or all zero, prove no training on a pruned model), and
they still had zeros at the end. Pruning applied only after training, to an untrained copy, too
lightly, or to weights that then stop learning fails.
"""

from __future__ import annotations

from typing import Any

from opsgraft.evaluation.checkers._evidence import read_jsonl, run_reason
from opsgraft.evaluation.checkers.base import CheckContext, verdict
from opsgraft.registry import checkers
from opsgraft.types import Verdict

NAME = "pruning"


def _optimizers(events: list[dict[str, Any]]) -> dict[tuple[Any, Any], dict[str, Any]]:
    opts: dict[tuple[Any, Any], dict[str, Any]] = {}
    for event in events:
        if event.get("event") not in ("step", "exit"):
            continue
        key = (event.get("pid"), event.get("opt"))
        info = opts.setdefault(key, {"steps": [], "exit": None})
        if event["event"] == "step":
            info["steps"].append(event)
        else:
            info["exit"] = event
    return opts


def _judge(info: dict[str, Any], target: float, min_after: int) -> tuple[str | None, dict[str, Any]]:
    steps = sorted(info["steps"], key=lambda e: e.get("opt_step", 0))
    end = info["exit"]
    total = int(end["steps"]) if end else max((int(s.get("opt_step", 0)) for s in steps), default=0)
    end_sparsity = float(end["sparsity"]) if end else (float(steps[-1]["sparsity"]) if steps else 0.0)
    peak = max((float(s.get("sparsity", 0.0)) for s in steps), default=0.0)
    summary = {"steps": total, "peak_sparsity": round(peak, 4), "end_sparsity": round(end_sparsity, 4)}
    reached = [s for s in steps if float(s.get("sparsity", 0.0)) >= target]
    if not reached:
        if end_sparsity >= target:
            return (
                f"sparsity {end_sparsity:.2f} was reached only after the last optimizer step "
                f"(pruned after training, not during it)"
            ), summary
        return (
            f"the highest effective weight sparsity during training was {peak:.2f} (target {target})",
            summary,
        )
    first = int(reached[0].get("opt_step", 0))
    summary["first_step_at_target"] = first
    if total - first < min_after:
        return (
            f"sparsity reached {target} only {total - first} optimizer steps before training ended "
            f"(at least {min_after} more steps are required)"
        ), summary
    if end_sparsity <= 0.0:
        return "the weights had no zeros left at the end of the run (pruning was undone)", summary
    after = [s for s in steps if int(s.get("opt_step", 0)) >= first] + ([end] if end else [])
    norms = [float(e["l1"]) for e in after if isinstance(e.get("l1"), int | float)]
    if len(norms) >= 2 and max(norms) - min(norms) <= 1e-9 * max(abs(n) for n in norms):
        return (
            "the pruned weights never changed after reaching the target sparsity (frozen, all zero "
            "or not trained), so training did not continue on the pruned model"
        ), summary
    return None, summary


@checkers.register(NAME)
def check_pruning(ctx: CheckContext, target_sparsity: float = 0.3, min_steps_after: int = 10) -> Verdict:
    """Pass when weights were >= ``target_sparsity`` sparse while >= ``min_steps_after`` steps followed."""
    reason = run_reason(ctx)
    if reason:
        return verdict(NAME, [reason])
    opts = _optimizers(read_jsonl(ctx.evidence_dir / "torch.jsonl"))
    if not opts:
        return verdict(NAME, ["no PyTorch optimizer step was observed (the torch hook saw no training)"])
    reasons: list[str] = []
    evidence: dict[str, Any] = {"optimizers": []}
    for info in opts.values():
        why, summary = _judge(info, float(target_sparsity), int(min_steps_after))
        evidence["optimizers"].append(summary)
        if why is None:
            return verdict(NAME, [], evidence)
        reasons.append(why)
    # The best-trained optimizer's reason is the most telling one.
    ranked = sorted(zip(evidence["optimizers"], reasons, strict=True), key=lambda p: -p[0]["steps"])
    return verdict(NAME, [ranked[0][1]], evidence)
