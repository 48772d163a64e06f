"""A polite same-site crawler: urllib checks each page, headless Chromium renders and extracts it."""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
import urllib.robotparser
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urlsplit

from opsgraft.errors import CrawlError
from opsgraft.types import RawPage, from_dict, to_dict

log = logging.getLogger(__name__)

USER_AGENT = "opsgraft-curator/0.1"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"
# Chromium must make no lookups of its own: every host but 127.0.0.1 resolves to nothing.
CHROME_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
    "--blink-settings=imagesEnabled=false",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
)
# Links to these are never pages; Chromium would start a download instead.
SKIP_SUFFIXES = (
    ".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".webp", ".pdf", ".zip", ".gz", ".tgz", ".tar",
    ".whl", ".egg", ".css", ".js", ".json", ".xml", ".txt", ".csv", ".mp4", ".woff", ".woff2", ".ttf",
)
HTML_TYPES = ("text/html", "application/xhtml+xml")

# Called as progress(stage, done, total); total is None when unknown.
Progress = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class CrawlConfig:
    """How far and how fast to crawl."""

    depth: int = 2
    max_pages: int = 200
    delay: float = 0.05
    timeout: float = 15.0
    respect_robots: bool = True
    cache_dir: Path | None = None
    workers: int = 2  # browsers rendering at once; requests still start at most once per ``delay``


@dataclass
class CrawlResult:
    """The pages a crawl kept, the ones it could not fetch, and how long it took."""

    pages: list[RawPage] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    disallowed: list[str] = field(default_factory=list)
    rendered: int = 0
    cached: int = 0
    elapsed_s: float = 0.0


def _load_js() -> str:
    return resources.files("opsgraft.curation").joinpath("extract.js").read_text(encoding="utf-8")


def scope_of(url: str) -> tuple[str, str, str]:
    """(scheme, host, path prefix) a crawl starting at ``url`` stays within."""
    parts = urlsplit(url)
    path = parts.path or "/"
    prefix = path if path.endswith("/") else path.rsplit("/", 1)[0] + "/"
    return parts.scheme, parts.netloc, prefix


def in_scope(url: str, scope: tuple[str, str, str]) -> bool:
    """True if ``url`` is on the same site and under the same path prefix."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return False
    if (parts.scheme, parts.netloc) != scope[:2]:
        return False
    path = parts.path or "/"
    return path.startswith(scope[2]) and not path.lower().endswith(SKIP_SUFFIXES)


def normalize(url: str) -> str:
    """Drop the fragment: #anchors of one page are the same page."""
    return urldefrag(url)[0]


