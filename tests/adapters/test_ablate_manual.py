"""Manual mode (`opsgraft ablate first-call` / `followup-call`): the answer goes to timestamped files, nothing runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import opsgraft.commands.ablate as ablate_cmd
import opsgraft.evaluation.sandbox as sandbox
from opsgraft.adapters.ablation import manual
from opsgraft.llm.scripted import ScriptedBackend
from tests.conftest import run_cli

ANNOTATED = '''\
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(64, 128)
        self.drop = nn.Dropout(0.2)  #ABLATABLE_COMPONENT
        self.head = nn.Linear(128, 10)
'''

STUDY = "import json\nresults = [{'name': 'baseline', 'n_params': 1, 'metric': 0.5}]\n" \
        "json.dump(results, open('ablation_results.json', 'w'))\n"
FIXED = STUDY.replace("0.5", "0.75")
STAMP = r"\d{8}-\d{6}"


@pytest.fixture
def model(monkeypatch: pytest.MonkeyPatch):
    """Script the model; make any sandbox run fail the test (manual mode runs nothing)."""
    def no_run(*a, **k):
        raise AssertionError("manual mode ran a program")
    monkeypatch.setattr(sandbox, "run_program", no_run)

    def install(*texts: str) -> ScriptedBackend:
        backend = ScriptedBackend(list(texts))
        monkeypatch.setattr(ablate_cmd, "make_backend", lambda *a, **k: backend)
        return backend
    return install


def test_first_call_writes_the_answer_and_its_code_to_new_timestamped_files(tmp_path: Path, model) -> None:
    script = tmp_path / "train.py"
    script.write_text(ANNOTATED)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.md").write_text("Dropout guards against overfitting.")
    backend = model(f"Here is the study:\n```python\n{STUDY}```\n")
    code, out, err = run_cli(["ablate", "first-call", str(script), "-d", str(tmp_path / "docs")])
    assert code == 0, err
    prompt = backend.calls[0][0][1].content
    assert "- drop: train.py line(s) 8" in prompt and '"without_drop"' in prompt
    assert "self.drop = nn.Dropout(0.2)  #ABLATABLE_COMPONENT" in prompt and "guards against overfitting" in prompt
    names = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert len(names) == 3 and names[0] == "train.py"
    assert re.fullmatch(rf"train_first_call_{STAMP}\.md", names[1]) and names[2] == names[1][:-3] + ".py"
    assert (tmp_path / names[2]).read_text() == STUDY
    assert "Here is the study" in (tmp_path / names[1]).read_text()
    assert "nothing was run" in out and f"followup-call ERROR_FILE {tmp_path / names[2]}" in out
    assert script.read_text() == ANNOTATED
    assert not (tmp_path / "train_ablation").exists()


def test_followup_call_sends_the_error_and_writes_the_corrected_program(tmp_path: Path, model) -> None:
    study = tmp_path / "study.py"
    study.write_text(STUDY)
    error = tmp_path / "error.txt"
    error.write_text("Traceback (most recent call last):\n  File \"study.py\", line 2\nKeyError: 'metric'\n")
    backend = model(f"```python\n{FIXED}```")
    code, out, err = run_cli(["ablate", "followup-call", str(error), str(study)])
    assert code == 0, err
    prompt = backend.calls[0][0][1].content
    assert "KeyError: 'metric'" in prompt and "study.py:\n```python\nimport json" in prompt
    written = sorted(p.name for p in tmp_path.iterdir() if re.fullmatch(rf"study_followup_call_{STAMP}\.(md|py)", p.name))
    assert len(written) == 2
    assert (tmp_path / written[1]).read_text() == FIXED and study.read_text() == STUDY


def test_an_answer_without_code_is_kept_and_no_program_is_written(tmp_path: Path, model) -> None:
    script = tmp_path / "train.py"
    script.write_text(ANNOTATED)
    model("I cannot write this study.")
    code, out, err = run_cli(["ablate", "first-call", str(script)])
    assert code == 0, err
    assert "code:    none" in out
    assert [p.suffix for p in tmp_path.iterdir() if p.name != "train.py"] == [".md"]


def test_the_same_second_never_overwrites_an_answer(tmp_path: Path) -> None:
    first = manual.write_answer(tmp_path, "train", "first-call", f"```python\n{STUDY}```", now=0.0)
    second = manual.write_answer(tmp_path, "train", "first-call", f"```python\n{FIXED}```", now=0.0)
    assert first["code"] != second["code"] and second["code"].name.endswith("_2.py")
    assert first["code"].read_text() == STUDY and second["code"].read_text() == FIXED


@pytest.mark.parametrize("args, message", [
    (["first-call"], "usage: opsgraft ablate first-call SCRIPT"),
    (["followup-call", "{tmp}/train.py"], "usage: opsgraft ablate followup-call ERROR_FILE SCRIPT"),
    (["followup-call", "{tmp}/missing.txt", "{tmp}/train.py"], "missing.txt: no such error file"),
    (["followup-call", "{tmp}/empty.txt", "{tmp}/train.py"], "empty.txt: the error file is empty"),
    (["first-call", "{tmp}/plain.py"], "no ablation annotations found"),
    (["first-call", "{tmp}/nope.py"], "nope.py: no such file"),
    (["first-call", "{tmp}/train.py", "--suggest"], "first-call takes neither --task, --suggest nor --apply"),
])
def test_bad_manual_input_is_one_line_and_non_zero(tmp_path: Path, model, args: list[str], message: str) -> None:
    (tmp_path / "train.py").write_text(ANNOTATED)
    (tmp_path / "plain.py").write_text("x = 1\n")
    (tmp_path / "empty.txt").write_text("  \n")
    before = sorted(p.name for p in tmp_path.iterdir())
    model()  # no answers: a model call would fail with another message
    code, out, err = run_cli(["ablate", *[a.format(tmp=tmp_path) for a in args]])
    assert code != 0
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_help_documents_the_manual_and_suggest_forms() -> None:
    code, out, err = run_cli(["ablate", "--help"])
    assert code == 0
    assert "opsgraft ablate first-call SCRIPT" in out and "opsgraft ablate followup-call ERROR_FILE SCRIPT" in out
    assert "--suggest" in out and "--apply" in out
