"""Re-curation: pages the server says are unchanged (304) are reused, not rendered, chunks too."""

from __future__ import annotations

import http.server
import os
import time
from contextlib import AbstractContextManager
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from opsgraft.curation.crawler import CrawlConfig, Crawler, KnownPage, trusted_validators
from opsgraft.curation.embed import get_embedder
from opsgraft.curation.pipeline import CurateReport, curate_url
from opsgraft.curation.serve import serve_dir
from opsgraft.curation.store import Stores

N_PAGES = 5
OLD = time.time() - 3600  # Last-Modified is trusted only when a second or more older than the response


def write_site(root: Path, robots: str = "User-agent: *\nDisallow: /docs/private/\n") -> Path:
    """An index linking N_PAGES pages, each with sections and a link on; every file an hour old."""
    docs = root / "docs"
    (docs / "private").mkdir(parents=True)
    (root / "robots.txt").write_text(robots)
    links = "".join(f'<li><a href="page-{i}.html">Page {i}</a></li>' for i in range(N_PAGES))
    pages = {"index.html": ("Index", f"<h1>Index</h1><p>All pages.</p><ul>{links}</ul>"
                                     '<p><a href="private/secret.html">secret</a></p>')}
    for i in range(N_PAGES):
        pages[f"page-{i}.html"] = (f"Page {i}", _body(i, f"Page {i} explains logging metric number {i}."))
    pages["private/secret.html"] = ("Secret", "<h1>Secret</h1><p>robots.txt says no.</p>")
    for name, (title, body) in pages.items():
        (docs / name).write_text(_html(title, body))
    for path in root.rglob("*"):
        os.utime(path, (OLD, OLD))
    return docs


def _body(i: int, prose: str) -> str:
    return (f"<h1>Page {i}</h1><p>{prose}</p><h2>Usage</h2><p>Call step {i} once per epoch.</p>"
            f"<pre><code>def step_{i}(x):\n    return x</code></pre>"
            f'<p><a href="page-{(i + 1) % N_PAGES}.html">next</a> <a href="/docs/index.html#top">home</a></p>')


def _html(title: str, body: str) -> str:
    return f"<!doctype html><html><head><title>{title}</title></head><body><main>{body}</main></body></html>"


class _NoValidators(http.server.SimpleHTTPRequestHandler):
    """A static server that sends neither ETag nor Last-Modified, so nothing can be asked conditionally."""

    def send_header(self, keyword: str, value: str) -> None:
        if keyword.lower() not in ("etag", "last-modified"):
            super().send_header(keyword, value)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base
        pass


def serve_without_validators(root: Path) -> AbstractContextManager[str]:
    return serve_dir(root, _NoValidators)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    write_site(root)
    return root


def _curate(base: str, stores: Stores) -> CurateReport:
    return curate_url(base + "docs/index.html", "site", "1.0", depth=2, max_pages=50, delay=0.0,
                      summarize="none", stores=stores)


def _documents(stores: Stores) -> dict[str, str]:
    col = stores.collection(stores.find("site@1.0"), get_embedder("local"))
    got = col.get(include=["documents"])
    return dict(zip(got["ids"], got["documents"], strict=True))


def _known(result: Any) -> dict[str, KnownPage]:
    return {p.url: KnownPage(p, result.validators[p.url]) for p in result.pages if p.url in result.validators}


@pytest.mark.browser
def test_unchanged_site_is_reused_without_a_browser(chromium: None, site: Path, tmp_path: Path) -> None:
    config = CrawlConfig(depth=2, max_pages=50, delay=0.0)
    with serve_dir(site) as base:
        first = Crawler(config).crawl(base + "docs/index.html")
        again_crawler = Crawler(config)
        again = again_crawler.crawl(base + "docs/index.html", _known(first))
        stores = Stores(tmp_path / "stores")
        one, two = _curate(base, stores), _curate(base, stores)
    assert first.rendered == N_PAGES + 1 and first.unchanged == 0
    assert len(first.validators) == N_PAGES + 1
    assert again.rendered == 0 and again.unchanged == N_PAGES + 1
    assert again_crawler.browsers_started == 0
    # The same pages, in the same BFS order, at the same depths, with the same links and text;
    # robots.txt still keeps the private page out.
    assert again.pages == first.pages
    assert [p.depth for p in again.pages] == [0] + [1] * N_PAGES
    assert again.disallowed == first.disallowed and any("private" in u for u in again.disallowed)
    # Through the pipeline: the second curation renders, chunks and embeds nothing.
    assert (one.rendered, one.unchanged, one.rechunked) == (N_PAGES + 1, 0, N_PAGES + 1)
    assert (two.rendered, two.unchanged, two.rechunked) == (0, N_PAGES + 1, 0)
    assert two.pages == one.pages and two.chunks == one.chunks
    assert two.write is not None and two.write.unchanged and two.write.embedded == 0


