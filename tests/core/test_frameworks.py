"""One framework detection (opsgraft/frameworks.py) behind the flavor lookups, the outline and the examples."""

import ast
import typing

import pytest

from opsgraft.adapters.analysis import is_training_script, parse
from opsgraft.adapters.examples import EXAMPLE_FRAMEWORKS, framework_of
from opsgraft.adapters.outline import build
from opsgraft.adapters.specs import mlflow_flavor
from opsgraft.evaluation.corpus import TaskSpec, input_files, load_corpus
from opsgraft.frameworks import FRAMEWORKS, LABELS, MLFLOW_FLAVORS, top_level_imports, training_framework

# (imports, what a person says the script trains with, the worked examples' framework), written by hand.
ROWS = [
    ("import torch\nimport lightning as L\n", "lightning", "lightning"),
    ("import pytorch_lightning as pl\nimport torch\n", "lightning", "lightning"),
    ("from tensorflow import keras\nfrom sklearn.model_selection import train_test_split\n", "keras", "keras"),
    ("import keras\n", "keras", "keras"),
    ("import torch.nn as nn\nfrom sklearn.datasets import make_moons\n", "pytorch", "pytorch"),
    # No XGBoost examples: its sklearn-style fit/predict is nearest the sklearn ones.
    ("import xgboost as xgb\nfrom sklearn.model_selection import train_test_split\n", "xgboost", "sklearn"),
    ("import lightgbm\n", "lightgbm", "none"),
    ("from catboost import CatBoostClassifier\n", "catboost", "none"),
    ("from sklearn.svm import SVC\n", "sklearn", "sklearn"),
    ("import numpy as np\nimport pandas as pd\n", "", "none"),
]
SCRIPTS = [(code, expected) for code, expected, _ in ROWS]


def test_top_level_imports_reads_absolute_imports_anywhere():
    code = "import torch.nn as nn\nfrom sklearn import svm\nfrom . import x\n\ndef f():\n    import optuna\n"
    assert top_level_imports(code) == {"torch", "sklearn", "optuna"}
    assert top_level_imports(ast.parse(code)) == {"torch", "sklearn", "optuna"}
    assert top_level_imports("def broken(:\n") is None


@pytest.mark.parametrize(("code", "expected"), SCRIPTS)
def test_training_framework_first_match_wins(code, expected):
    assert training_framework(code) == expected


def test_among_limits_the_answer_in_the_same_order():
    xgb_sklearn = "import xgboost as xgb\nfrom sklearn.model_selection import train_test_split\n"
    assert training_framework(xgb_sklearn, among=("sklearn", "pytorch")) == "sklearn"
    assert training_framework("import lightgbm\n", among=("sklearn",)) == ""
    assert training_framework("def broken(:\n") == ""


@pytest.mark.parametrize(("code", "expected", "example"), ROWS)
def test_every_stage_reads_the_same_detection(code, expected, example):
    """The MLflow flavor, the outline's framework line and the worked example's framework all follow it."""
    script = code + "\n\ndef main():\n    model = object()\n    model.fit([[0]], [0])\n\n\nmain()\n"
    assert mlflow_flavor(script) == MLFLOW_FLAVORS.get(expected, "")
    assert build(script, "train.py").framework == LABELS.get(expected, "")
    assert framework_of(script) == example


def test_tables_cover_every_framework():
    assert set(LABELS) == set(MLFLOW_FLAVORS) == set(FRAMEWORKS)
    assert set(EXAMPLE_FRAMEWORKS) <= set(FRAMEWORKS)


def test_task_schema_frameworks_are_detected_ones():
    """The task schema's Literal is the frameworks the corpus has tasks for: a subset of the table, plus none."""
    declared = set(typing.get_args(TaskSpec.model_fields["framework"].annotation))
    assert declared - {"none"} <= set(FRAMEWORKS)


def test_each_corpus_task_declares_the_framework_its_input_trains_with():
    """Tasks whose input trains nothing (a DVC data script that loads wine with sklearn) declare none."""
    checked = 0
    for task in load_corpus():
        source = input_files(task)[task.entry]
        if not is_training_script(parse(source, task.entry)):
            continue
        assert (training_framework(source) or "none") == task.framework, task.id
        checked += 1
    assert checked >= 40
