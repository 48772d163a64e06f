"""Curation end to end: crawl (a site, or rendered package docs) -> chunks -> summaries -> store."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import metadata as im
from pathlib import Path
from typing import Any

from opsgraft.config import offline_env
from opsgraft.curation import chunker as chunker_module
from opsgraft.curation.apidocs import RENDERER_VERSION
from opsgraft.curation.chunker import Chunker, TokenCounter
from opsgraft.curation.crawler import CrawlConfig, Crawler, CrawlResult, KnownPage, Validators
from opsgraft.curation.embed import Embedder, get_embedder
from opsgraft.curation.serve import serve_dir
from opsgraft.curation.store import (
    Stores,
    WriteStats,
    import_names_of,
    installed_version,
    packages_distributions,
    store_key,
)
from opsgraft.curation.summarize import DEFAULT_MODE, MODES, Summarizer
from opsgraft.errors import ConfigError, CrawlError
from opsgraft.llm.base import Backend
from opsgraft.types import Chunk, RawPage, StageProgress, from_dict, to_dict

log = logging.getLogger(__name__)


@dataclass
class CurateReport:
    """What one curation did and how long each stage took.

    ``rendered``: pages Chromium rendered, ``parsed`` of them from their HTML without a page load
    (see :mod:`opsgraft.curation.crawler`); ``unchanged``: pages reused from the last curation
    because their server said they had not changed; ``rechunked``: pages cut into chunks anew
    (the others had the same content as last time).
    """

    key: str
    pages: int = 0
    rendered: int = 0
    parsed: int = 0
    unchanged: int = 0
    rechunked: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    chunks: int = 0
    write: WriteStats | None = None
    timings: dict[str, float] = field(default_factory=dict)
    modules: int = 0
    skipped_modules: list[dict[str, str]] = field(default_factory=list)
    up_to_date: bool = False


@dataclass(frozen=True)
class PackageRef:
    """An installed distribution (or one module of it) and the import name its docs are rendered from."""

    dist: str
    import_name: str
    version: str


def resolve_package(name: str) -> PackageRef:
    """Map a distribution or import name to (distribution, import name, installed version).

    gitpython -> git, scikit-learn -> sklearn; a name that is not installed is a ConfigError.
    """
    from packaging.utils import canonicalize_name

    if "." in name:  # one module of a package (torch.nn.utils.prune): its own store, the package's version
        root = resolve_package(name.split(".")[0])
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise ConfigError(f"module {name!r} is not installed in this environment ({sys.executable})")
        return PackageRef(dist=name, import_name=name, version=root.version)
    try:
        dist = canonicalize_name(im.distribution(name).metadata["Name"] or name)
    except im.PackageNotFoundError:
        owners = packages_distributions().get(name)  # an import name such as "git" or "sklearn"
        if not owners and name in sys.stdlib_module_names and not name.startswith("_"):
            # the standard library (json for config:json): versioned as the running Python
            return PackageRef(dist=name, import_name=name, version=platform.python_version())
        if not owners:
            raise ConfigError(f"package {name!r} is not installed in this environment ({sys.executable})") from None
        dist = canonicalize_name(owners[0])
    imports = [i for i in import_names_of(dist) if not i.startswith("_")]
    if name in imports:
        primary = name
    else:
        alike = [i for i in imports if canonicalize_name(i) == dist]
        primary = alike[0] if alike else (imports[0] if imports else "")
    if not primary:
        raise ConfigError(f"package {name!r} has no importable module to document")
    version = installed_version(dist) or im.version(name)
    return PackageRef(dist=str(dist), import_name=primary, version=version)


class ReusingChunker(Chunker):
    """A Chunker that takes a page's chunks from the last curation when the page is the same.

    A page is the same when its content and the chunker are: the key hashes the page (less its
    depth), component@version, the token counter's name, the size limit and the chunker's source.
    """

    def __init__(self, count_tokens: TokenCounter, max_tokens: int, counter_name: str,
                 previous: Mapping[str, Any] | None = None) -> None:
        super().__init__(count_tokens, max_tokens=max_tokens)
        source = Path(chunker_module.__file__).read_bytes()
        shape = [counter_name, max_tokens, self.overlap, [f.name for f in dataclasses.fields(Chunk)]]
        self._salt = hashlib.sha256(source + json.dumps(shape).encode()).hexdigest()
        self.previous = previous or {}
        self.made: dict[str, list[Chunk]] = {}  # page key -> its chunks, for the next manifest
        self.rechunked = 0

    def page_key(self, page: RawPage, component: str, version: str) -> str:
        """The key of a page's chunks in the manifest."""
        body = json.dumps([self._salt, component, version, to_dict(replace(page, depth=0))], sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:32]

    def chunk_page(self, page: RawPage, component: str, version: str) -> list[Chunk]:
        """The page's chunks from the last curation if it is the same, else cut anew."""
        key = self.page_key(page, component, version)
        chunks = self.made.get(key)
        if chunks is None and isinstance(self.previous.get(key), list):
            try:
                chunks = [_chunk_from(c) for c in self.previous[key]]
            except (TypeError, ValueError, KeyError, AttributeError):
                chunks = None
        if chunks is None:
            chunks = super().chunk_page(page, component, version)
            self.rechunked += 1
        self.made[key] = chunks
        return chunks


