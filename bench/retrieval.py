"""recall@5 per store on the labelled set corpus/retrieval_set.yaml (stores from `opsgraft curate --package`).

Run: .venv/bin/python bench/retrieval.py [--top-k 5] [--stores-dir DIR] [-v]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from importlib import resources
from pathlib import Path

import yaml

from opsgraft.config import apply_offline_env


def is_hit(title: str, expected: list[str]) -> bool:
    """True if the doc's own heading (last of its path) names one of the expected APIs."""
    last = title.split(" > ")[-1].strip()
    for prefix in ("class ", "property "):
        last = last.removeprefix(prefix)
    return any(last == e or last.endswith("." + e) for e in expected)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--stores-dir", default=None)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    apply_offline_env()
    from opsgraft.errors import StoreError
    from opsgraft.retrieval import RetrievalRequest, retrieve

    data = yaml.safe_load(resources.files("opsgraft.corpus").joinpath("retrieval_set.yaml").read_text())
    by_store: dict[str, list[dict]] = defaultdict(list)
    for q in data["queries"]:
        by_store[q["store"]].append(q)
    trace = Path(tempfile.mkdtemp()) / "trace.jsonl"
    print(f"{'store':<22} {'queries':>7} {'recall@' + str(args.top_k):>9} {'p50 ms':>7}")
    total_hits = total = 0
    held = [0, 0]  # hits, queries among those marked heldout (added after the ranking was tuned)
    for store, queries in by_store.items():
        hits, lat = 0, []
        try:
            for q in queries:
                req = RetrievalRequest(code="", target=store, instruction=q["query"], top_k=args.top_k)
                t = time.perf_counter()
                docs = retrieve("target-search", req, stores_dir=args.stores_dir, trace_path=trace)
                lat.append((time.perf_counter() - t) * 1000)
                ok = any(is_hit(d.title, q["expected"]) for d in docs)
                hits += ok
                if q.get("heldout"):
                    held[0] += ok
                    held[1] += 1
                if args.verbose or not ok:
                    mark = "ok  " if ok else "MISS"
                    print(f"  {mark} {q['query']!r}: " + " | ".join(d.title.split(' > ')[-1] for d in docs))
        except StoreError as exc:
            print(f"{store:<22} {'-':>7} {'-':>9}   ({exc})")
            continue
        key = docs[0].component + "@" + docs[0].version if docs else store
        lat.sort()
        print(f"{key:<22} {len(queries):>7} {hits / len(queries):>9.2f} {lat[len(lat) // 2]:>7.1f}")
        total_hits += hits
        total += len(queries)
    if total:
        print(f"{'all':<22} {total:>7} {total_hits / total:>9.2f}")
    if held[1]:
        print(f"{'held out':<22} {held[1]:>7} {held[0] / held[1]:>9.2f}")
        if total > held[1]:
            print(f"{'tuned on':<22} {total - held[1]:>7} {(total_hits - held[0]) / (total - held[1]):>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
