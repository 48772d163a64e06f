"""`opsgraft ablate --suggest [--apply]`: the model picks among the tool's candidates, the tool adds the markers.

The model is a scripted backend put in place of the CLI's backend factory; everything else (candidate
search, marker insertion, validation, the files written) is the real code through the entry point.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import opsgraft.commands.ablate as ablate_cmd
from opsgraft.adapters.ablation import suggest as sg
from opsgraft.adapters.ablation.annotations import AnnotationError, parse_file, plan_study
from opsgraft.llm.scripted import ScriptedBackend
from tests.conftest import run_cli

NET = '''\
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(64, 128)
        self.norm = nn.BatchNorm1d(128)
        self.hidden = nn.Linear(128, 32)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        x = torch.relu(self.norm(self.inp(x)))
        return self.head(torch.relu(self.hidden(x)))


print(Net()(torch.zeros(4, 64)).shape)
'''

FRAME = '''\
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge


def main():
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    print(Ridge().fit(X, y).score(X, y))


main()
'''


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch):
    """Script the model's answers; returns the backend so a test can read the prompts it got."""
    def install(*texts: str) -> ScriptedBackend:
        backend = ScriptedBackend(list(texts))
        monkeypatch.setattr(ablate_cmd, "make_backend", lambda *a, **k: backend)
        return backend
    return install


def write(tmp_path: Path, text: str, name: str = "train.py") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_candidates_are_the_layer_constructions_and_one_per_line_sequential_items() -> None:
    seq = "from torch import nn\nnet = nn.Sequential(\n    nn.Linear(4, 8),\n    nn.ReLU(), nn.Dropout(0.1),\n" \
          "    nn.Linear(8, 2),\n)\nloss = nn.functional.mse_loss\nmodel = Net()\n"
    found = sg.layer_candidates(seq)
    # line 2 is the Sequential itself; 3 and 5 hold one item each; 4 holds two items and cannot be marked alone
    assert [(c.number, c.text) for c in found] == [(2, "net = nn.Sequential("), (3, "nn.Linear(4, 8),"),
                                                   (5, "nn.Linear(8, 2),")]
    assert [c.number for c in sg.layer_candidates(NET)] == [8, 9, 10, 11]


def test_answer_numbers_are_read_from_lists_and_from_the_start_of_quoted_lines() -> None:
    assert sg.picked_numbers("9, 10") == [9, 10]
    assert sg.picked_numbers("Lines 9 and 10.") == [9, 10]
    # the widths in a quoted line are not line numbers
    assert sg.picked_numbers("10: self.hidden = nn.Linear(128, 32)\n- 9: self.norm") == [10, 9]
    assert sg.picked_numbers("I would ablate the norm layer") == []


def test_suggest_shows_a_diff_of_markers_and_writes_nothing(tmp_path: Path, answers) -> None:
    script = write(tmp_path, NET)
    backend = answers("9, 10")
    code, out, err = run_cli(["ablate", str(script), "--suggest"])
    assert code == 0, err
    prompt = backend.calls[0][0][1].content
    assert "9: self.norm = nn.BatchNorm1d(128)" in prompt and "11: self.head = nn.Linear(32, 10)" in prompt
    assert "proposal for train.py: norm, hidden" in out
    assert "+        #ABLATABLE_COMPONENT\n         self.norm = nn.BatchNorm1d(128)" in out
    assert out.count("+        #ABLATABLE_COMPONENT") == 2 and "--apply" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.py"]
    assert script.read_text() == NET


