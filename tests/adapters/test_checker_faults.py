"""A checker that raises is an opsgraft fault: an `error` verdict with its traceback, never a repair prompt.

Issue 14: `translate --repair 2` on a user's GitPython script sent `check_dvc_tracked() missing 2
required positional arguments` to the model twice, as if the translated code were wrong.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from opsgraft.adapters.repair_loop import CheckerFault
from opsgraft.adapters.specs import get_adapter
from opsgraft.adapters.workflow import Workflow
from opsgraft.evaluation.evaluator import judge
from opsgraft.llm.scripted import ScriptedBackend
from opsgraft.types import CHECKER_TRACEBACK, Candidate, Task
from tests.adapters.test_outside_corpus import SCRIPTS, cassette_for_flow, flow_for, run_cli

EXITS_0 = "import git\n\nprint('released', git.__name__)\n"
EXITS_3 = "import git\n\nraise SystemExit(3)\n"


def exploding(ctx, **kwargs):  # type: ignore[no-untyped-def]
    """A checker with a bug."""
    raise RuntimeError("boom in the checker")


def fenced(code: str) -> str:
    return f"```python\n{code}```"


@pytest.fixture
def release_script(tmp_path: Path) -> Path:
    script = tmp_path / "gitpython_release.py"
    shutil.copy(SCRIPTS / "gitpython_release.py", script)
    return script


def plain_task(tmp_path: Path, checker: str) -> Task:
    (tmp_path / "job.py").write_text(EXITS_0)
    return Task(id="user:job.py", kind="inline", functionality="x", component="x", framework="none",
                instruction="", entry="job.py", files=("job.py",), checker=checker, root=str(tmp_path), timeout_s=60)


@pytest.mark.parametrize("code", [EXITS_0, EXITS_3], ids=["exit-0", "exit-3"])
def test_judge_calls_a_checker_crash_an_error_whatever_the_exit(code: str, tmp_path: Path):
    task = plain_task(tmp_path, f"{__name__}:exploding")
    result = judge(task, Candidate(task.id, 0, {"job.py": code}, "job.py"))
    assert result.status == "error"
    assert result.verdict is not None and result.verdict.reasons[0].startswith("checker ")
    assert "RuntimeError: boom in the checker" in result.verdict.evidence[CHECKER_TRACEBACK]
    assert "in exploding" in result.verdict.evidence[CHECKER_TRACEBACK]
    assert result.checker_fault == result.verdict.reasons[0]


def test_a_program_that_fails_a_working_checker_is_no_fault(tmp_path: Path):
    task = plain_task(tmp_path, "dvc-tracked")
    result = judge(task, Candidate(task.id, 0, {"job.py": EXITS_3}, "job.py"))
    assert result.status == "failed" and result.checker_fault == ""
    assert result.verdict is not None and CHECKER_TRACEBACK not in result.verdict.evidence


def test_a_checker_crash_stops_the_repair_loop_and_never_reaches_the_model(release_script: Path, tmp_path: Path):
    # Two samples (one exits 0, one exits 3) and two repair rounds allowed; the checker is called
    # with an argument it does not take, as a hand-edited task would.
    backend = ScriptedBackend([fenced(EXITS_0), fenced(EXITS_3), fenced(EXITS_0), fenced(EXITS_0)])
    flow = Workflow(spec=get_adapter("gitpython->dvc"), script=release_script, source=release_script.read_text(),
                    timeout_s=60)
    assert flow.task is not None
    flow.task = replace(flow.task, checker_args={"data_file": "dataset/readings.csv"})
    with pytest.raises(CheckerFault) as caught:
        flow.execute(backend, n=2, run=True, repair=2, out_dir=tmp_path / "out")
    message = str(caught.value)
    assert message.startswith("opsgraft fault: checker dvc-tracked raised TypeError")
    assert "not in the translated code" in message
    run = caught.value.result.run
    assert [(a.round, a.result.status) for a in run.attempts] == [(0, "error"), (0, "error")]
    assert len(backend.calls) == 1  # the first prompt only: no repair was asked for
    sent = "\n".join(m.content for messages, _ in backend.calls for m in messages)
    assert "TypeError" not in sent and "data_file" not in sent
    record = json.loads(caught.value.result.paths["record"].read_text())
    evidence = record["attempts"][0]["result"]["verdict"]["evidence"]
    assert "TypeError" in evidence[CHECKER_TRACEBACK] and "check_dvc_tracked" in evidence[CHECKER_TRACEBACK]


def test_translate_reports_a_checker_fault_in_one_line(release_script: Path, tmp_path: Path):
    flow = flow_for("gitpython->dvc", release_script)
    cassette = cassette_for_flow(tmp_path / "c.jsonl", flow, [fenced(EXITS_0)])
    code, out, err = run_cli(["translate", str(release_script), "--from", "gitpython", "--to", "dvc",
                              "--strategy", "none", "--no-scaffold", "--backend", "replay", "--cassette", str(cassette),
                              "--n", "1", "--repair", "2", "--check-arg", "data_file=x.csv"])
    assert code != 0
    [line] = err.strip().splitlines()
    assert line.startswith("error: opsgraft fault: checker dvc-tracked raised TypeError")
    assert "most recent call last" not in out + err  # the traceback goes to the record, not the terminal
    record = Path(re.search(r"Traceback in (\S+\.json)", line).group(1))  # type: ignore[union-attr]
    assert CHECKER_TRACEBACK in json.loads(record.read_text())["attempts"][0]["result"]["verdict"]["evidence"]
