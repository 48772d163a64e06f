"""Record/replay of real responses, keyed by sha256(model, messages, params, sample index).

Sampled requests are stored per sample index (unlike lm-eval's CachingLM), so that a pass@k
run replays exactly. A cassette is a JSONL file, one sample per line, readable by humans.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from opsgraft.config import MODEL_NAME
from opsgraft.errors import ConfigError, ReplayMiss
from opsgraft.llm.base import Backend, index_runs, request_key, sample_params
from opsgraft.types import Generation, Message, from_dict, to_dict

_GZIP_MAGIC = b"\x1f\x8b"


def load_cassette(path: Path) -> dict[str, Generation]:
    """Key -> generation; an unreadable, binary or malformed cassette is a ConfigError naming the line."""
    entries: dict[str, Generation] = {}
    if not path.exists():
        return entries
    for lineno, line in enumerate(_cassette_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            entries[data["key"]] = from_dict(Generation, data["generation"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{path}:{lineno}: not a cassette entry ({exc})") from None
    return entries


def _cassette_text(path: Path) -> str:
    """The cassette's text; a ConfigError for a folder, an unreadable file or bytes that are not UTF-8."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the cassette ({exc.strerror or exc})") from None
    if data.startswith(_GZIP_MAGIC):
        # A compressed cassette is a likely mistake; say what to do rather than "byte 1".
        raise ConfigError(f"{path}: a gzip file, not a cassette (cassettes are JSONL text: gunzip it first)")
    try:
        # utf-8-sig: a cassette saved by an editor that adds a BOM still reads.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        lineno = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{path}:{lineno}: not a cassette (binary data, not UTF-8 text, at byte {exc.start})") from None


def cassette_entry(model: str, messages: Sequence[Message], params: dict[str, Any], index: int,
                   generation: Generation) -> dict[str, Any]:
    """One cassette line for sample ``index`` of a request."""
    return {
        "key": request_key(model, messages, params, index), "model": model, "index": index, "params": params,
        "messages": [to_dict(m) for m in messages], "generation": to_dict(generation),
    }


def append_entries(path: Path, entries: Sequence[dict[str, Any]]) -> None:
    """Append cassette lines (creating the file and its folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        for entry in entries:
            fh.write(json.dumps(entry) + "\n")


class ReplayBackend:
    """Replays a cassette; strict misses raise ReplayMiss, non-strict ones are recorded via ``inner``."""

    name = "replay"
    supports_prefill = True  # replays what the recorded backend continued

    def __init__(
        self,
        cassette: str | Path,
        model: str | None = None,
        strict: bool = True,
        inner: Backend | None = None,
        context_window: int | None = None,
    ) -> None:
        self.cassette = Path(cassette)
        if strict and not self.cassette.exists():
            raise ConfigError(f"cassette not found: {self.cassette}")
        if not strict and inner is None:
            raise ConfigError("recording (non-strict replay) needs a backend to record from")
        self.inner = inner
        self.strict = strict
        self.model = model or (inner.model if inner else MODEL_NAME)
        self.context_window = context_window or (inner.context_window if inner else 32768)
        self._entries = load_cassette(self.cassette)
        self._lock = threading.Lock()
        self.replayed = 0
        self.recorded = 0

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """The recording backend's count when there is one, else a rough estimate."""
        if self.inner is not None:
            return self.inner.count_tokens(messages)
        return sum(len(m.content) // 3 + 4 for m in messages)

    def generate(
        self,
        messages: Sequence[Message],
        n: int = 1,
        temperature: float = 0.2,
        max_tokens: int = 1024,
        seed: int | None = None,
        first_index: int = 0,
    ) -> list[Generation]:
        """Replay samples first_index..first_index+n-1; record the missing ones when not strict."""
        params = sample_params(temperature, max_tokens, seed)
        keys = {i: request_key(self.model, messages, params, i) for i in range(first_index, first_index + n)}
        missing = [i for i, k in keys.items() if k not in self._entries]
        if missing and self.strict:
            raise ReplayMiss(
                f"no recorded response in {self.cassette.name} for sample {missing[0]} of this prompt "
                f"(key {keys[missing[0]][:12]}); record it with --record"
            )
        for start, count in index_runs(missing):
            assert self.inner is not None
            fresh = self.inner.generate(messages, n=count, temperature=temperature,
                                        max_tokens=max_tokens, seed=seed, first_index=start)
            with self._lock:
                entries = []
                for i, gen in zip(range(start, start + count), fresh, strict=True):
                    gen = replace(gen, index=i)
                    self._entries[keys[i]] = gen
                    entries.append(cassette_entry(self.model, messages, params, i, gen))
                append_entries(self.cassette, entries)
                self.recorded += count
        self.replayed += n - len(missing)
        return [self._entries[k] for k in keys.values()]
