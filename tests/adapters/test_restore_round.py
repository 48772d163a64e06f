"""The restore round: a sample that passes its check but dropped prints or files of the original gets one repair.

Real sandbox, real `preserved` baseline and a real (tiny, in-process) checker; the LLM is a scripted backend.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsgraft.adapters.records import load_record, record_candidates
from opsgraft.adapters.repair_loop import STOPPED
from opsgraft.adapters.specs import get_adapter
from opsgraft.adapters.workflow import Workflow
from opsgraft.llm.scripted import ScriptedBackend
from opsgraft.types import Task
from tests.adapters.out_checker import registered

CHECKER = "test-restore-out-ok"
SCRIPT = 'print("training")\nopen("out.txt", "w").write("nope")\n'
GOOD = 'print("training")\nopen("out.txt", "w").write("ok")\n'  # passes and preserves
SILENT = 'open("out.txt", "w").write("ok")\n'  # passes, but no longer prints "training"
SILENT_TOO = 'open("out.txt", "w").write("ok")\nprint("done")\n'  # passes, still without "training"
BAD = 'print("training")\nopen("out.txt", "w").write("no")\n'  # preserves, fails the check
SILENT_BAD = 'open("out.txt", "w").write("no")\n'  # fails, and no longer prints "training"


@pytest.fixture(autouse=True)
def _checker() -> Iterator[None]:
    with registered(CHECKER):
        yield


def flow(tmp_path: Path, adapter: str = "registration:mlflow", **kw: object) -> Workflow:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    spec = get_adapter(adapter)
    task = Task(id="user:train.py", kind="inline", functionality=spec.functionality, component=spec.component,
                framework="none", instruction=spec.instruction, entry="train.py", files=("train.py",),
                checker=CHECKER, timeout_s=30, root=str(tmp_path))
    kw.setdefault("preserved", True)
    return Workflow(spec=spec, script=script, source=SCRIPT, task=task, examples=False, **kw)  # type: ignore[arg-type]


def block(code: str) -> str:
    return f"```python\n{code}```"


def rows(result) -> list[tuple[int, int, str, bool | None, bool]]:  # type: ignore[no-untyped-def]
    return [(a.round, a.sample, a.result.status if a.result else "unjudged",
             a.result.preserved if a.result else None, a.restore) for a in result.run.attempts]


def test_a_restore_that_passes_and_preserves_becomes_final(tmp_path: Path) -> None:
    backend = ScriptedBackend([block(SILENT), block(GOOD)])
    result = flow(tmp_path).execute(backend, n=1, run=True, repair=2, out_dir=tmp_path / "out")
    # One restore, although two rounds were left; the restored code then ends the chain.
    assert len(backend.calls) == 2
    assert rows(result) == [(0, 0, "passed", False, False), (1, 0, "passed", True, True)]
    restored = result.run.attempts[1]
    assert result.run.final() == {0: restored} and result.run.best() is restored
    assert restored.notes.startswith("restore: the original's prints and files are back")
    assert result.paths["code"].read_text() == GOOD
    prompt = backend.calls[1][0][-1].content
    assert prompt.startswith("Your last version of `train.py` passes its check, but it no longer does everything")
    assert "- dropped print: 'training'" in prompt
    assert "line 1 `print(\"training\")`" in prompt  # where the original prints it
    assert f"Current `train.py`:\n```python\n{SILENT}```" in prompt
    assert "Likely fix" not in prompt and "Debugging log" not in prompt  # short: not the repair prompt
    record = json.loads(result.paths["record"].read_text())
    assert [(a["restore"], a["kept"]) for a in record["attempts"]] == [(False, True), (True, True)]
    assert [c.files["train.py"] for c in record_candidates(record)] == [GOOD]


@pytest.mark.parametrize("answer", [BAD, SILENT_TOO], ids=["fails", "passes-not-preserved"])
def test_a_restore_not_kept_leaves_the_passing_attempt_final(tmp_path: Path, answer: str) -> None:
    backend = ScriptedBackend([block(SILENT), block(answer)])
    result = flow(tmp_path).execute(backend, n=1, run=True, repair=2, out_dir=tmp_path / "out")
    assert len(backend.calls) == 2  # no second restore, and no repair of the restore
    first, restore = result.run.attempts
    assert restore.restore and not restore.kept and first.kept
    assert restore.notes.startswith("restore: kept the passing attempt")
    assert result.run.final() == {0: first} and result.run.best() is first
    assert result.run.status == "passed"
    assert result.paths["code"].read_text() == SILENT
    record = load_record(result.paths["record"])
    assert record["status"] == "passed"
    assert [c.files["train.py"] for c in record_candidates(record)] == [SILENT]
    assert len(record_candidates(record, final_only=False)) == 2  # the restore is still recorded


def test_a_preserved_pass_gets_no_restore(tmp_path: Path) -> None:
    backend = ScriptedBackend([block(GOOD)])
    result = flow(tmp_path).execute(backend, n=1, run=True, repair=2, out_dir=tmp_path / "out")
    assert len(backend.calls) == 1 and rows(result) == [(0, 0, "passed", True, False)]


def test_the_knob_off_gives_no_restore(tmp_path: Path) -> None:
    backend = ScriptedBackend([block(SILENT), block(GOOD)])
    result = flow(tmp_path, restore=False).execute(backend, n=1, run=True, repair=2, out_dir=tmp_path / "out")
    assert len(backend.calls) == 1 and rows(result) == [(0, 0, "passed", False, False)]


@pytest.mark.parametrize("adapter", ["hpo:optuna", "pruning:torch", "pruning:nncf"])
def test_adapters_that_change_training_get_no_restore(tmp_path: Path, adapter: str) -> None:
    backend = ScriptedBackend([block(SILENT), block(GOOD)])
    result = flow(tmp_path, adapter).execute(backend, n=1, run=True, repair=2, out_dir=tmp_path / "out")
    assert len(backend.calls) == 1 and rows(result) == [(0, 0, "passed", False, False)]


def test_no_restore_without_the_preserved_check_or_a_round_left(tmp_path: Path) -> None:
    backend = ScriptedBackend([block(SILENT), block(GOOD)])
    result = flow(tmp_path, preserved=False).execute(backend, n=1, run=True, repair=2, out_dir=tmp_path / "a")
    assert len(backend.calls) == 1 and rows(result) == [(0, 0, "passed", None, False)]
    backend = ScriptedBackend([block(BAD), block(SILENT), block(GOOD)])
    result = flow(tmp_path).execute(backend, n=1, run=True, repair=1, out_dir=tmp_path / "b")
    # The pass came in the last round: nothing is left to spend on a restore.
    assert len(backend.calls) == 2 and rows(result) == [(0, 0, "failed", True, False), (1, 0, "passed", False, False)]


def test_stop_at_first_pass_restores_the_pass_before_stopping(tmp_path: Path) -> None:
    """The product path (`opsgraft adapt --run`): the first pass dropped a print; one restore, then stop."""
    backend = ScriptedBackend([block(SILENT), block(BAD), block(GOOD)])
    result = flow(tmp_path).execute(backend, n=2, run=True, repair=2, out_dir=tmp_path / "out",
                                    stop_at_first_pass=True)
    assert len(backend.calls) == 2  # the first prompt, then the restore; sample 1 is never repaired
    assert rows(result) == [(0, 0, "passed", False, False), (0, 1, "unjudged", None, False),
                            (1, 0, "passed", True, True)]
    assert result.run.stopped == {1: STOPPED}
    assert result.paths["code"].read_text() == GOOD
    # A restore that fails still stops there, with the passing code.
    backend = ScriptedBackend([block(SILENT), block(BAD), block(BAD)])
    result = flow(tmp_path).execute(backend, n=2, run=True, repair=2, out_dir=tmp_path / "out2",
                                    stop_at_first_pass=True)
    assert len(backend.calls) == 2 and result.run.status == "passed"
    assert result.paths["code"].read_text() == SILENT


def test_a_restore_is_judged_with_the_round_beside_the_repairs(tmp_path: Path) -> None:
    """The benchmark's path: round 1 repairs sample 1 and restores sample 0; their answers are judged together."""
    backend = ScriptedBackend([block(SILENT), block(BAD), block(GOOD), block(GOOD)])
    result = flow(tmp_path).execute(backend, n=2, run=True, repair=1, out_dir=tmp_path / "out")
    assert rows(result) == [(0, 0, "passed", False, False), (0, 1, "failed", True, False),
                            (1, 1, "passed", True, False), (1, 0, "passed", True, True)]
    assert backend.calls[1][0][-1].content.startswith("Your last version of `train.py` did not pass")
    assert "passes its check" in backend.calls[2][0][-1].content


