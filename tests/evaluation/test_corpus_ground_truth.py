"""For EVERY corpus task: the reference passes, the unadapted input fails, every mutant fails.

Real training in the sandbox, so ``slow``: ``pytest -m slow tests/evaluation/test_corpus_ground_truth.py``
(``opsgraft corpus check --jobs 2`` does the same from the command line, in parallel).
"""

from __future__ import annotations

import pytest

from opsgraft.evaluation.corpus import load_corpus
from opsgraft.evaluation.evaluator import judge
from opsgraft.evaluation.ground_truth import (
    as_expected,
    ground_truth_candidates,
    layout_problems,
    outcome,
    why,
)

TASKS = load_corpus()


@pytest.mark.slow
@pytest.mark.parametrize("task", TASKS, ids=[t.id for t in TASKS])
def test_ground_truth(task) -> None:
    assert not layout_problems(task)
    wrong = []
    for cand in ground_truth_candidates(task):
        result = judge(task, cand)
        if not as_expected(cand.origin, result):
            wrong.append(f"{cand.origin}: {outcome(result)}: {why(result)}")
    assert not wrong, "\n".join(wrong)
