"""Aligning a worked example's names with the script's (adapters/example_align.py) and where it is wired in."""

from __future__ import annotations

import ast
import difflib
import re
from pathlib import Path

import pytest

from opsgraft.adapters.example_align import align, drop_collisions, name_map, rename
from opsgraft.adapters.examples import Example, example_section, library, nearest_example, section_for_task
from opsgraft.adapters.specs import get_adapter
from opsgraft.evaluation.corpus import input_files, load_task

KERAS = '''import os
os.environ["KERAS_BACKEND"] = "torch"
import keras
import numpy as np

HIDDEN = 32
X_train = np.random.rand(64, 3).astype("float32")
y_train = X_train.sum(axis=1)
model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(HIDDEN, activation="relu"), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(X_train, y_train, epochs=3, verbose=0)
'''

FOREST = '''from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

N_ESTIMATORS = 30
DEPTH = 4
X, y = load_iris(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
clf = RandomForestClassifier(n_estimators=N_ESTIMATORS, max_depth=DEPTH)
clf.fit(X_train, y_train)
acc = accuracy_score(y_test, clf.predict(X_test))
print(f"accuracy {acc:.3f}")
'''

TORCH = '''import torch
from torch import nn

lr = 0.1
net = nn.Linear(4, 1)
optimizer = torch.optim.SGD(net.parameters(), lr=lr)
for step in range(3):
    optimizer.zero_grad()
    net(torch.rand(8, 4)).sum().backward()
    optimizer.step()
'''

SCRIPTS = {"keras": KERAS, "sklearn": FOREST, "pytorch": TORCH}


def shipped(path: str) -> Example:
    [ex] = [e for e in library() if e.path == path]
    return ex


def words(text: str) -> set[str]:
    return set(re.findall(r"\b[A-Za-z_]\w*\b", text))


def test_keras_units_becomes_the_scripts_hidden():
    ex = shipped("tracking-mlflow/keras-regression")
    # X and y are passed where the script passes X_train and y_train (.fit's arguments 0 and 1).
    assert name_map(ex.before, KERAS) == {"UNITS": "HIDDEN", "X": "X_train", "y": "y_train"}
    aligned = align(ex, KERAS)
    assert "UNITS" not in words(aligned.before) | words(aligned.after)
    assert 'mlflow.log_params({"units": HIDDEN, "lr": LR, "epochs": EPOCHS})' in aligned.after
    assert "keras.layers.Dense(HIDDEN, activation=" in aligned.before


def test_sklearn_forest_settings_split_and_metric_take_the_scripts_names():
    ex = shipped("registration-mlflow/sklearn-forest")
    mapping = name_map(ex.before, FOREST)
    assert mapping == {"N_TREES": "N_ESTIMATORS", "MAX_DEPTH": "DEPTH", "forest": "clf", "f1": "acc",
                       "X_tr": "X_train", "X_te": "X_test", "y_tr": "y_train", "y_te": "y_test"}
    aligned = align(ex, FOREST)
    assert "n_estimators=N_ESTIMATORS, max_depth=DEPTH" in aligned.before
    assert "acc = f1_score(y_test, clf.predict(X_test)" in aligned.after
    # Names in an f-string's fields are renamed, its text is not.
    assert 'print(f"macro F1 {acc:.3f}")' in aligned.after
    assert 'mlflow.log_params({"n_estimators": N_ESTIMATORS, "max_depth": DEPTH})' in aligned.after
    # Imports, keyword names and strings stay: f1_score, n_estimators=, "macro_f1".
    assert {"f1_score", "n_estimators"} <= words(aligned.after) and '"macro_f1"' in aligned.after


def test_an_optimizer_of_another_class_pairs_by_its_module():
    ex = shipped("pruning-torch/pytorch-tabular")  # opt = torch.optim.Adam(...)
    mapping = name_map(ex.before, TORCH)  # optimizer = torch.optim.SGD(...)
    assert mapping["opt"] == "optimizer"
    aligned = align(ex, TORCH)
    assert "optimizer.zero_grad()" in aligned.after and "opt" not in words(aligned.after)


def test_a_rename_onto_a_name_the_example_uses_is_refused():
    # sgd-moons binds both loss = log_loss(...) (a metric) and acc: the metric pairs with the script's acc,
    # but renaming loss to acc would merge two of the example's variables.
    ex = shipped("tracking-mlflow/sklearn-sgd-moons")
    mapping = name_map(ex.before, FOREST)
    assert "loss" not in mapping and "acc" not in mapping.values()
    assert drop_collisions({"loss": "acc"}, {"loss", "acc"}) == {}
    assert drop_collisions({"loss": "acc", "acc": "score"}, {"loss", "acc"}) == {"loss": "acc", "acc": "score"}
    # The after counts too: the Optuna example's after has `units` (fit's argument), so UNITS keeps its name
    # even where the script's Dense takes `units`.
    hpo = shipped("hpo-optuna/keras-regression")
    script = KERAS.replace("HIDDEN", "units")
    assert name_map(hpo.before, script)["UNITS"] == "units"
    assert "UNITS" in align(hpo, script).before


