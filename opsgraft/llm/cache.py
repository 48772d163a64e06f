"""An on-disk response cache in front of any backend, keyed per sample like the replay cassettes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from opsgraft.files import write_whole
from opsgraft.llm.base import Backend, index_runs, request_key, sample_params
from opsgraft.types import Generation, Message, from_dict, to_dict


class ResponseStore:
    """One JSON file per request key; writes are atomic so parallel runs can share it."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> Generation | None:
        """The stored generation for ``key``, if any."""
        try:
            data = json.loads(self._path(key).read_text())
        except (OSError, ValueError):
            return None
        return from_dict(Generation, data["generation"])

    def put(self, key: str, generation: Generation, request: dict[str, object]) -> None:
        """Store one generation with the request it answers (for humans reading the cache)."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_whole(path, json.dumps({"request": request, "generation": to_dict(generation)}))


def lookup(
    store: ResponseStore, model: str, messages: Sequence[Message], params: dict[str, object], indices: range
) -> tuple[dict[int, str], dict[int, Generation]]:
    """Keys for the sample indices and the samples already stored."""
    keys = {i: request_key(model, messages, params, i) for i in indices}
    found = {i: g for i, k in keys.items() if (g := store.get(k)) is not None}
    return keys, found


class CachedBackend:
    """Serves stored samples and asks the wrapped backend only for the missing ones."""

    def __init__(self, inner: Backend, root: Path) -> None:
        self.inner = inner
        self.store = ResponseStore(root)
        self.name = inner.name
        self.model = inner.model
        self.context_window = inner.context_window
        self.supports_prefill = getattr(inner, "supports_prefill", False)
        self.hits = 0
        self.misses = 0

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """Delegate to the wrapped backend."""
        return self.inner.count_tokens(messages)

    def generate(
        self,
        messages: Sequence[Message],
        n: int = 1,
        temperature: float = 0.2,
        max_tokens: int = 1024,
        seed: int | None = None,
        first_index: int = 0,
    ) -> list[Generation]:
        """Cached samples first; one call to the wrapped backend for the rest."""
        params = sample_params(temperature, max_tokens, seed)
        wanted = range(first_index, first_index + n)
        keys, found = lookup(self.store, self.model, messages, params, wanted)
        out = {i: replace(g, cached=True) for i, g in found.items()}
        missing = [i for i in wanted if i not in found]
        self.hits += len(found)
        self.misses += len(missing)
        request = {"model": self.model, "messages": [to_dict(m) for m in messages], "params": params}
        for start, count in index_runs(missing):
            fresh = self.inner.generate(messages, n=count, temperature=temperature, max_tokens=max_tokens,
                                        seed=seed, first_index=start)
            for i, gen in zip(range(start, start + count), fresh, strict=True):
                gen = replace(gen, index=i)
                self.store.put(keys[i], gen, {**request, "index": i})
                out[i] = gen
        return [out[i] for i in wanted]