class PageCache:
    """Pages kept with their HTTP validators, so an unchanged page is never rendered twice."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, url: str) -> Path:
        return self.root / (hashlib.sha256(url.encode()).hexdigest()[:32] + ".json")

    def get(self, url: str) -> dict[str, Any] | None:
        """The cached entry for ``url`` or None."""
        try:
            data: dict[str, Any] = json.loads(self._path(url).read_text(encoding="utf-8"))
            return data
        except (OSError, ValueError):
            return None

    def put(self, url: str, etag: str | None, last_modified: str | None, page: RawPage) -> None:
        """Remember ``page`` if the server gave a validator to check it against later."""
        if not etag and not last_modified:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        entry = {"etag": etag, "last_modified": last_modified, "page": to_dict(page)}
        tmp = self._path(url).with_suffix(".tmp")
        tmp.write_text(json.dumps(entry), encoding="utf-8")
        tmp.replace(self._path(url))


@dataclass(frozen=True)
class Probe:
    """What a plain HTTP request said about a URL before Chromium renders it."""

    url: str
    status: int
    content_type: str
    etag: str | None = None
    last_modified: str | None = None


class Crawler:
    """Breadth-first crawl of one site, level by level, with ``workers`` reused headless Chromiums."""

    def __init__(self, config: CrawlConfig | None = None, progress: Progress | None = None) -> None:
        self.config = config or CrawlConfig()
        if self.config.workers < 1:
            raise CrawlError("workers must be at least 1")
        self.progress = progress
        self._drivers: list[Any] = []  # every browser started
        self._free: queue.Queue[Any] = queue.Queue()  # those not rendering right now
        self._js = _load_js()
        self._last_request = 0.0
        self._turn = threading.Lock()
        self.cache = PageCache(self.config.cache_dir) if self.config.cache_dir else None

    # -- public ---------------------------------------------------------------------------------
    def crawl(self, start_url: str) -> CrawlResult:
        """Crawl from ``start_url``; raises CrawlError only if the start page itself is unusable."""
        started = time.perf_counter()
        result = CrawlResult()
        start = normalize(start_url)
        if urlsplit(start).scheme not in ("http", "https"):
            raise CrawlError(f"not an http(s) URL: {start_url}")
        robots = self._robots(start)
        scope = scope_of(start)
        first = self._probe(start, self.cache.get(start) if self.cache else None)
        if first.status == 304:  # unchanged since the cached copy
            pass
        elif first.status >= 400:
            raise CrawlError(f"start page {start} answered HTTP {first.status}")
        elif not first.content_type.startswith(HTML_TYPES):
            raise CrawlError(f"start page {start} is not HTML ({first.content_type or 'no content type'})")
        seen = {start}
        level, depth = [start], 0
        pool = ThreadPoolExecutor(self.config.workers, thread_name_prefix="opsgraft-crawl")
        try:
            while level and len(result.pages) < self.config.max_pages:
                upcoming: list[str] = []
                todo = iter(level)
                while len(result.pages) < self.config.max_pages:
                    # As many pages as the cap still allows, rendered in parallel, kept in link order.
                    batch: list[str] = []
                    for url in todo:
                        if robots is not None and not robots.can_fetch(USER_AGENT, url):
                            log.info("robots.txt disallows %s", url)
                            result.disallowed.append(url)
                            continue
                        batch.append(url)
                        if len(batch) >= self.config.max_pages - len(result.pages):
                            break
                    if not batch:
                        break
                    probes = [first if u == start else None for u in batch]
                    fetched = pool.map(self._try_fetch, batch, [depth] * len(batch), probes)
                    for url, (page, how, error) in zip(batch, fetched, strict=True):
                        if error:
                            log.warning("skipping %s: %s", url, error)
                            result.failed.append((url, error))
                            continue
                        if page is None:
                            continue
                        result.cached += how == "cached"
                        result.rendered += how == "rendered"
                        result.pages.append(page)
                        if self.progress:
                            self.progress("pages", len(result.pages), None)
                        if depth >= self.config.depth:
                            continue
                        for link in page.links:
                            nxt = normalize(link)
                            if nxt not in seen and in_scope(nxt, scope):
                                seen.add(nxt)
                                upcoming.append(nxt)
                level, depth = upcoming, depth + 1
        finally:
            pool.shutdown(wait=True)
            self.close()
        result.elapsed_s = time.perf_counter() - started
        log.info(
            "crawled %d pages (%d rendered, %d unchanged) in %.1fs; %d failed, %d disallowed",
            len(result.pages), result.rendered, result.cached, result.elapsed_s,
            len(result.failed), len(result.disallowed),
        )
        return result

    def close(self) -> None:
        """Quit every browser this crawler started."""
        for driver in self._drivers:
            try:
                driver.quit()
            except Exception as exc:  # the browser may already be gone
                log.debug("driver quit failed: %s", exc)
        self._drivers = []
        self._free = queue.Queue()

    # -- internals -------------------------------------------------------------------------------
    def _wait_turn(self) -> None:
        # A minimum interval between request starts, across workers: polite without idling after slow pages.
        with self._turn:
            wait = self._last_request + self.config.delay - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last_request = time.monotonic()

    def _robots(self, start: str) -> urllib.robotparser.RobotFileParser | None:
        if not self.config.respect_robots:
            return None
        parts = urlsplit(start)
        robots_url = f"{parts.scheme}://{parts.netloc}/robots.txt"
        parser = urllib.robotparser.RobotFileParser(robots_url)
        try:
            req = urllib.request.Request(robots_url, headers={"User-Agent": USER_AGENT})
            with urllib.request.urlopen(req, timeout=self.config.timeout) as resp:
                parser.parse(resp.read().decode("utf-8", "replace").splitlines())
        except urllib.error.HTTPError as exc:
            # The robotparser convention: 401/403 forbid everything, other errors allow everything.
            if exc.code in (401, 403):
                parser.disallow_all = True  # type: ignore[attr-defined]
            else:
                parser.allow_all = True  # type: ignore[attr-defined]
        except (urllib.error.URLError, OSError, ValueError):
            parser.allow_all = True  # type: ignore[attr-defined]
        delay = parser.crawl_delay(USER_AGENT)
        if delay and float(delay) > self.config.delay:
            self.config = replace(self.config, delay=float(delay))
        return parser

    def _probe(self, url: str, cached: dict[str, Any] | None) -> Probe:
        headers = {"User-Agent": USER_AGENT}
        if cached:
            if cached.get("etag"):
                headers["If-None-Match"] = cached["etag"]
            if cached.get("last_modified"):
                headers["If-Modified-Since"] = cached["last_modified"]
        self._wait_turn()
        req = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.config.timeout) as resp:
                resp.read(1 << 20)
                return Probe(
                    resp.geturl(), resp.status, resp.headers.get("Content-Type", ""),
                    resp.headers.get("ETag"), resp.headers.get("Last-Modified"),
                )
        except urllib.error.HTTPError as exc:
            return Probe(url, exc.code, exc.headers.get("Content-Type", "") if exc.headers else "")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CrawlError(f"cannot reach {url}: {reason}") from None

    def _try_fetch(self, url: str, depth: int, probe: Probe | None) -> tuple[RawPage | None, str, str]:
        """(page, 'cached' or 'rendered', '') or (None, '', the reason it failed); runs in a worker."""
        try:
            page, how = self._fetch(url, depth, probe)
        except CrawlError as exc:
            return None, "", str(exc)
        return page, how, ""

    def _fetch(self, url: str, depth: int, probe: Probe | None) -> tuple[RawPage, str]:
        cached = self.cache.get(url) if self.cache else None
        if probe is None:
            probe = self._probe(url, cached)
        if probe.status == 304 and cached:
            page: RawPage = replace(from_dict(RawPage, cached["page"]), depth=depth)
            return page, "cached"
        if probe.status >= 400:
            raise CrawlError(f"HTTP {probe.status}")
        if not probe.content_type.startswith(HTML_TYPES):
            raise CrawlError(f"not HTML ({probe.content_type or 'no content type'})")
        if normalize(probe.url) != url and not in_scope(normalize(probe.url), scope_of(url)):
            raise CrawlError(f"redirected off-site to {probe.url}")
        data = self._render(url)
        status = int(data.get("status") or 0)
        if status >= 400:
            raise CrawlError(f"HTTP {status} in the browser")
        if data.get("contentType") and not str(data["contentType"]).startswith(HTML_TYPES):
            raise CrawlError(f"not HTML in the browser ({data['contentType']})")
        page = RawPage(
            url=url,
            title=str(data.get("title") or "").strip(),
            text=str(data.get("text") or ""),
            headings=tuple(data.get("headings") or ()),
            code_blocks=tuple(data.get("codeBlocks") or ()),
            links=tuple(dict.fromkeys(str(x) for x in data.get("links") or ())),
            depth=depth,
        )
        if self.cache:
            self.cache.put(url, probe.etag, probe.last_modified, page)
        return page, "rendered"

    def _render(self, url: str) -> dict[str, Any]:
        from selenium.common.exceptions import WebDriverException

        try:
            driver = self._free.get_nowait()
        except queue.Empty:
            driver = self._start_driver()
        try:
            driver.get(url)
            data = driver.execute_script(self._js)
        except WebDriverException as exc:
            msg = (exc.msg or str(exc)).strip().splitlines()[0] if (exc.msg or str(exc)).strip() else "browser error"
            raise CrawlError(f"browser failed: {msg}") from None
        finally:
            self._free.put(driver)
        if not isinstance(data, dict):
            raise CrawlError("extraction script returned nothing")
        return data

    def start_browsers(self) -> None:
        """Start all ``workers`` browsers now (else they start on first use), e.g. to time them apart."""
        while len(self._drivers) < self.config.workers:
            self._free.put(self._start_driver())

    def _start_driver(self) -> Any:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        if Path(CHROMIUM).exists():
            options.binary_location = CHROMIUM
        for flag in CHROME_FLAGS:
            options.add_argument(flag)
        # Extract once the DOM is parsed (and deferred scripts ran), not after every subresource
        # loaded: the text is there by then, and a docs page's fonts, images and trackers are not.
        options.page_load_strategy = "eager"
        try:
            driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        except WebDriverException as exc:
            raise CrawlError(f"cannot start Chromium via {CHROMEDRIVER}: {(exc.msg or str(exc)).splitlines()[0]}") from None
        driver.set_page_load_timeout(self.config.timeout)
        driver.set_script_timeout(self.config.timeout)
        self._drivers.append(driver)
        return driver


def crawl(start_url: str, config: CrawlConfig | None = None, progress: Progress | None = None) -> CrawlResult:
    """Crawl a site with a fresh :class:`Crawler`."""
    return Crawler(config, progress).crawl(start_url)