def test_apply_writes_a_new_annotated_file_and_never_touches_the_input(tmp_path: Path, answers) -> None:
    script = write(tmp_path, NET)
    answers("9, 10", "9, 10")
    code, out, err = run_cli(["ablate", str(script), "--suggest", "--apply"])
    assert code == 0, err
    annotated = tmp_path / "train_annotated.py"
    assert script.read_text() == NET
    assert "written: " + str(annotated) in out
    components = parse_file(annotated, annotated.read_text())
    assert [(c.name, c.lines) for c in components] == [("norm", (10,)), ("hidden", (12,))]
    assert (tmp_path / "train_annotated.diff").read_text().count("+        #ABLATABLE_COMPONENT") == 2
    # the annotated copy is a study input as it stands
    code, out, err = run_cli(["ablate", str(annotated), "--dry-run"])
    assert code == 0, err
    assert "trials:  baseline, without_norm, without_hidden" in out
    # a second --apply never overwrites the first copy
    code, out, err = run_cli(["ablate", str(script), "--suggest", "--apply"])
    assert code == 0, err
    assert (tmp_path / "train_annotated_2.py").read_text() == annotated.read_text()


def test_feature_columns_are_proposed_as_a_features_hint(tmp_path: Path, answers) -> None:
    script = write(tmp_path, FRAME)
    backend = answers("3, 4")
    code, out, err = run_cli(["ablate", str(script), "--suggest", "--apply"])
    assert code == 0, err
    assert "3: bmi" in backend.calls[0][0][1].content and "feature columns" in out
    annotated = (tmp_path / "train_annotated.py").read_text()
    assert "    #ABLATION_HINT_START features: bmi, bp\n    #ABLATION_HINT_END\n    X, y = load_diabetes" in annotated
    plan = plan_study([(tmp_path / "train_annotated.py", annotated)])
    assert [t.name for t in plan.trials] == ["baseline", "without_bmi", "without_bp"]


def test_a_proposal_that_changes_code_is_refused(tmp_path: Path, answers) -> None:
    script = write(tmp_path, NET)
    edited = NET.replace("        self.norm", "        #ABLATABLE_COMPONENT\n        self.norm").replace(
        "nn.Linear(32, 10)", "nn.Linear(128, 10)")
    answers(f"```python\n{edited}```")
    code, out, err = run_cli(["ablate", str(script), "--suggest", "--apply"])
    assert code != 0
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert "train.py:11: the proposal changes code (`self.head = nn.Linear(32, 10)`); refused" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.py"] and script.read_text() == NET


def test_a_whole_file_answer_that_only_adds_markers_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "train.py"
    # an end-of-line marker leaves the code of its line as it was
    edited = NET.replace("self.hidden = nn.Linear(128, 32)", "self.hidden = nn.Linear(128, 32)  #ABLATABLE_COMPONENT")
    proposal = sg.propose(path, NET, f"```python\n{edited}```", sg.layer_candidates(NET))
    assert [c.name for c in proposal.components] == ["hidden"] and proposal.annotated == edited


WITH_DOC = NET.replace("import torch\n", 'import torch\nDOC = """\nnotes\n"""\n', 1)
BLANK = NET.replace("        self.head", "\n        self.head")


@pytest.mark.parametrize("original, annotated, message", [
    (NET, NET.replace("        self.norm", "        x = 1\n        self.norm"), "adds a line that is not a marker"),
    # a marker line inside a string literal is a change to the program's constants
    (WITH_DOC, WITH_DOC.replace("notes\n", "#ABLATABLE_COMPONENT\nnotes\n"), "changes the program"),
    (BLANK, BLANK.replace("\n\n        self.head", "\n        #ABLATABLE_COMPONENT\n\n        self.head"),
     "marks a blank or comment line"),
    (NET, NET, "marks no component"),
])
def test_check_proposal_refuses_anything_but_added_markers(tmp_path: Path, original: str, annotated: str,
                                                           message: str) -> None:
    with pytest.raises(sg.SuggestError if message != "marks a blank or comment line" else AnnotationError,
                       match=message):
        sg.check_proposal(tmp_path / "train.py", original, annotated)


