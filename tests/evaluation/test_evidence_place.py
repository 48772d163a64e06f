"""Evidence lives where the candidate's files cannot land: shipped or hand-written evidence fails."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from opsgraft.evaluation.corpus import load_task_dir
from opsgraft.evaluation.evaluator import judge
from opsgraft.evaluation.sandbox import evidence_dir, run_program
from opsgraft.types import Candidate

WRITE_OK = "open('out.txt', 'w').write('ok')\n"


def test_a_candidate_that_ships_evidence_files_is_refused_unrun(
    make_task: Callable[..., Path], file_checker_registered: str
) -> None:
    task = load_task_dir(make_task("forged"))
    files = {"train.py": WRITE_OK, ".opsgraft/optuna.jsonl": '{"event": "optimize_end"}\n'}
    result = judge(task, Candidate("forged", 0, files, "train.py"))
    assert result.status == "failed"
    assert result.execution.returncode is None  # never started
    assert result.verdict is not None and ".opsgraft/" in result.verdict.reasons[0]


def test_a_program_that_writes_into_the_evidence_folder_fails(
    make_task: Callable[..., Path], file_checker_registered: str
) -> None:
    task = load_task_dir(make_task("forger"))
    script = WRITE_OK + "import os\nopen(os.path.join(os.environ['OPSGRAFT_EVIDENCE_DIR'], 'fit.jsonl'), 'a').write('{}')\n"
    result = judge(task, Candidate("forger", 0, {"train.py": script}, "train.py"))
    assert result.execution.status == "passed"
    assert result.status == "failed"
    assert result.verdict is not None
    assert "wrote outside its workdir" in result.verdict.reasons[-1] and "evidence/fit.jsonl" in result.verdict.reasons[-1]


def test_the_hooks_emitter_writes_evidence_outside_the_workdir_unreported(tmp_path: Path) -> None:
    script = "import opsgraft_evidence\nopsgraft_evidence.emit('x.jsonl', {'event': 'fit'})\n"
    run = run_program({"main.py": script}, "main.py", root=tmp_path, timeout_s=30)
    assert run.result.status == "passed", run.result.stderr_tail
    assert run.result.outside_writes == ()
    line = (evidence_dir(tmp_path) / "x.jsonl").read_text()
    assert '"event": "fit"' in line and '"wall"' in line
    assert not (run.workdir / ".opsgraft").exists()


def test_bytecode_caches_of_modules_outside_the_root_are_not_outside_writes(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # In a fresh checkout the hooks' own __pycache__ does not exist yet: a sample's first import
    # makes it beside them, outside the sample root (seen in a clean-clone CI run).
    lib = tmp_path_factory.mktemp("lib")
    (lib / "helper_mod.py").write_text("VALUE = 3\n")
    script = f"import sys\nsys.path.insert(0, {str(lib)!r})\nimport helper_mod\nprint(helper_mod.VALUE)\n"
    run = run_program({"main.py": script}, "main.py", root=tmp_path, timeout_s=30)
    assert run.result.status == "passed", run.result.stderr_tail
    assert (lib / "__pycache__").is_dir()
    assert run.result.outside_writes == ()
