"""Stores: atomic writes, re-curation embeds nothing new, lookup by version, corrupt directories."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from opsgraft.curation.chunker import chunk_id
from opsgraft.curation.embed import get_embedder
from opsgraft.curation.store import Stores, collection_name, installed_version
from opsgraft.errors import StoreError
from opsgraft.types import Chunk


def make_chunks(texts: Sequence[str], component: str = "tool", version: str = "1.0") -> list[Chunk]:
    return [Chunk(id=chunk_id(("T",), t), text=t, url=f"http://h/{i}", title="T", component=component,
                  version=version, heading_path=("T",)) for i, t in enumerate(texts)]


class CountingEmbedder:
    """The real local embedder, counting how many texts it embedded."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.inner = get_embedder("local")
        self.name, self.dim, self.max_tokens = self.inner.name, self.inner.dim, self.inner.max_tokens
        self.calls = 0
        self.fail_after = fail_after

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += len(texts)
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("embedding died")
        return self.inner.embed(texts)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


TEXTS = [f"Document {i} about logging metric number {i} per epoch." for i in range(40)]


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several batches per write with few texts, so a mid-write failure is cheap to provoke."""
    import opsgraft.curation.store as store

    monkeypatch.setattr(store, "BATCH", 16)


def test_collection_names_are_valid() -> None:
    import re

    for comp, ver in [("mlflow", "3.18.0"), ("a", "1"), ("scikit-learn", "1.9.0rc1+local"), ("x@y", "..")]:
        name = collection_name(comp, ver)
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]", name), name
        assert ".." not in name and "@" not in name


def test_write_reuses_unchanged_ids(tmp_path: Path) -> None:
    stores = Stores(tmp_path / "stores")
    emb = CountingEmbedder()
    first = stores.write("tool", "1.0", make_chunks(TEXTS), emb)
    assert (first.embedded, first.total, emb.calls) == (40, 40, 40)
    again = stores.write("tool", "1.0", make_chunks(TEXTS), emb)
    assert again.unchanged and again.embedded == 0 and emb.calls == 40
    changed = TEXTS[:-1] + ["A brand new document about pushing data to a remote."]
    third = stores.write("tool", "1.0", make_chunks(changed), emb)
    assert (third.embedded, third.reused, third.removed) == (1, 39, 1)
    assert emb.calls == 41
    [info] = stores.list_stores()
    assert (info.key, info.count, info.component, info.version) == ("tool@1.0", 40, "tool", "1.0")
    # vectors at the embedder's own width (not an assumed 384) plus the chunk texts
    assert info.size_bytes is not None and info.size_bytes >= 40 * emb.dim * 4 + 40
    assert info.size_bytes < 40 * emb.dim * 4 + 200_000
    # only the final collection is left
    assert [c.name for c in stores.client.list_collections()] == [collection_name("tool", "1.0")]


def test_failed_write_leaves_no_half_store(tmp_path: Path) -> None:
    stores = Stores(tmp_path / "stores")
    with pytest.raises(RuntimeError):
        stores.write("tool", "1.0", make_chunks(TEXTS), CountingEmbedder(fail_after=20))
    assert stores.list_stores() == []
    assert list(stores.client.list_collections()) == []
    # a failure while updating keeps the old store whole
    stores.write("tool", "1.0", make_chunks(TEXTS[:10]), CountingEmbedder())
    with pytest.raises(RuntimeError):
        stores.write("tool", "1.0", make_chunks(TEXTS), CountingEmbedder(fail_after=20))
    [info] = stores.list_stores()
    assert info.count == 10
    assert len(list(stores.client.list_collections())) == 1


def test_failure_while_adding_removes_the_temp_collection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import opsgraft.curation.store as store

    stores = Stores(tmp_path / "stores")
    stores.write("tool", "1.0", make_chunks(TEXTS[:10]), CountingEmbedder())
    calls = {"n": 0}
    real = store.chunk_metadata

    def flaky(chunk: Chunk) -> dict:
        calls["n"] += 1
        if calls["n"] > 20:  # the second batch of adds fails, after the first went in
            raise OSError("disk full")
        return real(chunk)

    monkeypatch.setattr(store, "chunk_metadata", flaky)
    with pytest.raises(OSError):
        stores.write("tool", "1.0", make_chunks(TEXTS), CountingEmbedder())
    [info] = stores.list_stores()
    assert info.count == 10
    assert [c.name for c in stores.client.list_collections()] == [collection_name("tool", "1.0")]


def test_find_prefers_installed_version(tmp_path: Path) -> None:
    stores = Stores(tmp_path / "stores")
    emb = CountingEmbedder()
    inst = installed_version("click")
    assert inst
    stores.write("click", inst, make_chunks(TEXTS[:3], "click", inst), emb)
    stores.write("click", "99.0", make_chunks(TEXTS[:4], "click", "99.0"), emb)
    stores.write("notinstalled", "1.0", make_chunks(TEXTS[:2], "notinstalled"), emb)
    stores.write("notinstalled", "2.0", make_chunks(TEXTS[:2], "notinstalled", "2.0"), emb)
    assert stores.find("click").version == inst
    assert stores.find("click@99.0").version == "99.0"
    assert stores.find("notinstalled").version == "2.0"  # the newest
    with pytest.raises(StoreError, match="opsgraft curate --package dvc"):
        stores.find("dvc")
    with pytest.raises(StoreError, match="no store 'click@0.1'"):
        stores.find("click@0.1")
    removed = stores.remove("click@99.0")
    assert removed.key == "click@99.0"
    assert [s.key for s in stores.list_stores()] == [f"click@{inst}", "notinstalled@1.0", "notinstalled@2.0"]


def test_corrupt_store_directory(tmp_path: Path) -> None:
    root = tmp_path / "stores"
    root.mkdir()
    (root / "chroma.sqlite3").write_bytes(b"this is not a sqlite database" * 100)
    with pytest.raises(StoreError, match="cannot open the store directory"):
        Stores(root).list_stores()
    file_root = tmp_path / "file"
    file_root.write_text("x")
    with pytest.raises(StoreError, match="not a directory"):
        Stores(file_root).list_stores()


def test_threads_opening_one_store_directory_at_once_all_see_it(tmp_path: Path) -> None:
    """The bench's rag workers open the stores together; Chroma's lazily built shared system raced there
    (AttributeError on its bindings, KeyError on its cache) until opening was serialized."""
    import shutil
    import threading

    Stores(tmp_path / "stores").write("tool", "1.0", make_chunks(TEXTS[:4]), get_embedder("local"))
    for attempt in range(4):
        root = tmp_path / f"copy{attempt}"
        shutil.copytree(tmp_path / "stores", root)  # a directory no client has opened in this process
        barrier = threading.Barrier(6)
        seen: list[object] = []

        def open_and_list(root: Path = root, barrier: threading.Barrier = barrier, seen: list[object] = seen) -> None:
            stores = Stores(root)
            barrier.wait()
            try:
                seen.append([s.key for s in stores.list_stores(with_size=False)])
            except Exception as exc:  # the failure is the finding
                seen.append(exc)

        threads = [threading.Thread(target=open_and_list) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert seen == [["tool@1.0"]] * 6, seen
