"""The embedded model, for real: one prompt evaluation for n samples, and the overflow check."""

import pytest

from opsgraft import config
from opsgraft.errors import ContextOverflowError
from opsgraft.types import Message

pytestmark = pytest.mark.skipif(
    not config.model_path().is_file(), reason="embedded model not assembled (run scripts/setup.sh)"
)


@pytest.fixture(scope="module")
def backend():
    from opsgraft.llm.local import LocalBackend

    return LocalBackend(n_ctx=1024)


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
