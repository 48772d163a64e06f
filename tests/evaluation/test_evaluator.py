"""judge() with a tmp task and a tmp checker; evaluate() with resume."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import pytest

from opsgraft.errors import ConfigError, InputError, UnknownComponentError
from opsgraft.evaluation.corpus import load_task_dir, mutant_files, reference_files
from opsgraft.evaluation.evaluator import (
    RESULTS_FILE,
    Job,
    evaluate,
    judge,
    read_generations,
    read_results,
)
from opsgraft.evaluation.executors import LocalExecutor
from opsgraft.types import Candidate, SampleResult, to_dict


@pytest.fixture
def task(make_task: Callable[..., Path], file_checker_registered: str):
    return load_task_dir(make_task("demo-task"))


def _cand(files: dict[str, str], index: int = 0, task_id: str = "demo-task") -> Candidate:
    return Candidate(task_id, index, files, "train.py")


def test_reference_passes_input_and_mutants_fail(task) -> None:
    ref = judge(task, _cand(reference_files(task)))
    assert ref.status == "passed", ref
    assert ref.verdict is not None and ref.verdict.passed
    assert ref.execution.workdir == ""  # removed
    inp = judge(task, _cand({}))
    assert inp.status == "failed" and inp.execution.returncode == 0
    assert inp.verdict is not None and "'nope'" in inp.verdict.reasons[0]
    mutants = mutant_files(task)
    wrong = judge(task, _cand(mutants["wrong-content"]))
    assert wrong.status == "failed" and wrong.execution.status == "passed"
    crash = judge(task, _cand(mutants["crashes"]))
    assert crash.status == "failed" and crash.execution.returncode == 3
    assert crash.verdict is not None and not crash.verdict.passed


def test_timeout_stays_timeout(task) -> None:
    result = judge(task, _cand({"train.py": "import time\nopen('out.txt','w').write('ok')\ntime.sleep(60)\n"}),
                   timeout_s=1.5)
    assert result.status == "timeout"


def test_checker_exception_is_an_error_with_the_reason(make_task: Callable[..., Path], checker_module: str) -> None:
    task = load_task_dir(make_task("explodes", checker=f"{checker_module}:explode", checker_args={}))
    result = judge(task, _cand({"train.py": "pass\n"}, task_id="explodes"))
    assert result.status == "error"
    assert result.verdict is not None
    assert "raised RuntimeError: checker bug" in result.verdict.reasons[0]


def test_checker_by_import_path(make_task: Callable[..., Path], checker_module: str) -> None:
    task = load_task_dir(make_task("by-path", checker=f"{checker_module}:check"))
    assert judge(task, _cand(reference_files(task), task_id="by-path")).status == "passed"


def test_unknown_checker_is_a_config_error(make_task: Callable[..., Path]) -> None:
    task = load_task_dir(make_task("no-checker", checker="no-such-checker"))
    with pytest.raises(UnknownComponentError):
        judge(task, _cand({}, task_id="no-checker"))


def test_outside_writes_fail_a_sample_unless_lenient(task) -> None:
    writes_home = {"train.py": "import os\nopen('out.txt','w').write('ok')\nopen(os.path.expanduser('~/x'),'w')\n"}
    strict = judge(task, _cand(writes_home))
    assert strict.status == "failed"
    assert strict.execution.outside_writes == ("~/x",)
    assert strict.verdict is not None and "wrote outside its workdir: ~/x" in strict.verdict.reasons[-1]
    assert judge(task, _cand(writes_home), strict_writes=False).status == "passed"


def test_keep_workdir(task) -> None:
    result = judge(task, _cand(reference_files(task)), keep_workdir=True)
    workdir = Path(result.execution.workdir)
    try:
        assert (workdir / "out.txt").read_text() == "ok"
        assert (workdir / "train.py").read_text() == reference_files(task)["train.py"]
    finally:
        import shutil

        shutil.rmtree(workdir.parent)


def test_sandbox_error_is_an_error_without_verdict(task) -> None:
    result = judge(task, Candidate("demo-task", 0, {"x.py": "pass"}, "missing.py"))
    assert result.status == "error" and result.verdict is None


def test_results_round_trip_through_json(task, tmp_path: Path) -> None:
    result = judge(task, _cand({}))
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(to_dict(result)) + "\n")
    assert read_results(path) == [result]


class CountingRunner:
    """A local runner that records which samples it was asked to judge."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    def __call__(self, todo: Sequence[Job]) -> Iterable[SampleResult]:
        self.seen += [(j.candidate.task_id, j.candidate.sample_index) for j in todo]
        return LocalExecutor(jobs=1)(todo)


