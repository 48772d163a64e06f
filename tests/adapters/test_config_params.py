"""adapters/config_params.py: DEFAULT_CONFIG read from source, user values parsed and checked."""

from __future__ import annotations

import pytest

from opsgraft.adapters.config_params import Param, coerce, has_config, merged, read_parameters, validate
from opsgraft.errors import ConfigError, OpsgraftError

SCRIPT = '''
import argparse, json
DEFAULT_CONFIG = {
    "lr": 0.01,
    "epochs": 5,
    "optimizer": "adam",
    "shuffle": True,
    "hidden": [64, 32],
    "neg": -3,
}

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
'''


def test_read_parameters_in_order_with_types() -> None:
    params = read_parameters(SCRIPT)
    assert params == [
        Param("lr", "float", 0.01), Param("epochs", "int", 5), Param("optimizer", "str", "adam"),
        Param("shuffle", "bool", True), Param("hidden", "list", [64, 32]), Param("neg", "int", -3),
    ]


def test_read_parameters_annotated_and_last_assignment_wins() -> None:
    src = "DEFAULT_CONFIG = {'a': 1}\nDEFAULT_CONFIG: dict = {'b': 2.5}\n"
    assert read_parameters(src) == [Param("b", "float", 2.5)]


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("lr = 0.01\n", "no module-level DEFAULT_CONFIG"),
        ("def f():\n    DEFAULT_CONFIG = {'lr': 1}\n", "no module-level DEFAULT_CONFIG"),
        ("DEFAULT_CONFIG = dict(lr=0.01)\n", "is not a literal"),
        ("DEFAULT_CONFIG = [1, 2]\n", "is not a dict"),
        ("DEFAULT_CONFIG = {'lr': \n", "does not parse"),
    ],
)
def test_no_config_is_a_one_line_opsgraft_error(source: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        read_parameters(source)
    message = str(info.value)
    assert isinstance(info.value, OpsgraftError)
    assert fragment in message
    assert message.startswith("script has no config:")
    assert "opsgraft adapt SCRIPT --add config:json" in message
    assert "\n" not in message


def test_non_json_values_and_keys_are_refused() -> None:
    with pytest.raises(ConfigError, match="not a JSON value"):
        read_parameters("DEFAULT_CONFIG = {'a': None}\n")
    with pytest.raises(ConfigError, match="not a string"):
        read_parameters("DEFAULT_CONFIG = {1: 2}\n")


def test_coerce_each_type() -> None:
    assert coerce(Param("lr", "float", 0.1), " 5e-3 ") == 0.005
    assert coerce(Param("lr", "float", 0.1), "2") == 2.0
    assert coerce(Param("epochs", "int", 5), "7") == 7
    assert coerce(Param("epochs", "int", 5), "1e2") == 100
    assert coerce(Param("shuffle", "bool", True), "False") is False
    assert coerce(Param("shuffle", "bool", False), "yes") is True
    assert coerce(Param("name", "str", "adam"), " sgd") == " sgd"
    assert coerce(Param("hidden", "list", [1]), "[8, 4]") == [8, 4]


@pytest.mark.parametrize(
    ("param", "text", "message"),
    [
        (Param("lr", "float", 0.1), "abc", "lr: 'abc' is not a float"),
        (Param("lr", "float", 0.1), "nan", "lr: 'nan' is not a finite float"),
        (Param("epochs", "int", 5), "2.5", "epochs: '2.5' is not an int"),
        (Param("epochs", "int", 5), "five", "epochs: 'five' is not an int"),
        (Param("shuffle", "bool", True), "maybe", "shuffle: 'maybe' is not a bool"),
        (Param("hidden", "list", [1]), "8, 4", "hidden: '8, 4' is not a JSON list"),
        (Param("hidden", "list", [1]), "{}", "hidden: '{}' is not a list"),
    ],
)
def test_coerce_wrong_type_says_why(param: Param, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        coerce(param, text)
    assert str(info.value).startswith(message)


def test_validate_reports_unknown_keys_and_wrong_types() -> None:
    params = read_parameters(SCRIPT)
    assert validate(params, {"lr": 0.5, "epochs": 3, "hidden": [1], "shuffle": False}) == []
    assert validate(params, {"lr": 1}) == []  # JSON writes 1.0 as 1
    reasons = validate(params, {"lr": "fast", "epochs": 2.5, "shuffle": 1, "momentum": 0.9})
    assert reasons == [
        "lr: 'fast' is not a float",
        "epochs: 2.5 is not an int",
        "shuffle: 1 is not a bool",
        "unknown key 'momentum' (known: lr, epochs, optimizer, shuffle, hidden, neg)",
    ]
    assert validate(params, {"epochs": True}) == ["epochs: True is not an int"]


def test_merged_overrides_defaults() -> None:
    params = read_parameters(SCRIPT)
    config = merged(params, {"lr": 0.5})
    assert config["lr"] == 0.5 and config["epochs"] == 5 and list(config) == [p.name for p in params]


def test_has_config_needs_both_the_dict_and_the_option() -> None:
    assert has_config(SCRIPT)
    assert not has_config("DEFAULT_CONFIG = {'lr': 1}\n")
    assert not has_config("import argparse\np = argparse.ArgumentParser()\np.add_argument('--config')\n")
    assert not has_config("def broken(:\n")
