"""LLM backends behind one protocol: local (llama.cpp), openai (any compatible server), replay."""

from __future__ import annotations

from typing import Any

from opsgraft.llm.base import Backend, ProgressFn, as_messages, check_context, request_key
from opsgraft.registry import backends

backends.register("local", "opsgraft.llm.local:LocalBackend")
backends.register("openai", "opsgraft.llm.openai_backend:OpenAIBackend")
backends.register("replay", "opsgraft.llm.replay:ReplayBackend")
backends.register("scripted", "opsgraft.llm.scripted:ScriptedBackend")


def get_backend(name: str, **options: Any) -> Backend:
    """Build the backend registered as ``name`` with its options."""
    factory = backends.get(name)
    return factory(**options)  # type: ignore[no-any-return]


__all__ = ["Backend", "ProgressFn", "as_messages", "check_context", "get_backend", "request_key"]
