"""The three translation strategies on GitPython -> DVC, replaying the embedded model's recorded answers.

The recordings (tests/adapters/cassettes, made by scripts/record_cassettes.py) hold the docs each
strategy retrieved from the real package stores. Here Docs-X is fixed to the recorded one and the
store search is captured, so each strategy is checked for what it does with Docs-X:
- docs-search searches DVC's store with the text of Docs-X,
- llm-search asks the LLM to write Docs-Y and searches nothing,
- llm-docs-search asks the LLM for a description and searches DVC's store with it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opsgraft.evaluation.corpus import input_files, load_task
from opsgraft.llm.replay import ReplayBackend
from opsgraft.retrieval import RetrievalRequest
from opsgraft.retrieval.strategies import DocsSearch, LLMDocsSearch, LLMSearch, Strategy
from opsgraft.types import RetrievedDoc, from_dict

CASSETTES = Path(__file__).parents[1] / "adapters" / "cassettes"
CASES = json.loads((CASSETTES / "cases.json").read_text())
STRATEGIES = {"docs-search": DocsSearch, "llm-search": LLMSearch, "llm-docs-search": LLMDocsSearch}
pytestmark = pytest.mark.skipif(
    any(f"gitpython->dvc/{s}" not in CASES for s in STRATEGIES), reason="GitPython -> DVC strategies not recorded"
)


def recorded(strategy: str) -> tuple[list[RetrievedDoc], list[RetrievedDoc]]:
    docs = [from_dict(RetrievedDoc, d) for d in CASES[f"gitpython->dvc/{strategy}"]["docs"]]
    return [d for d in docs if d.step == "docs-x"], [d for d in docs if d.step == "docs-y"]


def run(strategy: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[list[RetrievedDoc], list[list[str]]]:
    """Retrieve with the recorded Docs-X; store searches are captured and answered with the recorded Docs-Y."""
    docs_x, docs_y = recorded(strategy)
    searches: list[list[str]] = []

    def search(self: Strategy, component: str, queries: list[str], top_k: int, step: str) -> list[RetrievedDoc]:
        assert component == "dvc" and step == "docs-y"
        searches.append(list(queries))
        return docs_y

    monkeypatch.setattr(Strategy, "docs_x", lambda self, request: docs_x)
    monkeypatch.setattr(Strategy, "search", search)
    task = load_task(CASES[f"gitpython->dvc/{strategy}"]["task"])
    request = RetrievalRequest(code=input_files(task)[task.entry], target="dvc", source="gitpython", top_k=5)
    backend = ReplayBackend(CASSETTES / "real_model.jsonl")
    out = STRATEGIES[strategy](backend=backend, trace_path=tmp_path / "trace.jsonl").retrieve(request)
    return out, searches


def test_all_three_start_from_the_same_docs_x():
    first = [d.chunk_id for d in recorded("docs-search")[0]]
    assert first and all([d.chunk_id for d in recorded(s)[0]] == first for s in STRATEGIES)
    assert all(d.component == "gitpython" for d in recorded("docs-search")[0])


def test_docs_search_queries_dvc_with_docs_x(monkeypatch, tmp_path):
    docs, searches = run("docs-search", monkeypatch, tmp_path)
    docs_x, _ = recorded("docs-search")
    assert searches == [[f"{d.title}\n{d.text}" for d in docs_x]]
    assert all(d.component == "dvc" and d.source.startswith("pkgdoc://dvc@") for d in docs if d.step == "docs-y")


def test_llm_search_docs_y_is_the_models_text(monkeypatch, tmp_path):
    docs, searches = run("llm-search", monkeypatch, tmp_path)
    assert searches == []  # nothing searched in DVC's store
    [doc_y] = [d for d in docs if d.step == "docs-y"]
    assert doc_y.source.startswith("llm:") and doc_y.text == recorded("llm-search")[1][0].text
    assert "dvc" in doc_y.text.lower()


def test_llm_docs_search_queries_dvc_with_the_models_description(monkeypatch, tmp_path):
    docs, searches = run("llm-docs-search", monkeypatch, tmp_path)
    [[description]] = searches
    docs_x, _ = recorded("llm-docs-search")
    assert description not in {f"{d.title}\n{d.text}" for d in docs_x}
    assert "dvc" in description.lower()
    # Different queries found different DVC docs than docs-search did.
    ids = {d.chunk_id for d in recorded("llm-docs-search")[1]}
    assert ids and ids != {d.chunk_id for d in recorded("docs-search")[1]}
