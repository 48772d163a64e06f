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
    failure_reason,
    judge,
    read_generations,
    read_results,
)
from opsgraft.evaluation.executors import LocalExecutor
from opsgraft.types import Candidate, ExecutionResult, SampleResult, Verdict, to_dict


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
    path.write_text("\n".join(json.dumps(to_dict(c)) for c in cands), encoding="utf-8-sig")  # with a BOM
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


def test_a_checker_that_raises_is_an_error_even_after_a_crash(make_task: Callable[..., Path],
                                                               checker_module: str) -> None:
    """Issue 14: a checker crash is opsgraft's fault whatever the program's exit, never the code's failure."""
    task = load_task_dir(make_task("explodes-too", checker=f"{checker_module}:explode", checker_args={}))
    result = judge(task, _cand({"train.py": "raise SystemExit(2)\n"}, task_id="explodes-too"))
    assert result.status == "error" and result.checker_fault
    assert result.verdict is not None and "checker bug" in result.verdict.reasons[0]
    assert "checker bug" in result.verdict.evidence["checker_traceback"]


def test_resume_cuts_a_torn_tail_and_unreadable_lines_keeping_complete_lines(task, tasks_dir: Path,
                                                                              tmp_path: Path) -> None:
    candidates = [_cand(reference_files(task), 0), _cand({}, 1)]
    out = tmp_path / "out"
    evaluate(candidates, out, [1], CountingRunner(), tasks_dir=tasks_dir)
    path = out / RESULTS_FILE
    clean = path.read_bytes()
    first, second = clean.splitlines(keepends=True)

    # Killed mid-write: the torn tail goes, not a newline after it (jq and pandas refuse it).
    path.write_bytes(clean + b'{"task_id": "demo-task", "sample_ind')
    resumed = CountingRunner()
    evaluate(candidates, out, [1], resumed, tasks_dir=tasks_dir)
    assert resumed.seen == [] and path.read_bytes() == clean

    # An unreadable line in the middle (and a blank one) goes too; the others stay byte-identical.
    path.write_bytes(first + b"\xff{garbage\n\n" + second)
    evaluate(candidates, out, [1], CountingRunner(), tasks_dir=tasks_dir)
    assert path.read_bytes() == clean
    assert all(json.loads(line) for line in path.read_bytes().splitlines())


def _error(index: int, stderr: str) -> SampleResult:
    return SampleResult("demo-task", index, "error", ExecutionResult("error", None, 0.0, stderr_tail=stderr))


class ScriptedRunner:
    """A runner that answers each job with the next scripted result for its sample, without running it."""

    def __init__(self, results: dict[int, SampleResult]) -> None:
        self.results = results
        self.seen: list[int] = []

    def __call__(self, todo: Sequence[Job]) -> Iterable[SampleResult]:
        for job in todo:
            self.seen.append(job.candidate.sample_index)
            yield self.results[job.candidate.sample_index]


def test_error_samples_show_their_reason_and_are_judged_again_on_resume(task, tasks_dir: Path,
                                                                         tmp_path: Path) -> None:
    candidates = [_cand({}, 0), _cand({}, 1), _cand({}, 2)]
    passed = SampleResult("demo-task", 0, "passed", ExecutionResult("passed", 0, 1.0),
                          Verdict(passed=True, checker="c"))
    broke = SampleResult("demo-task", 2, "error", ExecutionResult("passed", 0, 1.0),
                         Verdict(passed=False, checker="c", reasons=("checker c raised KeyError: 'x'", "more")))
    first = ScriptedRunner({0: passed, 1: _error(1, "setting up\nsandbox setup failed: disk full\n"), 2: broke})
    out = tmp_path / "out"
    report = evaluate(candidates, out, [1], first, tasks_dir=tasks_dir)
    assert report["errors"] == [
        {"task_id": "demo-task", "sample_index": 1, "reason": "sandbox setup failed: disk full"},
        {"task_id": "demo-task", "sample_index": 2, "reason": "checker c raised KeyError: 'x'"},
    ]
    path = out / RESULTS_FILE
    kept_line = path.read_bytes().splitlines(keepends=True)[0]

    fixed = {i: SampleResult("demo-task", i, "failed", ExecutionResult("failed", 1, 1.0, stderr_tail="Boom\n"))
             for i in (1, 2)}
    second = ScriptedRunner(fixed)
    report = evaluate(candidates, out, [1], second, tasks_dir=tasks_dir)
    assert second.seen == [1, 2]
    assert report["errors"] == [] and report["statuses"] == {"passed": 1, "failed": 2}
    lines = path.read_bytes().splitlines(keepends=True)
    assert len(lines) == 3 and lines[0] == kept_line  # one line per sample, the judged one untouched
    assert [r.status for r in read_results(path)] == ["passed", "failed", "failed"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp file left behind


def test_failure_reason() -> None:
    assert failure_reason(_error(0, "Traceback\n  File x\nValueError: bad\n\n")) == "ValueError: bad"
    assert failure_reason(_error(0, "")) == "error"
    ok = SampleResult("t", 0, "passed", ExecutionResult("passed", 0, 1.0), Verdict(passed=True, checker="c"))
    assert failure_reason(ok) == ""


def test_evaluate_cli_shows_why_a_sample_is_an_error(task, tasks_dir: Path, tmp_path: Path) -> None:
    from tests.conftest import run_cli

    gens = tmp_path / "gens.jsonl"
    gens.write_text(json.dumps(to_dict(Candidate("demo-task", 0, {"x.py": "pass\n"}, "missing.py"))) + "\n")
    out = tmp_path / "eval"
    code, _, stderr = run_cli(["evaluate", str(gens), "--out", str(out), "--corpus", str(tasks_dir), "--device", "cpu"])
    assert code == 0, stderr
    reason = json.loads((out / "report.json").read_text())["errors"][0]["reason"]
    assert reason and reason in stderr.splitlines()[0]  # the per-sample line
    assert f"demo-task #0: {reason}" in stderr  # the report's list of errors
