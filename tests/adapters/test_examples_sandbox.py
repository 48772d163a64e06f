"""Every worked example's after.py passes its adapter's checker in the real sandbox; its before.py does not.

The same path as `opsgraft adapt --run` on a user's script: pipeline.script_task (the adapter's own
checker and arguments, nothing a corpus task supplies) and the evaluator's judge.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from opsgraft.adapters.examples import Example, library
from opsgraft.adapters.repair_loop import script_task
from opsgraft.adapters.specs import get_adapter
from opsgraft.evaluation.evaluator import judge
from opsgraft.types import Candidate


def _judge(example: Example, code: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    tmp_path.mkdir()
    script = tmp_path / "train.py"
    script.write_text(example.before)
    task = script_task(script, get_adapter(example.adapter))
    return judge(task, Candidate(task.id, 0, {task.entry: code}, task.entry))


@pytest.mark.slow
@pytest.mark.parametrize("example", library(), ids=lambda e: e.path)
def test_after_passes_and_before_fails_the_checker(example: Example, tmp_path: Path):
    after = _judge(example, example.after, tmp_path / "after")
    assert after.status == "passed", (after.verdict, after.execution.stderr_tail[-2000:])
    before = _judge(example, example.before, tmp_path / "before")
    assert before.status != "passed", before.verdict
