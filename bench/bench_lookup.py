"""Batched decoding with prompt-lookup drafts against without, on corpus adaptation prompts.

For each task: the same zero-shot prompt, n samples, temperature and seeds, decoded together
(``LocalBackend(batched=True)``, what `opsgraft adapt` runs) with ``lookup=False`` and then with
``lookup=True``: each sequence drafts its next tokens from the prompt and the model keeps those its
own sampler draws (opsgraft/llm/batched.py). Prints each side's decode time (wall minus the prompt's
evaluation), generated tokens/s, the draft tokens evaluated, and decode time with / without. Drafts
change how soon a sample ends, not its tokens; the texts can still differ where the other batch
shapes flip a near-tie in the logits, as any two batch shapes can, so the script counts equal samples.

Run (heavy: it loads the model twice): flock /tmp/opsgraft-heavy.lock .venv/bin/python bench/bench_lookup.py
  [--tasks ID ...] [--model 1.5b] [--n 3] [--max-tokens 2048]
"""

from __future__ import annotations

import argparse
import gc
import time
from typing import Any

from opsgraft.config import apply_offline_env

TASKS = ["pruning-torch-digits-mlp", "tracking-mlflow-sklearn-diabetes"]


def prompt(task: str) -> Any:
    from opsgraft.adapters.workflow import corpus_workflow

    flow = corpus_workflow(task, mode="zero-shot")
    return flow.build_prompt(flow.source).messages


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", nargs="*", default=TASKS)
    ap.add_argument("--model", default=None, help="model name or .gguf path (default: the embedded 1.5B)")
    ap.add_argument("--n", type=int, default=3)
    ap.add_argument("--temperature", type=float, default=0.2)
    ap.add_argument("--max-tokens", type=int, default=2048)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    apply_offline_env()
    from opsgraft.llm.local import LocalBackend

    prompts = {t: prompt(t) for t in args.tasks}
    decode: dict[bool, float] = {}
    texts: dict[bool, list[str]] = {}
    for lookup in (False, True):
        backend = LocalBackend(args.model, batched=True, lookup=lookup)
        decode[lookup], texts[lookup], tokens, evaluated = 0.0, [], 0, 0
        for task, messages in prompts.items():
            backend.llm.reset()
            before = backend.llm.tokens_evaluated - backend.llm.prompt_tokens_evaluated
            t0 = time.perf_counter()
            gens = backend.generate(messages, n=args.n, temperature=args.temperature, max_tokens=args.max_tokens,
                                    seed=args.seed)
            took = time.perf_counter() - t0 - gens[0].prompt_eval_s
            evaluated += backend.llm.tokens_evaluated - backend.llm.prompt_tokens_evaluated - before
            decode[lookup] += took
            tokens += sum(g.usage.completion_tokens for g in gens)
            texts[lookup] += [g.text for g in gens]
            print(f"lookup={lookup!s:5} {task}: {[g.usage.completion_tokens for g in gens]} tokens, decode {took:.1f}s",
                  flush=True)
        print(f"lookup={lookup!s:5} all: {tokens} tokens in {decode[lookup]:.1f}s of decoding, "
              f"{tokens / decode[lookup]:.1f} tok/s; {evaluated} decode positions evaluated "
              f"({evaluated - tokens} of them drafts not kept or stop tokens)", flush=True)
        del backend
        gc.collect()
    same = sum(a == b for a, b in zip(texts[False], texts[True], strict=True))
    print(f"samples with equal text: {same} of {len(texts[True])}")
    print(f"decode time with lookup / without: {decode[True] / decode[False]:.2f}")


if __name__ == "__main__":
    main()
