"""Local backend speed against raw llama-cpp-python on the same prompt, in one run.

Prints:
  - opsgraft local backend generated tok/s over raw llama-cpp-python tok/s (target >= 0.95)
  - prompt-evaluation time for n=3 over n=1 (target <= 1.2)

Run: .venv/bin/python bench/llm_speed.py [--tokens 64]
"""

from __future__ import annotations

import argparse
import time

from opsgraft.config import apply_offline_env, model_path
from opsgraft.types import Message

PROMPT = [
    Message("system", "You are a senior machine-learning engineer. Answer with Python code only."),
    Message("user", "Write a PyTorch training loop for a small MLP on random data, with an Adam optimizer, "
                    "a learning-rate scheduler and a validation step after each epoch. " * 3),
]


def raw_speed(llm, tokens: list[int], n_gen: int, seed: int) -> tuple[float, float]:
    """(prompt eval seconds, generated tok/s) with llama-cpp-python's own generate loop."""
    llm.reset()
    llm.set_seed(seed)
    t0 = time.perf_counter()
    first = None
    count = 0
    for _tok in llm.generate(tokens, temp=0.7, top_p=0.95, top_k=40, min_p=0.05, repeat_penalty=1.0, reset=True):
        if first is None:
            first = time.perf_counter()
        count += 1
        if count >= n_gen:
            break
    end = time.perf_counter()
    assert first is not None
    return first - t0, (count - 1) / (end - first)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokens", type=int, default=64, help="tokens to generate per sample")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    apply_offline_env()
    from opsgraft.llm.local import LocalBackend

    backend = LocalBackend(n_ctx=4096)
    tokens = backend.prompt_tokens(PROMPT)
    print(f"model {model_path().name}, prompt {len(tokens)} tokens, {args.tokens} generated tokens per sample")

    ours, raw = [], []
    for r in range(args.rounds):
        # Raw first each round, on the same Llama object and a cold cache for both.
        backend.llm.reset()
        _, raw_tps = raw_speed(backend.llm, tokens, args.tokens, seed=r)
        raw.append(raw_tps)
        backend.llm.reset()
        g = backend.generate(PROMPT, n=1, temperature=0.7, max_tokens=args.tokens, seed=r)[0]
        ours.append((g.usage.completion_tokens - 1) / (g.wall_s - g.prompt_eval_s))
    ours_tps, raw_tps = max(ours), max(raw)
    print(f"generation: opsgraft {ours_tps:.2f} tok/s, raw llama-cpp-python {raw_tps:.2f} tok/s, "
          f"ratio {ours_tps / raw_tps:.3f} (target >= 0.95)")

    backend.llm.reset()
    one = backend.generate(PROMPT, n=1, temperature=0.7, max_tokens=4, seed=0)
    t1 = one[0].prompt_eval_s
    backend.llm.reset()
    before = backend.counters["prompt_tokens_evaluated"]
    three = backend.generate(PROMPT, n=3, temperature=0.7, max_tokens=4, seed=0)
    t3 = sum(g.prompt_eval_s for g in three)
    evaluated = backend.counters["prompt_tokens_evaluated"] - before
    print(f"prompt eval: n=1 {t1:.2f}s, n=3 {t3:.2f}s ({evaluated} prompt tokens evaluated for "
          f"{len(tokens)}), ratio {t3 / t1:.3f} (target <= 1.2)")
    print(f"prompt throughput: {len(tokens) / t1:.1f} tok/s")


if __name__ == "__main__":
    main()