_CHUNK_FIELDS = frozenset(f.name for f in dataclasses.fields(Chunk))


def _chunk_from(data: Mapping[str, Any]) -> Chunk:
    # from_dict() resolves type hints on every call: 50 times slower, most of a re-curation's chunk time.
    kwargs: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in _CHUNK_FIELDS}
    return Chunk(**kwargs)


def _store_pages(pages: list[RawPage], component: str, version: str, source: str, summarize: str,
                 embedder: Embedder, stores: Stores, backend: Backend | None, progress: StageProgress | None,
                 report: CurateReport, extra_meta: dict[str, Any] | None = None,
                 chunker: ReusingChunker | None = None) -> CurateReport:
    if summarize not in MODES:
        raise ConfigError(f"--summarize must be one of {', '.join(MODES)}")
    if summarize == "full" and backend is None:
        raise ConfigError("--summarize full needs an LLM backend")
    t = time.perf_counter()
    chunker = chunker or _chunker(embedder)
    chunks = chunker.chunk_pages(pages, component, version)
    report.chunks, report.rechunked = len(chunks), chunker.rechunked
    report.timings["chunk_s"] = time.perf_counter() - t
    if progress:
        progress("chunks", len(chunks), len(chunks))
    if summarize == "full":
        assert backend is not None
        t = time.perf_counter()
        chunks = Summarizer(backend).summarize_all(chunks, progress)
        report.timings["summarize_s"] = time.perf_counter() - t
    t = time.perf_counter()
    meta = {"source": source, "summarize": summarize, **(extra_meta or {})}
    report.write = stores.write(component, version, chunks, embedder, meta, progress)
    report.timings["store_s"] = time.perf_counter() - t
    return report


def _chunker(embedder: Embedder, previous: Mapping[str, Any] | None = None) -> ReusingChunker:
    return ReusingChunker(embedder.count_tokens, min(224, embedder.max_tokens - 32), embedder.name, previous)


def curate_url(url: str, component: str, version: str | None = None, *, depth: int = 2, max_pages: int = 200,
               delay: float = 0.05, summarize: str = DEFAULT_MODE, embed: str = "local",
               backend: Backend | None = None, stores: Stores | None = None,
               progress: StageProgress | None = None, use_cache: bool = True, workers: int = 1,
               render: str = "auto") -> CurateReport:
    """Crawl a docs site into the store ``component@version`` (``workers`` browsers at once).

    ``render`` is the crawler's: "auto" parses pages without loading them where the site's first
    page reads the same both ways, "always" loads every page in the browser.

    ``version`` defaults to the installed version of ``component``, else ``latest``. With
    ``use_cache``, the store's crawl manifest from the last curation lets pages that did not
    change be reused without rendering, and their chunks without chunking; the manifest is
    written anew after every successful curation either way.
    """
    version = version or installed_version(component) or "latest"
    report = CurateReport(key=store_key(component, version))
    stores = stores or Stores()
    embedder = get_embedder(embed)
    t = time.perf_counter()
    manifest = stores.read_manifest(component, version) if use_cache else {}
    config = CrawlConfig(depth=depth, max_pages=max_pages, delay=delay, workers=workers, render=render)
    crawl = Crawler(config, progress).crawl(url, _known_pages(manifest))
    report.timings["crawl_s"] = time.perf_counter() - t
    _check_crawl(crawl, url)
    report.pages, report.failed = len(crawl.pages), crawl.failed
    report.rendered, report.parsed, report.unchanged = crawl.rendered, crawl.parsed, crawl.unchanged
    chunker = _chunker(embedder, manifest.get("chunks") if isinstance(manifest.get("chunks"), dict) else None)
    _store_pages(crawl.pages, component, version, url, summarize, embedder, stores, backend, progress, report,
                 chunker=chunker)
    t = time.perf_counter()
    pages = {p.url: {"etag": crawl.validators[p.url].etag, "last_modified": crawl.validators[p.url].last_modified,
                     "page": to_dict(p)} for p in crawl.pages if p.url in crawl.validators}
    stores.write_manifest(component, version, {"start": url, "pages": pages,
                                               "chunks": {k: to_dict(v) for k, v in chunker.made.items()}})
    report.timings["store_s"] += time.perf_counter() - t
    log.info("%s: %d pages (%d unchanged), %d chunks (%d pages chunked anew)", report.key, report.pages,
             report.unchanged, report.chunks, report.rechunked)
    return report


