"""Regression tests: recorded answers of the real embedded model, replayed through every adapter, mode and strategy.

Recorded with scripts/record_cassettes.py. A strict replay hit proves that the prompt is built
exactly as when it was recorded; the extracted code must be the recorded one, and (slow) the
sandbox verdicts must come out as recorded.

The expectations here are what the pipeline itself produced when the cassette was recorded, so
these tests catch a *change*, never a wrong verdict. Verdicts checked against expectations written
by hand, for every adapter: tests/adapters/test_outside_corpus.py (a hand-written right answer passes,
the unadapted script fails) and, per corpus task, the references and mutants of
tests/evaluation/test_corpus_ground_truth.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opsgraft.adapters.workflow import corpus_workflow
from opsgraft.llm.replay import ReplayBackend
from opsgraft.types import RetrievedDoc, from_dict

HERE = Path(__file__).parent / "cassettes"
CASES = json.loads((HERE / "cases.json").read_text()) if (HERE / "cases.json").exists() else {}


def flow_for(case: dict, monkeypatch: pytest.MonkeyPatch):
    flow = corpus_workflow(case["task"], mode=case["mode"], strategy=case["strategy"])
    # The cassette keys on the exact prompt: replay with the outline as recorded (cases recorded before
    # adapters/outline.py existed carry no flag and had none).
    flow.outline = bool(case.get("outline", False))
    flow.examples = bool(case.get("examples", False))  # likewise for adapters/examples.py
    docs = [from_dict(RetrievedDoc, d) for d in case["docs"]]
    # The docs the model saw are part of the recording: retrieval itself is tested in tests/retrieval.
    monkeypatch.setattr(flow, "retrieve_docs", lambda backend: docs)
    return flow


@pytest.mark.parametrize("case_id", [c for c in CASES if CASES[c]["repair"] == 0])
def test_regression_replayed_answer_gives_the_recorded_code(case_id, monkeypatch, tmp_path):
    case = CASES[case_id]
    flow = flow_for(case, monkeypatch)
    backend = ReplayBackend(HERE / "real_model.jsonl")
    result = flow.execute(backend, n=1, run=False, out_dir=tmp_path)
    [attempt] = result.run.attempts
    assert backend.replayed == 1
    code = attempt.candidate.files[attempt.candidate.entry] if attempt.candidate else None
    assert code == case["codes"][0]
    if code is not None:
        assert result.paths["code"].read_text() == code


@pytest.mark.slow
@pytest.mark.parametrize("case_id", list(CASES))
def test_regression_replayed_answers_are_judged_as_recorded(case_id, monkeypatch, tmp_path):
    case = CASES[case_id]
    flow = flow_for(case, monkeypatch)
    result = flow.execute(ReplayBackend(HERE / "real_model.jsonl"), n=1, run=True, repair=case["repair"],
                          out_dir=tmp_path)
    assert [a.result.status if a.result else "no-code" for a in result.run.attempts] == case["statuses"]


REPAIRED = [c for c in CASES if CASES[c]["repair"] and "passed" in CASES[c]["statuses"][1:]
            and CASES[c]["statuses"][0] != "passed"]


@pytest.mark.parametrize("case_id", REPAIRED)
def test_regression_repair_loop_turns_a_recorded_failure_into_a_pass(case_id, monkeypatch, tmp_path):
    case = CASES[case_id]
    flow = flow_for(case, monkeypatch)
    backend = ReplayBackend(HERE / "real_model.jsonl")
    result = flow.execute(backend, n=1, run=True, repair=case["repair"], out_dir=tmp_path)
    attempts = result.run.attempts
    assert [a.result.status for a in attempts] == case["statuses"]
    assert attempts[-1].passed
    repair_prompt = attempts[1].prompt.messages[-1].content
    for reason in attempts[0].result.verdict.reasons:
        assert reason in repair_prompt
