"""Continuous batching (opsgraft/llm/engine.py): several threads' calls decode together on one context.

Real llama.cpp on a tiny random qwen2 (tests/llm/tiny_gguf.py): the same sequences, KV cache and
samplers as the real model. Each thread's samples are compared with the same call on a model that
decodes alone, so a sequence that read another prompt's cells, or another sequence's position, shows.
"""

from __future__ import annotations

import threading
import time

import pytest

from opsgraft.errors import BackendError
from opsgraft.types import Message
from tests.llm.tiny_gguf import write_tiny_qwen2

PROMPTS = [
    [Message("user", "Write one sentence about the sea.")],
    [Message("system", "You are terse."), Message("user", "List three prime numbers and say why each is prime.")],
    [Message("user", "def f(x):\n    return x * 2\n# explain f")],
]


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    pytest.importorskip("llama_cpp")
    return write_tiny_qwen2(tmp_path_factory.mktemp("tiny") / "tiny.gguf")


@pytest.fixture(scope="module")
def alone(tiny_path):
    from opsgraft.llm.local import LocalBackend

    return LocalBackend(tiny_path, n_ctx=1024, batched=True)


def coalescing(tiny_path, **kw):
    from opsgraft.llm.local import LocalBackend

    return LocalBackend(tiny_path, n_ctx=1024, batched=True, coalesce=True, **kw)


def gate(engine, count: int, monkeypatch) -> None:
    """Hold the first admission until ``count`` requests are queued, so that they decode together."""
    admit = engine._admit
    state = {"open": False}

    def held() -> None:
        t0 = time.perf_counter()
        deadline = time.monotonic() + 10
        while not state["open"] and len(engine._queue) < count and time.monotonic() < deadline:
            time.sleep(0.005)
        state["open"] = True
        engine.gate_s = getattr(engine, "gate_s", 0.0) + time.perf_counter() - t0
        admit()

    monkeypatch.setattr(engine, "_admit", held)


