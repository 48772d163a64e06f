"""Top-k search over one store through llama-index (ChromaVectorStore + VectorStoreIndex)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import logging
import math
import re
import threading
from collections.abc import Iterable
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


RERANK_POOL = 8
TITLE_WEIGHT = 0.15
# Training scripts call a package's public entry points (nncf.quantize), not the internals that
# API pages render as well (nncf.quantization.algorithms...QuantizationAccuracyRestorer.apply):
# each submodule beyond the first costs this much score.
DEPTH_WEIGHT = 0.01
MAX_TITLE_CANDIDATES = 64
MIN_TITLE_SHARE = 0.5  # a heading sharing fewer of the query's words than this gets no boost
_STOP = frozenset(
    "a an the to of for from in on with per by and or into as at is are be each every new next existing "
    "this that it its my our your all any some how do does".split()
)


# API names abbreviate what a query spells out ("initialize a repository" -> Repo.init).
_ABBREVIATIONS = {
    "init": "initialize", "repo": "repository", "config": "configuration", "dir": "directory",
    "param": "parameter", "params": "parameters", "env": "environment", "args": "arguments",
    "info": "information", "exp": "experiment", "ckpt": "checkpoint",
}


def _stem(word: str) -> str:
    """Crude suffix stripping that maps inflections onto one form: files, file -> fil; staged, stage -> stag."""
    word = _ABBREVIATIONS.get(word, word)
    for suffix in ("ing", "es", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def query_words(query: str) -> set[str]:
    """Content words of a short query, crudely stemmed; long queries (code, doc text) get none."""
    words = re.findall(r"[a-z]+", query.lower())
    if len(words) > 12:
        return set()
    return {_stem(w) for w in words if w not in _STOP and len(w) > 2}


def title_overlap(words: set[str], title: str) -> float:
    """Share of ``words`` in the name a heading documents (``optuna.load_study`` -> load, study).

    Only the last dotted name counts: the class and module path (``JournalStorage``) say where
    a method lives, not what it does. Below ``MIN_TITLE_SHARE`` the share counts as 0.
    """
    return title_share(words, name_words(title))


def title_share(words: set[str], names: frozenset[str]) -> float:
    """Share of ``words`` among a heading's name words; 0 below ``MIN_TITLE_SHARE``."""
    share = len(words & names) / len(words) if words else 0.0
    return share if share >= MIN_TITLE_SHARE else 0.0


def section_key(doc: RetrievedDoc) -> str:
    """What makes two docs the same section: its heading, else the chunk, else the text."""
    return doc.title or doc.chunk_id or hashlib.sha256(doc.text.encode()).hexdigest()


def heading_of(meta: dict[str, Any] | None) -> str:
    """The heading a chunk documents: its heading path, else its page title."""
    m = meta or {}
    return str(m.get("heading_path") or m.get("title") or "")


@functools.lru_cache(maxsize=65536)
def name_words(title: str) -> frozenset[str]:
    """Stemmed words of the name a heading documents (dotted, snake and camel case split)."""
    last = title.split(" > ")[-1].split()[-1] if title.strip() else ""
    last = last.rsplit(".", 1)[-1] if "." in last else " ".join(title.split(" > ")[-1].split())
    parts = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", last.replace("_", " "))
    return frozenset(_stem(p.lower()) for p in parts)


def documented_name(heading: str) -> str:
    """The API name a heading documents (``optuna > class optuna.Trial > optuna.Trial.suggest_float`` ->
    ``optuna.Trial.suggest_float``); '' for a heading that is prose (``... API reference``, ``dvc push``)."""
    last = heading.split(" > ")[-1].split()
    if not last or (len(last) > 1 and last[0] not in ("class", "property", "exception")) or len(last) > 2:
        return ""
    return last[-1] if re.fullmatch(r"[A-Za-z_][\w.]*", last[-1]) else ""


