"""The embedded model: llama-cpp-python in-process on the packaged Qwen2.5-Coder-1.5B GGUF.

For n > 1 the prompt is evaluated once; later samples rewind the KV cache to the end of the
prompt (llama.cpp keeps the longest common prefix), so pass@k pays one prompt evaluation.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opsgraft.config import MODEL_NAME, model_path
from opsgraft.errors import BackendError
from opsgraft.llm.base import ProgressFn, check_context
from opsgraft.types import Generation, Message, Usage

log = logging.getLogger(__name__)

_STOP_STRINGS = ("<|im_end|>", "<|endoftext|>")


def _counting_llama(**kwargs: Any) -> Any:
    """A Llama whose eval() counts the prompt positions it evaluates."""
    from llama_cpp import Llama

    class CountingLlama(Llama):  # type: ignore[misc]
        prompt_len = 0
        prompt_tokens_evaluated = 0
        full_prompt_evals = 0
        tokens_evaluated = 0

        def eval(self, tokens: Sequence[int]) -> None:
            start = self.n_tokens
            end = start + len(tokens)
            in_prompt = max(0, min(end, self.prompt_len) - start)
            self.prompt_tokens_evaluated += in_prompt
            self.tokens_evaluated += len(tokens)
            if start == 0 and in_prompt > 1:
                self.full_prompt_evals += 1
            super().eval(tokens)

    return CountingLlama(**kwargs)


class LocalBackend:
    """llama.cpp in-process; ``flash_attn=True`` and 2 threads match this project's target machine."""

    name = "local"

    def __init__(
        self,
        model_file: str | Path | None = None,
        n_ctx: int = 8192,
        n_threads: int = 2,
        n_batch: int = 512,
        flash_attn: bool = True,
        progress: ProgressFn | None = None,
        top_p: float = 0.95,
        top_k: int = 40,
    ) -> None:
        path = Path(model_file) if model_file else model_path()
        if not path.is_file():
            raise BackendError(f"local model not found at {path}; run 'opsgraft model install' (or scripts/setup.sh)")
        try:
            import llama_cpp  # noqa: F401
        except ImportError:
            raise BackendError("llama-cpp-python is not installed; run scripts/setup.sh") from None
        self.model = MODEL_NAME if model_file is None else path.stem
        self.model_file = path
        self.progress = progress
        self.top_p = top_p
        self.top_k = top_k
        t0 = time.perf_counter()
        self.llm = _counting_llama(
            model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads,
            n_batch=n_batch, flash_attn=flash_attn, verbose=False,
        )
        self.load_s = time.perf_counter() - t0
        self.context_window = n_ctx
        self._formatter = self._make_formatter()
        self._stop_ids = {self.llm.token_eos()}
        for s in _STOP_STRINGS:
            ids = self.llm.tokenize(s.encode(), add_bos=False, special=True)
            if len(ids) == 1:
                self._stop_ids.add(ids[0])

    def _make_formatter(self) -> Any:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        meta = self.llm.metadata
        template = meta.get("tokenizer.chat_template")
        if not template:
            raise BackendError(f"{self.model_file.name} carries no chat template")

        def token_text(key: str) -> str:
            tid = meta.get(key)
            if tid is None:
                return ""
            return str(self.llm._model.token_get_text(int(tid)))

        return Jinja2ChatFormatter(
            template=template,
            eos_token=token_text("tokenizer.ggml.eos_token_id"),
            bos_token=token_text("tokenizer.ggml.bos_token_id"),
        )

    def prompt_tokens(self, messages: Sequence[Message]) -> list[int]:
        """The chat-templated prompt as tokens."""
        rendered = self._formatter(messages=[{"role": m.role, "content": m.content} for m in messages])
        return list(self.llm.tokenize(rendered.prompt.encode("utf-8"), add_bos=False, special=True))

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """Tokens of the templated prompt, with the model's own tokenizer."""
        return len(self.prompt_tokens(messages))

    @property
    def counters(self) -> dict[str, int]:
        """Prompt positions evaluated, full prompt evaluations and all tokens evaluated."""
        return {
            "prompt_tokens_evaluated": self.llm.prompt_tokens_evaluated,
            "full_prompt_evals": self.llm.full_prompt_evals,
            "tokens_evaluated": self.llm.tokens_evaluated,
        }

    def generate(
        self,
        messages: Sequence[Message],
        n: int = 1,
        temperature: float = 0.2,
        max_tokens: int = 1024,
        seed: int | None = None,
        first_index: int = 0,
    ) -> list[Generation]:
        """Evaluate the prompt once, then sample ``n`` continuations from the saved prefix."""
        check_context(self, messages, max_tokens)
        tokens = self.prompt_tokens(messages)
        self.llm.prompt_len = len(tokens)
        out = []
        for i in range(first_index, first_index + n):
            self.llm.set_seed((seed if seed is not None else 0x5EED) + i)
            before = self.llm.prompt_tokens_evaluated
            t0 = time.perf_counter()
            first_token_s = 0.0
            generated: list[int] = []
            finish = "length"
            for tok in self.llm.generate(
                tokens, temp=temperature, top_p=self.top_p, top_k=self.top_k, min_p=0.05,
                repeat_penalty=1.0, reset=True,
            ):
                if not generated and not first_token_s:
                    first_token_s = time.perf_counter() - t0
                if tok in self._stop_ids:
                    finish = "stop"
                    break
                generated.append(tok)
                if self.progress:
                    self.progress(i, len(generated), time.perf_counter() - t0)
                if len(generated) >= max_tokens:
                    break
            wall = time.perf_counter() - t0
            text = self.llm.detokenize(generated).decode("utf-8", errors="replace")
            evaluated = self.llm.prompt_tokens_evaluated - before
            out.append(Generation(
                text=text, index=i, model=self.model, backend=self.name,
                usage=Usage(prompt_tokens=evaluated, completion_tokens=len(generated)),
                wall_s=wall, prompt_eval_s=first_token_s, finish_reason=finish,
            ))
            log.info("sample %d: %d tokens in %.1fs (prompt %d tokens evaluated in %.1fs)",
                     i, len(generated), wall, evaluated, first_token_s)
        return out
