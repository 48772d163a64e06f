"""The embedded model, for real: one prompt evaluation for n samples, and the overflow check.

All ``slow``: loading the 1.1 GB model is the real-model cost the default run leaves out (STYLE.md,
Tests: ``slow`` is real training or the real local model). The default run still drives llama.cpp
through LocalBackend on a tiny random GGUF (tests/llm/test_batched.py); run these with ``-m slow``.
"""

import pytest

from opsgraft import config
from opsgraft.errors import ContextOverflowError
from opsgraft.types import Message

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not config.model_path().is_file(), reason="embedded model not assembled (run scripts/setup.sh)"),
]


@pytest.fixture(scope="module")
def backend():
    from opsgraft.llm.local import LocalBackend

    # Batched decoding on; the sequential tests switch it off for their call.
    return LocalBackend(n_ctx=1024, batched=True)


MSGS = [Message("system", "You write Python."), Message("user", "Write a Python function that adds two numbers.")]


def test_n3_evaluates_the_prompt_once(backend):
    before = dict(backend.counters)
    prompt_len = backend.count_tokens(MSGS)
    out = backend.generate(MSGS, n=3, temperature=0.8, max_tokens=8, seed=1)
    after = backend.counters
    assert len(out) == 3 and all(g.usage.completion_tokens > 0 for g in out)
    assert after["full_prompt_evals"] - before["full_prompt_evals"] == 1
    # Later samples re-evaluate at most the last prompt token; the prompt is paid once.
    assert after["prompt_tokens_evaluated"] - before["prompt_tokens_evaluated"] <= prompt_len + 2
    assert out[0].usage.prompt_tokens >= prompt_len - 1
    assert all(g.usage.prompt_tokens <= 1 for g in out[1:])


def test_seeded_sampling_is_reproducible(backend):
    a = backend.generate(MSGS, n=2, temperature=0.9, max_tokens=12, seed=5)
    b = backend.generate(MSGS, n=2, temperature=0.9, max_tokens=12, seed=5)
    assert [g.text for g in a] == [g.text for g in b]


def test_chat_template_and_token_count(backend):
    tokens = backend.prompt_tokens(MSGS)
    text = backend.llm.detokenize(tokens, special=True).decode()
    assert "<|im_start|>user" in text and text.rstrip().endswith("<|im_start|>assistant")
    assert backend.count_tokens(MSGS) == len(tokens)


def test_overflow_is_reported_before_generation(backend):
    before = backend.counters["tokens_evaluated"]
    with pytest.raises(ContextOverflowError, match="context window of 1024"):
        backend.generate([Message("user", "token " * 2000)], n=1, max_tokens=16)
    assert backend.counters["tokens_evaluated"] == before


# Batched decoding: the n samples of a call decoded together as llama.cpp sequences.
OPEN = [Message("user", "Write one sentence about the sea.")]
YES = [Message("system", "Answer with one word."), Message("user", "Is water wet? Answer yes or no.")]


@pytest.mark.slow
def test_batched_n3_gives_distinct_seeded_samples(backend):
    assert backend.batched and backend.n_seq_max >= 3
    out = backend.generate(OPEN, n=3, temperature=1.0, max_tokens=16, seed=11)
    assert [g.index for g in out] == [0, 1, 2]
    assert all(g.usage.completion_tokens > 0 and g.wall_s > 0 for g in out)
    assert len({g.text for g in out}) == 3
    assert out[0].prompt_eval_s > 0 and out[1].usage.prompt_tokens == 0


@pytest.mark.slow
def test_batched_is_reproducible_and_sample_i_uses_seed_plus_i(backend):
    a = backend.generate(OPEN, n=3, temperature=1.0, max_tokens=12, seed=7)
    b = backend.generate(OPEN, n=3, temperature=1.0, max_tokens=12, seed=7)
    assert [g.text for g in a] == [g.text for g in b]
    # Samples 1..3 with seed 6 draw with seeds 7..9: the batch of the first call, one index on.
    c = backend.generate(OPEN, n=3, temperature=1.0, max_tokens=12, seed=6, first_index=1)
    assert [g.index for g in c] == [1, 2, 3]
    assert [g.text for g in c] == [g.text for g in a]


@pytest.mark.slow
def test_batched_sequences_stop_at_their_stop_token(backend):
    out = backend.generate(YES, n=3, temperature=0.5, max_tokens=48, seed=3)
    assert [g.finish_reason for g in out] == ["stop"] * 3
    assert all(0 < g.usage.completion_tokens < 48 and "<|im_end|>" not in g.text for g in out)
    assert all("yes" in g.text.lower() for g in out)
    long = backend.generate(OPEN, n=2, temperature=1.0, max_tokens=5, seed=3)
    assert [(g.finish_reason, g.usage.completion_tokens) for g in long] == [("length", 5)] * 2


@pytest.mark.slow
def test_batched_greedy_matches_sequential_greedy(backend):
    batched = backend.generate(YES, n=2, temperature=0.0, max_tokens=16, seed=0)
    backend.batched = False
    try:
        sequential = backend.generate(YES, n=1, temperature=0.0, max_tokens=16, seed=0)
    finally:
        backend.batched = True
    assert batched[0].text == batched[1].text == sequential[0].text


@pytest.mark.slow
def test_sequential_path_and_small_context_fallback(backend, caplog):
    backend.batched = False
    try:
        before = backend.counters["tokens_evaluated"]
        out = backend.generate(OPEN, n=3, temperature=1.0, max_tokens=8, seed=2)
        assert len(out) == 3 and len({g.text for g in out}) > 1
        assert backend.counters["tokens_evaluated"] > before
    finally:
        backend.batched = True
    # Prompt + 2 x 600 tokens overflow the 1024-token context: the samples go one by one.
    with caplog.at_level("INFO", logger="opsgraft.llm.local"):
        out = backend.generate(OPEN, n=3, temperature=1.0, max_tokens=600, seed=2)
    assert len(out) == 3 and "one by one" in caplog.text


# Read before the hermetic-cache fixture points OPSGRAFT_CACHE at a tmp dir.
REAL_CACHE = config.cache_dir()


@pytest.mark.slow
@pytest.mark.skipif(not config.model_path("0.5b").is_file(), reason="0.5B not assembled (opsgraft model install --model 0.5b)")
def test_the_05b_model_loads_by_name_and_decodes_batched(monkeypatch):
    from opsgraft.llm.local import LocalBackend

    monkeypatch.setenv("OPSGRAFT_CACHE", str(REAL_CACHE))
    small = LocalBackend("0.5b", n_ctx=1024)
    assert small.model == config.model_spec("0.5b").name
    assert small.llm.metadata["general.architecture"] == "qwen2" and small.llm.metadata["tokenizer.chat_template"]
    out = small.generate(YES, n=3, temperature=0.5, max_tokens=16, seed=1)
    assert len(out) == 3 and all(g.usage.completion_tokens > 0 for g in out)
