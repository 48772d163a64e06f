"""The product path stops at the first pass; repair prompts show the failing line and what the script no longer does.

Real sandbox and a real (tiny, in-process) checker; the LLM is a scripted backend.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsgraft.adapters import prompting
from opsgraft.adapters.repair_loop import STOPPED
from opsgraft.adapters.specs import get_adapter
from opsgraft.adapters.workflow import Workflow
from opsgraft.llm.scripted import ScriptedBackend
from opsgraft.types import Task
from tests.adapters.out_checker import registered

CHECKER = "test-out-ok"
SCRIPT = 'print("training")\nopen("out.txt", "w").write("nope")\n'
GOOD = 'print("training")\nopen("out.txt", "w").write("ok")\n'
BAD = ['print("training")\nopen("out.txt", "w").write("no")\n',
       'print("training")\nopen("out.txt", "w").write("no!")\n',
       'print("training")\nopen("out.txt", "w").write("nah")\n']
BROKEN = '''\
import os


def main():
    print("training")
    value = undefined_name + 1
    open("out.txt", "w").write("ok")


main()
'''


@pytest.fixture(autouse=True)
def _checker() -> Iterator[None]:
    with registered(CHECKER):
        yield


def flow(tmp_path: Path, adapter: str = "tracking:mlflow", **kw: object) -> Workflow:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    spec = get_adapter(adapter)
    task = Task(id="user:train.py", kind="inline", functionality=spec.functionality, component=spec.component,
                framework="none", instruction=spec.instruction, entry="train.py", files=("train.py",),
                checker=CHECKER, timeout_s=30, root=str(tmp_path))
    return Workflow(spec=spec, script=script, source=SCRIPT, task=task, **kw)  # type: ignore[arg-type]


def block(code: str) -> str:
    return f"```python\n{code}```"


def statuses(result) -> list[tuple[int, int, str]]:  # type: ignore[no-untyped-def]
    return [(a.round, a.sample, a.result.status if a.result else "unjudged") for a in result.run.attempts]


def test_stop_at_first_pass_skips_the_other_chains(tmp_path: Path) -> None:
    backend = ScriptedBackend([block(GOOD), block(BAD[0]), block(BAD[1])])
    result = flow(tmp_path).execute(backend, n=3, run=True, repair=2, out_dir=tmp_path / "out",
                                    stop_at_first_pass=True)
    assert len(backend.calls) == 1  # no repair prompt for samples 1 and 2
    assert statuses(result) == [(0, 0, "passed"), (0, 1, "unjudged"), (0, 2, "unjudged")]
    assert result.run.stopped == {1: STOPPED, 2: STOPPED}
    record = json.loads(result.paths["record"].read_text())
    assert record["stopped"] == {"1": STOPPED, "2": STOPPED}
    assert result.paths["code"].read_text() == GOOD


def test_without_stop_every_chain_is_repaired(tmp_path: Path) -> None:
    backend = ScriptedBackend([block(GOOD), block(BAD[0]), block(BAD[1]), block(GOOD), block(GOOD)])
    result = flow(tmp_path).execute(backend, n=3, run=True, repair=2, out_dir=tmp_path / "out")
    assert len(backend.calls) == 3  # the first prompt, then one repair prompt each for samples 1 and 2
    assert statuses(result) == [(0, 0, "passed"), (0, 1, "failed"), (0, 2, "failed"), (1, 1, "passed"),
                                (1, 2, "passed")]
    assert result.run.stopped == {}


def test_a_later_sample_passing_stops_an_earlier_failing_chain(tmp_path: Path) -> None:
    backend = ScriptedBackend([block(BAD[0]), block(GOOD), block(BAD[1])])
    result = flow(tmp_path).execute(backend, n=3, run=True, repair=2, out_dir=tmp_path / "out",
                                    stop_at_first_pass=True)
    assert len(backend.calls) == 1
    assert statuses(result) == [(0, 0, "failed"), (0, 1, "passed"), (0, 2, "unjudged")]
    assert result.run.stopped == {0: STOPPED, 2: STOPPED}
    best = result.run.best()
    assert best is not None and best.sample == 1 and result.paths["code"].read_text() == GOOD


def test_a_repair_that_passes_spares_the_other_chains_repair(tmp_path: Path) -> None:
    backend = ScriptedBackend([block(BAD[0]), block(BAD[1]), block(GOOD)])
    result = flow(tmp_path).execute(backend, n=2, run=True, repair=2, out_dir=tmp_path / "out",
                                    stop_at_first_pass=True)
    # Sample 0's repair was judged at once and passed: sample 1 got no repair prompt.
    assert len(backend.calls) == 2
    assert statuses(result) == [(0, 0, "failed"), (0, 1, "failed"), (1, 0, "passed")]
    assert result.run.stopped == {1: STOPPED}


def test_the_most_promising_chain_is_repaired_first(tmp_path: Path) -> None:
    """Sample 0 crashes on an undefined name, sample 1 runs to its end and only misses the checker: 1 first."""
    backend = ScriptedBackend([block(BROKEN), block(BAD[0]), block(GOOD)])
    result = flow(tmp_path).execute(backend, n=2, run=True, repair=2, out_dir=tmp_path / "out",
                                    stop_at_first_pass=True)
    assert len(backend.calls) == 2
    assert statuses(result) == [(0, 0, "failed"), (0, 1, "failed"), (1, 1, "passed")]
    assert result.run.stopped == {0: STOPPED}
    assert "write(\"no\")" in backend.calls[1][0][-1].content  # the repair prompt showed sample 1's code


def test_without_stop_chains_are_repaired_in_sample_order(tmp_path: Path) -> None:
    backend = ScriptedBackend([block(BROKEN), block(BAD[0]), block(GOOD), block(GOOD)])
    result = flow(tmp_path).execute(backend, n=2, run=True, repair=1, out_dir=tmp_path / "out")
    assert [(a.round, a.sample) for a in result.run.attempts] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert "undefined_name" in backend.calls[1][0][-1].content


def test_repair_prompt_shows_the_failing_line_in_context(tmp_path: Path) -> None:
    backend = ScriptedBackend([block(BROKEN), block(GOOD)])
    result = flow(tmp_path).execute(backend, n=1, run=True, repair=1, out_dir=tmp_path / "out")
    assert statuses(result) == [(0, 0, "failed"), (1, 0, "passed")]
    repair = backend.calls[1][0][-1].content
    assert "Where it failed: `train.py` line 6 (marked >>)" in repair
    assert ("      3 | \n      4 | def main():\n      5 |     print(\"training\")\n"
            ">>    6 |     value = undefined_name + 1\n      7 |     open(\"out.txt\", \"w\").write(\"ok\")\n"
            "      8 | \n      9 | \n") in repair


def test_without_a_line_the_repair_prompt_is_as_before() -> None:
    spec = get_adapter("tracking:mlflow")
    stderr = ('Traceback (most recent call last):\n  File "/x/site-packages/lib/train.py", line 3, in f\n'
              "ValueError: bad\n")
    prompt = prompting.repair_prompt(spec, "train.py", GOOD, ["out.txt holds 'no'"], stderr, [])
    text = prompt.messages[-1].content
    assert "Where it failed" not in text  # a library's own train.py is not the candidate's
    assert "ValueError: bad\n```\n\nLikely fix:" in text
    # A checker reason that names a line of the candidate is shown the same way.
    named = prompting.repair_prompt(spec, "train.py", GOOD, ["train.py:2: the output is wrong"], "", [])
    assert ">>    2 | open(\"out.txt\", \"w\").write(\"ok\")" in named.messages[-1].content


def test_a_dropped_print_reaches_the_repair_prompt_for_tracking_only(tmp_path: Path) -> None:
    silent = 'open("out.txt", "w").write("no")\n'  # fails the check and no longer prints "training"
    backend = ScriptedBackend([block(silent), block(GOOD)])
    result = flow(tmp_path, preserved=True).execute(backend, n=1, run=True, repair=1, out_dir=tmp_path / "out")
    first, last = result.run.attempts
    assert first.result is not None and first.result.preserved is False
    assert last.result is not None and last.result.preserved is True
    finding = "the script no longer does what the original did: dropped print: 'training'"
    assert finding in backend.calls[1][0][-1].content
    # HPO changes training: its findings are reported, not put to the model.
    hpo_backend = ScriptedBackend([block(silent), block(GOOD)])
    hpo = flow(tmp_path, "hpo:optuna", preserved=True).execute(hpo_backend, n=1, run=True, repair=1,
                                                               out_dir=tmp_path / "out-hpo")
    assert hpo.run.attempts[0].result.preserved is False  # type: ignore[union-attr]
    assert "dropped print" not in hpo_backend.calls[1][0][-1].content


def test_adapt_cli_stops_at_the_first_pass_and_reports_preserved(tmp_path: Path) -> None:
    """The product path: sample 0 passes, sample 1 (the unadapted input) is never judged nor repaired."""
    from opsgraft.adapters.workflow import corpus_workflow
    from opsgraft.evaluation.corpus import input_files, load_task, reference_files
    from tests.conftest import cassette_for_flow, run_cli

    task_id = "tracking-mlflow-sklearn-diabetes"
    task = load_task(task_id)
    answers = [block(reference_files(task)[task.entry]), block(input_files(task)[task.entry])]
    # Only the first prompt is recorded: a repair prompt for sample 1 would be a replay miss.
    cassette = cassette_for_flow(tmp_path / "c.jsonl", corpus_workflow(task_id), answers)
    code, stdout, err = run_cli(["adapt", "--task", task_id, "--backend", "replay", "--cassette", str(cassette),
                                 "--n", "2", "--repair", "2", "--out-dir", str(tmp_path / "out")])
    assert code == 0, err
    assert f"check:   {task.checker}: PASSED" in stdout
    assert "kept:    prints and files of the original: yes" in stdout
    assert "stopped: sample(s) 1: another sample passed" in stdout
    code, stdout, err = run_cli(["adapt", "--task", task_id, "--backend", "replay", "--cassette", str(cassette),
                                 "--n", "2", "--repair", "2", "--no-preserved", "--out-dir", str(tmp_path / "out2")])
    assert code == 0, err
    assert "kept:" not in stdout and "PASSED" in stdout
