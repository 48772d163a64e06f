"""The Selenium crawler against a generated site on 127.0.0.1, through real headless Chromium."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from opsgraft.curation.crawler import CrawlConfig, Crawler, CrawlResult, decode_html, in_scope, scope_of
from opsgraft.curation.serve import serve_dir
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


# -- parsing pages without a page load ---------------------------------------------------------

def _doc(title: str, body: str, head: str = "") -> str:
    return (f"<!doctype html><html><head><title>{title}</title>{head}</head><body><nav>NAVNOISE</nav>"
            f"<main>{body}</main></body></html>")


@pytest.fixture(scope="module")
def render_sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Three small sites: static with one script-built page, script-built, and CSS-hidden text."""
    root = tmp_path_factory.mktemp("render")
    hidden = '<p style="display:none">INLINEHIDDEN</p><p hidden>ATTRHIDDEN</p>'
    mixed = root / "mixed"
    (mixed / "sub").mkdir(parents=True)
    (mixed / "index.html").write_text(_doc("Mixed", f"<h1>Mixed</h1><p>static index</p>{hidden}"
                                           '<a href="a.html">a</a> <a href="app.html">app</a> '
                                           '<a href="latin.html">latin</a>'))
    (mixed / "a.html").write_text(_doc("A", f"<h1>A</h1><p>static page a</p>{hidden}<a href='x.html'>x</a>",
                                       head='<base href="sub/">'))
    (mixed / "sub" / "x.html").write_text(_doc("X", "<p>x</p>"))
    app = "document.getElementById('app').innerHTML = '<h1>App</h1><p>APPTEXT built by a script</p>';"
    (mixed / "app.html").write_text(_doc("App", f"<div id='app'></div><script>{app}</script>"))
    (mixed / "latin.html").write_bytes(_doc("Latin", "<p>caf\u00e9 cr\u00e8me</p>",
                                            head='<meta charset="iso-8859-1">').encode("latin-1"))
    scripted = root / "scripted"
    scripted.mkdir()
    more = ("const p = document.createElement('p'); p.innerHTML = 'SCRIPTBUILT <a href=\"b.html\">b</a>';"
            "document.querySelector('main').appendChild(p);")
    (scripted / "index.html").write_text(_doc("Scripted", f"<h1>Scripted</h1><p>static part</p><script>{more}</script>"))
    (scripted / "b.html").write_text(_doc("B", "<h1>B</h1><p>page b</p>"))
    styled = root / "styled"
    styled.mkdir()
    css = "<style>.hide { display: none }</style>"
    (styled / "index.html").write_text(_doc("Styled", '<p class="hide">CSSHIDDEN</p><p>shown</p><a href="two.html">2</a>',
                                            head=css))
    (styled / "two.html").write_text(_doc("Two", '<p class="hide">CSSHIDDEN</p><p>shown too</p>', head=css))
    with serve_dir(root) as base:
        yield base


def test_parsed_pages_read_the_same_as_loaded_ones(chromium: None, site_url: str, crawled: CrawlResult) -> None:
    # The start page is loaded and found to read the same parsed; every other page is parsed.
    assert crawled.parsed == crawled.rendered - 1 and crawled.parsed >= 30
    loaded = Crawler(CrawlConfig(depth=2, max_pages=100, delay=0.0, render="always")).crawl(site_url + "docs/index.html")
    assert loaded.parsed == 0 and loaded.rendered == len(loaded.pages)
    assert loaded.pages == crawled.pages  # url, title, text, headings, code blocks, links, depth


def test_a_page_with_no_text_without_its_scripts_is_loaded(chromium: None, render_sites: str) -> None:
    result = Crawler(CrawlConfig(depth=1, delay=0.0)).crawl(render_sites + "mixed/index.html")
    by_name = {p.url.rsplit("/", 1)[1]: p for p in result.pages}
    assert set(by_name) == {"index.html", "a.html", "app.html", "latin.html"}
    assert "APPTEXT built by a script" in by_name["app.html"].text  # parsed it was empty: loaded
    assert result.parsed == 2  # a.html and latin.html
    for page in result.pages:
        assert "INLINEHIDDEN" not in page.text and "ATTRHIDDEN" not in page.text and "NAVNOISE" not in page.text
    assert render_sites + "mixed/sub/x.html" in by_name["a.html"].links  # the page's <base> holds
    assert "caf\u00e9 cr\u00e8me" in by_name["latin.html"].text  # its <meta charset>


@pytest.mark.parametrize(("site", "absent", "present"), [
    ("scripted", None, "SCRIPTBUILT"),  # scripts add text and a link
    ("styled", "CSSHIDDEN", "shown"),  # a stylesheet hides text
])
def test_a_site_that_reads_otherwise_parsed_is_loaded_page_by_page(
        chromium: None, render_sites: str, site: str, absent: str | None, present: str) -> None:
    result = Crawler(CrawlConfig(depth=1, delay=0.0)).crawl(render_sites + f"{site}/index.html")
    assert len(result.pages) == 2 and result.parsed == 0 and result.rendered == 2
    assert present in result.pages[0].text
    assert all(absent not in p.text for p in result.pages if absent)


def test_decode_html_and_render_modes() -> None:
    assert decode_html("é".encode("latin-1"), "iso-8859-1") == "é"
    assert decode_html(b'<meta charset="windows-1252"><p>\x93q\x94', None).endswith("\u201cq\u201d")
    assert decode_html(b"\xef\xbb\xbf<p>x", None) == "<p>x"
    assert decode_html(b"<p>\xc3\xa9", None) == "<p>é"  # UTF-8 by default
    assert decode_html(b"<p>\xc3\xa9", "no-such-charset") == "<p>é"
    with pytest.raises(CrawlError, match="render must be one of auto, always"):
        Crawler(CrawlConfig(render="sometimes"))
