"""Decode a prompt's n samples together: llama.cpp sequences over one unified KV cache.

The prompt is evaluated once into sequence 0 and its cells are shared with sequences 1..k-1
(``llama_memory_seq_cp`` on a unified cache adds sequence ids to the same cells, it copies
nothing). Each step then decodes one ``llama_batch`` holding the last token of every live
sequence, so the weights are read once per step for all samples instead of once per sample.
On a CPU token generation is bound by reading the weights, which is where the speedup comes from.

Sample ``i`` samples with its own chain seeded ``seed + i`` (the sequential path's rule), so
``first_index`` keeps its meaning. The logits of a sequence decoded in a batch can differ from
the sequential ones in the last bits (other matrix shapes), so a batched sample equals its
sequential twin only as long as no near-tie in the logits flips a token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from opsgraft.errors import BackendError
from opsgraft.llm.base import ProgressFn

log = logging.getLogger(__name__)


# A sequence whose tail is the same span of 1..LOOP_MAX_PERIOD tokens LOOP_REPEATS times over is in
# a loop it does not leave: the 1.5B model repeated `keras.layers.Dense(config["units"], ...)` to the
# 2048-token cap in 4 of 6 config:json answers (bench cfg-json9), up to 538 s each on 2 cores, for an
# answer that ends mid-line either way. Real code repeats a line a few times, not 16.
LOOP_REPEATS = 16
LOOP_MAX_PERIOD = 80
LOOP_CHECK_EVERY = 16  # tokens between two checks


def looping(tokens: Sequence[int], repeats: int = LOOP_REPEATS, max_period: int = LOOP_MAX_PERIOD) -> bool:
    """True when the last ``repeats`` spans of some period ``p <= max_period`` of ``tokens`` are identical."""
    n = len(tokens)
    for period in range(1, max_period + 1):
        span = period * repeats
        if span > n:
            break
        tail = list(tokens[n - span:])
        if tail[:-period] == tail[period:]:
            return True
    return False


@dataclass(frozen=True)
class SamplingParams:
    """The sampling chain, as the sequential path builds it through ``Llama.generate``."""

    temperature: float
    top_k: int
    top_p: float
    min_p: float = 0.05


@dataclass
class SequenceResult:
    """One finished sequence of a batched decode."""

    index: int
    tokens: list[int] = field(default_factory=list)
    finish_reason: str = "length"
    wall_s: float = 0.0
    prompt_eval_s: float = 0.0
    prompt_tokens: int = 0


# Drafts pay only while few sequences decode. On 2 cores a decode step is bound by compute, not by reading
# the weights: 45 ms for 1 token, 75 for 2, 134 for 4 (1.5B, 2k-token context), so a draft token costs
# about what a sampled one does. Measured on one prompt's 3 samples, drafts (85% kept) cut decoding from
# 94 s to 70 s; on two prompts' 6 samples (78% kept) they gained nothing.
LOOKUP_MAX_LIVE = 4


class PromptLookup:
    """Draft tokens for one sequence by prompt lookup: what followed its last n-gram in the prompt.

    An adaptation answer is mostly the user's script, copied from the prompt with insertions. The
    draft continues from where the previous one was copied while the sequence keeps following the
    prompt, else from the latest prompt position after the sequence's last ``ngram`` tokens (the
    longest n-gram first). The target model verifies every draft token (``verify``), so drafts change
    the speed of a decode, never its tokens.
    """

    NGRAMS = (4, 3, 2)

    def __init__(self, prompt: Sequence[int]) -> None:
        self.prompt = list(prompt)
        self.index: dict[tuple[int, ...], int] = {}
        for n in self.NGRAMS:
            for i in range(len(self.prompt) - n):
                self.index[tuple(self.prompt[i:i + n])] = i + n  # later occurrences win
        self.cursor: tuple[int, int] | None = None  # (prompt position, generated length) of the last draft

    def draft(self, generated: Sequence[int], k: int) -> list[int]:
        """Up to ``k`` tokens that may follow ``generated``."""
        if k <= 0 or not generated:
            return []
        start = None
        if self.cursor is not None:  # still copying the same stretch of the prompt?
            pos, had = self.cursor
            c = pos + len(generated) - had
            m = min(self.NGRAMS[-1], len(generated))
            if m <= c <= len(self.prompt) and self.prompt[c - m:c] == list(generated[-m:]):
                start = c
        if start is None:
            for n in self.NGRAMS:
                if len(generated) >= n and (hit := self.index.get(tuple(generated[-n:]))) is not None:
                    start = hit
                    break
        if start is None or start >= len(self.prompt):
            self.cursor = None
            return []
        self.cursor = (start, len(generated))
        return self.prompt[start:start + k]


class DraftLength:
    """How many tokens to draft next for one sequence: doubled after a draft taken whole, else what was taken."""

    def __init__(self, start: int = 8, most: int = 16) -> None:
        self.k, self.most = start, most

    def update(self, drafted: int, accepted: int) -> None:
        if drafted:
            self.k = min(self.most, self.k * 2) if accepted == drafted else max(2, accepted + 1)


def group_size(n: int, prompt_len: int, max_tokens: int, n_ctx: int, n_seq_max: int) -> int:
    """How many sequences can decode together: every one may need ``max_tokens`` cells."""
    fit = (n_ctx - prompt_len) // max(max_tokens, 1)
    return max(1, min(n, n_seq_max, fit))


def _sampler_chain(llama_cpp: Any, params: SamplingParams, seed: int) -> Any:
    """top-k, top-p, min-p, temperature and a seeded draw; greedy at temperature 0.

    The sequential chain also holds a repeat penalty of 1.0 and typical-p of 1.0; both are
    no-ops in llama.cpp and are left out.
    """
    chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
    if params.temperature <= 0:
        llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_greedy())
        return chain
    for sampler in (
        llama_cpp.llama_sampler_init_top_k(params.top_k),
        llama_cpp.llama_sampler_init_top_p(params.top_p, 1),
        llama_cpp.llama_sampler_init_min_p(params.min_p, 1),
        llama_cpp.llama_sampler_init_temp(params.temperature),
        llama_cpp.llama_sampler_init_dist(seed & 0xFFFFFFFF),
    ):
        llama_cpp.llama_sampler_chain_add(chain, sampler)
    return chain


def _eval_prompt(llm: Any, tokens: Sequence[int]) -> int:
    """Put ``tokens`` into sequence 0, reusing the cached prefix; returns positions evaluated.

    At least the last prompt token is evaluated again, so that its logits are the live ones.
    """
    cached = llm.input_ids[: llm.n_tokens]
    prefix = 0
    for a, b in zip(cached, tokens, strict=False):
        if a != b:
            break
        prefix += 1
    prefix = min(prefix, len(tokens) - 1)
    llm.n_tokens = prefix
    llm.eval(list(tokens[prefix:]))  # drops every sequence's cells from ``prefix`` on
    return len(tokens) - prefix


def put(batch: Any, b: int, seq_id: int, pos: int, tokens: Sequence[int]) -> int:
    """Put ``tokens`` of sequence ``seq_id`` at positions ``pos ...`` into ``batch`` from index ``b``, all with
    logits; returns the next free index."""
    for i, tok in enumerate(tokens):
        batch.token[b + i] = tok
        batch.pos[b + i] = pos + i
        batch.n_seq_id[b + i] = 1
        batch.seq_id[b + i][0] = seq_id
        batch.logits[b + i] = True
    return b + len(tokens)


def verify(llama_cpp: Any, ctx: Any, chain: Any, first: int, draft: Sequence[int], take: Any, *,
           mem: Any = None, seq_id: int = 0, pos: int = 0, length: DraftLength | None = None) -> tuple[int, int]:
    """Sample a sequence's next token at batch index ``first``, keeping its draft tokens while they are drawn.

    The sequence's last token sat in the batch at ``first`` (position ``pos``), ``draft`` after it. Each
    draft token equal to the token the sequence's own chain samples before it is kept (``take(tok)``; False
    ends the sequence). Then ``length`` learns how much was kept, and the cells of the drafted tokens not
    kept are dropped from ``seq_id``. Returns the next sampled token, not yet taken, and the tokens kept.
    """
    tok = llama_cpp.llama_sampler_sample(chain, ctx, first)
    kept = 0
    ended = False
    while kept < len(draft) and tok == draft[kept]:
        kept += 1
        if not take(tok):
            ended = True
            break
        tok = llama_cpp.llama_sampler_sample(chain, ctx, first + kept)
    if draft:
        if length is not None:
            length.update(len(draft), kept)
        if kept < len(draft) and not ended:  # an ended sequence's cells all go when it is released
            llama_cpp.llama_memory_seq_rm(mem, seq_id, pos + 1 + kept, -1)
    return tok, kept


def decode_batched(
    llm: Any,
    tokens: Sequence[int],
    indices: Sequence[int],
    seed: int,
    params: SamplingParams,
    max_tokens: int,
    stop_ids: set[int],
    progress: ProgressFn | None = None,
    lookup: bool = False,
) -> list[SequenceResult]:
    """Sample one continuation of ``tokens`` per index in ``indices``, all decoded together.

    ``llm`` is a ``llama_cpp.Llama`` whose context has ``n_seq_max >= len(indices)`` and a
    unified KV cache with room for ``len(tokens) + len(indices) * max_tokens`` cells. Afterwards
    sequence 0 holds the prompt only, and ``llm`` knows it, so the next call reuses it. With
    ``lookup`` each sequence drafts its next tokens by prompt lookup (:class:`PromptLookup`), verified
    in the same step (:func:`verify`): the tokens are those of a decode without drafts, sooner.
    """
    import llama_cpp

    ctx = llm._ctx.ctx
    mem = llama_cpp.llama_get_memory(ctx)
    k = len(indices)
    prompt_len = len(tokens)
    for j in range(1, llama_cpp.llama_n_seq_max(ctx)):
        llama_cpp.llama_memory_seq_rm(mem, j, -1, -1)
    t0 = time.perf_counter()
    evaluated = _eval_prompt(llm, tokens)
    prompt_s = time.perf_counter() - t0
    for j in range(1, k):
        llama_cpp.llama_memory_seq_cp(mem, 0, j, -1, -1)

    # The prompt's cost goes to the group's first sample, as the sequential path books it; each
    # sample's wall_s runs from the group's start to its own end, so walls of one group overlap.
    results = [SequenceResult(index=i) for i in indices]
    results[0].prompt_tokens = evaluated
    results[0].prompt_eval_s = prompt_s
    chains = [_sampler_chain(llama_cpp, params, seed + i) for i in indices]
    lookups = [PromptLookup(tokens) for _ in indices] if lookup else []
    lengths = [DraftLength() for _ in indices]
    room = max(k, min(int(getattr(llm, "n_batch", 512)), 512))
    batch = llama_cpp.llama_batch_init(room, 0, 1)
    alive = [True] * k

    def take(j: int, tok: int) -> bool:
        """Append ``tok`` to sequence ``j``; False when the sequence ends (stop, loop or limit)."""
        res = results[j]
        if tok in stop_ids:
            res.finish_reason = "stop"
        else:
            res.tokens.append(tok)
            if len(res.tokens) % LOOP_CHECK_EVERY == 0 and looping(res.tokens):
                res.finish_reason = "loop"
                log.info("sample %d: stopped after %d tokens, repeating itself", res.index, len(res.tokens))
            elif len(res.tokens) < max_tokens:
                return True
        res.wall_s = time.perf_counter() - t0
        alive[j] = False
        return False

    try:
        # The first token of every sequence comes from the prompt's last logits.
        last = [llama_cpp.llama_sampler_sample(chain, ctx, -1) for chain in chains]
        live = list(range(k))
        while True:
            live = [j for j in live if alive[j] and take(j, last[j])]
            if not live:
                break
            drafts: list[list[int]] = []
            free = room - len(live)
            for j in live:
                n_draft = min(lengths[j].k, max_tokens - len(results[j].tokens), free)
                draft = lookups[j].draft(results[j].tokens, n_draft) if lookup and len(live) <= LOOKUP_MAX_LIVE else []
                free -= len(draft)
                drafts.append(draft)
            b = 0
            firsts, positions = [], []
            for j, draft in zip(live, drafts, strict=True):
                firsts.append(b)
                positions.append(prompt_len + len(results[j].tokens) - 1)
                b = put(batch, b, j, positions[-1], [last[j], *draft])
            batch.n_tokens = b
            rc = llama_cpp.llama_decode(ctx, batch)
            if rc != 0:
                raise BackendError(f"llama_decode failed with code {rc} while decoding {len(live)} sequences "
                                   f"(prompt {prompt_len} tokens); retry with --context-window larger")
            llm.tokens_evaluated += b
            for j, draft, first, pos in zip(live, drafts, firsts, positions, strict=True):
                last[j], _ = verify(llama_cpp, ctx, chains[j], first, draft, lambda tok, j=j: take(j, tok),
                                    mem=mem, seq_id=j, pos=pos, length=lengths[j])
            if progress:
                progress(results[live[0]].index, len(results[live[0]].tokens), time.perf_counter() - t0)
    finally:
        llama_cpp.llama_batch_free(batch)
        for chain in chains:
            llama_cpp.llama_sampler_free(chain)
        for j in range(1, k):
            llama_cpp.llama_memory_seq_rm(mem, j, -1, -1)
        llama_cpp.llama_memory_seq_rm(mem, 0, prompt_len, -1)
        llm.n_tokens = prompt_len
        llm._requires_eval = True  # the logits on hand are no longer the prompt's
    return results
