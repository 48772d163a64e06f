"""The APIs an adapter has rag mode look up, resolved for the script's framework."""

from opsgraft.adapters.specs import get_adapter, mlflow_flavor


def test_mlflow_flavor_follows_the_framework() -> None:
    assert mlflow_flavor("from sklearn.svm import SVC\n") == "sklearn"
    assert mlflow_flavor("import torch\nimport lightning as L\n") == "pytorch"
    assert mlflow_flavor("import numpy as np\nfrom tensorflow import keras\n") == "keras"
    assert mlflow_flavor("import torch\n") == "pytorch"
    assert mlflow_flavor("import numpy\n") == ""


def test_lookups_for_resolves_or_drops_the_flavor() -> None:
    spec = get_adapter("registration:mlflow")
    assert spec.lookups_for("import torch\n")[0] == "mlflow.pytorch.log_model"
    assert all("{flavor}" not in n and "log_model" not in n for n in spec.lookups_for("import numpy\n"))
    assert get_adapter("pruning:torch").docs_store == "torch.nn.utils.prune"
    assert get_adapter("tracking:mlflow").docs_store == "mlflow"
