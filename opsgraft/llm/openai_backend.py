"""Any OpenAI-compatible chat endpoint: OpenAI, vLLM, Ollama, LM Studio, llama.cpp's server."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

from opsgraft.errors import ConfigError
from opsgraft.llm.base import ProgressFn, check_context
from opsgraft.llm.retry import with_retries
from opsgraft.llm.tokens import CONTEXT_WINDOWS, count_chat_tokens
from opsgraft.types import Generation, Message, Usage

log = logging.getLogger(__name__)


class OpenAIBackend:
    """Chat completions through the ``openai`` SDK; ``n=`` is used, topped up where a server ignores it."""

    name = "openai"

    def __init__(
        self,
        model: str = "gpt-4o-mini",
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        context_window: int | None = None,
        timeout_s: float = 120.0,
        attempts: int | None = None,
        base_delay: float = 0.5,
        progress: ProgressFn | None = None,
    ) -> None:
        import openai

        key = os.environ.get(api_key_env)
        if not key and base_url is None:
            raise ConfigError(f"set {api_key_env} in the environment to use the OpenAI API")
        # Local servers accept any key; keys never come from config files or arguments.
        self._client = openai.OpenAI(base_url=base_url, api_key=key or "no-key", max_retries=0, timeout=timeout_s)
        self.model = model
        self.base_url = base_url
        self.context_window = context_window or CONTEXT_WINDOWS.get(model, 32_768)
        self.attempts = attempts or int(os.environ.get("OPSGRAFT_RETRY_ATTEMPTS", "5"))
        self.base_delay = base_delay
        self.progress = progress
        self.requests = 0

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """tiktoken count (exact for OpenAI models, an estimate for others)."""
        return count_chat_tokens(self.model, messages)

    def _request(self, messages: Sequence[Message], n: int, params: dict[str, Any]) -> Any:
        self.requests += 1
        chat: list[Any] = [{"role": m.role, "content": m.content} for m in messages]
        return self._client.chat.completions.create(model=self.model, messages=chat, n=n, **params)

    def generate(
        self,
        messages: Sequence[Message],
        n: int = 1,
        temperature: float = 0.2,
        max_tokens: int = 1024,
        seed: int | None = None,
        first_index: int = 0,
    ) -> list[Generation]:
        """One request with ``n=``; more requests only for the samples a server did not return."""
        check_context(self, messages, max_tokens)
        params: dict[str, Any] = {"temperature": temperature, "max_tokens": max_tokens}
        out: list[Generation] = []
        while len(out) < n:
            want = n - len(out)
            if seed is not None:
                # Each top-up request gets the seed of its first sample, as the local backend seeds
                # sample i with seed + i: a server that ignores n= but honours seed (llama.cpp's)
                # would otherwise return the same sample every time.
                params["seed"] = seed + first_index + len(out)
            t0 = time.perf_counter()
            resp: Any = with_retries(partial(self._request, messages, want, params),
                                     attempts=self.attempts, base_delay=self.base_delay)
            wall = time.perf_counter() - t0
            usage = getattr(resp, "usage", None)
            prompt_tokens = getattr(usage, "prompt_tokens", 0) or 0
            choices = list(resp.choices or [])
            if not choices:
                from opsgraft.errors import BackendError

                raise BackendError("the endpoint returned no choices")
            per_choice = (getattr(usage, "completion_tokens", 0) or 0) // max(len(choices), 1)
            for choice in choices[:want]:
                text = choice.message.content or ""
                out.append(Generation(
                    text=text, index=first_index + len(out), model=self.model, backend=self.name,
                    usage=Usage(prompt_tokens if not out else 0, per_choice), wall_s=wall,
                    finish_reason=choice.finish_reason or "",
                ))
                if self.progress:
                    self.progress(len(out) - 1, per_choice, wall)
            if len(choices) < want:
                log.info("server returned %d of %d choices; asking again", len(choices), want)
        return out
