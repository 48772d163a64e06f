"""Token-aware chunking of crawled pages: sections by heading, code blocks never split."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from opsgraft.types import Chunk, RawPage

TokenCounter = Callable[[str], int]

# MiniLM reads 256 word pieces; the heading path and the [CLS]/[SEP] pieces share that window.
DEFAULT_MAX_TOKENS = 224
DEFAULT_OVERLAP = 32
# A section that opens with a code block (an API's signature) and goes on in prose gets a synopsis
# chunk of its first paragraph, at most this long: the signature would otherwise dominate the
# embedding ("nncf.strip(model, *, do_copy, strip_format, ...)" hides "Removes auxiliary layers").
SYNOPSIS_MAX_TOKENS = 96
_FENCE = re.compile(r"^```[^\n]*\n.*?\n```[ \t]*$", re.S | re.M)
_HEADING = re.compile(r"^(#{1,6}) (.+?)(?: \{#([^}\s]+)\})?$")
_SENTENCE = re.compile(r"(?<=[.!?:;])\s+")


@dataclass
class _Block:
    text: str
    code: bool


@dataclass
class _Section:
    path: tuple[str, ...]
    anchor: str
    blocks: list[_Block]


def chunk_id(heading_path: Iterable[str], text: str) -> str:
    """The content hash that identifies a chunk in every store."""
    h = hashlib.sha256()
    h.update("\x1f".join(heading_path).encode())
    h.update(b"\x1e")
    h.update(text.encode())
    return h.hexdigest()[:32]


def embed_text(chunk: Chunk) -> str:
    """What gets embedded: the heading path gives a short chunk its context."""
    head = " > ".join(chunk.heading_path) or chunk.title
    return f"{head}\n{chunk.text}" if head else chunk.text


def split_blocks(text: str) -> list[_Block | tuple[int, str, str]]:
    """Blocks of page text: fenced code kept whole, headings as (level, text, anchor)."""
    out: list[_Block | tuple[int, str, str]] = []
    pos = 0
    for m in _FENCE.finditer(text):
        out.extend(_prose(text[pos : m.start()]))
        out.append(_Block(m.group(0), code=True))
        pos = m.end()
    out.extend(_prose(text[pos:]))
    return out


def _prose(text: str) -> list[_Block | tuple[int, str, str]]:
    out: list[_Block | tuple[int, str, str]] = []
    for para in re.split(r"\n\s*\n", text):
        para = para.strip()
        if not para:
            continue
        hm = _HEADING.match(para) if "\n" not in para else None
        if hm:
            out.append((len(hm.group(1)), hm.group(2).strip(), hm.group(3) or ""))
        else:
            out.append(_Block(para, code=False))
    return out


def sections(page: RawPage) -> list[_Section]:
    """The page cut at its headings, each section with its heading path."""
    stack: list[tuple[int, str, str]] = []
    current = _Section((), "", [])
    out = [current]
    for item in split_blocks(page.text):
        if isinstance(item, tuple):
            level = item[0]
            stack = [h for h in stack if h[0] < level] + [item]
            current = _Section(tuple(h[1] for h in stack), item[2], [])
            out.append(current)
        else:
            current.blocks.append(item)
    return [s for s in out if s.blocks]


class Chunker:
    """Packs each section's blocks into chunks of at most ``max_tokens`` model tokens."""

    def __init__(self, count_tokens: TokenCounter, max_tokens: int = DEFAULT_MAX_TOKENS,
                 overlap: int = DEFAULT_OVERLAP) -> None:
        if overlap >= max_tokens:
            raise ValueError("overlap must be smaller than max_tokens")
        self.count = count_tokens
        self.max_tokens = max_tokens
        self.overlap = overlap

    def chunk_pages(self, pages: Iterable[RawPage], component: str, version: str) -> list[Chunk]:
        """Chunks of every page, deduplicated by id, in page order."""
        seen: dict[str, Chunk] = {}
        for page in pages:
            for chunk in self.chunk_page(page, component, version):
                seen.setdefault(chunk.id, chunk)
        return list(seen.values())

    def chunk_page(self, page: RawPage, component: str, version: str) -> list[Chunk]:
        """Chunks of one page."""
        out = []
        for sec in sections(page):
            path = sec.path or ((page.title,) if page.title else ())
            head_tokens = self.count(" > ".join(path)) if path else 0
            budget = max(self.max_tokens - head_tokens, self.max_tokens // 2)
            url = f"{page.url}#{sec.anchor}" if sec.anchor else page.url
            made = [
                Chunk(id=chunk_id(path, text), text=text, url=url, title=page.title, component=component,
                      version=version, heading_path=path, n_tokens=self.count(text) + head_tokens)
                for text in self._pack(sec.blocks, budget)
            ]
            out.extend(made)
            synopsis = self._synopsis(sec) if made and sec.path else ""
            if synopsis:
                out.append(Chunk(
                    id=chunk_id(path, synopsis), text=synopsis, url=url, title=page.title, component=component,
                    version=version, heading_path=path, n_tokens=self.count(synopsis) + head_tokens,
                    parent=made[0].id,
                ))
        return out

    def _synopsis(self, sec: _Section) -> str:
        """The first prose paragraph of a section that opens with code; '' for any other section."""
        if len(sec.blocks) < 2 or not sec.blocks[0].code:
            return ""
        prose = next((b.text for b in sec.blocks[1:] if not b.code), "")
        pieces = self._split_text(prose, SYNOPSIS_MAX_TOKENS) if prose else []
        return pieces[0] if pieces else ""

    def _pack(self, blocks: list[_Block], budget: int) -> list[str]:
        pieces: list[tuple[_Block, int]] = []
        for block in blocks:
            n = self.count(block.text)
            if n <= budget or block.code:
                pieces.append((block, n))  # a too-long code block becomes a chunk of its own
            else:
                pieces.extend((_Block(t, False), self.count(t)) for t in self._split_text(block.text, budget))
        chunks: list[str] = []
        cur: list[str] = []
        cur_n = 0
        last_text = ""
        for block, n in pieces:
            if cur and cur_n + n > budget:
                chunks.append("\n\n".join(cur))
                cur, cur_n = [], 0
                tail = self._tail(last_text) if last_text else ""
                if tail and not block.code and self.count(tail) + n <= budget:
                    cur, cur_n = [tail], self.count(tail)
            cur.append(block.text)
            cur_n += n
            last_text = "" if block.code else block.text
        if cur:
            chunks.append("\n\n".join(cur))
        return chunks

    def _split_text(self, text: str, budget: int) -> list[str]:
        """Split prose at sentence ends, then at words, into pieces within ``budget``."""
        units = [u for u in _SENTENCE.split(text) if u]
        out: list[str] = []
        cur = ""
        for unit in units:
            if self.count(unit) > budget:
                words = unit.split()
                for w in words:
                    cand = f"{cur} {w}".strip()
                    if cur and self.count(cand) > budget:
                        out.append(cur)
                        cur = w
                    else:
                        cur = cand
                continue
            cand = f"{cur} {unit}".strip()
            if cur and self.count(cand) > budget:
                out.append(cur)
                cur = unit
            else:
                cur = cand
        if cur:
            out.append(cur)
        return out

    def _tail(self, text: str) -> str:
        """The last ``overlap`` tokens' worth of whole words of ``text``."""
        words = text.split()
        lo, hi = 0, len(words)
        # Binary search for the longest word suffix within the overlap budget.
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.count(" ".join(words[-mid:])) <= self.overlap:
                lo = mid
            else:
                hi = mid - 1
        return " ".join(words[-lo:]) if lo else ""