@pytest.mark.browser
def test_a_changed_page_alone_is_rendered_again(chromium: None, site: Path, tmp_path: Path) -> None:
    stores = Stores(tmp_path / "stores")
    with serve_dir(site) as base:
        first = _curate(base, stores)
        before = _documents(stores)
        page = site / "docs" / "page-2.html"
        page.write_text(_html("Page 2", _body(2, "Page 2 now covers ZEBRAFISH quantization instead.")))
        os.utime(page, (OLD + 1800, OLD + 1800))  # changed half an hour after the rest
        again = _curate(base, stores)
        third = _curate(base, stores)  # the changed page's new validators were kept
    assert (again.rendered, again.unchanged, again.rechunked) == (1, N_PAGES, 1)
    assert again.pages == first.pages
    after = _documents(stores)
    assert any("ZEBRAFISH" in d for d in after.values())
    assert not any("logging metric number 2." in d for d in after.values())
    assert again.write is not None and again.write.embedded >= 1 and again.write.removed >= 1
    # Every chunk of the other pages is the one stored before.
    assert len(set(before) & set(after)) == len(after) - again.write.embedded
    assert (third.rendered, third.unchanged) == (0, N_PAGES + 1)


@pytest.mark.browser
def test_pages_without_validators_are_always_rendered(chromium: None, site: Path, tmp_path: Path) -> None:
    stores = Stores(tmp_path / "stores")
    with serve_without_validators(site) as base:
        first = _curate(base, stores)
        again = _curate(base, stores)
        # Changed with the same mtime: with no validators, only rendering can tell.
        page = site / "docs" / "page-3.html"
        page.write_text(_html("Page 3", _body(3, "Page 3 is now about OCELOT checkpoints.")))
        os.utime(page, (OLD, OLD))
        third = _curate(base, stores)
    assert first.rendered == again.rendered == third.rendered == N_PAGES + 1
    assert first.unchanged == again.unchanged == third.unchanged == 0
    # Rendered, but chunked again only where the text changed.
    assert (first.rechunked, again.rechunked, third.rechunked) == (N_PAGES + 1, 0, 1)
    assert any("OCELOT" in d for d in _documents(stores).values())


@pytest.mark.browser
def test_revalidations_keep_the_sites_crawl_delay(chromium: None, tmp_path: Path) -> None:
    root = tmp_path / "site"
    write_site(root, robots="User-agent: *\nCrawl-delay: 1\n")  # robotparser reads whole seconds only
    config = CrawlConfig(depth=1, max_pages=3, delay=0.0)
    with serve_dir(root) as base:
        first = Crawler(config).crawl(base + "docs/index.html")
        again = Crawler(config).crawl(base + "docs/index.html", _known(first))
    assert again.unchanged == 3 and again.rendered == 0
    assert again.elapsed_s >= 1.9  # three conditional requests, at least a second apart


def test_last_modified_within_the_response_second_is_not_trusted() -> None:
    def headers(**kv: str) -> Message:
        msg = Message()
        for k, v in kv.items():
            msg[k.replace("_", "-")] = v
        return msg

    lm = "Mon, 23 Nov 2026 10:00:00 GMT"
    assert trusted_validators(headers(Last_Modified=lm, Date="Mon, 23 Nov 2026 10:00:05 GMT")).last_modified == lm
    # Changed again later in that same second, the file would still say 10:00:00.
    assert not trusted_validators(headers(Last_Modified=lm, Date="Mon, 23 Nov 2026 10:00:00 GMT"))
    assert not trusted_validators(headers(Last_Modified="not a date", Date="Mon, 23 Nov 2026 10:00:05 GMT"))
    assert trusted_validators(headers(ETag='"abc"', Last_Modified=lm, Date=lm)).etag == '"abc"'
    assert not trusted_validators(headers(Content_Type="text/html"))
