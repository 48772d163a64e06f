"""The preserved verdict, with the real sandbox: the original runs once (cached), samples are compared with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opsgraft.evaluation import preserved, sandbox
from opsgraft.evaluation.evaluator import evaluate, judge
from opsgraft.evaluation.executors import make_runner
from opsgraft.types import Candidate, SampleResult, Task, from_dict, to_dict

ORIGINAL = '''\
import os
import random
print("loading data")
acc = 0.8123
for epoch in range(3):
    print(f"epoch {epoch}: loss {1.0 / (epoch + 1):.4f}")
print(f"test accuracy: {acc:.3f}")
os.makedirs("ckpt", exist_ok=True)
open("ckpt/epoch=2.pt", "w").write("weights")
open("model.pkl", "w").write("model")
open("out.txt", "w").write("nope")
'''


def adapted(source: str = ORIGINAL) -> str:
    """``source`` plus the task's work (out.txt holds ok) and a line of its own."""
    return source.replace('open("out.txt", "w").write("nope")', 'open("out.txt", "w").write("ok")\nprint("logged")')


@pytest.fixture
def task(tmp_path: Path, file_checker_registered: str) -> Task:
    folder = tmp_path / "task"
    folder.mkdir()
    (folder / "train.py").write_text(ORIGINAL)
    return Task(id="keep-demo", kind="inline", functionality="tracking", component="mlflow", framework="none",
                instruction="Write ok into out.txt.", entry="train.py", files=("train.py",),
                checker=file_checker_registered, checker_args={"path": "out.txt", "content": "ok"}, timeout_s=30,
                root=str(folder))


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The entry of every sandbox run the preserved module starts (the originals' runs)."""
    seen: list[str] = []
    real = sandbox.run_program

    def counting(files, entry, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs["root"].name.startswith("opsgraft-original-"):  # not the samples' own runs
            seen.append(entry)
        return real(files, entry, **kwargs)

    monkeypatch.setattr(sandbox, "run_program", counting)
    return seen


def judged(task: Task, code: str, index: int = 0) -> SampleResult:
    return judge(task, Candidate(task.id, index, {"train.py": code}, "train.py"), preserved=True)


def test_an_unchanged_script_with_the_work_done_is_preserved(task: Task, runs: list[str]) -> None:
    result = judged(task, adapted())
    assert result.status == "passed"
    assert result.preserved is True and result.preserved_findings == ()
    assert runs == ["train.py"]  # the original ran once, for the baseline


def test_a_dropped_print_is_a_finding_and_the_status_stays_the_checkers(task: Task, runs: list[str]) -> None:
    code = adapted().replace('print(f"test accuracy: {acc:.3f}")\n', "")
    result = judged(task, code)
    assert result.status == "passed"  # beside the verdict, never in it
    assert result.preserved is False
    assert result.preserved_findings == ("dropped print: 'test accuracy: <n>'",)


def test_changed_numbers_still_preserve(task: Task, runs: list[str]) -> None:
    # Another accuracy, more epochs (HPO, pruning change training), another checkpoint name.
    code = adapted().replace("acc = 0.8123", "acc = 0.95").replace("range(3)", "range(7)").replace(
        "epoch=2.pt", "epoch=6.pt")
    result = judged(task, code)
    assert result.preserved is True, result.preserved_findings


def test_a_missing_output_file_is_a_finding(task: Task, runs: list[str]) -> None:
    code = adapted().replace('open("model.pkl", "w").write("model")\n', "")
    result = judged(task, code)
    assert result.preserved is False
    assert result.preserved_findings == ("missing output file: model.pkl",)


def test_the_baseline_is_cached(task: Task, runs: list[str]) -> None:
    judged(task, adapted(), 0)
    judged(task, adapted().replace("loading data", "loading the data"), 1)
    assert runs == ["train.py"]  # the second sample did not run the original again
    assert len(list(preserved.baseline_dir().glob("*.json"))) == 1
    # A changed input is another original: run again.
    Path(task.root, "train.py").write_text(ORIGINAL.replace("loading data", "reading data"))
    assert judged(task, adapted(ORIGINAL.replace("loading data", "reading data")), 2).preserved is True
    assert runs == ["train.py", "train.py"]


def test_not_checked_unless_asked_for_ablation_or_a_crash(task: Task, runs: list[str]) -> None:
    plain = judge(task, Candidate(task.id, 0, {"train.py": adapted()}, "train.py"))
    assert plain.preserved is None
    from dataclasses import replace

    ablation = judged(replace(task, kind="ablation", functionality="ablation"), adapted())
    assert ablation.preserved is None
    crashed = judged(task, "raise SystemExit(2)\n")
    assert crashed.status == "failed" and crashed.preserved is None
    assert runs == []  # nothing asked for a baseline


def test_tool_logging_progress_bars_and_paths_do_not_count() -> None:
    stdout = "\n".join([
        "wandb: Tracking run with wandb version 0.19.1",
        "INFO mlflow.store.db.utils: Creating initial MLflow database tables...",
        "[I 2025-01-01 10:00:00,000] Trial 0 finished with value: 0.9",
        "2025-01-01 10:00:00 starting",
        " 40%|████      | 4/10 [00:01<00:02,  2.50it/s]",
        "saved to /tmp/opsgraft-x-0-abc/work/model.pkl",
        "Info: 120 rows",
        "committed model.pkl as 3a1efdcf",
        "Epoch 1/3\r12/12 [==============================] - 0s 2ms/step - loss: 0.51",
    ])
    assert preserved.required_lines(stdout) == (
        "saved to <root>/model.pkl", "Info: <n> rows", "committed model.pkl as <hex>", "<n>/<n> [<bar>] - <n>s <n>ms/step - loss: <n>")


def test_an_original_that_fails_gives_no_verdict(task: Task, runs: list[str]) -> None:
    Path(task.root, "train.py").write_text('print("x")\nraise SystemExit(1)\n')
    result = judged(task, adapted())
    assert result.preserved is None
    assert "did not run cleanly" in result.preserved_findings[0]


def test_results_round_trip_and_old_lines_still_load(task: Task, runs: list[str]) -> None:
    result = judged(task, adapted().replace('print("loading data")\n', ""))
    again = from_dict(SampleResult, json.loads(json.dumps(to_dict(result))))
    assert again == result and again.preserved is False
    old = to_dict(result)
    del old["preserved"], old["preserved_findings"]  # a results line written before this field existed
    assert from_dict(SampleResult, old).preserved is None


def test_evaluate_reports_preserved_counts(task: Task, runs: list[str], tmp_path: Path) -> None:
    candidates = [Candidate(task.id, 0, {"train.py": adapted()}, "train.py"),
                  Candidate(task.id, 1, {"train.py": adapted().replace('print("loading data")\n', "")}, "train.py")]
    report = evaluate(candidates, tmp_path / "eval", [1], make_runner(device="cpu", preserved=True),
                      known_tasks={task.id: task})
    assert report["preserved"] == {"checked": 2, "preserved": 1, "passed_checked": 2, "passed_preserved": 1}
    assert runs == ["train.py"]