def _known_pages(manifest: Mapping[str, Any]) -> dict[str, KnownPage]:
    """The pages of a crawl manifest that can be asked for conditionally; damaged entries are left out."""
    known: dict[str, KnownPage] = {}
    pages = manifest.get("pages")
    for url, entry in (pages.items() if isinstance(pages, dict) else ()):
        try:
            validators = Validators(entry.get("etag") or None, entry.get("last_modified") or None)
            page = from_dict(RawPage, entry["page"])
        except (TypeError, ValueError, KeyError, AttributeError):
            continue
        if validators and page.url == url:
            known[url] = KnownPage(page, validators)
    return known


def curate_package(name: str, *, summarize: str = DEFAULT_MODE, embed: str = "local", backend: Backend | None = None,
                   stores: Stores | None = None, progress: StageProgress | None = None, force: bool = False,
                   max_modules: int = 150, budget_s: float = 150.0) -> CurateReport:
    """Render, serve, crawl and store the API reference of the installed version of ``name``."""
    ref = resolve_package(name)
    report = CurateReport(key=store_key(ref.dist, ref.version))
    stores = stores or Stores()
    embedder = get_embedder(embed)
    extra = {"renderer": RENDERER_VERSION, "max_modules": max_modules}
    existing = stores.existing(ref.dist, ref.version)
    if existing is not None and not force:
        meta = existing.metadata or {}
        if (meta.get("renderer") == RENDERER_VERSION and meta.get("embedder") == embedder.name
                and meta.get("max_modules") == max_modules and meta.get("summarize") == summarize):
            report.up_to_date = True
            report.chunks = existing.count()
            log.info("%s is already curated; use --force to rebuild", report.key)
            return report
    with tempfile.TemporaryDirectory(prefix="opsgraft-apidocs-") as tmp:
        t = time.perf_counter()
        if progress:
            progress("render", 0, None)
        manifest = render_docs(ref, Path(tmp), max_modules, budget_s)
        report.timings["render_s"] = time.perf_counter() - t
        report.modules = len(manifest["rendered"])
        report.skipped_modules = manifest["skipped"]
        for skip in manifest["skipped"]:
            if skip["reason"] not in ("module cap", "time budget", "nothing public"):
                log.info("skipped module %s: %s", skip["module"], skip["reason"])
        t = time.perf_counter()
        with serve_dir(tmp) as base:
            # Our own server on loopback: no politeness delay needed, and no page cache (the port changes).
            config = CrawlConfig(depth=1, max_pages=report.modules + 1, delay=0.0)
            crawl = Crawler(config, progress).crawl(base + "index.html")
        report.timings["crawl_s"] = time.perf_counter() - t
        report.rendered, report.parsed = crawl.rendered, crawl.parsed
        _check_crawl(crawl, base)
        stable = f"pkgdoc://{ref.dist}@{ref.version}/"
        pages = [replace(p, url=p.url.replace(base, stable, 1)) for p in crawl.pages]
    report.pages, report.failed = len(pages), crawl.failed
    return _store_pages(pages, ref.dist, ref.version, f"package:{ref.dist}", summarize, embedder, stores,
                        backend, progress, report, extra)


def render_docs(ref: PackageRef, out: Path, max_modules: int, budget_s: float, retries: int = 5) -> dict[str, Any]:
    """Render the API pages in a child process, so imports of third-party code cannot hurt us.

    A module whose import kills the child (a segfault in an extension) is skipped on a retry.
    """
    skip: list[str] = []
    env = {**os.environ, **offline_env()}
    manifest_path = out / "manifest.json"
    for _ in range(retries + 1):
        cmd = [sys.executable, "-m", "opsgraft.curation.apidocs", ref.import_name, str(out),
               "--version", ref.version, "--max-modules", str(max_modules), "--budget-s", str(budget_s),
               "--skip", ",".join(skip)]
        try:
            proc = subprocess.run(cmd, cwd=out, env=env, capture_output=True, text=True, timeout=budget_s + 180)
        except subprocess.TimeoutExpired:
            raise CrawlError(f"rendering the docs of {ref.dist} took longer than {budget_s + 180:.0f}s") from None
        if manifest_path.exists():
            break
        attempts = out / "attempts.txt"
        last = attempts.read_text(encoding="utf-8").split() if attempts.exists() else []
        if proc.returncode >= 0 or not last or last[-1] in skip:
            tail = (proc.stderr or "").strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
            raise CrawlError(f"rendering the docs of {ref.dist} failed: {tail[0][:200]}")
        log.warning("importing %s killed the renderer (signal %d); skipping it", last[-1], -proc.returncode)
        skip.append(last[-1])
        for page in out.glob("*.html"):
            page.unlink()
        attempts.unlink()
    else:
        raise CrawlError(f"rendering the docs of {ref.dist} failed: too many modules crash on import")
    manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest_path.unlink()  # not a page
    if not manifest["rendered"]:
        raise CrawlError(f"no module of {ref.import_name} could be imported and documented")
    return manifest


def _check_crawl(crawl: CrawlResult, url: str) -> None:
    if not crawl.pages:
        reasons = "; ".join(f"{u}: {r}" for u, r in crawl.failed[:2]) or "robots.txt disallows it"
        raise CrawlError(f"no page could be crawled from {url} ({reasons})")
