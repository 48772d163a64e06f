"""Target-search: APIs looked up by name first; integration docs of frameworks the code does not import left out."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsgraft.curation.embed import get_embedder
from opsgraft.curation.store import Stores
from opsgraft.frameworks import top_level_imports
from opsgraft.retrieval import RetrievalRequest, retrieve
from opsgraft.retrieval.search import documented_name
from opsgraft.retrieval.strategies import api_names
from opsgraft.retrieval.trace import read_trace

from .conftest import doc_chunks

MLFLOW_DOCS = {
    "mlflow.pytorch.autolog": "Enable automatic logging of params and metrics of a PyTorch training run to MLflow.",
    "mlflow.keras.MlflowCallback": "Callback that logs the params and metrics of a Keras training run to MLflow.",
    "mlflow.sklearn.autolog": "Enable automatic logging of params and metrics of a scikit-learn estimator's fit.",
    "mlflow.log_params": "Log a batch of params for the current run.",
    "mlflow.log_metric": "Log a metric under the current run.",
    "mlflow.start_run": "Start a new MLflow run, used as a context manager.",
    "mlflow.set_tag": "Set a tag under the current run.",
}
SKLEARN = "from sklearn.linear_model import Ridge\nimport numpy as np\nRidge().fit(np.ones((2, 1)), [0, 1])\n"
TORCH = "import torch\nmodel = torch.nn.Linear(1, 1)\nfor epoch in range(2):\n    model(torch.ones(1))\n"
INSTRUCTION = "Log the params and metrics of the training run to MLflow."


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fw-stores")
    Stores(path).write("mlflow", "3.0.0", doc_chunks(MLFLOW_DOCS, "mlflow", "3.0.0"), get_embedder("local"), {})
    return path


def titles(root: Path, code: str, trace: Path, instruction: str = INSTRUCTION,
           lookups: tuple[str, ...] = ()) -> list[str]:
    request = RetrievalRequest(code=code, target="mlflow", instruction=instruction, top_k=4, lookups=lookups)
    docs = retrieve("target-search", request, stores_dir=root, trace_path=trace)
    return [d.title.split(" > ")[-1] for d in docs]


def test_integration_docs_of_frameworks_not_imported_are_left_out(root: Path, tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    got = titles(root, SKLEARN, trace)
    assert "mlflow.sklearn.autolog" in got and len(got) == 4
    assert not {"mlflow.pytorch.autolog", "mlflow.keras.MlflowCallback"} & set(got)
    dropped = {d["title"].split(" > ")[-1] for d in read_trace(trace)[-1]["dropped"]}
    assert "mlflow.pytorch.autolog" in dropped  # the trace says what was left out, and why
    assert all("does not import" in d["why"] for d in read_trace(trace)[-1]["dropped"])


def test_a_torch_script_keeps_the_pytorch_docs(root: Path, tmp_path: Path) -> None:
    got = titles(root, TORCH, tmp_path / "t.jsonl")
    assert "mlflow.pytorch.autolog" in got
    assert "mlflow.sklearn.autolog" not in got and "mlflow.keras.MlflowCallback" not in got


def test_code_that_does_not_parse_or_imports_nothing_is_not_filtered(root: Path, tmp_path: Path) -> None:
    assert top_level_imports("def broken(:\n") is None
    assert top_level_imports("import torch.nn as nn\nfrom sklearn import svm\nfrom . import x\n") == {"torch", "sklearn"}
    for code in ("import torch\ndef broken(:\n", "", "x = 1\n"):  # unparsable, a bare query, no imports
        got = titles(root, code, tmp_path / "t.jsonl")
        assert read_trace(tmp_path / "t.jsonl")[-1]["dropped"] == []
        assert len(got) == 4


def test_named_apis_come_first_and_unknown_names_are_skipped(root: Path, tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    got = titles(root, SKLEARN, trace, instruction=INSTRUCTION + " Tag the run with mlflow.set_tag.",
                 lookups=("mlflow.start_run", "mlflow.no_such_api"))
    assert got[:2] == ["mlflow.start_run", "mlflow.set_tag"]  # the adapter's lookups, then the instruction's
    assert len(got) == 4 and len(set(got)) == 4
    lookups = [q for q in read_trace(trace)[-1]["queries"] if "lookup" in q]
    assert [(q["lookup"], len(q["hits"])) for q in lookups] == [
        ("mlflow.start_run", 1), ("mlflow.no_such_api", 0), ("mlflow.set_tag", 1)]


def test_api_names_and_documented_names() -> None:
    text = "prune the model with nncf.prune, print nncf.pruning_statistic(model). Not torch.nn or nncfx.y"
    assert api_names(text, {"nncf"}) == ["nncf.prune", "nncf.pruning_statistic"]
    assert api_names(text, set()) == []
    assert documented_name("optuna > class optuna.Trial > optuna.Trial.suggest_float") == "optuna.Trial.suggest_float"
    assert documented_name("mlflow > mlflow.start_run") == "mlflow.start_run"
    assert documented_name("torch.nn.utils.prune 2.13.0+cpu API reference") == ""
    assert documented_name("dvc push") == ""


def test_a_looked_up_api_is_not_repeated_by_a_search_hit_on_another_of_its_chunks(tmp_path: Path) -> None:
    from opsgraft.curation.chunker import Chunk, chunk_id

    path = ("mlflow", "mlflow.log_metric")
    parts = ["Log a metric under the current run. The step argument orders the values per epoch.",
             "Log a metric per epoch under the current run: mlflow.log_metric('loss', loss, step=epoch)."]
    chunks = [Chunk(id=chunk_id(path, t), text=t, url="pkgdoc://mlflow@3.0.0/x.html#mlflow.log_metric",
                    title="mlflow.log_metric", component="mlflow", version="3.0.0", heading_path=path) for t in parts]
    others = doc_chunks({k: v for k, v in MLFLOW_DOCS.items() if k != "mlflow.log_metric"}, "mlflow", "3.0.0")
    Stores(tmp_path / "s").write("mlflow", "3.0.0", chunks + others, get_embedder("local"), {})
    request = RetrievalRequest(code=SKLEARN, target="mlflow", instruction="Log a metric per epoch.", top_k=4,
                               lookups=("mlflow.log_metric",))
    docs = retrieve("target-search", request, stores_dir=tmp_path / "s", trace_path=tmp_path / "t.jsonl")
    queries = read_trace(tmp_path / "t.jsonl")[-1]["queries"]
    looked_up = {cid for q in queries if "lookup" in q for cid, _ in q["hits"]}
    searched = {cid for q in queries if "query" in q for cid, _ in q["hits"]}
    assert len(looked_up) == 1 and looked_up < {c.id for c in chunks}
    assert (searched & {c.id for c in chunks}) - looked_up  # the search found the section's other chunk ...
    titles = [d.title.split(" > ")[-1] for d in docs]
    assert titles[0] == "mlflow.log_metric" and titles.count("mlflow.log_metric") == 1  # ... and it is not repeated
    assert len(docs) == 4
