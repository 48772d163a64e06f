"""config:json's plan: the script's own settings, the DEFAULT_CONFIG they make, and the answer's head."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from opsgraft.adapters import config_params, config_plan, outline
from opsgraft.adapters.specs import get_adapter
from opsgraft.adapters.workflow import Workflow

TORCH = '''"""An MLP."""

import torch
from torch import nn

SEED = 0
DATA = "data/train.csv"


def main():
    torch.manual_seed(SEED)
    X = torch.randn(200, 30)
    y = (X[:, 0] > 0).float()
    model = nn.Sequential(nn.Linear(30, 48), nn.ReLU(), nn.Dropout(0.1), nn.Linear(48, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.003, weight_decay=0.0001)
    for epoch in range(8):
        perm = torch.randperm(len(X))
        for i in range(0, len(X), 64):
            idx = perm[i:i + 64]
            optimizer.zero_grad()
            loss = nn.functional.binary_cross_entropy_with_logits(model(X[idx]).squeeze(1), y[idx])
            loss.backward()
            optimizer.step()
    print(f"loss: {loss.item():.4f}")


if __name__ == "__main__":
    main()
'''

KERAS = '''import keras
from sklearn.model_selection import train_test_split

LR = 0.005
UNUSED = 7


def main(X, y):
    keras.utils.set_random_seed(0)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    model = keras.Sequential([keras.layers.Dense(32, activation="relu"), keras.layers.Dropout(0.2),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=LR), loss="sparse_categorical_crossentropy")
    model.fit(X_train, y_train, epochs=4, batch_size=64, verbose=0)
    print(model.evaluate(X_test, y_test, verbose=0))
'''


def by_key(source: str) -> dict[str, config_plan.Setting]:
    return {s.key: s for s in config_plan.find(source)}


def test_inline_literals_of_a_torch_loop_become_settings_with_their_lines():
    found = by_key(TORCH)
    assert {k: s.value for k, s in found.items()} == {
        "seed": 0, "hidden": 48, "dropout": 0.1, "lr": 0.003, "weight_decay": 0.0001, "epochs": 8, "batch_size": 64}
    assert found["batch_size"].lines == (18, 19)  # the range step and the slice `i + 64`
    assert found["epochs"].text == "range(8)"
    assert found["seed"].constant == "SEED"  # a used seed constant is a setting
    # a path and the layers' fixed sizes (30 inputs, 1 output) are not settings
    assert all(v not in (30, 1, "data/train.csv") for v in (s.value for s in found.values()))


def test_keras_units_skip_the_output_layer_and_a_used_constant_is_a_setting():
    found = by_key(KERAS)
    assert {k: s.value for k, s in found.items()} == {
        "lr": 0.005, "seed": 0, "random_state": 0, "units": 32, "dropout": 0.2, "epochs": 4, "batch_size": 64}
    assert found["lr"].constant == "LR" and found["lr"].lines == (13,)
    assert "unused" not in found  # a constant nothing reads


def test_the_same_key_with_two_values_gets_a_suffix_and_the_same_value_merges():
    src = ("def f(a, b):\n    a.fit(lr=0.1, epochs=3)\n    b.fit(lr=0.2, epochs=3)\n")
    found = by_key(src)
    assert (found["lr"].value, found["lr_2"].value) == (0.1, 0.2)
    assert found["epochs"].lines == (2, 3)


def test_plan_lines_give_the_dict_and_each_replacement():
    lines = config_plan.plan_lines(config_plan.find(TORCH))
    assert f"`{config_plan.default_config(config_plan.find(TORCH))}`" in lines[0]
    assert 'line 15 `weight_decay=0.0001` -> config["weight_decay"]' in lines[1]
    assert "lines 18, 19 `range(0, len(X), 64)`: 64 -> config[\"batch_size\"]" in lines[1]
    assert config_plan.plan_lines([]) == []


def test_the_outline_of_a_config_adapter_carries_the_plan_and_others_do_not():
    text = outline.render(TORCH, get_adapter("config:json"), "train.py")
    assert '"weight_decay": 0.0001' in text and 'config["epochs"]' in text
    assert "DEFAULT_CONFIG" not in outline.render(TORCH, get_adapter("tracking:mlflow"), "train.py")


def test_the_head_meets_the_config_contract_with_the_scripts_own_values():
    head = config_plan.head(KERAS)
    ast.parse(head)
    params = {p.name: p.default for p in config_params.read_parameters(head)}
    assert params == {"lr": 0.005, "seed": 0, "random_state": 0, "units": 32, "dropout": 0.2, "epochs": 4,
                      "batch_size": 64}
    assert "LR = 0.005" not in head  # moved into the config: the model must read config["lr"]
    assert "UNUSED = 7" in head  # a constant that is no setting stays
    assert "import argparse" in head and "def load_config(argv=None):" in head
    assert head.endswith("\n\n\n")  # the model continues at module level


def test_the_head_runs_the_contract(tmp_path: Path):
    # head + a main that reads the config: the defaults load, an override applies, an unknown key exits.
    code = config_plan.head(TORCH) + "def main():\n    print(json.dumps(load_config()))\n\n\nmain()\n"
    script = tmp_path / "s.py"
    script.write_text(code)
    ns: dict[str, object] = {"__name__": "probe"}
    exec(compile(code.replace("\nmain()\n", "\n"), str(script), "exec"), ns)
    load = ns["load_config"]
    assert callable(load)
    assert load([]) == json.loads(json.dumps(ns["DEFAULT_CONFIG"]))
    cfg = tmp_path / "c.json"
    cfg.write_text('{"lr": 0.5}')
    assert load(["--config", str(cfg)])["lr"] == 0.5
    cfg.write_text('{"nope": 1}')
    try:
        load(["--config", str(cfg)])
    except SystemExit as exc:
        assert "unknown config key(s): nope" in str(exc)
    else:
        raise AssertionError("an unknown key must exit")


def test_no_head_for_a_script_with_its_own_argparse_or_no_settings():
    own = "import argparse\n\np = argparse.ArgumentParser()\np.add_argument('--lr', type=float, default=0.1)\n" \
          "args = p.parse_args()\nmodel.fit(epochs=3)\n"
    assert config_plan.head(own) == ""
    assert config_plan.head("print('hi')\n") == ""
    assert config_plan.head("def broken(:\n") == ""


def test_the_workflow_prefills_the_head_only_with_the_scaffold_on(tmp_path: Path):
    script = tmp_path / "train.py"
    script.write_text(TORCH)
    for on in (True, False):
        flow = Workflow(spec=get_adapter("config:json"), script=script, source=TORCH, mode="none", scaffold=on)
        prompt = flow.build_prompt(TORCH)
        if on:
            assert prompt.prefill.startswith("```python\n") and config_plan.default_config(
                config_plan.find(TORCH)) in prompt.prefill
        else:
            assert not prompt.prefill


def test_by_default_config_json_gets_the_head_and_no_example_and_other_adapters_do_not(tmp_path: Path):
    script = tmp_path / "train.py"
    script.write_text(TORCH)
    flow = Workflow(spec=get_adapter("config:json"), script=script, source=TORCH, mode="none")
    assert flow.uses_scaffold and not flow.shows_example
    assert flow.example_text() == "" and config_plan.default_config(config_plan.find(TORCH)) in \
        flow.build_prompt(TORCH).prefill
    bare = "print('no settings here')\n"
    assert not Workflow(spec=get_adapter("config:json"), script=script, source=bare, mode="none").uses_scaffold
    other = Workflow(spec=get_adapter("tracking:wandb"), script=script, source=TORCH, mode="none")
    assert other.shows_example and not other.uses_scaffold and not other.build_prompt(TORCH).prefill
    forced = Workflow(spec=get_adapter("config:json"), script=script, source=TORCH, mode="none", examples=True,
                      scaffold=False)
    assert forced.shows_example and not forced.build_prompt(TORCH).prefill


def test_seeds_are_settings_so_the_model_never_reads_a_missing_key():
    # cfg-json14/15: left out of the dict, `config["seed"]` and `config["random_state"]` were read anyway
    src = "import torch\n\ntorch.manual_seed(3)\nsplit(X, random_state=7)\nfit(seed=1, verbose=0)\n"
    found = by_key(src)
    assert {k: s.value for k, s in found.items()} == {"seed": 3, "random_state": 7, "seed_2": 1}
    assert found["seed"].lines == (3,) and "verbose" not in found
