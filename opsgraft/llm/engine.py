"""Continuous batching: the generate calls of several threads decode together on one llama.cpp context.

`opsgraft bench` runs task workers side by side. With one lock around the model they took turns, so
the model decoded one prompt's n samples at a time (3 sequences). Measured on 2 cores with the 1.5B
and one prompt: 14.9 tok/s for 1 sequence, 21.5 for 3, 28.3 for 6. The engine lets every waiting
call's sequences decode in the same steps (``bench/bench_wall.py`` measures the whole bench).

A call submits a :class:`Request` and waits. Whoever holds no finished request drives: each step it
admits the queued requests that fit (free sequence ids, and KV cells for the prompt plus
``max_tokens`` per sample), evaluates their prompts into their first sequence and shares those
cells with the others (as :func:`opsgraft.llm.batched.decode_batched` does for one prompt), then
decodes one token of every live sequence in one ``llama_batch``. A request is done when its last
sequence stops; its caller returns at once and the next waiting caller drives on, so a finished
task is judged while the others still decode.

Each step's time is shared out over the sequences it decoded (a prompt's evaluation goes to its
first sample), so the samples' ``wall_s`` add up to the model's busy time. Sample ``i`` samples with
its own chain seeded ``seed + i``, as the other paths do; its tokens can differ from a lone decode's
in the last bits of the logits (other batch shapes), like any batched sample.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from opsgraft.errors import BackendError
from opsgraft.llm.base import ProgressFn
from opsgraft.llm.batched import (
    LOOKUP_MAX_LIVE,
    LOOP_CHECK_EVERY,
    DraftLength,
    PromptLookup,
    SamplingParams,
    SequenceResult,
    _sampler_chain,
    looping,
    put,
    verify,
)

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Request:
    """One prompt's samples ``indices``, as one generate call asks for them."""

    tokens: Sequence[int]
    indices: Sequence[int]
    seed: int
    params: SamplingParams
    max_tokens: int
    results: list[SequenceResult] = field(default_factory=list)
    error: BaseException | None = None
    done: bool = False
    # set on admission
    seq_ids: list[int] = field(default_factory=list)
    chains: list[Any] = field(default_factory=list)
    last: list[int] = field(default_factory=list)
    live: list[bool] = field(default_factory=list)
    lookups: list[PromptLookup] = field(default_factory=list)  # with drafting: one per sample
    lengths: list[DraftLength] = field(default_factory=list)

    @property
    def cells(self) -> int:
        """KV cells the request may need: its prompt, and ``max_tokens`` for each sample."""
        return len(self.tokens) + len(self.indices) * self.max_tokens


