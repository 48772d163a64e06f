"""The four strategies on GitPython -> DVC with a scripted LLM, over real stores through llama-index."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsgraft.curation.summarize import Summarizer
from opsgraft.errors import ConfigError, StoreError, UnknownComponentError
from opsgraft.llm.scripted import ScriptedBackend
from opsgraft.retrieval import RetrievalRequest, retrieve
from opsgraft.retrieval.search import searcher
from opsgraft.retrieval.strategies import code_sketch, source_queries
from opsgraft.retrieval.trace import read_trace

from .conftest import GIT_SCRIPT

REQ = RetrievalRequest(code=GIT_SCRIPT, target="dvc", source="gitpython", top_k=3)


def merged_search(root: Path, component: str, queries: list[str], k: int) -> list[str]:
    """Independent re-computation of a merged top-k, by chunk id."""
    s = searcher(component, root)
    best: dict[str, float] = {}
    for q in queries:
        for d in s.search(q, k):
            best[d.chunk_id] = max(best.get(d.chunk_id, -1.0), d.score)
    return [cid for cid, _ in sorted(best.items(), key=lambda x: -x[1])][:k]


def steps(docs, step):  # type: ignore[no-untyped-def]
    return [d for d in docs if d.step == step]


def test_source_queries_pick_the_lines_using_the_source() -> None:
    qs = source_queries(GIT_SCRIPT, "gitpython")
    joined = "\n".join(qs)
    assert "repo.index.add" in joined and "origin.push()" in joined and "git.Repo.init" in joined
    assert "f.write" not in joined
    # comments, blank lines and plain assignments go; definitions stay
    assert code_sketch("# c\n\nx = 1\ndef f():\n    pass\n") == "def f():"
    assert code_sketch("# comment\n\ndef f(a):\n    return g(a)\n") == "def f(a):\n    return g(a)"


def test_docs_search(stores_root: Path, tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    docs = retrieve("docs-search", REQ, stores_dir=stores_root, trace_path=trace)
    dx, dy = steps(docs, "docs-x"), steps(docs, "docs-y")
    assert len(dx) == 3 and len(dy) == 3 and len(docs) == 6
    assert {d.component for d in dx} == {"gitpython"} and {d.component for d in dy} == {"dvc"}
    names = {d.title.rsplit(" > ", 1)[-1] for d in dx}
    used = {"git.Repo.init", "git.IndexFile.add", "git.IndexFile.commit", "git.Repo.create_remote", "git.Remote.push"}
    assert names <= used  # only docs of calls the script makes; never clone_from, blame or tags
    # Docs-Y are what Y's store returns for the text of Docs-X
    expected = merged_search(stores_root, "dvc", [f"{d.title}\n{d.text}" for d in dx], 3)
    assert [d.chunk_id for d in dy] == expected
    assert all(d.score > 0 and d.source.startswith("pkgdoc://dvc@3.0.0/") for d in dy)
    [rec] = read_trace(trace)
    assert rec["strategy"] == "docs-search" and rec["llm"] == []
    assert rec["stores"] == {"docs-x": "gitpython@3.1.0", "docs-y": "dvc@3.0.0"}
    assert rec["request"]["code"] == GIT_SCRIPT and len(rec["docs"]) == 6


def test_llm_search_writes_docs_y(stores_root: Path, tmp_path: Path) -> None:
    answer = "dvc.repo.Repo.add(targets): track files. dvc.repo.Repo.push(): upload to the remote."
    backend = ScriptedBackend([answer])
    docs = retrieve("llm-search", REQ, backend=backend, stores_dir=stores_root, trace_path=tmp_path / "t.jsonl")
    dx, dy = steps(docs, "docs-x"), steps(docs, "docs-y")
    assert len(dx) == 3
    [doc] = dy  # the LLM's text, no store hits
    assert doc.text == answer and doc.chunk_id == "" and doc.source == "llm:scripted" and doc.component == "dvc"
    [(messages, n)] = backend.calls
    prompt = messages[-1].content
    assert n == 1 and "repo.index.add" in prompt and all(d.text in prompt for d in dx)
    assert read_trace(tmp_path / "t.jsonl")[0]["llm"][0]["answer"] == answer


def test_llm_docs_search_searches_with_the_description(stores_root: Path, tmp_path: Path) -> None:
    description = "Garbage-collect unused objects from the DVC cache to free disk space."
    backend = ScriptedBackend([description])
    docs = retrieve("llm-docs-search", REQ, backend=backend, stores_dir=stores_root, trace_path=tmp_path / "t.jsonl")
    dy = steps(docs, "docs-y")
    assert [d.chunk_id for d in dy] == merged_search(stores_root, "dvc", [description], 3)
    assert dy[0].title.endswith("dvc.repo.Repo.gc")  # the description, not Docs-X, drove the search
    assert all(d.component == "dvc" and d.chunk_id for d in dy)
    plain = retrieve("docs-search", REQ, stores_dir=stores_root, trace_path=tmp_path / "t.jsonl")
    assert [d.chunk_id for d in steps(plain, "docs-y")] != [d.chunk_id for d in dy]
    assert "Repo.index.add" in backend.calls[0][0][-1].content or "index.add" in backend.calls[0][0][-1].content


def test_target_search(stores_root: Path, tmp_path: Path) -> None:
    req = RetrievalRequest(code="import pandas as pd\ndf = pd.read_csv('data.csv')\n", target="dvc",
                           instruction="upload the tracked data to remote storage", top_k=2)
    docs = retrieve("target-search", req, stores_dir=stores_root, trace_path=tmp_path / "t.jsonl")
    assert len(docs) == 2 and docs[0].title.endswith("dvc.repo.Repo.push")
    assert {d.step for d in docs} == {"docs-target"}


def test_lazy_summaries_are_made_once_and_stored(stores_root: Path, tmp_path: Path) -> None:
    req = RetrievalRequest(code="", target="dvc", instruction="garbage collect the cache", top_k=1)
    backend = ScriptedBackend(["Functionality: frees cache space.\nAPI: Repo.gc()\nExample: none"])
    summarizer = Summarizer(backend, cache_root=tmp_path / "summaries")
    [doc] = retrieve("target-search", req, stores_dir=stores_root, summarizer=summarizer,
                     trace_path=tmp_path / "t.jsonl")
    assert doc.text.startswith("Functionality: frees cache space.")
    assert searcher("dvc", stores_root).raw(doc.chunk_id)["metadata"]["summary"] == doc.text
    # second time: served from the store, no LLM call (the scripted backend has no answers left)
    [again] = retrieve("target-search", req, stores_dir=stores_root, summarizer=summarizer,
                       trace_path=tmp_path / "t.jsonl")
    assert again.text == doc.text and len(backend.calls) == 1


def test_errors(stores_root: Path, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="opsgraft curate --package mlflow"):
        retrieve("target-search", RetrievalRequest("x = 1", "mlflow", instruction="log"), stores_dir=stores_root)
    with pytest.raises(UnknownComponentError, match="Did you mean 'docs-search'"):
        retrieve("docs-serch", REQ, stores_dir=stores_root)
    with pytest.raises(ConfigError, match="needs an LLM backend"):
        retrieve("llm-search", REQ, stores_dir=stores_root)
    with pytest.raises(ConfigError, match="needs a source component"):
        retrieve("docs-search", RetrievalRequest("x", "dvc"), stores_dir=stores_root)
