"""The Selenium crawler against a generated site on 127.0.0.1, through real headless Chromium."""

from __future__ import annotations

import socket

import pytest

from opsgraft.curation.crawler import CrawlConfig, Crawler, CrawlResult, in_scope, scope_of
from opsgraft.errors import CrawlError

from .conftest import N_TOPICS, NOISE, topic_code

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def crawled(site_url: str) -> CrawlResult:
    """One crawl of the whole site (depth 2), shared by the assertions below."""
    return Crawler(CrawlConfig(depth=2, max_pages=100, delay=0.0)).crawl(site_url + "docs/index.html")


def _paths(result: CrawlResult) -> set[str]:
    return {p.url.split("/", 3)[3] for p in result.pages}


def test_crawl_visits_the_site_within_scope(chromium: None, crawled: CrawlResult) -> None:
    paths = _paths(crawled)
    assert {f"docs/topic-{i:02d}.html" for i in range(N_TOPICS)} <= paths
    assert "docs/index.html" in paths
    assert len(crawled.pages) >= 31
    # robots.txt, other path prefix and other host are all left alone
    assert not any("private" in p for p in paths)
    assert any("private/secret.html" in u for u in crawled.disallowed)
    assert not any(p.startswith("other/") for p in paths)
    assert all(p.url.startswith("http://127.0.0.1:") for p in crawled.pages)
    # anchors of one page are the same page
    assert len(paths) == len(crawled.pages)


def test_depth_limit(chromium: None, crawled: CrawlResult) -> None:
    paths = _paths(crawled)
    assert "docs/deep-1.html" in paths and "docs/deep-2.html" in paths
    assert "docs/deep-3.html" not in paths
    assert {p.depth for p in crawled.pages} == {0, 1, 2}


def test_failed_pages_are_skipped_not_fatal(chromium: None, crawled: CrawlResult) -> None:
    failed = dict(crawled.failed)
    broken = [u for u in failed if u.endswith("broken.html")]
    blob = [u for u in failed if u.endswith("/blob")]
    assert broken and "404" in failed[broken[0]]
    assert blob and "not HTML" in failed[blob[0]]


def test_main_content_without_noise_and_code_verbatim(chromium: None, crawled: CrawlResult) -> None:
    for page in crawled.pages:
        for word in NOISE:
            assert word not in page.text, (page.url, word)
    by_path = {p.url.split("/", 3)[3]: p for p in crawled.pages}
    page = by_path["docs/topic-07.html"]
    assert page.title == "Topic 7"
    assert page.code_blocks == (topic_code(7),)
    assert f"```python\n{topic_code(7)}\n```" in page.text
    assert "# Topic 7" in page.text and "## Usage of topic 7 {#usage}" in page.text
    assert "- first note on 7" in page.text
    # pages without <main> are extracted from the body, still without noise
    deep = by_path["docs/deep-1.html"]
    assert "Depth 1 page." in deep.text


def test_page_cap(chromium: None, site_url: str) -> None:
    result = Crawler(CrawlConfig(depth=3, max_pages=5, delay=0.0)).crawl(site_url + "docs/index.html")
    assert len(result.pages) == 5


def test_depth_zero_and_rate_limit(chromium: None, site_url: str) -> None:
    result = Crawler(CrawlConfig(depth=0, delay=0.3)).crawl(site_url + "docs/topic-03.html")
    assert [p.url.rsplit("/", 1)[1] for p in result.pages] == ["topic-03.html"]
    result = Crawler(CrawlConfig(depth=1, max_pages=4, delay=0.3)).crawl(site_url + "docs/index.html")
    # four pages, each probed once, at least 0.3 s apart (robots.txt is fetched without a wait)
    assert result.elapsed_s >= 0.9


def test_parallel_browsers_keep_the_order_the_cap_and_the_rate(chromium: None, site_url: str) -> None:
    one = Crawler(CrawlConfig(depth=2, max_pages=12, delay=0.0, workers=1)).crawl(site_url + "docs/index.html")
    crawler = Crawler(CrawlConfig(depth=2, max_pages=12, delay=0.0, workers=3))
    three = crawler.crawl(site_url + "docs/index.html")
    assert [p.url for p in three.pages] == [p.url for p in one.pages] and len(one.pages) == 12
    assert [p.depth for p in three.pages] == [p.depth for p in one.pages]
    assert crawler._drivers == []  # every browser was quit
    # The delay holds across workers: 4 probes, at least 0.3 s apart.
    slow = Crawler(CrawlConfig(depth=1, max_pages=4, delay=0.3, workers=3)).crawl(site_url + "docs/index.html")
    assert len(slow.pages) == 4 and slow.elapsed_s >= 0.9


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_bad_start_pages(site_url: str) -> None:
    with pytest.raises(CrawlError, match="cannot reach"):
        Crawler().crawl(f"http://127.0.0.1:{_free_port()}/docs/")
    with pytest.raises(CrawlError, match="HTTP 404"):
        Crawler().crawl(site_url + "docs/missing.html")
    with pytest.raises(CrawlError, match="not HTML"):
        Crawler().crawl(site_url + "docs/data.json")
    with pytest.raises(CrawlError, match="not an http"):
        Crawler().crawl("file:///etc/passwd")


def test_scope() -> None:
    scope = scope_of("http://h/docs/index.html")
    assert in_scope("http://h/docs/a/b.html", scope)
    assert not in_scope("http://h/other.html", scope)
    assert not in_scope("http://x/docs/a.html", scope)
    assert not in_scope("http://h/docs/img.png", scope)
