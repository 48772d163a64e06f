"""opsgraft/ui/grid.py: grid expansion, the one-line refusals, saving configs, metrics from stdout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opsgraft.adapters.config_params import Param
from opsgraft.errors import ConfigError, InputError
from opsgraft.ui import grid
from opsgraft.ui.security import PathOutsideRootError

PARAMS = [Param("lr", "float", 0.1), Param("epochs", "int", 3), Param("opt", "str", "adam"),
          Param("hidden", "list", [64, 32]), Param("shuffle", "bool", True)]


def test_blank_fields_give_one_point_of_defaults() -> None:
    assert grid.expand(PARAMS, {"lr": "", "epochs": "  "}) == [
        {"lr": 0.1, "epochs": 3, "opt": "adam", "hidden": [64, 32], "shuffle": True}]


def test_two_lists_give_their_cartesian_product_in_order() -> None:
    points = grid.expand(PARAMS, {"lr": "0.01, 0.1", "epochs": "2,4", "opt": "sgd"})
    assert [(p["lr"], p["epochs"]) for p in points] == [(0.01, 2), (0.01, 4), (0.1, 2), (0.1, 4)]
    assert all(p["opt"] == "sgd" and p["hidden"] == [64, 32] for p in points)
    assert grid.varied(points) == ["lr", "epochs"]


def test_commas_inside_a_json_list_do_not_split() -> None:
    points = grid.expand(PARAMS, {"hidden": "[64, 32], [128]"})
    assert [p["hidden"] for p in points] == [[64, 32], [128]]


def test_duplicates_are_dropped_and_bools_parse() -> None:
    points = grid.expand(PARAMS, {"epochs": "2, 2, 2.0", "shuffle": "true, no"})
    assert [(p["epochs"], p["shuffle"]) for p in points] == [(2, True), (2, False)]


@pytest.mark.parametrize(("texts", "reason"), [
    ({"epochs": "2, x"}, "epochs: 'x' is not an int"),
    ({"lr": "fast"}, "lr: 'fast' is not a float"),
    ({"epochs": " , ,"}, "epochs: empty grid"),
    ({"hidden": "64"}, "hidden: "),
    ({"nope": "1"}, "unknown parameter 'nope'"),
])
def test_refusals_are_one_line_config_errors(texts: dict[str, str], reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        grid.expand(PARAMS, texts)
    assert str(info.value).startswith(reason) and "\n" not in str(info.value)


def test_grid_over_the_limit_is_refused() -> None:
    with pytest.raises(ConfigError, match="grid of 9 points"):
        grid.expand(PARAMS, {"lr": "1,2,3", "epochs": "1,2,3"}, max_points=8)


def test_open_script_reads_parameters(served: Path) -> None:
    script = grid.open_script(served, "scripts/tiny_fit.py")
    assert script.rel == "scripts/tiny_fit.py"
    assert [(p.name, p.type, p.default) for p in script.params] == [
        ("lr", "float", 0.1), ("epochs", "int", 3), ("label", "str", "tiny")]


def test_open_script_refusals(served: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="script has no config"):
        grid.open_script(served, "plain.py")
    with pytest.raises(PathOutsideRootError, match="outside the root"):
        grid.open_script(served, "../outside.py")
    with pytest.raises(InputError, match="no such script"):
        grid.open_script(served, "scripts/missing.py")


def test_find_scripts_lists_only_config_scripts(served: Path) -> None:
    assert grid.find_scripts(served) == ["scripts/tiny_fit.py", "scripts/train_grid.py"]


def test_save_config_never_overwrites_silently(served: Path) -> None:
    first = grid.save_config(served, "scripts/run.json", {"lr": 0.5})
    second = grid.save_config(served, "scripts/run.json", {"lr": 0.7})
    assert (first.name, second.name) == ("run.json", "run_2.json")
    assert json.loads(first.read_text()) == {"lr": 0.5} and json.loads(second.read_text()) == {"lr": 0.7}
    again = grid.save_config(served, "scripts/run.json", {"lr": 0.9}, overwrite=True)
    assert again == first and json.loads(first.read_text()) == {"lr": 0.9}


def test_save_config_refuses_outside_and_sanitises(served: Path) -> None:
    with pytest.raises(PathOutsideRootError):
        grid.save_config(served, "../../x.json", {})
    with pytest.raises(ConfigError, match="must end in .json"):
        grid.save_config(served, "x.py", {})
    path = grid.save_config(served, "scripts/my conf;rm.json", {})
    assert path.name == "my_conf_rm.json" and path.parent == (served / "scripts").resolve()


def test_parse_metrics_pairs_lines_and_history() -> None:
    out = ("epoch 1 loss: 0.5 val_loss=0.61\nepoch 2 loss: 0.25 val_loss=0.4\naccuracy 0.93\n"
           "Training done in 3 steps\nlr: nan\n")
    assert grid.parse_metrics(out) == {"loss": [0.5, 0.25], "val_loss": [0.61, 0.4], "accuracy": [0.93]}
