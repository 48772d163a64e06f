import pytest

from opsgraft.errors import UnknownComponentError
from opsgraft.registry import Registry


def test_register_decorator_and_get():
    reg: Registry = Registry("widget")

    @reg.register("alpha")
    def alpha():
        return 1

    assert reg.get("alpha") is alpha
    assert "alpha" in reg
    assert reg.names() == ["alpha"]


def test_lazy_target_is_imported_on_first_get():
    reg: Registry = Registry("widget")
    reg.register("dumps", "json:dumps")
    import json

    assert reg.get("dumps") is json.dumps


def test_unknown_name_suggests_and_lists():
    reg: Registry = Registry("adapter")
    reg.register("tracking:mlflow", "json:dumps")
    reg.register("tracking:wandb", "json:loads")
    with pytest.raises(UnknownComponentError) as err:
        reg.get("tracking:mlflw")
    message = str(err.value)
    assert "Did you mean 'tracking:mlflow'?" in message
    assert "tracking:wandb" in message


def test_duplicate_registration_is_refused_and_clear_empties():
    reg: Registry = Registry("widget")
    reg.register("a")(len)
    with pytest.raises(ValueError):
        reg.register("a")(sum)
    reg._clear()
    assert reg.names() == []


def test_global_registries_know_the_adapters_and_backends():
    import opsgraft.adapters.specs  # noqa: F401
    import opsgraft.llm  # noqa: F401
    from opsgraft.registry import adapters, backends

    assert {"local", "openai", "replay"} <= set(backends.names())
    assert {"tracking:mlflow", "tracking:wandb", "registration:mlflow", "hpo:optuna", "pruning:nncf",
            "pruning:torch", "gitpython->dvc", "wandb->mlflow"} <= set(adapters.names())
