"""Slow: real GitPython and DVC stores curated from the installed packages, then translation retrieval."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsgraft.curation.pipeline import curate_package
from opsgraft.curation.store import Stores
from opsgraft.retrieval import RetrievalRequest, retrieve

from .conftest import GIT_SCRIPT

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def real_stores(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("real-stores")
    stores = Stores(root)
    for name, cap in (("gitpython", 150), ("dvc", 80)):
        report = curate_package(name, stores=stores, max_modules=cap)
        assert report.chunks > 100 and report.write is not None and report.write.embedded == report.chunks
    return root


def test_docs_search_on_real_stores(real_stores: Path, tmp_path: Path) -> None:
    req = RetrievalRequest(code=GIT_SCRIPT, target="dvc", source="gitpython", top_k=5)
    docs = retrieve("docs-search", req, stores_dir=real_stores, trace_path=tmp_path / "t.jsonl")
    dx = [d.title.split(" > ")[-1] for d in docs if d.step == "docs-x"]
    dy = [d for d in docs if d.step == "docs-y"]
    assert any(t.endswith(("IndexFile.add", "IndexFile.commit", "Remote.push", "Repo.create_remote")) for t in dx), dx
    assert len(dy) == 5 and all(d.component == "dvc" and d.source.startswith("pkgdoc://dvc@") for d in dy)


def test_target_search_finds_dvc_push(real_stores: Path, tmp_path: Path) -> None:
    req = RetrievalRequest(code="", target="dvc", instruction="push to remote", top_k=5)
    docs = retrieve("target-search", req, stores_dir=real_stores, trace_path=tmp_path / "t.jsonl")
    assert any(d.title.split(" > ")[-1].endswith("Repo.push") for d in docs), [d.title for d in docs]
