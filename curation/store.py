"""The Chroma stores: one collection per component@version, written atomically under a temp name."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata as im
from pathlib import Path
from typing import Any

from opsgraft.config import stores_dir
from opsgraft.curation.chunker import embed_text
from opsgraft.curation.embed import ChromaEmbedding, Embedder
from opsgraft.errors import StoreError
from opsgraft.files import write_whole
from opsgraft.types import Chunk, StageProgress

log = logging.getLogger(__name__)

TEMP_PREFIX = "tmp-"
OLD_PREFIX = "old-"
# Beside the Chroma files: per store, what the last curation crawled (pages, validators, chunks).
MANIFEST_DIR = "crawl-manifests"
MANIFEST_FORMAT = 1
BATCH = 256
# Chroma builds a client's shared system lazily and caches it by path: two threads opening the same
# directory at once saw it half built (AttributeError on its Rust bindings, KeyError on the cache), as
# the bench's rag workers did. Clients are opened one at a time.
_OPEN_LOCK = threading.Lock()


def collection_name(component: str, version: str) -> str:
    """A valid Chroma collection name for ``component@version`` ('@' is not allowed there)."""
    def slug(s: str) -> str:
        return re.sub(r"[^A-Za-z0-9_-]+", "-", s).strip("-_") or "x"

    name = f"{slug(component)}__v{slug(version.replace('.', '_'))}"
    return name[:200] if len(name) >= 3 else name + "___"


def store_key(component: str, version: str) -> str:
    """The user-facing store name."""
    return f"{component}@{version}"


@functools.lru_cache(maxsize=1)
def packages_distributions() -> dict[str, list[str]]:
    """importlib.metadata.packages_distributions(), once per process (it reads every RECORD)."""
    return dict(im.packages_distributions())


@functools.lru_cache(maxsize=256)
def import_names_of(dist: str) -> tuple[str, ...]:
    """Top-level import names of an installed distribution (gitpython -> git), () if not installed."""
    try:
        d = im.distribution(dist)
    except im.PackageNotFoundError:
        return ()
    top = d.read_text("top_level.txt")
    if top:
        names = [n.strip() for n in top.splitlines()]
    else:
        names = [str(f.parts[0]).removesuffix(".py") for f in d.files or [] if f.parts and
                 (len(f.parts) > 1 or str(f).endswith(".py"))]
    return tuple(sorted({n for n in names if n.isidentifier()}))


def installed_version(component: str) -> str | None:
    """The installed distribution version of ``component`` (a distribution, an import or a module name)."""
    component = component.split(".")[0]
    try:
        return im.version(component)
    except im.PackageNotFoundError:
        dists = packages_distributions().get(component) or []
        for dist in dists:
            try:
                return im.version(dist)
            except im.PackageNotFoundError:
                continue
    return None


def _version_key(v: str) -> tuple[int, Any]:
    try:
        from packaging.version import Version

        return (1, Version(v))
    except Exception:
        return (0, v)


@dataclass(frozen=True)
class StoreInfo:
    """One store as listed by ``opsgraft stores``."""

    key: str
    component: str
    version: str
    collection: str
    count: int
    size_bytes: int | None  # None: Chroma could not say
    embedder: str
    summarize: str
    source: str
    created: float


@dataclass(frozen=True)
class WriteStats:
    """What a store write did."""

    key: str
    total: int
    embedded: int
    reused: int
    removed: int
    unchanged: bool
    elapsed_s: float


class Stores:
    """The stores in one Chroma persistent directory."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root else stores_dir()
        self._client: Any = None

    @property
    def client(self) -> Any:
        """The Chroma PersistentClient, opened on first use."""
        with _OPEN_LOCK:
            if self._client is None:
                self._client = self._open()
        return self._client

    def _open(self) -> Any:
        """A new PersistentClient on ``root``, its database touched (call under ``_OPEN_LOCK``)."""
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"stores path {self.root} is not a directory")
        try:
            import chromadb
            from chromadb.config import Settings

            self.root.mkdir(parents=True, exist_ok=True)
            client = chromadb.PersistentClient(
                path=str(self.root), settings=Settings(anonymized_telemetry=False, allow_reset=False)
            )
            client.list_collections()  # touch the database so corruption shows here
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(
                f"cannot open the store directory {self.root} ({type(exc).__name__}: {_first_line(exc)}); "
                "move it away or set OPSGRAFT_STORES to another folder"
            ) from None
        return client

    # -- listing and lookup ------------------------------------------------------------------------
    def _collections(self) -> list[Any]:
        try:
            return list(self.client.list_collections())
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"cannot list stores in {self.root}: {_first_line(exc)}") from None

    def list_stores(self, with_size: bool = True) -> list[StoreInfo]:
        """Every complete store, sorted by component then version."""
        out = []
        for col in self._collections():
            if col.name.startswith((TEMP_PREFIX, OLD_PREFIX)):
                continue
            meta = col.metadata or {}
            if "component" not in meta:
                continue
            out.append(self._info(col, meta, with_size))
        return sorted(out, key=lambda s: (s.component, _version_key(s.version)))

    def _info(self, col: Any, meta: dict[str, Any], with_size: bool) -> StoreInfo:
        component, version = str(meta["component"]), str(meta.get("version", ""))
        return StoreInfo(
            key=store_key(component, version), component=component, version=version, collection=col.name,
            count=int(col.count()), size_bytes=self._size(col) if with_size else 0,
            embedder=str(meta.get("embedder", "")), summarize=str(meta.get("summarize", "none")),
            source=str(meta.get("source", "")), created=float(meta.get("created", 0.0)),
        )

    def find(self, name: str) -> StoreInfo:
        """The store for ``component`` or ``component@version``.

        A bare component picks the installed version's store when there is one, else the newest.
        """
        stores = self.list_stores(with_size=False)
        component, _, version = name.partition("@")
        matches = [s for s in stores if s.component.lower() == component.lower()]
        if not matches and stores:  # an import name: git -> gitpython
            owners = {d.lower() for d in packages_distributions().get(component, [])}
            matches = [s for s in stores if s.component.lower() in owners]
        if not matches:
            known = ", ".join(s.key for s in stores) or "none"
            raise StoreError(f"no store for {component!r} (stores: {known}); build one with "
                             f"`opsgraft curate --package {component}`")
        if version:
            exact = [s for s in matches if s.version == version]
            if not exact:
                raise StoreError(f"no store {name!r}; have {', '.join(s.key for s in matches)}; "
                                 f"build it with `opsgraft curate --package {component}`")
            return exact[0]
        inst = installed_version(component)
        for s in matches:
            if inst and s.version == inst:
                return s
        return max(matches, key=lambda s: _version_key(s.version))

    def collection(self, info: StoreInfo, embedder: Embedder) -> Any:
        """The Chroma collection of a store, with our embedding function attached."""
        if info.embedder and info.embedder != embedder.name:
            raise StoreError(f"store {info.key} was embedded with {info.embedder}, not {embedder.name}; "
                             "use the same --embed or curate it again")
        try:
            return self.client.get_collection(info.collection, embedding_function=ChromaEmbedding(embedder))
        except Exception as exc:
            raise StoreError(f"cannot open store {info.key}: {_first_line(exc)}") from None

    def remove(self, name: str) -> StoreInfo:
        """Delete a store (exact ``component@version`` or the one a bare component resolves to)."""
        info = self.find(name)
        self.client.delete_collection(info.collection)
        self.manifest_path(info.component, info.version).unlink(missing_ok=True)
        return info

    # -- crawl manifests ----------------------------------------------------------------------------
    def manifest_path(self, component: str, version: str) -> Path:
        """Where the crawl manifest of component@version is kept."""
        return self.root / MANIFEST_DIR / f"{collection_name(component, version)}.json"

    def read_manifest(self, component: str, version: str) -> dict[str, Any]:
        """The crawl manifest of component@version; {} if there is none or it cannot be read.

        It is only a cache: a missing or damaged one costs a full crawl, never a wrong store.
        """
        path = self.manifest_path(component, version)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring the unreadable crawl manifest %s: %s", path, exc)
            return {}
        if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
            return {}
        return data

    def write_manifest(self, component: str, version: str, data: dict[str, Any]) -> None:
        """Replace the crawl manifest of component@version at once (a temp file renamed over it)."""
        path = self.manifest_path(component, version)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_whole(path, json.dumps({**data, "format": MANIFEST_FORMAT}), prefix=TEMP_PREFIX)

    def cleanup(self) -> int:
        """Delete collections a crashed write left behind (never those of a write still running)."""
        n = 0
        for col in self._collections():
            if col.name.startswith((TEMP_PREFIX, OLD_PREFIX)) and not _writer_alive(col.metadata or {}):
                log.info("removing leftover collection %s", col.name)
                self.client.delete_collection(col.name)
                n += 1
        return n

    def existing(self, component: str, version: str) -> Any | None:
        """The final collection of component@version, or None."""
        name = collection_name(component, version)
        for col in self._collections():
            if col.name == name:
                return col
        return None

    # -- writing -----------------------------------------------------------------------------------
    def write(self, component: str, version: str, chunks: Sequence[Chunk], embedder: Embedder,
              extra_meta: dict[str, Any] | None = None, progress: StageProgress | None = None) -> WriteStats:
        """Make the store hold exactly ``chunks``; embed only ids it does not have yet.

        The new collection is built under a temporary name and renamed at the end, so a failure
        never leaves a half-written store behind.
        """
        started = time.perf_counter()
        key = store_key(component, version)
        if not chunks:
            raise StoreError(f"nothing to store for {key}: no chunks")
        final = collection_name(component, version)
        ids = [c.id for c in chunks]
        old = self.existing(component, version)
        old_meta = dict(old.metadata or {}) if old is not None else {}
        old_ids: set[str] = set()
        if old is not None and old_meta.get("embedder") == embedder.name:
            old_ids = set(old.get(include=[])["ids"])
        meta = {
            "component": component, "version": version, "embedder": embedder.name,
            "created": time.time(), "summarize": "none",
        }
        meta.update({k: v for k, v in (extra_meta or {}).items() if v is not None})
        same_meta = all(old_meta.get(k) == v for k, v in meta.items() if k != "created")
        if old is not None and old_ids == set(ids) and same_meta:
            return WriteStats(key, len(ids), 0, len(ids), 0, True, time.perf_counter() - started)
        # Embed first, outside the lock: it is the slow part, and other curations may run meanwhile.
        fresh = [c for c in chunks if c.id not in old_ids]
        vectors: list[list[float]] = []
        for start in range(0, len(fresh), BATCH):
            vectors.extend(embedder.embed([embed_text(c) for c in fresh[start : start + BATCH]]))
            if progress:
                progress("embed", len(vectors), len(fresh))
        with self._write_lock():
            self.cleanup()
            old = self.existing(component, version)
            if old is None and old_ids:
                raise StoreError(f"store {key} was removed while it was being updated; run the curation again")
            keep = [i for i in ids if i in old_ids]
            self._commit(final, meta, embedder, old, keep, fresh, vectors)
        removed = len(old_ids - set(ids))
        return WriteStats(key, len(ids), len(fresh), len(keep), removed, False, time.perf_counter() - started)

    def _commit(self, final: str, meta: dict[str, Any], embedder: Embedder, old: Any, keep: list[str],
                fresh: Sequence[Chunk], vectors: list[list[float]]) -> None:
        """Build the new collection under a temporary name, then swap it in for the old one."""
        tmp_name = f"{TEMP_PREFIX}{uuid.uuid4().hex[:16]}"
        writer = {"writer_host": socket.gethostname(), "writer_pid": os.getpid()}
        tmp = self.client.create_collection(tmp_name, embedding_function=ChromaEmbedding(embedder),
                                            metadata={**meta, **writer, "hnsw:space": "cosine"})
        try:
            for start in range(0, len(keep), BATCH):
                got = old.get(ids=keep[start : start + BATCH], include=["embeddings", "documents", "metadatas"])
                tmp.add(ids=got["ids"], embeddings=got["embeddings"], documents=got["documents"],
                        metadatas=got["metadatas"])
            for start in range(0, len(fresh), BATCH):
                batch = fresh[start : start + BATCH]
                tmp.add(ids=[c.id for c in batch], embeddings=vectors[start : start + BATCH],
                        documents=[c.text for c in batch], metadatas=[chunk_metadata(c) for c in batch])
            if old is not None:
                old.modify(name=f"{OLD_PREFIX}{uuid.uuid4().hex[:16]}")
            try:
                tmp.modify(name=final)
            except BaseException:
                if old is not None:
                    old.modify(name=final)  # put the old store back
                raise
        except BaseException:
            try:
                self.client.delete_collection(tmp_name)
            except Exception as exc:
                log.warning("could not remove temporary collection %s: %s", tmp_name, exc)
            raise
        if old is not None:
            try:
                self.client.delete_collection(old.name)
            except Exception as exc:  # committed already; a later cleanup removes it
                log.warning("could not remove the previous collection %s: %s", old.name, exc)

    @contextlib.contextmanager
    def _write_lock(self) -> Iterator[None]:
        """One writer at a time per stores directory, across processes."""
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".opsgraft-write.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # -- size ----------------------------------------------------------------------------------------
    def _size(self, col: Any) -> int | None:
        """Approximate bytes of a store through Chroma's public API: its texts and metadata plus its vectors.

        Vectors count as ``count x dimension x 4`` with the dimension read from a stored vector, so a 1536-wide
        OpenAI store is sized as such. None when Chroma cannot say (shown as "?", never as 0).
        """
        try:
            count = int(col.count())
            if not count:
                return 0
            first = col.get(limit=1, include=["embeddings"])
            vectors = first.get("embeddings")
            dim = len(vectors[0]) if vectors is not None and len(vectors) else 0
            text = 0
            for offset in range(0, count, 2000):
                page = col.get(limit=2000, offset=offset, include=["documents", "metadatas"])
                text += sum(len(d.encode("utf-8")) for d in page.get("documents") or [] if d)
                text += sum(len(json.dumps(m)) for m in page.get("metadatas") or [] if m)
            return text + count * dim * 4
        except Exception as exc:  # a size is informative only; say why it is missing
            log.warning("size of store %s unknown: %s", col.name, _first_line(exc))
            return None


def _writer_alive(meta: dict[str, Any]) -> bool:
    """True if the process that is writing a temporary collection still runs on this host."""
    pid = meta.get("writer_pid")
    if not isinstance(pid, int) or meta.get("writer_host") != socket.gethostname():
        return False
    if pid == os.getpid():
        return False  # our own leftover from an earlier failed write
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def chunk_metadata(chunk: Chunk) -> dict[str, Any]:
    """Chroma metadata of a chunk (flat: str, int, float, bool)."""
    meta: dict[str, Any] = {
        "url": chunk.url, "title": chunk.title, "component": chunk.component, "version": chunk.version,
        "heading_path": " > ".join(chunk.heading_path), "n_tokens": chunk.n_tokens,
    }
    if chunk.summary:
        meta["summary"] = chunk.summary
    if chunk.parent:
        meta["parent"] = chunk.parent
    return meta


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
