"""Record real answers of the embedded model for the replay tests of tests/adapters/.

Each case runs a corpus task through the adapt/translate workflow with the local backend behind
a recorder, judges the result in the sandbox, and stores what the replay test needs: the
cassette lines (tests/adapters/cassettes/real_model.jsonl) and, per case, the retrieved docs and
the recorded verdicts (tests/adapters/cassettes/cases.json).

Run: .venv/bin/python scripts/record_cassettes.py [CASE_ID ...]   (ids: see CASES)
     .venv/bin/python scripts/record_cassettes.py --rejudge [CASE_ID ...]   (recorded cases, no model)
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from opsgraft.config import apply_offline_env

HERE = Path(__file__).resolve().parents[1] / "tests" / "adapters" / "cassettes"
CASSETTE = HERE / "real_model.jsonl"
CASES_FILE = HERE / "cases.json"

INLINE = {
    "tracking:mlflow": "tracking-mlflow-sklearn-diabetes",
    "tracking:wandb": "tracking-wandb-pytorch-gcn",
    "registration:mlflow": "registration-mlflow-sklearn-iris",
    "hpo:optuna": "hpo-optuna-sklearn-svc",
    "pruning:nncf": "pruning-nncf-digits-mlp",
    "pruning:torch": "pruning-torch-digits-mlp",
}
TRANSLATIONS = {"gitpython->dvc": "translate-gitpython-dvc-lfs-dataset", "wandb->mlflow": "translate-wandb-mlflow-sgd"}

CASES: dict[str, dict[str, object]] = {}
for key, task in INLINE.items():
    for mode in ("zero-shot", "docprompt", "rag"):
        CASES[f"{key}/{mode}"] = {"task": task, "mode": mode, "strategy": "", "repair": 0}
for key, task in TRANSLATIONS.items():
    for strategy in ("docs-search", "llm-search", "llm-docs-search"):
        CASES[f"{key}/{strategy}"] = {"task": task, "mode": strategy, "strategy": strategy, "repair": 0}
CASES["registration:mlflow/zero-shot+repair"] = {
    "task": INLINE["registration:mlflow"], "mode": "zero-shot", "strategy": "", "repair": 2,
}


def record(case_id: str, backend: object, docs: list[dict[str, object]] | None = None,
           outline: bool = True, examples: bool = True) -> dict[str, object]:
    """Run one case for real (with the given recorded docs, if any) and return what the replay test checks."""
    from opsgraft.adapters.workflow import corpus_workflow
    from opsgraft.types import RetrievedDoc, from_dict, to_dict

    case = CASES[case_id]
    flow = corpus_workflow(str(case["task"]), mode=str(case["mode"]), strategy=str(case["strategy"]))
    flow.outline = outline  # recorded in the case: the replay test builds the same prompt
    flow.examples = examples  # likewise: the worked example (adapters/examples.py)
    if docs is not None:
        recorded = [from_dict(RetrievedDoc, d) for d in docs]
        flow.retrieve_docs = lambda backend: recorded  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as out:
        result = flow.execute(backend, n=1, run=True, repair=int(case["repair"]), out_dir=Path(out))  # type: ignore[arg-type]
    attempts = result.run.attempts
    return {
        **case,
        "outline": outline,
        "examples": examples,
        "docs": [to_dict(d) for d in flow.docs],
        "statuses": [a.result.status if a.result else "no-code" for a in attempts],
        "codes": [a.candidate.files[a.candidate.entry] if a.candidate else None for a in attempts],
        "reasons": [list(a.result.verdict.reasons) if a.result and a.result.verdict else [] for a in attempts],
    }


def main(ids: list[str]) -> None:
    apply_offline_env()
    from opsgraft.llm.replay import ReplayBackend

    rejudge = "--rejudge" in ids
    ids = [i for i in ids if i != "--rejudge"]
    unknown = [i for i in ids if i not in CASES]
    if unknown:
        sys.exit(f"unknown case(s) {unknown}; known: {', '.join(CASES)}")
    cases = json.loads(CASES_FILE.read_text()) if CASES_FILE.exists() else {}
    from opsgraft.config import responses_dir
    from opsgraft.llm.cache import CachedBackend
    from opsgraft.llm.local import LocalBackend

    # Behind the response cache: an answer the model already gave to the same prompt (say, sample 0
    # of a bench/adapt_modes.py run) is recorded without asking again.
    recorder = ReplayBackend(CASSETTE, strict=False, inner=CachedBackend(LocalBackend(), responses_dir()))
    if rejudge:
        # Replay the recorded answers (and the docs they saw) through today's pipeline: extraction,
        # post-processing, sandbox. Only prompts that changed since (repair rounds) reach the model.
        todo = [i for i in ids or list(CASES) if i in cases]
    else:
        todo = [i for i in ids or list(CASES) if i not in cases]
    for case_id in todo:
        try:
            # A rejudged case keeps the prompt it was recorded with (no outline before the flag existed).
            cases[case_id] = record(case_id, recorder, cases[case_id]["docs"] if rejudge else None,
                                    bool(cases[case_id].get("outline", False)) if rejudge else True,
                                    bool(cases[case_id].get("examples", False)) if rejudge else True)
        except Exception as exc:  # e.g. a missing store for rag: record the others
            print(f"{case_id}: not recorded: {exc}", flush=True)
            continue
        print(f"{case_id}: {cases[case_id]['statuses']}", flush=True)
        CASES_FILE.write_text(json.dumps(cases, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
