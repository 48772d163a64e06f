"""A polite same-site crawler: urllib checks each page, headless Chromium renders and extracts it.

Given the pages of an earlier crawl with the validators their server sent (ETag, Last-Modified),
it asks with a conditional request first and reuses a page the server answers 304 Not Modified
for, links included: only new and changed pages are rendered, and no browser starts if none is.

Rendering has two ways. A page load (``driver.get``) runs the page's scripts and stylesheets;
on this 2-core VM it costs about 90 ms of Chromium's navigation per local page. Parsing hands
the HTML that urllib already read to Chromium's DOMParser and extracts from that, with no
navigation (about 30 ms). With ``render="auto"`` the first page a crawl renders is read both
ways: only if both readings agree (text, headings, code, links) are the site's other pages
parsed, and a parsed page with no text is loaded after all. A site whose scripts build or
change its content is therefore loaded page by page, as with ``render="always"``.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
import urllib.error
import urllib.request
import urllib.robotparser
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urlsplit

from opsgraft.errors import CrawlError
from opsgraft.types import RawPage, StageProgress

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
# A conditional request answered 304 costs the server a stat and a few header bytes, where a page
# load costs the body twice (probe and render) plus every subresource Chromium fetches in the same
# turn. So revalidations start at most every delay * REVALIDATE_SHARE seconds, across workers:
# per unit of server work that is no faster than a first crawl. A robots.txt Crawl-delay is the
# site's own word and spaces every request, revalidations included.
REVALIDATE_SHARE = 0.1
# The most of a page's HTML kept for parsing; a longer page is loaded in the browser instead.
MAX_HTML_BYTES = 1 << 20
RENDER_MODES = ("auto", "always")


@dataclass(frozen=True)
class CrawlConfig:
    """How far and how fast to crawl."""

    depth: int = 2
    max_pages: int = 200
    delay: float = 0.05
    timeout: float = 15.0
    respect_robots: bool = True
    # Browsers rendering at once; requests still start at most once per ``delay``. One by default:
    # on 2 cores a second browser measured 0.97x (idle) to 1.02x (loaded), see bench/curation.py.
    workers: int = 1
    # "auto": parse pages in Chromium without loading them where the site's first rendered page
    # reads the same both ways (see the module docstring); "always": load every page.
    render: str = "auto"


@dataclass(frozen=True)
class Validators:
    """What a server said identifies one version of a page: send them back to ask "changed since?"."""

    etag: str | None = None
    last_modified: str | None = None

    def __bool__(self) -> bool:
        return bool(self.etag or self.last_modified)

    def headers(self) -> dict[str, str]:
        """The conditional request headers."""
        out = {}
        if self.etag:
            out["If-None-Match"] = self.etag
        if self.last_modified:
            out["If-Modified-Since"] = self.last_modified
        return out


@dataclass(frozen=True)
class KnownPage:
    """A page from an earlier crawl and the validators its server sent then."""

    page: RawPage
    validators: Validators


@dataclass
class CrawlResult:
    """The pages a crawl kept, the ones it could not fetch, and how long it took.

    ``validators`` has each kept page that its server gave validators for; pages
    ``unchanged`` since the ``known`` copy were reused without rendering.
    """

    pages: list[RawPage] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    disallowed: list[str] = field(default_factory=list)
    rendered: int = 0
    parsed: int = 0  # of the rendered pages, those read from their HTML without a page load
    unchanged: int = 0
    validators: dict[str, Validators] = field(default_factory=dict)
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


@dataclass(frozen=True)
class Probe:
    """What a plain HTTP request said about a URL before Chromium renders it."""

    url: str
    status: int
    content_type: str
    validators: Validators = Validators()
    conditional: bool = False  # sent with a known page's validators
    html: str | None = None  # the body of an HTML answer up to MAX_HTML_BYTES, decoded


def decode_html(body: bytes, charset: str | None) -> str:
    """An HTML body as text: the header's charset, else a BOM or <meta charset>, else UTF-8."""
    if not charset:
        if body.startswith(b"\xef\xbb\xbf"):
            charset = "utf-8-sig"
        else:
            m = re.search(rb"""<meta[^>]*charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", body[:2048], re.IGNORECASE)
            charset = m.group(1).decode("ascii") if m else "utf-8"
    try:
        return body.decode(charset, "replace")
    except LookupError:
        return body.decode("utf-8", "replace")


def same_reading(loaded: Mapping[str, Any], parsed: Mapping[str, Any]) -> bool:
    """True if a page's parsed reading extracts what its page load did."""
    return (all(loaded.get(k) == parsed.get(k) for k in ("title", "text", "headings", "codeBlocks"))
            and set(loaded.get("links") or ()) == set(parsed.get("links") or ()))


def trusted_validators(headers: Any) -> Validators:
    """The validators of a response that can tell a later change apart.

    Last-Modified has one-second resolution: a file changed again within the second it was
    served keeps the same value (RFC 9110 8.8.2.2), so a Last-Modified that is not at least a
    second older than the response's Date is dropped, and that page is rendered next time.
    """
    if headers is None:
        return Validators()
    etag = headers.get("ETag") or None
    last_modified = headers.get("Last-Modified") or None
    if last_modified:
        try:
            modified = parsedate_to_datetime(last_modified)
            date = parsedate_to_datetime(headers["Date"]) if headers.get("Date") else datetime.now(UTC)
            if modified.tzinfo is None or date.tzinfo is None or date - modified < timedelta(seconds=1):
                last_modified = None
        except (TypeError, ValueError, IndexError):
            last_modified = None
    return Validators(etag, last_modified)


class Crawler:
    """Breadth-first crawl of one site, level by level, with ``workers`` reused headless Chromiums."""

    def __init__(self, config: CrawlConfig | None = None, progress: StageProgress | None = None) -> None:
        self.config = config or CrawlConfig()
        if self.config.workers < 1:
            raise CrawlError("workers must be at least 1")
        if self.config.render not in RENDER_MODES:
            raise CrawlError(f"render must be one of {', '.join(RENDER_MODES)}, not {self.config.render!r}")
        self.progress = progress
        self._drivers: list[Any] = []  # every browser started
        self._free: queue.Queue[Any] = queue.Queue()  # those not rendering right now
        self._js = _load_js()
        self._last_request = 0.0
        self._turn = threading.Lock()
        self._site_delay = 0.0  # robots.txt's Crawl-delay
        self._known: Mapping[str, KnownPage] = {}
        # Whether this crawl's site reads the same parsed as loaded: None until a page told.
        self._parse_ok: bool | None = None
        self._calibrating = threading.Lock()
        self.browsers_started = 0  # over this crawler's life: 0 if every page was reused

    # -- public ---------------------------------------------------------------------------------
    def crawl(self, start_url: str, known: Mapping[str, KnownPage] | None = None) -> CrawlResult:
        """Crawl from ``start_url``; raises CrawlError only if the start page itself is unusable.

        ``known`` maps URLs to pages of an earlier crawl: each is asked for conditionally and
        reused, not rendered, if its server says it has not changed.
        """
        started = time.perf_counter()
        result = CrawlResult()
        start = normalize(start_url)
        if urlsplit(start).scheme not in ("http", "https"):
            raise CrawlError(f"not an http(s) URL: {start_url}")
        self._known = {u: k for u, k in (known or {}).items() if k.validators}
        self._parse_ok = None if self.config.render == "auto" else False
        robots = self._robots(start)
        scope = scope_of(start)
        first = self._revalidate(start, self._known.get(start))
        if first.status == 304 and start in self._known:  # unchanged since the known copy
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
                    for url, (page, how, validators, error) in zip(batch, fetched, strict=True):
                        if error:
                            log.warning("skipping %s: %s", url, error)
                            result.failed.append((url, error))
                            continue
                        if page is None:
                            continue
                        result.unchanged += how == "unchanged"
                        result.rendered += how in ("rendered", "parsed")
                        result.parsed += how == "parsed"
                        result.pages.append(page)
                        if validators:
                            result.validators[page.url] = validators
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
            self._known = {}
        result.elapsed_s = time.perf_counter() - started
        log.info(
            "crawled %d pages (%d rendered, %d of them parsed without a page load; %d unchanged) in %.1fs; "
            "%d failed, %d disallowed",
            len(result.pages), result.rendered, result.parsed, result.unchanged, result.elapsed_s,
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
    def _wait_turn(self, interval: float) -> None:
        # A minimum interval between request starts, across workers: polite without idling after slow pages.
        with self._turn:
            wait = self._last_request + interval - time.monotonic()
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
        if delay:
            self._site_delay = float(delay)
        if delay and float(delay) > self.config.delay:
            self.config = replace(self.config, delay=float(delay))
        return parser

    def _probe(self, url: str, known: KnownPage | None) -> Probe:
        """GET ``url`` with urllib; conditionally (and at the revalidation rate) if ``known``."""
        headers = {"User-Agent": USER_AGENT}
        if known:
            headers.update(known.validators.headers())
            self._wait_turn(max(self._site_delay, self.config.delay * REVALIDATE_SHARE))
        else:
            self._wait_turn(self.config.delay)
        req = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.config.timeout) as resp:
                content_type = resp.headers.get("Content-Type", "")
                html = None
                if content_type.startswith(HTML_TYPES):
                    body = resp.read(MAX_HTML_BYTES + 1)
                    if len(body) <= MAX_HTML_BYTES:
                        html = decode_html(body, resp.headers.get_content_charset())
                return Probe(resp.geturl(), resp.status, content_type,
                             trusted_validators(resp.headers), known is not None, html)
        except urllib.error.HTTPError as exc:  # urllib raises for 304 Not Modified too
            return Probe(exc.geturl() or url, exc.code, exc.headers.get("Content-Type", "") if exc.headers else "",
                         trusted_validators(exc.headers) if exc.code == 304 else Validators(), known is not None)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CrawlError(f"cannot reach {url}: {reason}") from None

    def _revalidate(self, url: str, known: KnownPage | None) -> Probe:
        """A conditional probe of a known page, else a plain one.

        Anything but a 2xx or a 304 for this very URL (an error, a 304 after a redirect) falls
        back to a plain probe, so the page is handled as a new one and rendered if it can be.
        """
        if known is not None:
            try:
                probe = self._probe(url, known)
            except CrawlError as exc:
                log.debug("conditional request for %s failed (%s); trying a plain one", url, exc)
            else:
                if probe.status < 300 or (probe.status == 304 and normalize(probe.url) == url):
                    return probe
                log.debug("conditional request for %s answered HTTP %d; trying a plain one", url, probe.status)
        return self._probe(url, None)

    def _try_fetch(self, url: str, depth: int,
                   probe: Probe | None) -> tuple[RawPage | None, str, Validators, str]:
        """(page, 'unchanged', 'rendered' or 'parsed', validators, '') or (None, '', _, why it failed)."""
        try:
            page, how, validators = self._fetch(url, depth, probe)
        except CrawlError as exc:
            return None, "", Validators(), str(exc)
        return page, how, validators, ""

    def _fetch(self, url: str, depth: int, probe: Probe | None) -> tuple[RawPage, str, Validators]:
        known = self._known.get(url)
        if probe is None:
            probe = self._revalidate(url, known)
        if probe.status == 304 and known:
            # A 304 may carry updated validators; those it leaves out stay as they were.
            validators = Validators(probe.validators.etag or known.validators.etag,
                                    probe.validators.last_modified or known.validators.last_modified)
            return replace(known.page, url=url, depth=depth), "unchanged", validators
        if probe.status >= 400:
            raise CrawlError(f"HTTP {probe.status}")
        if not probe.content_type.startswith(HTML_TYPES):
            raise CrawlError(f"not HTML ({probe.content_type or 'no content type'})")
        if normalize(probe.url) != url and not in_scope(normalize(probe.url), scope_of(url)):
            raise CrawlError(f"redirected off-site to {probe.url}")
        data, how = self._read(url, probe)
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
        # Validators from before the render: were the page to change in between, the next crawl
        # sees it as changed and renders it again, never the other way round.
        return page, how, probe.validators

    def _read(self, url: str, probe: Probe) -> tuple[dict[str, Any], str]:
        """The extraction of a new or changed page, and 'parsed' or 'rendered' (loaded)."""
        if probe.html is not None and self._parse_ok is not False:
            if self._parse_ok is None:
                with self._calibrating:  # one page decides; the other workers wait for it
                    if self._parse_ok is None:
                        loaded = self._load(url, probe)
                        self._parse_ok = same_reading(loaded, self._parse(probe.html, probe.url))
                        log.info("%s reads the same parsed as loaded: %s; %s", url, self._parse_ok,
                                 "parsing the site's pages" if self._parse_ok else "loading every page")
                        return loaded, "rendered"
            if self._parse_ok:
                parsed = self._parse(probe.html, probe.url)
                if str(parsed.get("text") or "").strip():
                    return parsed, "parsed"
                log.debug("%s has no text without its scripts; loading it", url)
        return self._load(url, probe), "rendered"

    def _load(self, url: str, probe: Probe) -> dict[str, Any]:
        if probe.conditional:  # a changed page: its load fetches it again and waits a whole turn
            self._wait_turn(self.config.delay)
        def load(driver: Any) -> Any:
            driver.get(url)
            return driver.execute_script(self._js)

        return self._in_browser(load)

    def _parse(self, html: str, url: str) -> dict[str, Any]:
        return self._in_browser(lambda driver: driver.execute_script(self._js, html, url))

    def _in_browser(self, work: Callable[[Any], Any]) -> dict[str, Any]:
        from selenium.common.exceptions import WebDriverException

        try:
            driver = self._free.get_nowait()
        except queue.Empty:
            driver = self._start_driver()
        try:
            data = work(driver)
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
        self.browsers_started += 1
        return driver


def crawl(start_url: str, config: CrawlConfig | None = None, progress: StageProgress | None = None,
          known: Mapping[str, KnownPage] | None = None) -> CrawlResult:
    """Crawl a site with a fresh :class:`Crawler`."""
    return Crawler(config, progress).crawl(start_url, known)