def run_threads(backend, calls):
    out: dict[int, object] = {}

    def one(i, messages, n, max_tokens, seed):
        try:
            out[i] = backend.generate(messages, n=n, temperature=1.0, max_tokens=max_tokens, seed=seed)
        except Exception as exc:  # noqa: BLE001 - the test reads it
            out[i] = exc

    threads = [threading.Thread(target=one, args=(i, *c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return [out[i] for i in range(len(calls))]


def test_three_threads_decode_together_and_each_gets_what_it_would_alone(tiny_path, alone, monkeypatch):
    backend = coalescing(tiny_path, kv_cells=4096)
    gate(backend.engine, 3, monkeypatch)
    calls = [(PROMPTS[0], 3, 24, 7), (PROMPTS[1], 2, 40, 11), (PROMPTS[2], 1, 16, 5)]
    together = run_threads(backend, calls)
    assert backend.engine.max_live == 6  # 3 + 2 + 1 sequences in one step
    for (messages, n, max_tokens, seed), got in zip(calls, together, strict=True):
        want = alone.generate(messages, n=n, temperature=1.0, max_tokens=max_tokens, seed=seed)
        assert [g.index for g in got] == list(range(n))
        assert [g.text for g in got] == [g.text for g in want]
        assert [g.usage.completion_tokens for g in got] == [g.usage.completion_tokens for g in want]
        assert got[0].usage.prompt_tokens == len(alone.prompt_tokens(messages))  # evaluated whole, once
    # every second of the model's steps is some sample's share
    shares = sum(g.wall_s for gens in together for g in gens)
    busy = backend.engine.busy_s - backend.engine.gate_s  # the test's own wait is not the model's
    assert 0.5 * busy <= shares <= busy + 1e-6
    assert not backend.engine._active and sorted(backend.engine._free) == list(range(backend.n_seq_max))


def test_a_request_that_does_not_fit_beside_the_others_waits_its_turn(tiny_path, alone, monkeypatch):
    # 1024 cells: each call reserves its prompt + 2 x 300 cells, so the second waits for the first to end
    backend = coalescing(tiny_path, kv_cells=1024)
    gate(backend.engine, 2, monkeypatch)
    calls = [(PROMPTS[0], 2, 300, 3), (PROMPTS[2], 2, 300, 4)]
    together = run_threads(backend, calls)
    assert backend.engine.max_live == 2
    for (messages, n, max_tokens, seed), got in zip(calls, together, strict=True):
        want = alone.generate(messages, n=n, temperature=1.0, max_tokens=max_tokens, seed=seed)
        assert [g.text for g in got] == [g.text for g in want]
    # a call that could never fit says so in one line
    with pytest.raises(BackendError, match="needs .* KV cells; the context has 1024"):
        backend.engine.submit(__import__("opsgraft.llm.engine", fromlist=["Request"]).Request(
            list(range(900)), [0], 0, __import__("opsgraft.llm.batched", fromlist=["SamplingParams"]).SamplingParams(
                1.0, 40, 0.95), 300))


def test_one_caller_alone_gets_the_batched_paths_samples_and_the_window_is_n_ctx(tiny_path, alone):
    backend = coalescing(tiny_path)
    assert backend.context_window == 1024 and backend.engine.kv_cells == 3072
    got = backend.generate(PROMPTS[1], n=3, temperature=1.0, max_tokens=20, seed=9)
    want = alone.generate(PROMPTS[1], n=3, temperature=1.0, max_tokens=20, seed=9)
    assert [g.text for g in got] == [g.text for g in want]
    again = backend.generate(PROMPTS[1], n=3, temperature=1.0, max_tokens=20, seed=9)  # after a finished run
    assert [g.text for g in again] == [g.text for g in want]


def test_a_decode_failure_fails_every_waiting_call_and_the_engine_recovers(tiny_path, monkeypatch):
    import llama_cpp

    backend = coalescing(tiny_path, kv_cells=4096)
    gate(backend.engine, 2, monkeypatch)
    real = llama_cpp.llama_decode
    calls = {"n": 0}

    def flaky(ctx, batch):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        return 1 if calls["n"] == 5 else real(ctx, batch)

    monkeypatch.setattr(llama_cpp, "llama_decode", flaky)
    got = run_threads(backend, [(PROMPTS[0], 2, 30, 1), (PROMPTS[1], 1, 30, 2)])
    assert all(isinstance(g, BackendError) and "llama_decode failed with code 1" in str(g) for g in got)
    assert not backend.engine._active and not backend.engine._queue and backend.engine._reserved == 0
    assert len(backend.generate(PROMPTS[0], n=2, temperature=1.0, max_tokens=10, seed=1)) == 2


def test_a_core_lent_to_a_judged_sample_is_one_decode_thread_fewer_until_it_is_back(tiny_path):
    import llama_cpp

    backend = coalescing(tiny_path)
    ctx = backend.llm._ctx.ctx
    assert backend.engine.n_threads == 2 and llama_cpp.llama_n_threads(ctx) == 2
    seen = []
    real = backend.engine._decode

    def spy(live):  # type: ignore[no-untyped-def]
        seen.append(llama_cpp.llama_n_threads(ctx))
        real(live)

    backend.engine._decode = spy
    with backend.engine.lend_core(), backend.engine.lend_core():
        backend.generate(PROMPTS[0], n=2, temperature=1.0, max_tokens=8, seed=1)
    assert set(seen) == {1}  # never below one thread, however many samples are judged
    seen.clear()
    backend.generate(PROMPTS[0], n=2, temperature=1.0, max_tokens=8, seed=1)
    assert set(seen) == {2} and backend.engine._lent == 0


def test_the_bench_judge_pool_lends_a_core_only_while_a_sample_runs_here():
    from opsgraft.evaluation.benchmark.judging import JudgePool

    pool = JudgePool("local", 1, "cpu", "none")
    events = []

    class Lend:
        def __enter__(self):
            events.append("lend")

        def __exit__(self, *exc):
            events.append("back")

    pool.lender = Lend
    pool.runner = lambda jobs: iter([events.append("judged") or "verdict"])  # type: ignore[assignment]
    assert pool.judge(None, None) == "verdict" and events == ["lend", "judged", "back"]  # type: ignore[arg-type]
    pool.close()


def test_drafted_tokens_change_the_speed_of_a_decode_never_its_tokens(tiny_path, monkeypatch):
    """Verification keeps a draft token only where the sequence's own chain samples it, and drops the rest.

    The tiny model's answers are noise, which prompt lookup never guesses; an oracle drafts each
    sample's true continuation instead, wrong at every third call from its third token on.
    """
    from opsgraft.llm.batched import PromptLookup, SamplingParams
    from opsgraft.llm.engine import Request

    backend = coalescing(tiny_path, kv_cells=4096)
    engine = backend.engine
    tokens = backend.prompt_tokens(PROMPTS[1])
    params = SamplingParams(1.0, 40, 0.95)
    want = engine.submit(Request(tokens, [0, 1, 2], 5, params, 60))
    truth = {i: r.tokens for i, r in enumerate(want)}
    calls = {"n": 0}

    def oracle(self, generated, k):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        ref = next(t for t in truth.values() if t[:len(generated)] == list(generated))
        draft = ref[len(generated):len(generated) + k]
        if calls["n"] % 3 == 0 and len(draft) > 2:
            draft[2] = (draft[2] + 1) % 256
        return draft

    monkeypatch.setattr(PromptLookup, "draft", oracle)
    engine.lookup = True
    got = engine.submit(Request(tokens, [0, 1, 2], 5, params, 60))
    assert [r.tokens for r in got] == [r.tokens for r in want]
    assert [r.finish_reason for r in got] == [r.finish_reason for r in want]
    assert engine.drafted > engine.accepted > 0
    assert not engine._active and engine._reserved == 0


def test_prompt_lookup_drafts_what_followed_the_last_ngram_and_keeps_copying():
    from opsgraft.llm.batched import DraftLength, PromptLookup

    prompt = [1, 2, 3, 4, 5, 6, 7, 8, 2, 3, 9, 10]
    look = PromptLookup(prompt)
    assert look.draft([7, 2, 3], 3) == [9, 10]  # the latest occurrence of (2, 3)
    assert look.draft([0, 3, 4, 5], 2) == [6, 7]  # the longest n-gram (3, 4, 5)
    assert look.draft([0, 3, 4, 5, 6, 7], 4) == [8, 2, 3, 9]  # still copying from where the last draft began
    assert look.draft([42, 43], 4) == [] and look.draft([], 4) == [] and look.draft([7, 8], 0) == []
    length = DraftLength(start=8, most=16)
    length.update(8, 8)
    assert length.k == 16
    length.update(16, 3)
    assert length.k == 4
    length.update(0, 0)  # nothing drafted: nothing learnt
    assert length.k == 4


def test_a_lone_batched_decode_keeps_drafts_only_where_its_samplers_draw_them(tiny_path, alone, monkeypatch):
    """The adapt path (batched.decode_batched) verifies drafts as the engine does."""
    from opsgraft.llm.batched import PromptLookup, SamplingParams, decode_batched

    tokens = alone.prompt_tokens(PROMPTS[2])
    params = SamplingParams(1.0, 40, 0.95)
    want = decode_batched(alone.llm, tokens, [0, 1, 2], 3, params, 50, alone._stop_ids)
    truth = [r.tokens for r in want]
    calls = {"n": 0}

    def oracle(self, generated, k):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        ref = next(t for t in truth if t[:len(generated)] == list(generated))
        draft = ref[len(generated):len(generated) + k]
        if calls["n"] % 2 == 0 and len(draft) > 1:
            draft[1] = (draft[1] + 1) % 256
        return draft

    monkeypatch.setattr(PromptLookup, "draft", oracle)
    evaluated = alone.llm.tokens_evaluated
    got = decode_batched(alone.llm, tokens, [0, 1, 2], 3, params, 50, alone._stop_ids, lookup=True)
    assert [r.tokens for r in got] == truth and calls["n"] > 3
    steps = alone.llm.tokens_evaluated - evaluated
    assert steps > sum(len(t) for t in truth)  # rejected drafts were evaluated too
    # and the next calls, with real prompt lookup, decode as they did
    monkeypatch.undo()
    assert [g.text for g in alone.generate(PROMPTS[2], n=2, temperature=1.0, max_tokens=20, seed=1)] == \
        [g.text for g in alone.generate(PROMPTS[2], n=2, temperature=1.0, max_tokens=20, seed=1)]
