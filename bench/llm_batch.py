"""Batched against sequential decoding of n samples, on an adaptation prompt, for each local model.

For each model: the same prompt, n samples, temperature and seeds, decoded one after the other
(``LocalBackend(batched=False)``, the old path) and together (``batched=True``). Prints the prompt
evaluation time, the generated tokens/s of each, and batched wall time over sequential wall time.
Then a greedy check: at temperature 0 the batched sample 0 against the sequential one, as the
number of leading tokens they share.

Run (it loads the model twice per model and takes minutes on 2 cores):
  flock /tmp/opsgraft-heavy.lock .venv/bin/python bench/llm_batch.py [--models 1.5b,0.5b] [--max-tokens 256]
"""

from __future__ import annotations

import argparse
import gc
import time
from typing import Any

from opsgraft.config import apply_offline_env

TASK = "tracking-mlflow-sklearn-diabetes"


def prompt_messages() -> Any:
    """The zero-shot adaptation prompt of one corpus task."""
    from opsgraft.adapters.workflow import corpus_workflow

    flow = corpus_workflow(TASK)
    try:
        return flow.build_prompt(flow.source).messages
    except TypeError as exc:  # the worked-example section is optional; decoding speed does not need it
        print(f"prompt without the worked example ({exc})")
        flow.examples = False
        return flow.build_prompt(flow.source).messages


def timed(backend: Any, messages: Any, n: int, temperature: float, max_tokens: int, seed: int,
          cold: bool = True) -> dict[str, Any]:
    """One generate call (from a cold KV cache when ``cold``): wall, prompt time, generated tokens and tok/s."""
    if cold:
        backend.llm.reset()
    t0 = time.perf_counter()
    gens = backend.generate(messages, n=n, temperature=temperature, max_tokens=max_tokens, seed=seed)
    wall = time.perf_counter() - t0
    prompt_s = gens[0].prompt_eval_s
    tokens = sum(g.usage.completion_tokens for g in gens)
    return {"wall": wall, "prompt_s": prompt_s, "tokens": tokens, "tps": tokens / max(wall - prompt_s, 1e-9),
            "gens": gens, "ids": [backend.llm.tokenize(g.text.encode(), add_bos=False, special=True) for g in gens]}


def common_prefix(a: list[int], b: list[int]) -> int:
    """Leading tokens two sequences share."""
    k = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        k += 1
    return k


def bench_model(name: str, args: argparse.Namespace, messages: Any) -> dict[str, Any]:
    """Sequential then batched on one model; returns the numbers it printed."""
    from opsgraft.llm.local import LocalBackend, resolve_model

    model, _ = resolve_model(name)
    results: dict[str, Any] = {}
    for batched in (False, True):
        backend = LocalBackend(name, n_ctx=args.n_ctx, batched=batched)
        label = "batched" if batched else "sequential"
        plen = backend.count_tokens(messages)
        runs = [timed(backend, messages, args.n, args.temperature, args.max_tokens, args.seed)
                for _ in range(args.rounds)]
        best = min(runs, key=lambda r: r["wall"])
        greedy = timed(backend, messages, args.n if batched else 1, 0.0, args.max_tokens, args.seed, cold=False)
        results[label] = {"best": best, "greedy": greedy}
        print(f"{model} {label:10s}: prompt {plen} tokens in {best['prompt_s']:.1f}s; "
              f"n={args.n} T={args.temperature} -> {best['tokens']} tokens "
              f"({[g.usage.completion_tokens for g in best['gens']]}, "
              f"{[g.finish_reason for g in best['gens']]}) in {best['wall']:.1f}s wall, "
              f"generation {best['tps']:.2f} tok/s", flush=True)
        del backend
        gc.collect()
    seq, bat = results["sequential"]["best"], results["batched"]["best"]
    print(f"{model}: batched/sequential wall {bat['wall'] / seq['wall']:.3f}, "
          f"generation tok/s batched/sequential {bat['tps'] / seq['tps']:.3f}", flush=True)
    same_seed = [common_prefix(a, b) for a, b in zip(seq["ids"], bat["ids"], strict=False)]
    print(f"{model}: T={args.temperature} same seeds, leading tokens shared sequential vs batched per sample: "
          f"{same_seed} of {[len(i) for i in seq['ids']]}")
    g_seq = results["sequential"]["greedy"]["ids"][0]
    g_bat = results["batched"]["greedy"]["ids"]
    shared = [common_prefix(g_seq, b) for b in g_bat]
    print(f"{model}: greedy sequential sample 0 has {len(g_seq)} tokens; batched samples share "
          f"{shared} leading tokens with it (lengths {[len(b) for b in g_bat]}); "
          f"identical text: {[g.text == results['sequential']['greedy']['gens'][0].text for g in results['batched']['greedy']['gens']]}",
          flush=True)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="1.5b,0.5b", help="model names or .gguf paths, comma-separated")
    ap.add_argument("--n", type=int, default=3)
    ap.add_argument("--temperature", type=float, default=0.2)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--n-ctx", type=int, default=8192)
    args = ap.parse_args()
    apply_offline_env()
    messages = prompt_messages()
    for name in args.models.split(","):
        bench_model(name.strip(), args, messages)


if __name__ == "__main__":
    main()
