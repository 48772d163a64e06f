"""Top-k search over one store through llama-index (ChromaVectorStore + VectorStoreIndex)."""

from __future__ import annotations

import contextlib
import io
import logging
import threading
from pathlib import Path
from typing import Any

from opsgraft.config import stores_dir
from opsgraft.curation.embed import Embedder, get_embedder
from opsgraft.curation.store import StoreInfo, Stores
from opsgraft.errors import StoreError
from opsgraft.types import RetrievedDoc

log = logging.getLogger(__name__)

_lock = threading.Lock()
_stores: dict[str, Stores] = {}
_indexes: dict[tuple[str, str, str], Any] = {}


def stores_at(root: Path | str | None) -> Stores:
    """One shared :class:`Stores` per directory (Chroma clients are costly to open)."""
    path = Path(root) if root else stores_dir()  # resolved now: OPSGRAFT_STORES may change
    key = str(path)
    with _lock:
        if key not in _stores:
            _stores[key] = Stores(path)
        return _stores[key]


def _embedding_model(embedder: Embedder) -> Any:
    """llama-index BaseEmbedding over our embedder, so both sides embed the same way."""
    from llama_index.core.embeddings import BaseEmbedding
    from pydantic import PrivateAttr

    class OpsgraftEmbedding(BaseEmbedding):
        _embedder: Any = PrivateAttr()

        def __init__(self, inner: Embedder) -> None:
            super().__init__(model_name=inner.name, embed_batch_size=64)
            self._embedder = inner

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._embedder.embed([query])[0]  # type: ignore[no-any-return]

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._embedder.embed([text])[0]  # type: ignore[no-any-return]

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return self._embedder.embed(texts)

    return OpsgraftEmbedding(embedder)


_llm_disabled = False


def _disable_llm(settings: Any) -> None:
    """Plain retrieval needs no LLM: ``Settings.llm = None`` (llama-index prints a notice; keep stdout clean)."""
    global _llm_disabled
    if _llm_disabled:
        return
    with contextlib.redirect_stdout(io.StringIO()):
        settings.llm = None
    _llm_disabled = True


class StoreSearcher:
    """A VectorStoreIndex over one store's collection; no LLM involved."""

    def __init__(self, stores: Stores, info: StoreInfo, embedder: Embedder) -> None:
        from llama_index.core import Settings, VectorStoreIndex
        from llama_index.vector_stores.chroma import ChromaVectorStore

        _disable_llm(Settings)
        self.info = info
        self.collection = stores.collection(info, embedder)
        self.vector_store = ChromaVectorStore(chroma_collection=self.collection)
        self.embed_model = _embedding_model(embedder)
        self.index = VectorStoreIndex.from_vector_store(self.vector_store, embed_model=self.embed_model)
        self._retrievers: dict[int, Any] = {}

    def search(self, query: str, top_k: int = 5, step: str = "") -> list[RetrievedDoc]:
        """The ``top_k`` chunks nearest to ``query``."""
        if not query.strip():
            return []
        retriever = self._retrievers.get(top_k)
        if retriever is None:
            retriever = self._retrievers[top_k] = self.index.as_retriever(similarity_top_k=top_k)
        try:
            nodes = retriever.retrieve(query)
        except Exception as exc:
            raise StoreError(f"search in {self.info.key} failed: {type(exc).__name__}: {exc}") from None
        out = []
        for n in nodes:
            meta = n.node.metadata or {}
            out.append(RetrievedDoc(
                text=str(meta.get("summary") or n.node.get_content()),
                score=float(n.score or 0.0),
                source=str(meta.get("url", "")),
                component=self.info.component,
                version=self.info.version,
                chunk_id=n.node.node_id,
                title=str(meta.get("heading_path") or meta.get("title") or ""),
                step=step,
            ))
        return out

    def raw(self, chunk_id: str) -> dict[str, Any] | None:
        """The stored document and metadata of one chunk."""
        got = self.collection.get(ids=[chunk_id], include=["documents", "metadatas"])
        if not got["ids"]:
            return None
        return {"text": got["documents"][0], "metadata": dict(got["metadatas"][0] or {})}

    def set_summary(self, chunk_id: str, summary: str) -> None:
        """Keep a lazily made summary in the chunk's metadata."""
        self.collection.update(ids=[chunk_id], metadatas=[{"summary": summary}])


def searcher(component: str, stores_dir: Path | str | None = None, embed: str | None = None) -> StoreSearcher:
    """The (cached) searcher for a component's store; see :meth:`Stores.find` for the lookup."""
    stores = stores_at(stores_dir)
    info = stores.find(component)
    embedder_name = embed or ("openai" if info.embedder.startswith("openai") else "local")
    embedder = get_embedder(embedder_name)
    col = stores.client.get_collection(info.collection)
    key = (str(stores.root), str(col.id), embedder.name)
    with _lock:
        hit = _indexes.get(key)
    if hit is not None:
        return hit  # type: ignore[no-any-return]
    made = StoreSearcher(stores, info, embedder)
    with _lock:
        _indexes[key] = made
    return made
