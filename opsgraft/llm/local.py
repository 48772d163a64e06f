"""The embedded model: llama-cpp-python in-process on the packaged Qwen2.5-Coder-1.5B GGUF.

For n > 1 the prompt is evaluated once. By default the n samples are then decoded together as
llama.cpp sequences sharing the prompt's KV cells (opsgraft/llm/batched.py); with
``batched=False`` they are decoded one after the other, each rewinding the KV cache to the end of
the prompt (llama.cpp keeps the longest common prefix). Either way pass@k pays one prompt evaluation.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opsgraft.config import MODEL_ALIASES, MODELS, model_path, model_spec
from opsgraft.errors import BackendError, UnknownComponentError
from opsgraft.llm.base import ProgressFn, check_context
from opsgraft.llm.engine import Engine, Request
from opsgraft.types import Generation, Message, Usage

log = logging.getLogger(__name__)

_STOP_STRINGS = ("<|im_end|>", "<|endoftext|>")


def resolve_model(model: str | Path | None) -> tuple[str, Path]:
    """(name, file) for a model-table name or alias, a GGUF path, or None (the default model)."""
    if model is None or str(model) in MODELS or str(model) in MODEL_ALIASES:
        spec = model_spec(str(model) if model is not None else None)
        return spec.name, model_path(spec.name)
    path = Path(model)
    if path.suffix != ".gguf" and not path.exists():
        known = ", ".join([*MODELS, *MODEL_ALIASES])
        raise UnknownComponentError(f"unknown local model {str(model)!r}; known: {known}, or a .gguf file")
    return path.stem, path


def _counting_llama(n_seq_max: int = 1, **kwargs: Any) -> Any:
    """A Llama whose eval() counts the prompt positions it evaluates, with ``n_seq_max`` sequences."""
    from llama_cpp import Llama

    class CountingLlama(Llama):  # type: ignore[misc]
        prompt_len = 0
        prompt_tokens_evaluated = 0
        full_prompt_evals = 0
        tokens_evaluated = 0

        # Llama() has no n_seq_max option; it sets context_params right after building the
        # defaults and before creating the context, so this setter is where to add it. A unified
        # KV cache lets the sequences share the prompt's cells.
        @property
        def context_params(self) -> Any:
            return self._opsgraft_context_params

        @context_params.setter
        def context_params(self, params: Any) -> None:
            if n_seq_max > 1:
                params.n_seq_max = n_seq_max
                params.kv_unified = True
            self._opsgraft_context_params = params

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
    """llama.cpp in-process; ``flash_attn=True`` and 2 threads match this project's target machine.

    ``model_file`` is a name from ``opsgraft model list`` (or an alias such as ``0.5b``) or a GGUF
    path. ``batched`` decodes the n samples of a call together, up to ``max_seqs`` at a time;
    ``lookup`` lets them draft by prompt lookup, which changes how soon they end, not their tokens.
    """

    name = "local"
    supports_prefill = True  # a trailing assistant message is continued, not answered

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
        batched: bool = True,
        max_seqs: int = 8,
        coalesce: bool = False,
        kv_cells: int | None = None,
        lookup: bool = True,
    ) -> None:
        name, path = resolve_model(model_file)
        if not path.is_file():
            hint = f" --model {name}" if name in MODELS else ""
            raise BackendError(f"local model not found at {path}; run 'opsgraft model install{hint}' "
                               "(or scripts/setup.sh)")
        try:
            import llama_cpp
        except ImportError:
            raise BackendError("llama-cpp-python is not installed; run scripts/setup.sh") from None
        self.model = name
        self.model_file = path
        self.progress = progress
        self.top_p = top_p
        self.top_k = top_k
        t0 = time.perf_counter()
        # coalesce: the calls of several threads decode together (opsgraft/llm/engine.py); the context then
        # holds kv_cells (default three windows of n_ctx) so that three prompts' samples fit side by side,
        # while each call still gets a window of n_ctx (what prompts are fitted to).
        coalesce = coalesce and batched
        cells = (kv_cells or 3 * n_ctx) if coalesce else n_ctx
        self.llm = _counting_llama(
            model_path=str(path), n_ctx=cells, n_threads=n_threads, n_threads_batch=n_threads,
            n_batch=n_batch, flash_attn=flash_attn, verbose=False, n_seq_max=max_seqs if batched else 1,
        )
        self.load_s = time.perf_counter() - t0
        self.n_seq_max = int(llama_cpp.llama_n_seq_max(self.llm._ctx.ctx))
        self.batched = batched and self.n_seq_max > 1
        if batched and not self.batched:
            log.warning("this llama.cpp context has n_seq_max=%d; decoding samples one by one", self.n_seq_max)
        self.context_window = n_ctx
        self.lookup = lookup  # batched decodes draft by prompt lookup (opsgraft/llm/batched.py: PromptLookup)
        self._formatter = self._make_formatter()
        self._stop_ids = {self.llm.token_eos()}
        for s in _STOP_STRINGS:
            ids = self.llm.tokenize(s.encode(), add_bos=False, special=True)
            if len(ids) == 1:
                self._stop_ids.add(ids[0])
        self._tokenizing = threading.Lock()  # templating and tokenizing, from any thread (the vocab is read-only)
        self.engine: Engine | None = None
        if coalesce and self.batched:
            self.engine = Engine(self.llm, self.n_seq_max, int(llama_cpp.llama_n_ctx(self.llm._ctx.ctx)), n_batch,
                                 self._stop_ids, progress, n_threads=n_threads, lookup=lookup)

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
        prefill = messages[-1].content if messages and messages[-1].role == "assistant" else None
        turns = messages[:-1] if prefill is not None else messages
        with self._tokenizing:
            rendered = self._formatter(messages=[{"role": m.role, "content": m.content} for m in turns])
            text = rendered.prompt + (prefill or "")  # the template ends with the assistant turn's opening
            return list(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

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
        base = seed if seed is not None else 0x5EED
        if self.engine is not None:
            return self._generate_coalesced(tokens, n, temperature, max_tokens, base, first_index)
        self.llm.prompt_len = len(tokens)
        if self.batched and n > 1:
            return self._generate_batched(tokens, n, temperature, max_tokens, base, first_index)
        return self._generate_sequential(tokens, n, temperature, max_tokens, base, first_index)

    def _generate_coalesced(self, tokens: list[int], n: int, temperature: float, max_tokens: int,
                            base: int, first_index: int) -> list[Generation]:
        """Through the engine: this call's samples decode in the same steps as other threads' calls."""
        from opsgraft.llm.batched import SamplingParams, group_size

        assert self.engine is not None
        size = group_size(n, len(tokens), max_tokens, self.engine.kv_cells, self.n_seq_max)
        params = SamplingParams(temperature=temperature, top_k=self.top_k, top_p=self.top_p)
        indices = list(range(first_index, first_index + n))
        out = []
        for start in range(0, n, size):
            req = Request(tokens, indices[start:start + size], base, params, max_tokens)
            for res in self.engine.submit(req):
                with self._tokenizing:
                    text = self.llm.detokenize(res.tokens).decode("utf-8", errors="replace")
                out.append(Generation(
                    text=text, index=res.index, model=self.model, backend=self.name,
                    usage=Usage(prompt_tokens=res.prompt_tokens, completion_tokens=len(res.tokens)),
                    wall_s=res.wall_s, prompt_eval_s=res.prompt_eval_s, finish_reason=res.finish_reason,
                ))
                log.info("sample %d: %d tokens, %.1fs of the model's time, decoded with other calls", res.index,
                         len(res.tokens), res.wall_s)
        return out

    def _generate_batched(self, tokens: list[int], n: int, temperature: float, max_tokens: int,
                          base: int, first_index: int) -> list[Generation]:
        """Decode the samples together, in groups that fit the sequences and the KV cache."""
        from opsgraft.llm.batched import SamplingParams, decode_batched, group_size

        size = group_size(n, len(tokens), max_tokens, self.context_window, self.n_seq_max)
        if size == 1:
            log.info("decoding %d samples one by one: prompt %d + 2 x %d tokens exceed the context of %d",
                     n, len(tokens), max_tokens, self.context_window)
            return self._generate_sequential(tokens, n, temperature, max_tokens, base, first_index)
        if size < n:
            log.info("decoding %d samples in groups of %d: prompt %d + %d x %d tokens exceed the context of %d "
                     "or n_seq_max %d", n, size, len(tokens), n, max_tokens, self.context_window, self.n_seq_max)
        params = SamplingParams(temperature=temperature, top_k=self.top_k, top_p=self.top_p)
        indices = list(range(first_index, first_index + n))
        out = []
        for start in range(0, n, size):
            for res in decode_batched(self.llm, tokens, indices[start:start + size], base, params, max_tokens,
                                      self._stop_ids, self.progress, lookup=self.lookup):
                text = self.llm.detokenize(res.tokens).decode("utf-8", errors="replace")
                out.append(Generation(
                    text=text, index=res.index, model=self.model, backend=self.name,
                    usage=Usage(prompt_tokens=res.prompt_tokens, completion_tokens=len(res.tokens)),
                    wall_s=res.wall_s, prompt_eval_s=res.prompt_eval_s, finish_reason=res.finish_reason,
                ))
                log.info("sample %d: %d tokens in %.1fs, batched (prompt %d tokens evaluated in %.1fs)",
                         res.index, len(res.tokens), res.wall_s, res.prompt_tokens, res.prompt_eval_s)
        return out

    def _generate_sequential(self, tokens: list[int], n: int, temperature: float, max_tokens: int,
                             base: int, first_index: int) -> list[Generation]:
        """One sample after the other, each from the cached prompt prefix."""
        from opsgraft.llm.batched import LOOP_CHECK_EVERY, looping

        out = []
        for i in range(first_index, first_index + n):
            self.llm.set_seed(base + i)
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
                if len(generated) % LOOP_CHECK_EVERY == 0 and looping(generated):
                    finish = "loop"
                    log.info("sample %d: stopped after %d tokens, repeating itself", i, len(generated))
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
