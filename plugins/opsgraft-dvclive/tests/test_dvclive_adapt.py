"""`opsgraft adapt SCRIPT --add tracking:dvclive --run` end to end, with a replay cassette.

The cassette answers the first prompt with the task's reference solution (an expectation written by
hand, not a recording of the pipeline), so the run trains the wine MLP for real in the sandbox and
the dvclive-tracking checker judges DVCLive's real files.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

from opsgraft import config
from opsgraft.adapters.specs import get_adapter
from opsgraft.adapters.workflow import Workflow
from opsgraft.evaluation.corpus import load_task, reference_files
from opsgraft.llm.base import sample_params
from opsgraft.llm.replay import append_entries, cassette_entry
from opsgraft.types import Generation

TASK = "tracking-dvclive-pytorch-wine"


def run_cli(args: list[str]) -> tuple[int, str, str]:
    from opsgraft.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def cassette(path: Path, script: Path, answer: str) -> Path:
    """A cassette answering the first prompt `adapt script --add tracking:dvclive` sends."""
    flow = Workflow(spec=get_adapter("tracking:dvclive"), script=script, source=script.read_text())
    messages = flow.build_prompt(flow.source).messages
    params = sample_params(0.2, 2048, 0)
    append_entries(path, [cassette_entry(config.MODEL_NAME, messages, params, 0,
                                         Generation(text=answer, index=0, model=config.MODEL_NAME))])
    return path


def test_adapt_add_tracking_dvclive_run_passes_with_a_replay_cassette(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPSGRAFT_CACHE", str(tmp_path / "cache"))
    task = load_task(TASK)
    script = tmp_path / "train.py"
    shutil.copy(Path(task.root) / task.entry, script)
    reference = reference_files(task)[task.entry]
    tape = cassette(tmp_path / "c.jsonl", script, f"```python\n{reference}```")
    code, out, err = run_cli(["adapt", str(script), "--add", "tracking:dvclive", "--backend", "replay",
                              "--cassette", str(tape), "--run", "--n", "1", "--repair", "0", "--no-cache"])
    assert code == 0, out + err
    assert (tmp_path / "train_tracking_dvclive.py").read_text() == reference
    assert "dvclive-tracking: PASSED" in out


def test_adapt_reports_the_checker_reason_for_an_answer_without_next_step(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPSGRAFT_CACHE", str(tmp_path / "cache"))
    task = load_task(TASK)
    script = tmp_path / "train.py"
    shutil.copy(Path(task.root) / task.entry, script)
    answer = reference_files(task)[task.entry].replace("        live.next_step()\n", "")
    tape = cassette(tmp_path / "c.jsonl", script, f"```python\n{answer}```")
    code, out, err = run_cli(["adapt", str(script), "--add", "tracking:dvclive", "--backend", "replay",
                              "--cassette", str(tape), "--run", "--n", "1", "--repair", "0", "--no-cache", "--no-preserved"])
    assert code == 0, err  # a failed check is a result, not an error
    assert "check:   dvclive-tracking: FAILED (every metric was logged at 1 step(s), expected at least 2" in out