def test_a_name_without_evidence_keeps_its_name():
    ex = shipped("tracking-mlflow/keras-regression")
    mapping = name_map(ex.before, KERAS)  # the script passes epochs=3: nothing pairs with EPOCHS or LR
    assert "EPOCHS" not in mapping and "LR" not in mapping
    assert "epochs=EPOCHS" in align(ex, KERAS).after
    # Nor does a name the script binds too (X, y, model): copying it cannot raise NameError.
    assert {"X", "y", "model"}.isdisjoint(name_map(ex.before, KERAS.replace("X_train", "X").replace("y_train", "y")))
    # And two example names never go to one script name: both HIDDEN slots of nn.Linear are ambiguous here.
    torch_ex = shipped("registration-mlflow/pytorch-regression")
    assert "HIDDEN" not in name_map(torch_ex.before, "from torch import nn\na, b = 3, 4\nnet = nn.Linear(a, b)\n")


def _shape(ex: Example) -> list[tuple[object, ...]]:
    matcher = difflib.SequenceMatcher(None, ex.before.splitlines(), ex.after.splitlines(), autojunk=False)
    return [tuple(op) for op in matcher.get_opcodes()]


@pytest.mark.parametrize("ex", library(), ids=lambda e: e.path)
def test_aligned_examples_parse_and_change_where_the_original_did(ex: Example):
    for script in SCRIPTS.values():
        aligned = align(ex, script)
        ast.parse(aligned.before)
        ast.parse(aligned.after)
        assert _shape(aligned) == _shape(ex)
        assert aligned.diff().count("\n") == ex.diff().count("\n")


def test_rename_leaves_attributes_keywords_and_string_text_alone():
    src = 'f1 = obj.f1 + g(f1=f1)\ns = "f1"\nt = f"f1 {f1} {{f1}} {f1:.{f1}f} {f1!r:>8} {obj.f1}"\nu = f"{f1=}"\n'
    out = rename(src, {"f1": "acc"})
    # A self-documenting field (f1=) prints its own text, so that f-string is left whole.
    assert out == ('acc = obj.f1 + g(f1=acc)\ns = "f1"\nt = f"f1 {acc} {{f1}} {acc:.{acc}f} {acc!r:>8} {obj.f1}"\n'
                   'u = f"{f1=}"\n')
    # A function's parameter with a default is renamed with its uses (it is no call's keyword).
    assert rename("def f(lr=0.1):\n    return lr\n", {"lr": "LR"}) == "def f(LR=0.1):\n    return LR\n"


def test_section_shows_the_aligned_example_only_with_align():
    ex = shipped("tracking-mlflow/keras-regression")
    assert example_section(ex) == example_section(ex, align_to=None)
    on = example_section(ex, align_to=KERAS)
    assert "UNITS" in example_section(ex) and "UNITS" not in on and '"units": HIDDEN' in on


def _flow(tmp_path: Path, **kw):  # type: ignore[no-untyped-def]
    from opsgraft.adapters.workflow import Workflow

    script = tmp_path / "train.py"
    script.write_text(KERAS)
    return Workflow(spec=get_adapter("tracking:mlflow"), script=script, source=KERAS, **kw)


def test_the_prompt_with_the_knob_off_is_unchanged(tmp_path: Path):
    off = _flow(tmp_path, align_examples=False)
    ex = nearest_example(off.spec, KERAS)
    assert ex is not None
    # Off, the section is the unaligned one, as built before the knob existed.
    assert off.example_text() == example_section(ex)
    on = _flow(tmp_path, align_examples=True)
    # The default (None) aligns for an inline adapter, where it was measured, and not for a translation.
    default = _flow(tmp_path)
    assert default.align_examples is None and default.aligns_examples and default.example_text() == on.example_text()
    from opsgraft.adapters.workflow import Workflow

    translation = Workflow(spec=get_adapter("wandb->mlflow"), script=default.script, source=KERAS)
    assert translation.aligns_examples is False
    text_off = off.build_prompt(off.source).messages[-1].content
    text_on = on.build_prompt(on.source).messages[-1].content
    assert text_on != text_off and "UNITS" in text_off and "UNITS" not in text_on
    # Only the example's section differs.
    assert text_on.replace(on.example_text(), off.example_text(), 1) == text_off