def bench_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answers: list[str], restore: bool | None,
                  name: str) -> list[dict]:  # type: ignore[type-arg]
    """One bench unit (runner._run_unit, its ChainRecorder and knobs) over the tiny task; the records it wrote."""
    from opsgraft.adapters import workflow
    from opsgraft.evaluation.benchmark import records as rec
    from opsgraft.evaluation.benchmark.config import BenchConfig
    from opsgraft.evaluation.benchmark.runner import Unit, _run_unit

    f = flow(tmp_path)
    monkeypatch.setattr(workflow, "corpus_workflow", lambda *a, **k: f)
    cfg = BenchConfig(n=2, repair=2, examples=False, restore=restore)
    assert f.task is not None
    rd = rec.RunDir(tmp_path / name, {"opsgraft_bench": rec.FORMAT_VERSION})

    class Pool:
        judge = staticmethod(f.judge)

    backend = ScriptedBackend([block(a) for a in answers])
    _run_unit(Unit("s", "zero-shot", 0.2, f.task, (0, 1)), backend, Pool(), rd, cfg, lambda k, d: None, True)
    return rec.read_records(tmp_path / name)


@pytest.mark.parametrize("restore_answer, kept", [(BAD, False), (GOOD, True)])
def test_bench_pass_counts_do_not_change_and_preserved_counts_read_the_kept_final(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_answer: str, kept: bool) -> None:
    from opsgraft.evaluation.benchmark import records as rec
    from opsgraft.evaluation.benchmark.tables import Chain, preserved_rate

    # Sample 0 passes without its print; sample 1 fails, then fails its repair, then passes the second one.
    # Round 1 repairs sample 1 first, then restores sample 0.
    on = bench_records(tmp_path, monkeypatch, [SILENT, BAD, SILENT_BAD, restore_answer, GOOD],
                       None, "on")
    off = bench_records(tmp_path, monkeypatch, [SILENT, BAD, SILENT_BAD, GOOD], False, "off")
    assert [(r["sample"], r["round"], r["restore"]) for r in on if r["restore"]] == [(0, 1, True)]
    assert not any(r["restore"] for r in off)
    [restore] = [r for r in on if r["restore"]]
    assert restore["final"] is kept and restore["status"] == ("passed" if kept else "failed")
    # every chain is finished, the restore's too: no kept verdict is left for a resume (records.JUDGED_DIR)
    assert not list((tmp_path / "on").rglob("s*r*.json")) and not list((tmp_path / "off").rglob("s*r*.json"))
    on_chains, off_chains = rec.finished_chains(on), rec.finished_chains(off)
    assert len(on_chains) == len(off_chains) == 2
    for r in (None, 0, 1, 2):
        assert rec.pass_counts(on_chains, r) == rec.pass_counts(off_chains, r)
    assert rec.pass_counts(on_chains) == {("s|zero-shot|0.2", "user:train.py"): (2, 2)}
    [chain0] = [ch for ch in on_chains if ch[-1]["sample"] == 0]
    assert [(r["round"], r["status"]) for r in chain0] == [(0, "passed")] + ([(1, "passed")] if kept else [])
    assert preserved_rate(Chain(tuple(ch)) for ch in on_chains) == ("2/2 (100%)" if kept else "1/2 (50%)")
    assert preserved_rate(Chain(tuple(ch)) for ch in off_chains) == "1/2 (50%)"


@pytest.mark.parametrize("flag, expected", [([], True), (["--no-restore"], False)])
def test_adapt_flag_reaches_the_workflow(sklearn_script: Path, tmp_path: Path, flag: list[str], expected: bool) -> None:
    from opsgraft.commands._common import event_listener
    from opsgraft.commands.config_file import parse_choices
    from tests.conftest import cassette_for_flow, run_cli

    spec = get_adapter("tracking:mlflow")
    probe = Workflow(spec=spec, script=sklearn_script, source=sklearn_script.read_text())
    cassette = cassette_for_flow(tmp_path / "c.jsonl", probe, [block(sklearn_script.read_text())])
    heard: list[Workflow] = []
    token = event_listener.set(lambda kind, data: heard.append(data["flow"]) if kind == "done" else None)
    try:
        code, _, err = run_cli(["adapt", str(sklearn_script), "--add", "tracking:mlflow", "--backend", "replay",
                                "--cassette", str(cassette), "--out-dir", str(tmp_path / "out"), *flag])
    finally:
        event_listener.reset(token)
    assert code == 0, err
    assert [f.restore for f in heard] == [expected]
    assert parse_choices({"restore": False}, "adapt").restore is False  # type: ignore[union-attr]
