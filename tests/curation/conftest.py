"""Fixtures: a generated docs site with nav noise and code blocks, served on 127.0.0.1."""

from __future__ import annotations

import html
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from opsgraft.curation.serve import serve_dir

NOISE = ("NAVNOISE", "HEADERNOISE", "SIDEBARNOISE", "FOOTERNOISE", "BREADCRUMBNOISE", "ROLENAVNOISE")
N_TOPICS = 30


def topic_code(i: int) -> str:
    """A code block with indentation, blank lines and HTML special characters, unique per page."""
    return (
        f"def step_{i}(model, batch):\n"
        f"    if batch.size < {i} and model.ok > 0:\n"
        f"        return model.fit(batch)  # <not a tag> & more\n"
        "\n"
        "    for epoch in range(3):\n"
        f"        print(f\"epoch {{epoch}}: loss={{model.loss:.4f}}\")"
    )


def _page(title: str, body: str, use_main: bool = True) -> str:
    # Noise inside the main column too, and pages without <main>, so extraction cannot rely on <main>.
    body = f'<nav class="toc">NAVNOISE on this page</nav>{body}<aside>SIDEBARNOISE see also</aside>'
    main = f"<main>{body}</main>" if use_main else f'<div class="body">{body}</div>'
    return f"""<!doctype html><html><head><title>{html.escape(title)}</title></head><body>
<header><a href="/docs/index.html">HEADERNOISE Home</a></header>
<nav><a href="/docs/index.html">NAVNOISE index</a> <a href="/docs/topic-00.html">NAVNOISE first</a>
<a href="https://example.com/offsite.html">off-site</a></nav>
<div role="navigation">ROLENAVNOISE <a href="/other/outside.html">outside prefix</a></div>
<div class="breadcrumb">BREADCRUMBNOISE</div>
<div class="layout"><aside class="sidebar">SIDEBARNOISE <a href="/docs/private/secret.html">secret</a></aside>
{main}</div>
<footer>FOOTERNOISE Copyright 2024</footer></body></html>"""


def build_site(root: Path) -> Path:
    """Write the test site under ``root``; returns the docs folder."""
    docs = root / "docs"
    (docs / "private").mkdir(parents=True)
    (root / "other").mkdir()
    (root / "robots.txt").write_text("User-agent: *\nDisallow: /docs/private/\n")
    links = "".join(f'<li><a href="topic-{i:02d}.html">Topic {i}</a></li>' for i in range(N_TOPICS))
    index = (f"<h1>Test docs</h1><p>Welcome to the test documentation.</p><ul>{links}</ul>"
             '<p><a href="broken.html">a broken link</a> <a href="blob">a binary file</a> '
             '<a href="deep-1.html">deep chain</a> <a href="topic-01.html#usage">same page anchor</a></p>')
    (docs / "index.html").write_text(_page("Test docs", index))
    for i in range(N_TOPICS):
        body = (f'<h1>Topic {i}</h1><p>Topic {i} explains how to train model number {i} with the '
                f'<code>step_{i}</code> helper. ' + "It has a long explanation. " * 20 + "</p>"
                f'<h2 id="usage">Usage of topic {i}</h2><p>Call the helper once per batch.</p>'
                f'<pre><code class="language-python">{html.escape(topic_code(i))}</code></pre>'
                f'<h2>Notes</h2><ul><li>first note on {i}</li><li>second note</li></ul>'
                f'<p><a href="topic-{(i + 1) % N_TOPICS:02d}.html">next topic</a></p>')
        (docs / f"topic-{i:02d}.html").write_text(_page(f"Topic {i}", body))
    for d in range(1, 5):
        body = f'<h1>Deep {d}</h1><p>Depth {d} page.</p><p><a href="deep-{d + 1}.html">deeper</a></p>'
        (docs / f"deep-{d}.html").write_text(_page(f"Deep {d}", body, use_main=False))
    (docs / "private" / "secret.html").write_text(_page("Secret", "<h1>Secret</h1><p>robots says no</p>"))
    (root / "other" / "outside.html").write_text(_page("Outside", "<h1>Outside</h1>"))
    (docs / "blob").write_bytes(b"\x00\x01binary")
    (docs / "data.json").write_text('{"a": 1}')
    return docs


@pytest.fixture(scope="session")
def site_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated site's folder."""
    root = tmp_path_factory.mktemp("site")
    build_site(root)
    return root


@pytest.fixture(scope="session")
def site_url(site_root: Path) -> Iterator[str]:
    """Base URL of the test site on 127.0.0.1."""
    with serve_dir(site_root) as base:
        yield base


@pytest.fixture
def chromium() -> None:
    """Skip cleanly where Chromium is missing (it is installed at /usr/bin here)."""
    if not (shutil.which("chromium") or Path("/usr/bin/chromium").exists()) or not Path("/usr/bin/chromedriver").exists():
        pytest.skip("chromium/chromedriver not installed")