FOREIGN = {
    # task: (names the unaligned example shows that the script has under its own name)
    "tracking-mlflow-keras-digits-mlp": {"UNITS"},
    "registration-mlflow-sklearn-wine-forest": {"N_TREES", "f1", "X_tr", "X_te", "y_tr", "y_te"},
    "registration-mlflow-pytorch-waveforms": {"LR", "EPOCHS"},
    "tracking-mlflow-sklearn-digits-forest": {"X_tr", "X_va", "y_tr", "y_va"},
}


@pytest.mark.parametrize("task_id", sorted(FOREIGN))
def test_the_measured_failing_pairs_lose_the_foreign_names(task_id: str):
    task = load_task(task_id)
    source = input_files(task)[task.entry]
    spec = get_adapter(f"{task.functionality}:{task.component}")
    plain = section_for_task(spec, task, source)
    aligned = section_for_task(spec, task, source, align=True)
    assert FOREIGN[task_id] <= words(plain)  # without alignment the model is shown them
    assert FOREIGN[task_id].isdisjoint(words(aligned))
    assert aligned.count("\n") == plain.count("\n")


def test_cli_flag_and_config_key(tmp_path: Path):
    """--align-examples sends the aligned prompt (a strict replay hit); the config file takes the key too."""
    import json

    from opsgraft.commands.config_file import parse_choices
    from tests.conftest import cassette_for_flow, run_cli

    flow = _flow(tmp_path, align_examples=True)
    cassette = cassette_for_flow(tmp_path / "c.jsonl", flow, [f"```python\n{KERAS}```"])
    args = ["adapt", str(flow.script), "--add", "tracking:mlflow", "--backend", "replay", "--cassette", str(cassette)]
    code, _, err = run_cli([*args, "--align-examples"])
    assert code == 0, err
    record = json.loads((tmp_path / "train_tracking_mlflow.opsgraft.json").read_text())
    assert '"units": HIDDEN' in record["attempts"][0]["prompt"]["messages"][-1]["content"]
    (tmp_path / "out").mkdir()
    code, _, err = run_cli([*args, "--out-dir", str(tmp_path / "out")])  # on by default: the same prompt
    assert code == 0, err
    (tmp_path / "off").mkdir()
    code, _, err = run_cli([*args, "--out-dir", str(tmp_path / "off"), "--no-align-examples"])  # another prompt, a miss
    assert code != 0
    assert parse_choices({"align_examples": True}, "adapt").align_examples is True  # type: ignore[union-attr]


def test_bench_knob_reaches_the_workflow(tmp_path: Path):
    from opsgraft import config
    from opsgraft.errors import ConfigError
    from opsgraft.evaluation.benchmark.config import parse_config
    from opsgraft.evaluation.benchmark.runner import RunOptions, make_grid, run_bench
    from opsgraft.llm.scripted import ScriptedBackend

    cassette = tmp_path / "unused.jsonl"
    cassette.write_text("")
    backend = ScriptedBackend(["```python\nraise SystemExit('not adapted')\n```"], model=config.MODEL_NAME)
    data = {"tasks": {"ids": ["tracking-mlflow-keras-digits-mlp"]}, "n": 1, "temperatures": [0.2],
            "align_examples": True, "models": [{"name": "s", "backend": "replay", "cassette": str(cassette)}]}
    run_bench(make_grid(parse_config(data)), tmp_path / "run", RunOptions(isolation="none", render=False),
              backend_factory=lambda e: backend)
    prompt = backend.calls[0][0][-1].content
    assert "Dense(HIDDEN, activation=" in prompt and "UNITS" not in prompt
    with pytest.raises(ConfigError, match="align_examples"):
        parse_config({"align_examples": [1]})


def test_an_example_renamed_into_a_near_copy_of_the_script_is_shown_with_its_own_names(tmp_path: Path):
    """Renamed, the example must not become the task's answer: near-duplicate texts stay banned after aligning."""
    from opsgraft.adapters.examples import line_ratio, near_duplicate
    from opsgraft.adapters.workflow import Workflow

    ex = shipped("registration-mlflow/sklearn-forest")
    renames = {"N_TREES": "N_ESTIMATORS", "MAX_DEPTH": "DEPTH", "forest": "clf", "f1": "acc",
               "X_tr": "X_train", "X_te": "X_test", "y_tr": "y_train", "y_te": "y_test"}
    script = rename(ex.before, renames)
    assert not near_duplicate(ex.before, script) and line_ratio(align(ex, script).before, script) == 1.0
    path = tmp_path / "train.py"
    path.write_text(script)
    flow = Workflow(spec=get_adapter("registration:mlflow"), script=path, source=script, align_examples=True,
                    examples=True)  # registration with its plan shows no example by default
    text = flow.example_text()
    assert "sklearn-forest" in text and "N_TREES" in text
