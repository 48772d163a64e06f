"""Chunking: token bounds, whole code blocks, overlap, heading paths and content-hash ids."""

from __future__ import annotations

import pytest

from opsgraft.curation.chunker import Chunker, chunk_id, sections
from opsgraft.types import RawPage


def words(text: str) -> int:
    return len(text.split())


CODE = "```python\n" + "\n".join(f"x_{i} = compute({i})  # step {i}" for i in range(40)) + "\n```"
SHORT_CODE = "```python\nrepo = git.Repo('.')\nrepo.index.add(['a'])\n```"


def page(text: str) -> RawPage:
    return RawPage(url="http://h/docs/p.html", title="Page", text=text)


def test_sections_and_heading_paths() -> None:
    text = "# Guide {#guide}\n\nIntro.\n\n## Install {#install}\n\nRun it.\n\n### Extra\n\nMore.\n\n## Use\n\nUse it."
    secs = sections(page(text))
    assert [s.path for s in secs] == [("Guide",), ("Guide", "Install"), ("Guide", "Install", "Extra"), ("Guide", "Use")]
    chunks = Chunker(words, max_tokens=50, overlap=5).chunk_page(page(text), "tool", "1.0")
    assert [c.url for c in chunks][:2] == ["http://h/docs/p.html#guide", "http://h/docs/p.html#install"]
    assert all(c.component == "tool" and c.version == "1.0" and c.title == "Page" for c in chunks)


def test_token_bound_overlap_and_whole_code_blocks() -> None:
    prose = " ".join(f"Sentence number {i} explains one more detail of the API." for i in range(60))
    text = f"# API\n\n{prose}\n\n{SHORT_CODE}\n\n{prose}\n\n{CODE}\n\nAfter the code."
    chunker = Chunker(words, max_tokens=60, overlap=10)
    chunks = chunker.chunk_page(page(text), "tool", "1.0")
    head = words("API")
    for c in chunks:
        assert c.text.count("```") % 2 == 0, "a code block was split"
        if "```" not in c.text or c.text.count("```") == 0:
            assert words(c.text) + head <= 60
    # the long code block is its own chunk, intact
    assert any(c.text == CODE for c in chunks)
    assert any(SHORT_CODE in c.text for c in chunks)
    # consecutive prose chunks overlap
    prose_chunks = [c.text for c in chunks if "```" not in c.text]
    tail = prose_chunks[0].split()[-3:]
    assert " ".join(tail) in prose_chunks[1]


def test_ids_are_content_hashes() -> None:
    text = "# A\n\nSame text.\n\n# B\n\nSame text."
    chunks = Chunker(words, max_tokens=50, overlap=5).chunk_page(page(text), "t", "1")
    assert len({c.id for c in chunks}) == 2  # same text under other headings is another chunk
    assert chunks[0].id == chunk_id(("A",), "Same text.")
    again = Chunker(words, max_tokens=50, overlap=5).chunk_page(page(text), "t", "1")
    assert [c.id for c in again] == [c.id for c in chunks]
    # the same chunk on two pages is stored once
    other = RawPage(url="http://h/docs/q.html", title="Q", text=text)
    assert len(Chunker(words, 50, 5).chunk_pages([page(text), other], "t", "1")) == 2


def test_overlap_must_be_smaller() -> None:
    with pytest.raises(ValueError):
        Chunker(words, max_tokens=10, overlap=10)


def test_real_tokenizer_bounds() -> None:
    from opsgraft.curation.embed import get_embedder

    emb = get_embedder("local")
    prose = " ".join(f"The tracking client logs metric_{i} for each epoch." for i in range(200))
    chunker = Chunker(emb.count_tokens, max_tokens=224, overlap=32)
    chunks = chunker.chunk_page(page(f"# Tracking\n\n{prose}"), "t", "1")
    assert len(chunks) > 5
    assert all(c.n_tokens <= 224 for c in chunks)
    assert all(emb.count_tokens(f"Tracking\n{c.text}") <= emb.max_tokens for c in chunks)


def test_a_section_opening_with_its_signature_gets_a_synopsis_chunk() -> None:
    signature = "```\ntool.strip(model, *, do_copy=True, strip_format='native', example_input=None)\n```"
    text = (f"# tool\n\n## tool.strip\n\n{signature}\n\nRemoves auxiliary layers. Returns a clean model.\n\n"
            "Second paragraph with details.\n\n## tool.notes\n\nProse first.\n\n" + SHORT_CODE)
    chunks = Chunker(words, max_tokens=200, overlap=10).chunk_page(page(text), "tool", "1.0")
    by_path = {}
    for c in chunks:
        by_path.setdefault(c.heading_path, []).append(c)
    main, synopsis = by_path[("tool", "tool.strip")]
    assert signature in main.text and not main.parent
    # The synopsis is the first paragraph only, and points at the chunk with the signature.
    assert synopsis.text == "Removes auxiliary layers. Returns a clean model."
    assert synopsis.parent == main.id and synopsis.id == chunk_id(("tool", "tool.strip"), synopsis.text)
    # A section that opens with prose (or has no prose after its code) gets none.
    assert all(not c.parent for c in by_path[("tool", "tool.notes")])
    assert all(not c.parent for c in Chunker(words, 200, 10).chunk_page(page(f"# t\n\n{CODE}"), "tool", "1.0"))
