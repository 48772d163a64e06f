"""``opsgraft evaluate`` and ``opsgraft corpus list|check`` through the entry point."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from opsgraft.evaluation import corpus as corpus_module
from opsgraft.types import Candidate, to_dict

from .conftest import MUTANTS, REFERENCE

CLI = Callable[[list[str]], tuple[int, str, str]]


def _write_generations(path: Path, task_id: str, sources: list[str]) -> Path:
    lines = [json.dumps(to_dict(Candidate(task_id, i, {"train.py": s}, "train.py", "test"))) for i, s in enumerate(sources)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_evaluate_cli(make_task: Callable[..., Path], tasks_dir: Path, checker_module: str, tmp_path: Path,
                      cli: CLI) -> None:
    make_task("cli-task", checker=f"{checker_module}:check", framework="keras")
    gens = _write_generations(tmp_path / "gens.jsonl", "cli-task", [REFERENCE, MUTANTS["crashes"], REFERENCE])
    out = tmp_path / "eval"
    code, stdout, stderr = cli(["evaluate", str(gens), "--k", "1,3", "--jobs", "2", "--out", str(out),
                                "--corpus", str(tasks_dir), "--device", "cpu"])
    assert code == 0, stderr
    report = json.loads((out / "report.json").read_text())
    assert report["by_task"]["cli-task"]["pass@1"] == pytest.approx(2 / 3)
    assert report["by_task"]["cli-task"]["pass@3"] == 1.0
    assert report["by_framework"]["keras"]["pass@1"] == pytest.approx(2 / 3)
    assert len((out / "results.jsonl").read_text().splitlines()) == 3
    assert "cli-task" in stdout and "0.667" in stdout and "framework" in stdout
    assert stderr.count("passed") == 2 and "failed" in stderr

    # Resume: nothing left to judge, same report.
    code, stdout, stderr = cli(["evaluate", str(gens), "--k", "1,3", "--out", str(out), "--corpus", str(tasks_dir)])
    assert code == 0 and "passed" not in stderr
    assert json.loads((out / "report.json").read_text()) == report


def test_evaluate_cli_errors_are_one_line(make_task: Callable[..., Path], tasks_dir: Path, tmp_path: Path,
                                          cli: CLI) -> None:
    make_task("cli-task")
    gens = _write_generations(tmp_path / "gens.jsonl", "cli-task", [REFERENCE])
    code, _, stderr = cli(["evaluate", str(gens), "--k", "3", "--corpus", str(tasks_dir)])
    assert code == 2 and stderr.startswith("error:") and "pass@3" in stderr and len(stderr.splitlines()) == 1
    bad = _write_generations(tmp_path / "bad.jsonl", "no-such-task", [REFERENCE])
    code, _, stderr = cli(["evaluate", str(bad), "--corpus", str(tasks_dir)])
    assert code == 2 and "unknown task 'no-such-task'" in stderr
    assert not (tmp_path / "gens-eval").exists()


def test_help_warns_that_this_is_not_a_security_sandbox(cli: CLI) -> None:
    for args in (["evaluate", "--help"], ["corpus", "check", "--help"]):
        code, stdout, _ = cli(args)
        assert code == 0 and "NOT a security sandbox" in " ".join(stdout.split())


def test_corpus_list(make_task: Callable[..., Path], tasks_dir: Path, monkeypatch: pytest.MonkeyPatch,
                     cli: CLI) -> None:
    make_task("tracking-demo-one")
    make_task("translate-demo-two", kind="translate", functionality="translation", source_component="wandb",
              framework="pytorch")
    monkeypatch.setattr(corpus_module, "corpus_tasks_dir", lambda: tasks_dir)
    monkeypatch.setattr(corpus_module, "task_roots", lambda: [tasks_dir])  # no installed plugin's tasks
    code, stdout, stderr = cli(["corpus", "list"])
    assert code == 0, stderr
    rows = [line for line in stdout.splitlines() if "demo" in line]
    assert len(rows) == 2
    assert all(word in rows[0] for word in ("tracking-demo-one", "inline", "tracking", "mlflow", "sklearn"))
    assert all(word in rows[1] for word in ("translate-demo-two", "translate", "translation", "wandb->mlflow", "pytorch"))


def test_corpus_check_all_as_expected(make_task: Callable[..., Path], tasks_dir: Path,
                                      monkeypatch: pytest.MonkeyPatch, file_checker_registered: str,
                                      cli: CLI) -> None:
    make_task("good-task")
    monkeypatch.setattr(corpus_module, "corpus_tasks_dir", lambda: tasks_dir)
    monkeypatch.setattr(corpus_module, "task_roots", lambda: [tasks_dir])  # no installed plugin's tasks
    code, stdout, stderr = cli(["corpus", "check"])
    assert code == 0, stdout + stderr
    assert "all 1 tasks as expected" in stdout
    assert "2/2 fail" in stdout and "rejected" in stdout and "crashed (3)" in stdout


def test_corpus_check_flags_a_bad_task(make_task: Callable[..., Path], tasks_dir: Path,
                                       monkeypatch: pytest.MonkeyPatch, file_checker_registered: str,
                                       cli: CLI) -> None:
    make_task("good-task")
    # Its mutant is in fact correct, and its input already passes: both are defects of the task.
    make_task("weak-task", inputs={"train.py": REFERENCE}, mutants={"not-wrong": {"train.py": REFERENCE}})
    make_task("unchecked-task", checker="no-such-checker")
    monkeypatch.setattr(corpus_module, "corpus_tasks_dir", lambda: tasks_dir)
    monkeypatch.setattr(corpus_module, "task_roots", lambda: [tasks_dir])  # no installed plugin's tasks
    code, stdout, stderr = cli(["corpus", "check", "--task", "weak-task", "--task", "unchecked-task"])
    assert code == 1
    assert "good-task" not in stdout
    flat = " ".join(stdout.split())
    assert "input passed" in flat and "mutant:not-wrong passed" in flat
    assert "no-such-checker" in flat
    assert "not as expected" in stderr
