"""The paper's LLM step: each chunk condensed to functionality, API reference and a usage example."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from opsgraft.config import cache_dir
from opsgraft.curation import summarize_prompts as prompts
from opsgraft.files import write_whole
from opsgraft.llm.base import Backend
from opsgraft.types import Chunk, Message

log = logging.getLogger(__name__)

SummarizeMode = Literal["full", "lazy", "none"]
MODES: tuple[str, ...] = ("full", "lazy", "none")
# lazy costs nothing at curation time (raw chunks are embedded at once, as with none) and spends
# LLM time only on chunks a retrieval actually returns; full on thousands of chunks at ~12 tok/s
# on CPU is hours. So lazy is the default.
DEFAULT_MODE: SummarizeMode = "lazy"


class Summarizer:
    """Summarizes chunks with a Backend; summaries are cached on disk by content hash."""

    def __init__(self, backend: Backend, cache_root: Path | None = None, max_tokens: int = 320) -> None:
        self.backend = backend
        self.root = cache_root or cache_dir() / "summaries"
        self.max_tokens = max_tokens

    def key(self, chunk: Chunk) -> str:
        """Cache key: the chunk's content hash, the prompt version and the model."""
        raw = f"{prompts.PROMPT_VERSION}\x1f{self.backend.model}\x1f{chunk.id}"
        return hashlib.sha256(raw.encode()).hexdigest()

    def _path(self, chunk: Chunk) -> Path:
        k = self.key(chunk)
        return self.root / k[:2] / f"{k}.txt"

    def cached(self, chunk: Chunk) -> str | None:
        """The cached summary of ``chunk``, if any."""
        try:
            return self._path(chunk).read_text(encoding="utf-8")
        except OSError:
            return None

    def messages(self, chunk: Chunk) -> list[Message]:
        """The prompt for one chunk."""
        user = prompts.USER.format(
            component=chunk.component, version=chunk.version, url=chunk.url,
            heading=" > ".join(chunk.heading_path) or chunk.title, text=chunk.text,
        )
        return [Message("system", prompts.SYSTEM), Message("user", user)]

    def summarize(self, chunk: Chunk) -> str:
        """The summary of ``chunk``, from the cache or the LLM."""
        hit = self.cached(chunk)
        if hit is not None:
            return hit
        gen = self.backend.generate(self.messages(chunk), n=1, temperature=0.0, max_tokens=self.max_tokens, seed=0)
        text = gen[0].text.strip()
        path = self._path(chunk)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_whole(path, text)
        log.debug("summarized %s (%d chars)", chunk.id, len(text))
        return text

    def summarize_all(self, chunks: Sequence[Chunk],
                      progress: Callable[[str, int, int | None], None] | None = None) -> list[Chunk]:
        """Every chunk with its summary filled in."""
        from dataclasses import replace

        out = []
        for i, chunk in enumerate(chunks, 1):
            out.append(replace(chunk, summary=self.summarize(chunk)))
            if progress:
                progress("summaries", i, len(chunks))
        return out
