"""``config-json``: judged in the real sandbox on small user scripts (no corpus task)."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsgraft.adapters.config_params import Param
from opsgraft.evaluation.checkers.config_json import STEPS, channels, differences, new_value, pick
from opsgraft.evaluation.checkers.optuna_study import names_match
from opsgraft.evaluation.evaluator import judge
from opsgraft.types import Candidate, Task

ORIGINAL = '''
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

def main():
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(C=0.5, max_iter=200)
    model.fit(X, y)
    print("accuracy", model.score(X, y))

if __name__ == "__main__":
    main()
'''

HEADER = '''
import argparse
import json
import os
import sys
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

DEFAULT_CONFIG = {"C": 0.5, "max_iter": 200}


def load_config(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default=None)
    args = parser.parse_args(argv)
    config = dict(DEFAULT_CONFIG)
    if args.config and os.path.exists(args.config):
        with open(args.config) as fh:
            user = json.load(fh)
        unknown = sorted(set(user) - set(DEFAULT_CONFIG))
        if unknown:
            sys.exit(f"error: unknown config keys: {unknown}")
        config.update(user)
    return config
'''

CORRECT = HEADER + '''
def main():
    config = load_config()
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(C=config["C"], max_iter=config["max_iter"])
    model.fit(X, y)
    print("accuracy", model.score(X, y))

if __name__ == "__main__":
    main()
'''

SHADOWED = HEADER + '''
def main():
    config = load_config()
    C, max_iter = 0.5, 200  # the old constants win
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(C=C, max_iter=max_iter)
    model.fit(X, y)
    print("accuracy", model.score(X, y))

if __name__ == "__main__":
    main()
'''


def _task(tmp_path: Path) -> Task:
    (tmp_path / "train.py").write_text(ORIGINAL, encoding="utf-8")
    return Task(id="user:train.py", kind="inline", functionality="config", component="json", framework="sklearn",
                instruction="", entry="train.py", files=("train.py",), checker="config-json", timeout_s=120,
                root=str(tmp_path))


def _judge(tmp_path: Path, code: str):
    return judge(_task(tmp_path), Candidate("user:train.py", 0, {"train.py": code}, "train.py"))


def test_correct_script_passes(tmp_path: Path) -> None:
    result = _judge(tmp_path, CORRECT)
    assert result.status == "passed", result.verdict
    assert result.verdict is not None
    assert result.verdict.evidence["changed"] == {"C": 0.25, "max_iter": 201}
    assert result.verdict.evidence["channels"] == {"C": ["C"], "max_iter": ["max_iter"]}


def test_shadowed_constants_fail(tmp_path: Path) -> None:
    result = _judge(tmp_path, SHADOWED)
    assert result.status == "failed"
    assert result.verdict is not None
    assert result.verdict.reasons[0] == "config value C=0.25 never reached the training (it trained with C=0.5)"


@pytest.mark.slow  # three sandbox runs of a real fit
def test_changed_defaults_fail(tmp_path: Path) -> None:
    result = _judge(tmp_path, CORRECT.replace('"C": 0.5', '"C": 2.0'))
    assert result.status == "failed"
    assert result.verdict is not None
    assert result.verdict.reasons == ("the run with no config differs from the original: C=2.0 (original: 0.5)",)


@pytest.mark.slow  # three sandbox runs of a real fit
def test_unknown_key_accepted_fails(tmp_path: Path) -> None:
    lenient = CORRECT.replace('sys.exit(f"error: unknown config keys: {unknown}")', "pass")
    result = _judge(tmp_path, lenient)
    assert result.status == "failed"
    assert result.verdict is not None
    assert "unknown key 'opsgraft_unknown_key' was accepted" in result.verdict.reasons[0]


def test_no_default_config_fails_without_extra_runs(tmp_path: Path) -> None:
    result = _judge(tmp_path, ORIGINAL)
    assert result.status == "failed"
    assert result.verdict is not None
    assert result.verdict.reasons[0].startswith("no DEFAULT_CONFIG: script has no config")


def test_channels_prefer_names_and_skip_common_values() -> None:
    settings = {"sklearn:C": [0.5], "sklearn:tol": [0.0001], "sklearn:verbose": [0], "torch:net.0.out_features": [64]}
    assert channels(Param("C", "float", 0.5), settings) == ["sklearn:C"]
    assert channels(Param("hidden", "int", 64), settings) == ["torch:net.0.out_features"]
    assert channels(Param("debug", "int", 0), settings) == []  # 0 everywhere means nothing
    assert channels(Param("layers", "list", [64]), settings) == []
    assert names_match("lr", "torch:lr") and names_match("learning_rate", "torch:lr")


def test_pick_avoids_two_params_on_one_setting_and_honours_keys() -> None:
    settings = {"torch:lr": [0.01], "torch:weight_decay": [0.01], "torch:fc.out_features": [32]}
    params = [Param("weight_decay", "float", 0.01), Param("lr", "float", 0.01), Param("hidden", "int", 32)]
    chosen = pick(params, settings)
    assert [(p.name, ch) for p, ch in chosen] == [("weight_decay", ["torch:weight_decay"]), ("lr", ["torch:lr"])]
    assert [p.name for p, _ in pick(params, settings, keys=["hidden"])] == ["hidden"]
    # batch_size and hidden are both 32: out_features=32 carries neither for sure
    ambiguous = [Param("batch_size", "int", 32), Param("hidden", "int", 32), Param("lr", "float", 0.01)]
    assert [(p.name, ch) for p, ch in pick(ambiguous, settings)] == [("lr", ["torch:lr"])]


def test_epochs_of_a_torch_loop_are_traced_through_the_step_count() -> None:
    settings = {"torch:lr": [0.01], "torch:0.out_features": [48], STEPS: [80]}
    assert channels(Param("epochs", "int", 8), settings) == [STEPS]
    assert channels(Param("hidden", "int", 80), settings) == []  # the step count is no setting
    assert channels(Param("epochs", "int", 8), {"torch:lr": [0.01]}) == []  # no torch training seen
    params = [Param("epochs", "int", 8), Param("batch_size", "int", 64), Param("lr", "float", 0.01)]
    assert [(p.name, ch) for p, ch in pick(params, settings)] == [("lr", ["torch:lr"]), ("epochs", [STEPS])]


def test_new_values_and_differences() -> None:
    assert new_value(Param("lr", "float", 0.01)) == 0.005
    assert new_value(Param("epochs", "int", 5)) == 6
    with pytest.raises(Exception, match="no automatic new value"):
        new_value(Param("opt", "str", "adam"))
    assert differences({"k:a": [1.0], "k:b": [2]}, {"k:a": [1.0000001], "k:b": [3], "k:c": [9]}) == [
        "b=3 (original: 2)"
    ]


TORCH_ORIGINAL = '''
import torch
from torch import nn

def main():
    torch.manual_seed(0)
    X, y = torch.randn(64, 4), torch.randn(64, 1)
    model = nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(3):
        for i in range(0, 64, 16):
            optimizer.zero_grad()
            nn.functional.mse_loss(model(X[i:i + 16]), y[i:i + 16]).backward()
            optimizer.step()
    print("done")

if __name__ == "__main__":
    main()
'''

TORCH_ADAPTED = HEADER.replace('DEFAULT_CONFIG = {"C": 0.5, "max_iter": 200}', 'DEFAULT_CONFIG = {"epochs": 3}') + '''
import torch
from torch import nn

def main():
    config = load_config()
    torch.manual_seed(0)
    X, y = torch.randn(64, 4), torch.randn(64, 1)
    model = nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(EPOCHS):
        for i in range(0, 64, 16):
            optimizer.zero_grad()
            nn.functional.mse_loss(model(X[i:i + 16]), y[i:i + 16]).backward()
            optimizer.step()
    print("done")

if __name__ == "__main__":
    main()
'''


@pytest.mark.slow  # torch starts slowly: four sandbox runs
@pytest.mark.parametrize(("epochs", "passed"), [('config["epochs"]', True), ("3", False)])
def test_torch_epochs_reach_training_through_the_step_count(tmp_path: Path, epochs: str, passed: bool) -> None:
    (tmp_path / "train.py").write_text(TORCH_ORIGINAL, encoding="utf-8")
    task = Task(id="user:train.py", kind="inline", functionality="config", component="json", framework="pytorch",
                instruction="", entry="train.py", files=("train.py",), checker="config-json", timeout_s=120,
                root=str(tmp_path))
    code = TORCH_ADAPTED.replace("range(EPOCHS)", f"range({epochs})")
    result = judge(task, Candidate(task.id, 0, {"train.py": code}, "train.py"))
    assert result.verdict is not None
    if passed:
        assert result.status == "passed", result.verdict
        assert result.verdict.evidence["channels"] == {"epochs": ["optimizer_steps"]}
    else:
        assert result.status == "failed"
        assert result.verdict.reasons == (
            "config value epochs=4 never reached the training (the optimizer took 12 steps, as with epochs=3)",)