def module_depth(name: str, root: str = "") -> int:
    """Submodules between the package and what ``name`` documents, below ``root``'s own depth.

    ``nncf.quantize`` -> 0, ``mlflow.sklearn.log_model`` -> 1, ``dvc.repo.Repo.push`` -> 1,
    ``nncf.quantization.algorithms.algorithm.Algorithm.apply`` -> 3; for the root
    ``torch.nn.utils.prune``, ``torch.nn.utils.prune.l1_unstructured`` -> 0.
    """
    parts = name.split(".")[:-1]
    depth = 0
    for part in parts[1:]:
        if not part[:1].islower():
            break  # a class: what follows are its members
        depth += 1
    return max(0, depth - root.count("."))


def _cosine_of_score(score: float | None) -> float:
    """Cosine similarity from llama-index's Chroma score ``exp(-distance)`` (cosine distance = 1 - cos)."""
    return 1.0 + math.log(score) if score and score > 0 else -1.0


def _cosine(a: Any, b: Any) -> float:
    import numpy as np

    va, vb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    denom = float(np.linalg.norm(va) * np.linalg.norm(vb))
    return float(va @ vb / denom) if denom else 0.0


class _TitleIndex:
    """Inverted index heading word -> chunks, so a query touches only the chunks sharing its words."""

    def __init__(self, entries: Iterable[tuple[str, str, bool]]) -> None:
        """``entries``: (chunk id, heading, whether the chunk is a synopsis)."""
        self.names: dict[str, frozenset[str]] = {}
        self.order: dict[str, int] = {}
        self.by_word: dict[str, list[str]] = {}
        self.by_name: dict[str, list[str]] = {}  # documented name (optuna.Trial.suggest_float) -> chunks
        for cid, heading, synopsis in entries:
            if synopsis:
                continue  # its heading's own chunks are in the index; a synopsis only helps the vectors
            names = name_words(heading)
            self.order[cid] = len(self.order)
            self.names[cid] = names
            for w in names:
                self.by_word.setdefault(w, []).append(cid)
            if name := documented_name(heading):
                self.by_name.setdefault(name, []).append(cid)

    def matching(self, words: set[str]) -> list[str]:
        """Chunks whose heading holds enough of ``words`` (see :func:`title_share`), in store order."""
        touched = {cid for w in words for cid in self.by_word.get(w, ())}
        return sorted((cid for cid in touched if title_share(words, self.names[cid])), key=self.order.__getitem__)


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
        self._title_index: _TitleIndex | None = None

    def search(self, query: str, top_k: int = 5, step: str = "") -> list[RetrievedDoc]:
        """The ``top_k`` best chunks for ``query``: hybrid of vector search and heading words.

        Candidates are the vector search's ``RERANK_POOL`` x top_k nearest chunks plus the chunks
        whose own heading holds most of a short query's words ("load an existing study" ->
        ``optuna.load_study``). Each scores its cosine similarity plus ``TITLE_WEIGHT`` x the share
        of the query's words in its heading: API pages are many near-identical docstrings, and
        the heading names the thing a query asks for. A synopsis chunk that scores returns its
        parent (the chunk with the signature) instead; each chunk comes back at most once, and
        each section (heading) once, by its best chunk.
        """
        if not query.strip():
            return []
        from llama_index.core.schema import QueryBundle

        words = query_words(query)
        pool = top_k * RERANK_POOL if words else top_k
        retriever = self._retrievers.get(pool)
        if retriever is None:
            retriever = self._retrievers[pool] = self.index.as_retriever(similarity_top_k=pool)
        try:
            embedding = self.embed_model.get_query_embedding(query)
            nodes = retriever.retrieve(QueryBundle(query_str=query, embedding=embedding))
        except Exception as exc:
            raise StoreError(f"search in {self.info.key} failed: {type(exc).__name__}: {exc}") from None
        # One scale for all candidates: cosine similarity. llama-index reports exp(-distance), and the
        # stores' distance is 1 - cosine; heading-word candidates get theirs from the stored embeddings.
        found: dict[str, tuple[str, dict[str, Any], float]] = {
            n.node.node_id: (n.node.get_content(), dict(n.node.metadata or {}), _cosine_of_score(n.score))
            for n in nodes
        }
        if words:
            extra = [cid for cid in self._titles().matching(words) if cid not in found][:MAX_TITLE_CANDIDATES]
            if extra:
                got = self.collection.get(ids=extra, include=["documents", "metadatas", "embeddings"])
                for cid, doc, meta, emb in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"],
                                               strict=True):
                    found[cid] = (doc, dict(meta or {}), _cosine(embedding, emb))
        best: dict[str, RetrievedDoc] = {}
        for cid, (text, meta, score) in self._with_parents(found).items():
            title = heading_of(meta)
            doc = RetrievedDoc(
                text=str(meta.get("summary") or text),
                score=score + (TITLE_WEIGHT * title_overlap(words, title) if words else 0.0)
                - DEPTH_WEIGHT * max(0, module_depth(documented_name(title), self.info.component) - 1),
                source=str(meta.get("url", "")),
                component=self.info.component,
                version=self.info.version,
                chunk_id=cid,
                title=title,
                step=step,
            )
            if cid not in best or doc.score > best[cid].score:
                best[cid] = doc
        # One chunk per section: a long docstring's continuation chunks share its heading and would
        # fill the top-k with one API (mlflow.start_run 4 times of 5); its best chunk stands for it.
        out: list[RetrievedDoc] = []
        sections: set[str] = set()
        for doc in sorted(best.values(), key=lambda d: -d.score):
            key = section_key(doc)
            if key in sections:
                continue
            sections.add(key)
            out.append(doc)
            if len(out) == top_k:
                break
        return out

    def _with_parents(
        self, found: dict[str, tuple[str, dict[str, Any], float]]
    ) -> dict[str, tuple[str, dict[str, Any], float]]:
        """Synopsis hits replaced by the chunk they stand for (with the better of the two scores)."""
        parents = {cid: str(meta["parent"]) for cid, (_, meta, _) in found.items() if meta.get("parent")}
        if not parents:
            return found
        missing = sorted({p for p in parents.values() if p not in found})
        fetched: dict[str, tuple[str, dict[str, Any]]] = {}
        if missing:
            got = self.collection.get(ids=missing, include=["documents", "metadatas"])
            fetched = {cid: (str(doc), dict(meta or {}))
                       for cid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)}
        out: dict[str, tuple[str, dict[str, Any], float]] = {}
        for cid, (text, meta, score) in found.items():
            parent = parents.get(cid)
            if parent is not None:
                if parent in found:
                    text, meta = found[parent][0], found[parent][1]
                elif parent in fetched:
                    text, meta = fetched[parent]
                else:  # a store without the parent (should not happen): keep the synopsis itself
                    parent = cid
                cid = parent
            if cid not in out or score > out[cid][2]:
                out[cid] = (text, meta, score)
        return out

    def _titles(self) -> _TitleIndex:
        """The heading-word index of every chunk, read once per searcher."""
        if self._title_index is None:
            got = self.collection.get(include=["metadatas"])
            self._title_index = _TitleIndex(
                (cid, heading_of(m), bool((m or {}).get("parent")))
                for cid, m in zip(got["ids"], got["metadatas"], strict=True)
            )
        return self._title_index

    def lookup(self, name: str, step: str = "") -> list[RetrievedDoc]:
        """The first chunk documenting exactly ``name`` (``wandb.init``), scored 1.0; [] if none does."""
        ids = self._titles().by_name.get(name, [])[:1]
        if not ids:
            return []
        got = self.collection.get(ids=ids, include=["documents", "metadatas"])
        return [RetrievedDoc(text=str((meta or {}).get("summary") or doc), score=1.0, source=str((meta or {}).get("url", "")),
                             component=self.info.component, version=self.info.version, chunk_id=cid,
                             title=heading_of(meta), step=step)
                for cid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)]

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
