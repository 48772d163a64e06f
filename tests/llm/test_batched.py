"""Batched decoding: group sizes, and the real llama.cpp path on a tiny random model."""

import pytest

from opsgraft.llm.batched import group_size
from opsgraft.types import Message
from tests.llm.tiny_gguf import write_tiny_qwen2

MSGS = [Message("user", "Write one sentence about the sea.")]


def test_group_size_is_bounded_by_n_sequences_and_cells():
    assert group_size(3, prompt_len=100, max_tokens=256, n_ctx=1024, n_seq_max=8) == 3
    assert group_size(12, prompt_len=100, max_tokens=64, n_ctx=8192, n_seq_max=8) == 8
    # 1024 - 500 cells leave room for two samples of 200 tokens, not three.
    assert group_size(3, prompt_len=500, max_tokens=200, n_ctx=1024, n_seq_max=8) == 2
    assert group_size(3, prompt_len=500, max_tokens=300, n_ctx=1024, n_seq_max=8) == 1
    assert group_size(3, prompt_len=100, max_tokens=64, n_ctx=1024, n_seq_max=1) == 1


# The batched path for real, on a tiny random qwen2 that llama.cpp runs like the real model.
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    pytest.importorskip("llama_cpp")
    from opsgraft.llm.local import LocalBackend

    path = write_tiny_qwen2(tmp_path_factory.mktemp("tiny") / "tiny.gguf")
    return LocalBackend(path, n_ctx=1024, batched=True)


def test_batched_n3_distinct_reproducible_and_seeded_by_index(tiny):
    assert tiny.batched and tiny.n_seq_max >= 3 and tiny.model == "tiny"
    before = tiny.counters
    a = tiny.generate(MSGS, n=3, temperature=1.0, max_tokens=20, seed=7)
    after = tiny.counters
    assert [g.index for g in a] == [0, 1, 2] and len({g.text for g in a}) == 3
    assert after["full_prompt_evals"] - before["full_prompt_evals"] <= 1
    assert [g.usage.prompt_tokens > 0 for g in a] == [True, False, False]
    again = tiny.generate(MSGS, n=3, temperature=1.0, max_tokens=20, seed=7)
    assert [g.text for g in again] == [g.text for g in a]
    shifted = tiny.generate(MSGS, n=3, temperature=1.0, max_tokens=20, seed=6, first_index=1)
    assert [g.index for g in shifted] == [1, 2, 3] and [g.text for g in shifted] == [g.text for g in a]


def test_batched_equals_sequential_on_the_tiny_model(tiny):
    batched = tiny.generate(MSGS, n=3, temperature=1.0, max_tokens=20, seed=3)
    greedy = tiny.generate(MSGS, n=2, temperature=0.0, max_tokens=20, seed=3)
    tiny.batched = False
    try:
        sequential = tiny.generate(MSGS, n=3, temperature=1.0, max_tokens=20, seed=3)
        greedy_seq = tiny.generate(MSGS, n=1, temperature=0.0, max_tokens=20, seed=3)
    finally:
        tiny.batched = True
    assert [g.text for g in batched] == [g.text for g in sequential]
    assert greedy[0].text == greedy[1].text == greedy_seq[0].text


def test_each_sequence_stops_at_its_own_stop_token(tiny):
    from opsgraft.llm.batched import SamplingParams, decode_batched

    prompt = tiny.prompt_tokens(MSGS)
    params = SamplingParams(temperature=1.0, top_k=40, top_p=0.95)
    free = decode_batched(tiny.llm, prompt, [0, 1, 2, 3], 5, params, 20, set())
    assert [r.finish_reason for r in free] == ["length"] * 4 and all(len(r.tokens) == 20 for r in free)
    # Make the 4th token of sample 0 a stop token: every sample must end right before its first one.
    stop = free[0].tokens[3]
    cut = decode_batched(tiny.llm, prompt, [0, 1, 2, 3], 5, params, 20, {stop})
    for before, after in zip(free, cut, strict=True):
        first = before.tokens.index(stop) if stop in before.tokens else None
        if first is None:
            assert (after.finish_reason, after.tokens) == ("length", before.tokens)
        else:
            assert (after.finish_reason, after.tokens) == ("stop", before.tokens[:first])
    assert cut[0].finish_reason == "stop" and len(cut[0].tokens) <= 3


def test_groups_and_sequential_fallback_when_the_cache_is_short(tiny, caplog):
    with caplog.at_level("INFO", logger="opsgraft.llm.local"):
        grouped = tiny.generate(MSGS, n=5, temperature=1.0, max_tokens=300, seed=1)
    assert [g.index for g in grouped] == [0, 1, 2, 3, 4] and "groups of 3" in caplog.text
    caplog.clear()
    with caplog.at_level("INFO", logger="opsgraft.llm.local"):
        single = tiny.generate(MSGS, n=3, temperature=1.0, max_tokens=600, seed=1)
    assert [g.index for g in single] == [0, 1, 2] and "one by one" in caplog.text


def test_looping_finds_a_span_repeated_16_times_and_not_code_that_repeats_a_line_a_few_times():
    from opsgraft.llm.batched import LOOP_REPEATS, looping

    line = [11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25]  # one line of a dozen tokens
    head = list(range(100, 160))
    assert looping(head + line * LOOP_REPEATS)
    assert looping(head + [7] * LOOP_REPEATS)  # one token over and over
    assert not looping(head + line * (LOOP_REPEATS - 1))
    assert not looping(line * LOOP_REPEATS + [1, 2])  # the loop was left: its tail differs
    assert not looping(head + [9] * 40 + line * 3)
    assert not looping(list(range(500)))
    assert not looping([])


def test_a_sample_stuck_in_a_loop_ends_early_batched_and_sequential(tiny, monkeypatch):
    """cfg-json9: 4 of 6 keras answers repeated one Dense(...) line to the 2048-token cap, up to 538 s each."""
    import itertools

    import llama_cpp

    cycles: dict[int, itertools.cycle] = {}

    def stuck(chain, ctx, index):  # type: ignore[no-untyped-def]
        return next(cycles.setdefault(id(chain), itertools.cycle([65, 66, 67])))

    monkeypatch.setattr(llama_cpp, "llama_sampler_sample", stuck)
    gens = tiny.generate(MSGS, n=2, temperature=1.0, max_tokens=400, seed=1)
    assert [(g.finish_reason, g.usage.completion_tokens) for g in gens] == [("loop", 48), ("loop", 48)]
    monkeypatch.setattr(tiny.llm, "generate", lambda *a, **k: itertools.cycle([65, 66, 67, 68]))
    tiny.batched = False
    try:
        [gen] = tiny.generate(MSGS, n=1, temperature=1.0, max_tokens=400, seed=1)
    finally:
        tiny.batched = True
    assert (gen.finish_reason, gen.usage.completion_tokens) == ("loop", 64)