@pytest.mark.parametrize("text, args, answer, message", [
    (NET, ["--suggest"], "I would remove the normalisation.", "names none of the candidate numbers"),
    (NET.replace("self.norm = nn.BatchNorm1d(128)", "self.norm = nn.BatchNorm1d(128)  #ABLATABLE_COMPONENT"),
     ["--suggest"], None, "already has ablation markers"),
    ("x = 1\nprint(x)\n", ["--suggest"], None, "no candidates to suggest"),
    (NET, ["--apply"], None, "--apply writes the proposal of --suggest"),
])
def test_bad_suggest_input_is_one_line_and_non_zero(tmp_path: Path, answers, text: str, args: list[str],
                                                    answer: str | None, message: str) -> None:
    script = write(tmp_path, text)
    answers(*([answer] if answer else []))  # no answer: asking the model would fail with another message
    code, out, err = run_cli(["ablate", str(script), *args])
    assert code != 0
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.py"]


def test_suggest_dry_run_lists_candidates_and_asks_no_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_model(*a, **k):
        raise AssertionError("a dry run built a backend")
    monkeypatch.setattr(ablate_cmd, "make_backend", no_model)
    script = write(tmp_path, NET)
    code, out, err = run_cli(["ablate", str(script), "--suggest", "--dry-run"])
    assert code == 0, err
    assert "   8: self.inp = nn.Linear(64, 128)" in out and "dry run: 4 candidates listed" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.py"]


def test_a_proposal_for_an_imported_file_goes_into_a_new_folder_with_every_input(tmp_path: Path, answers) -> None:
    model_py = write(tmp_path, NET.replace("\n\nprint(Net()(torch.zeros(4, 64)).shape)\n", "\n"), "model.py")
    script = write(tmp_path, "import torch\nfrom model import Net\n\nprint(Net()(torch.zeros(4, 64)).shape)\n")
    answers("9")
    code, out, err = run_cli(["ablate", str(script), str(model_py), "--suggest", "--apply"])
    assert code == 0, err
    folder = tmp_path / "train_annotated"
    assert sorted(p.name for p in folder.iterdir()) == ["annotations.diff", "model.py", "train.py"]
    assert (folder / "train.py").read_text() == script.read_text()  # unchanged, still imports model
    assert "#ABLATABLE_COMPONENT\n        self.norm" in (folder / "model.py").read_text()
    assert "#ABLATABLE" not in model_py.read_text()
    code, out, err = run_cli(["ablate", str(folder / "train.py"), str(folder / "model.py"), "--dry-run"])
    assert code == 0, err
    assert "trials:  baseline, without_norm" in out


CASSETTE = Path(__file__).parent / "cassettes" / "ablation_suggest_real_model.jsonl"


@pytest.mark.parametrize("task_id, trials", [
    ("ablation-torch-annotated-mlp", "baseline, without_inp, without_norm, without_hidden"),
    ("ablation-torch-hint-cnn", "baseline, without_conv1, without_bn, without_conv2, without_pool, without_fc1"),
    ("ablation-sklearn-diabetes-features", "baseline, without_age, without_sex, without_bmi, without_bp, without_s1"),
])
def test_the_embedded_models_recorded_proposals_for_the_corpus_inputs_apply(tmp_path: Path, task_id: str,
                                                                              trials: str) -> None:
    """Recorded with --backend local on each corpus ablation input with its markers taken out: the 1.5B
    model answered with numbers only ('16, 17, 18'; every layer but the output; every column)."""
    import re

    from opsgraft.evaluation.corpus import load_task

    source = (Path(load_task(task_id).root) / "train.py").read_text()
    bare = "".join(ln for ln in source.splitlines(keepends=True) if not re.match(r"\s*#ABLATION_HINT_(START|END)", ln))
    script = write(tmp_path, bare.replace("  #ABLATABLE_COMPONENT", ""))
    code, out, err = run_cli(["ablate", str(script), "--suggest", "--apply", "--backend", "replay",
                              "--cassette", str(CASSETTE)])
    assert code == 0, err
    assert script.read_text() == bare.replace("  #ABLATABLE_COMPONENT", "")
    code, out, err = run_cli(["ablate", str(tmp_path / "train_annotated.py"), "--dry-run"])
    assert code == 0, err
    assert f"trials:  {trials}" in out