def test_evaluate_writes_results_and_report_and_resumes(task, tasks_dir: Path, tmp_path: Path) -> None:
    ref = reference_files(task)
    candidates = [_cand(ref, 0), _cand({}, 1), _cand(ref, 2)]
    out = tmp_path / "out"
    first = CountingRunner()
    report = evaluate(candidates[:2], out, [1, 2], first, tasks_dir=tasks_dir)
    assert first.seen == [("demo-task", 0), ("demo-task", 1)]
    assert report["by_task"]["demo-task"]["pass@1"] == pytest.approx(0.5)
    assert report["by_task"]["demo-task"]["pass@2"] == 1.0

    # A run killed mid-line leaves a partial line behind: resume must survive it.
    with (out / RESULTS_FILE).open("a") as fh:
        fh.write('{"task_id": "demo-task", "sample_ind')
    second = CountingRunner()
    report = evaluate(candidates, out, [1, 3], second, tasks_dir=tasks_dir)
    assert second.seen == [("demo-task", 2)]
    assert report["by_task"]["demo-task"]["n"] == 3
    assert report["by_task"]["demo-task"]["pass@1"] == pytest.approx(2 / 3)
    assert json.loads((out / "report.json").read_text()) == report
    assert len(read_results(out / RESULTS_FILE)) == 3

    third = CountingRunner()
    evaluate(candidates, out, [1], third, tasks_dir=tasks_dir)
    assert third.seen == []


def test_evaluate_refuses_k_above_n_before_running(task, tasks_dir: Path, tmp_path: Path) -> None:
    runner = CountingRunner()
    with pytest.raises(ConfigError, match="pass@3"):
        evaluate([_cand({}, 0), _cand({}, 1)], tmp_path / "out", [1, 3], runner, tasks_dir=tasks_dir)
    assert runner.seen == [] and not (tmp_path / "out").exists()


def test_read_generations(tmp_path: Path) -> None:
    path = tmp_path / "gen.jsonl"
    cands = [_cand({"train.py": "a"}, 0), _cand({"train.py": "b"}, 1)]
    path.write_text("\n".join(json.dumps(to_dict(c)) for c in cands) + "\n\n")
    assert read_generations(path) == cands
    path.write_text(json.dumps(to_dict(cands[0])) + "\n" + json.dumps(to_dict(cands[0])) + "\n")
    with pytest.raises(InputError, match="duplicate"):
        read_generations(path)
    path.write_text("{not json\n")
    with pytest.raises(InputError, match="gen.jsonl:1"):
        read_generations(path)
    path.write_text('{"task_id": "t"}\n')
    with pytest.raises(InputError, match="not a candidate"):
        read_generations(path)
    path.write_text("")
    with pytest.raises(InputError, match="no candidates"):
        read_generations(path)


def test_a_crash_stays_failed_even_if_the_checker_raises(make_task: Callable[..., Path], checker_module: str) -> None:
    task = load_task_dir(make_task("explodes-too", checker=f"{checker_module}:explode", checker_args={}))
    result = judge(task, _cand({"train.py": "raise SystemExit(2)\n"}, task_id="explodes-too"))
    assert result.status == "failed"
    assert result.verdict is not None and "checker bug" in result.verdict.reasons[0]
