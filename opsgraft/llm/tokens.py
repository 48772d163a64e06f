"""Token counting with tiktoken for OpenAI models (offline through the llama-index cache)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from opsgraft.types import Message

# Context windows of common OpenAI-compatible models; others come from --context-window.
CONTEXT_WINDOWS = {
    "gpt-4o": 128_000, "gpt-4o-mini": 128_000, "gpt-4.1": 1_000_000, "gpt-4.1-mini": 1_000_000,
    "gpt-4-turbo": 128_000, "gpt-4": 8_192, "gpt-3.5-turbo": 16_385,
}


@lru_cache(maxsize=8)
def encoding_for(model: str) -> Any:
    """The tiktoken encoding of ``model``; cl100k_base for models tiktoken does not know."""
    import tiktoken

    try:
        return tiktoken.encoding_for_model(model)
    except KeyError:
        return tiktoken.get_encoding("cl100k_base")


def count_chat_tokens(model: str, messages: Sequence[Message]) -> int:
    """Tokens of a chat prompt as OpenAI counts them (3 per message + 3 to prime the reply)."""
    enc = encoding_for(model)
    return sum(len(enc.encode(m.content)) + len(enc.encode(m.role)) + 3 for m in messages) + 3


def count_text_tokens(model: str, text: str) -> int:
    """Tokens of plain text."""
    return len(encoding_for(model).encode(text))