class Engine:
    """Continuous batching on one llama.cpp context with ``n_seq_max`` sequences and ``kv_cells`` cells."""

    LOOKUP_MAX_LIVE = LOOKUP_MAX_LIVE  # drafts only while this few sequences decode (batched.py)

    def __init__(self, llm: Any, n_seq_max: int, kv_cells: int, n_batch: int, stop_ids: set[int],
                 progress: ProgressFn | None = None, n_threads: int = 2, lookup: bool = False) -> None:
        self.llm = llm
        self.lookup = lookup  # draft by prompt lookup, verified in the same step (PromptLookup)
        self.drafted = 0
        self.accepted = 0
        self.n_threads = n_threads
        self._threads_now = n_threads
        self._lent = 0  # cores lent out (a sample being judged beside the decode)
        self.n_seq_max = n_seq_max
        self.kv_cells = kv_cells
        self.n_batch = n_batch
        self.stop_ids = stop_ids
        self.progress = progress
        self.busy_s = 0.0
        self.tokens = 0  # generated tokens, all requests
        self.max_live = 0  # the most sequences one step decoded
        self._cond = threading.Condition()
        self._queue: list[Request] = []
        self._active: list[Request] = []
        self._driving = False
        self._free = list(range(n_seq_max))
        self._reserved = 0
        self._batch: Any = None

    # the callers' side ------------------------------------------------------------------------------
    def submit(self, req: Request) -> list[SequenceResult]:
        """Queue ``req`` and return its samples once decoded (this thread may drive meanwhile)."""
        if req.cells > self.kv_cells or len(req.indices) > self.n_seq_max:
            raise BackendError(f"a request of {len(req.indices)} sample(s) needs {req.cells} KV cells; "
                               f"the context has {self.kv_cells} and {self.n_seq_max} sequences")
        with self._cond:
            self._queue.append(req)
            self._cond.notify_all()
        while True:
            with self._cond:
                while not req.done and self._driving:
                    self._cond.wait()
                if req.done:
                    break
                self._driving = True
            try:
                while not req.done:
                    self._step()
            except BaseException as exc:  # the context is in an unknown state: fail every request
                self._fail_all(exc)
                raise
            finally:
                with self._cond:
                    self._driving = False
                    self._cond.notify_all()
        if req.error is not None:
            raise req.error
        return req.results

    @contextlib.contextmanager
    def lend_core(self) -> Iterator[None]:
        """While the block runs (one sample judged in the sandbox), decode on one thread fewer.

        On 2 cores a judged sample and llama.cpp's 2 threads are 3 for 2 cores: each decode step waits for
        the thread that shares its core, while the other one spins, and the sandbox runs at a third of its
        speed (bench_wall3: 129 s of judging beside the decode for 50 s alone). One thread fewer leaves the
        sample a core of its own and wastes none on waiting.
        """
        with self._cond:
            self._lent += 1
        try:
            yield
        finally:
            with self._cond:
                self._lent -= 1

    # the driver's side ------------------------------------------------------------------------------
    def _threads(self) -> None:
        """Decode on the threads not lent out (at least one)."""
        want = max(1, self.n_threads - self._lent)
        if want != self._threads_now:
            import llama_cpp

            llama_cpp.llama_set_n_threads(self.llm._ctx.ctx, want, want)
            self._threads_now = want

    def _ctx(self) -> tuple[Any, Any, Any]:
        import llama_cpp

        ctx = self.llm._ctx.ctx
        return llama_cpp, ctx, llama_cpp.llama_get_memory(ctx)

    def _ensure_batch(self) -> Any:
        if self._batch is None:
            import llama_cpp

            self._batch = llama_cpp.llama_batch_init(max(self.n_batch, self.n_seq_max), 0, 1)
        return self._batch

    def _step(self) -> None:
        """Admit what fits, then decode one token of every live sequence."""
        t0 = time.perf_counter()
        self._threads()
        self._admit()
        t1 = time.perf_counter()
        live = [(r, j) for r in self._active for j in range(len(r.indices)) if r.live[j]]
        self._finish_tokens(live)
        live = [(r, j) for r, j in live if r.live[j]]
        if live:
            self._decode(live)
            took = time.perf_counter() - t1
            for r, j in live:
                r.results[j].wall_s += took / len(live)
        self.busy_s += time.perf_counter() - t0
        self._release_done()

    def _admit(self) -> None:
        with self._cond:
            waiting = list(self._queue)
        if waiting and not self._active:  # idle: whatever the context held (a lone decode's prompt) goes
            llama_cpp, _, mem = self._ctx()
            for j in range(self.n_seq_max):
                llama_cpp.llama_memory_seq_rm(mem, j, -1, -1)
            self.llm.n_tokens = 0
        for req in waiting:
            k = len(req.indices)
            if k > len(self._free) or self._reserved + req.cells > self.kv_cells:
                break  # first come, first served: a later, smaller request does not jump the queue
            with self._cond:
                self._queue.remove(req)
            req.seq_ids = [self._free.pop(0) for _ in range(k)]
            self._reserved += req.cells
            self._active.append(req)
            self._eval_prompt(req)

    def _eval_prompt(self, req: Request) -> None:
        llama_cpp, ctx, mem = self._ctx()
        batch = self._ensure_batch()
        t0 = time.perf_counter()
        base = req.seq_ids[0]
        tokens = list(req.tokens)
        last_index = 0
        for start in range(0, len(tokens), self.n_batch):
            chunk = tokens[start:start + self.n_batch]
            for b, tok in enumerate(chunk):
                batch.token[b] = tok
                batch.pos[b] = start + b
                batch.n_seq_id[b] = 1
                batch.seq_id[b][0] = base
                batch.logits[b] = start + b == len(tokens) - 1
            batch.n_tokens = len(chunk)
            last_index = len(chunk) - 1
            self._check(llama_cpp.llama_decode(ctx, batch), len(chunk))
        self.llm.tokens_evaluated += len(tokens)
        self.llm.prompt_tokens_evaluated += len(tokens)
        self.llm.full_prompt_evals += 1
        for j in req.seq_ids[1:]:
            llama_cpp.llama_memory_seq_cp(mem, base, j, -1, -1)
        req.results = [SequenceResult(index=i) for i in req.indices]
        req.chains = [_sampler_chain(llama_cpp, req.params, req.seed + i) for i in req.indices]
        # every sample's first token comes from the prompt's last logits
        req.last = [llama_cpp.llama_sampler_sample(chain, ctx, last_index) for chain in req.chains]
        req.live = [True] * len(req.indices)
        if self.lookup:
            req.lookups = [PromptLookup(tokens) for _ in req.indices]
            req.lengths = [DraftLength() for _ in req.indices]
        took = time.perf_counter() - t0
        req.results[0].prompt_tokens = len(tokens)
        req.results[0].prompt_eval_s = took
        req.results[0].wall_s += took
        log.info("engine: admitted %d sample(s) of a %d-token prompt (%.1fs; %d request(s) active)",
                 len(req.indices), len(tokens), took, len(self._active))

    def _finish_tokens(self, live: list[tuple[Request, int]]) -> None:
        """Take each live sequence's last sampled token: keep it, or end the sequence."""
        for req, j in live:
            self._take(req, j, req.last[j])

    def _take(self, req: Request, j: int, tok: int) -> bool:
        """Append ``tok`` to sequence ``j`` of ``req``; False (and the sequence ends) on a stop, loop or limit."""
        res = req.results[j]
        if tok in self.stop_ids:
            res.finish_reason = "stop"
        else:
            res.tokens.append(tok)
            self.tokens += 1
            if len(res.tokens) % LOOP_CHECK_EVERY == 0 and looping(res.tokens):
                res.finish_reason = "loop"
                log.info("sample %d: stopped after %d tokens, repeating itself", res.index, len(res.tokens))
            elif len(res.tokens) < req.max_tokens:
                return True
        req.live[j] = False
        return False

    def _drafts(self, live: list[tuple[Request, int]]) -> list[list[int]]:
        """Each live sequence's draft, within its token limit and the batch."""
        if not self.lookup or len(live) > self.LOOKUP_MAX_LIVE:
            return [[] for _ in live]
        room = max(self.n_batch, self.n_seq_max) - len(live)
        out = []
        for req, j in live:
            res = req.results[j]
            k = min(req.lengths[j].k, req.max_tokens - len(res.tokens), room)
            draft = req.lookups[j].draft(res.tokens, k)
            room -= len(draft)
            out.append(draft)
        return out

    def _decode(self, live: list[tuple[Request, int]]) -> None:
        """One step: every live sequence's last token, and its draft if any, in one batch; then sample.

        A draft token is kept while the token sampled before it (from the logits of the position before,
        with the sequence's own chain) equals it, so a sequence's tokens are those of a decode without
        drafts; the cells of the drafted tokens not kept are dropped.
        """
        llama_cpp, ctx, mem = self._ctx()
        batch = self._ensure_batch()
        drafts = self._drafts(live)
        b = 0
        starts, positions = [], []
        for (req, j), draft in zip(live, drafts, strict=True):
            starts.append(b)
            positions.append(len(req.tokens) + len(req.results[j].tokens) - 1)
            b = put(batch, b, req.seq_ids[j], positions[-1], [req.last[j], *draft])
        batch.n_tokens = b
        self._check(llama_cpp.llama_decode(ctx, batch), b)
        self.llm.tokens_evaluated += b
        self.max_live = max(self.max_live, len(live))
        for (req, j), draft, b0, pos in zip(live, drafts, starts, positions, strict=True):
            req.last[j], kept = verify(llama_cpp, ctx, req.chains[j], b0, draft,
                                       lambda tok, req=req, j=j: self._take(req, j, tok),
                                       mem=mem, seq_id=req.seq_ids[j], pos=pos,
                                       length=req.lengths[j] if draft else None)
            self.drafted += len(draft)
            self.accepted += kept
        if self.progress:
            req, j = live[0]
            self.progress(req.results[j].index, len(req.results[j].tokens), req.results[j].wall_s)

    def _check(self, rc: int, n: int) -> None:
        if rc != 0:
            raise BackendError(f"llama_decode failed with code {rc} on {n} token(s) "
                               f"({len(self._active)} request(s) active, {self._reserved} of {self.kv_cells} "
                               "KV cells reserved)")

    def _release_done(self) -> None:
        for req in [r for r in self._active if not any(r.live)]:
            self._release(req)
            with self._cond:
                req.done = True
                self._cond.notify_all()

    def _release(self, req: Request) -> None:
        llama_cpp, _, mem = self._ctx()
        for j in req.seq_ids:
            llama_cpp.llama_memory_seq_rm(mem, j, -1, -1)
        for chain in req.chains:
            llama_cpp.llama_sampler_free(chain)
        req.chains = []
        self._free += req.seq_ids
        self._free.sort()
        self._reserved -= req.cells
        self._active.remove(req)

    def _fail_all(self, exc: BaseException) -> None:
        failed = list(self._active)
        for req in failed:
            try:
                self._release(req)
            except Exception:  # noqa: BLE001 - the context may be past freeing; the error is already raised
                log.debug("engine: could not free a failed request's sequences", exc_info=True)
        with self._cond:
            failed += self._queue
            self._queue.clear()
            for req in failed:
                req.error, req.done = exc, True
            self._cond.notify_all()

    def close(self) -> None:
        if self._batch is not None:
            import llama_cpp

            llama_cpp.llama_batch_free(self._batch)
            self._batch = None
