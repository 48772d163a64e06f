"""The backend protocol, request keys and the context-window check."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from opsgraft.errors import ContextOverflowError
from opsgraft.types import Generation, Message

# Called as progress(sample_index, tokens_so_far, seconds_so_far) while a backend generates.
ProgressFn = Callable[[int, int, float], None]


@runtime_checkable
class Backend(Protocol):
    """What every LLM backend offers. ``n`` samples share one prompt evaluation."""

    name: str
    model: str
    context_window: int

    def generate(
        self,
        messages: Sequence[Message],
        n: int = 1,
        temperature: float = 0.2,
        max_tokens: int = 1024,
        seed: int | None = None,
        first_index: int = 0,
    ) -> list[Generation]:
        """Return samples ``first_index .. first_index+n-1`` of ``messages``.

        A sample's index fixes its randomness (seed + index where a backend can seed), so asking
        for samples 1..2 later gives what samples 1..2 of one n=3 call would have been.
        """
        ...

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """Tokens the prompt takes in this model's context."""
        ...


def as_messages(messages: Sequence[Message] | Sequence[dict[str, str]]) -> tuple[Message, ...]:
    """Accept Message objects or OpenAI-style dicts."""
    out = []
    for m in messages:
        out.append(m if isinstance(m, Message) else Message(role=m["role"], content=m["content"]))  # type: ignore[arg-type,index]
    return tuple(out)


def request_key(model: str, messages: Sequence[Message], params: dict[str, Any], index: int) -> str:
    """sha256 of (model, messages, params, sample index): the cache and cassette key."""
    payload = {
        "model": model,
        "messages": [[m.role, m.content] for m in messages],
        "params": {k: params[k] for k in sorted(params)},
        "index": index,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def index_runs(indices: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted sample indices as (first, count) runs: [1, 2, 4] -> [(1, 2), (4, 1)]."""
    runs: list[tuple[int, int]] = []
    for i in sorted(indices):
        if runs and runs[-1][0] + runs[-1][1] == i:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((i, 1))
    return runs


def sample_params(temperature: float, max_tokens: int, seed: int | None) -> dict[str, Any]:
    """The parameters that make up a request's identity (n is not one: the index is)."""
    return {"temperature": round(float(temperature), 4), "max_tokens": int(max_tokens), "seed": seed}


def check_context(backend: Backend, messages: Sequence[Message], max_tokens: int) -> int:
    """Raise ContextOverflowError before the call if prompt + completion exceed the window.

    Returns the prompt's token count.
    """
    used = backend.count_tokens(messages)
    if used + max_tokens > backend.context_window:
        raise ContextOverflowError(
            f"prompt needs {used} tokens + {max_tokens} for the answer, over the context window of "
            f"{backend.context_window} for {backend.model}; shorten the input or lower --max-tokens"
        )
    return used
