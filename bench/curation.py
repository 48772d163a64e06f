"""Curation and retrieval speed in one run.

Prints: crawl pages/s on a generated local site (target >= 10) with the default render="auto" (pages
parsed in Chromium without a page load once the first page reads the same both ways) against
render="always" (every page loaded; with 1 and 2 browsers), and their ratio; embed+upsert chunks/s, the time to
re-curate unchanged docs over the first curation (target <= 0.05; the normal curate path, where the
store's crawl manifest lets the server answer 304 and nothing is rendered), and retrieval p50
latency of a top-5 search over a 10k-chunk store (target <= 25 ms), with the query embedded by
ONNX Runtime (the default) and by torch, query by query, and their ratio.

Run: .venv/bin/python bench/curation.py [--pages 100] [--chunks 10000]
"""

from __future__ import annotations

import argparse
import html
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

WORDS = ("model metric epoch loss tracking registry artifact dataset remote commit version pipeline "
         "experiment parameter optimizer gradient checkpoint storage cache stage quantize prune").split()


def build_site(root: Path, n_pages: int, seed: int = 0) -> None:
    """A docs site: an index linking n pages, each with nav noise, prose and code blocks."""
    rng = random.Random(seed)
    docs = root / "docs"
    docs.mkdir(parents=True)
    (root / "robots.txt").write_text("User-agent: *\nDisallow: /docs/private/\n")
    nav = "".join(f'<a href="page-{i:03d}.html">P{i}</a>' for i in range(0, n_pages, 10))

    def wrap(title: str, body: str) -> str:
        return (f"<!doctype html><html><head><title>{title}</title></head><body><header>Site</header>"
                f"<nav>{nav}</nav><aside class='sidebar'>sidebar</aside><main>{body}</main>"
                f"<footer>footer</footer></body></html>")

    links = "".join(f'<li><a href="page-{i:03d}.html">Page {i}</a></li>' for i in range(n_pages))
    (docs / "index.html").write_text(wrap("Index", f"<h1>Index</h1><ul>{links}</ul>"))
    for i in range(n_pages):
        parts = [f"<h1>Page {i}</h1>"]
        for s in range(3):
            prose = " ".join(rng.choice(WORDS) for _ in range(120))
            code = "\n".join(f"def f_{i}_{s}_{k}(x):\n    return x * {k}" for k in range(4))
            parts.append(f"<h2 id='s{s}'>Section {s}</h2><p>{prose}.</p><pre><code>{html.escape(code)}</code></pre>")
        (docs / f"page-{i:03d}.html").write_text(wrap(f"Page {i}", "".join(parts)))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--latency-only", action="store_true", help="only the 10k-chunk search latency")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="opsgraft-bench-"))
    os.environ["OPSGRAFT_CACHE"] = str(tmp / "cache")
    from opsgraft.config import apply_offline_env

    apply_offline_env()
    from opsgraft.curation.crawler import CrawlConfig, Crawler
    from opsgraft.curation.embed import get_embedder
    from opsgraft.curation.pipeline import curate_url
    from opsgraft.curation.serve import serve_dir
    from opsgraft.curation.store import Stores

    build_site(tmp / "site", args.pages)
    embedder = get_embedder("local")  # loaded once, outside every timing
    embedder.embed(["warm up"])
    stores = Stores(tmp / "stores")
    with serve_dir(tmp / "site") as base:
        if not args.latency_only:
            start = base + "docs/index.html"
            rates = {}
            pages = {}
            for render, workers in (("always", 1), ("always", 2), ("auto", 1)):  # delay 0.05 s, the default
                crawler = Crawler(CrawlConfig(depth=1, max_pages=args.pages + 1, workers=workers, render=render))
                t = time.perf_counter()
                crawler.start_browsers()
                browser_s = time.perf_counter() - t
                result = crawler.crawl(start)
                n = len(result.pages)
                rates[render, workers] = n / result.elapsed_s
                pages[render, workers] = result.pages
                print(f"crawl, render={render}, {workers} browser(s): {n} pages ({result.parsed} parsed without a "
                      f"page load) in {result.elapsed_s:.2f}s = {rates[render, workers]:.1f} pages/s "
                      f"(browser start {browser_s:.2f}s excluded; {n / (result.elapsed_s + browser_s):.1f} pages/s "
                      f"with it) [target >= 10]")
            same = pages["auto", 1] == pages["always", 1]
            print(f"crawl speed-up of 2 browsers over 1 (render=always): {rates['always', 2] / rates['always', 1]:.2f}x")
            print(f"crawl speed-up of render=auto over render=always (1 browser): "
                  f"{rates['auto', 1] / rates['always', 1]:.2f}x; extracted pages identical: {same}")

            t = time.perf_counter()
            first = curate_url(start, "benchsite", "1.0", depth=1, max_pages=args.pages + 1, summarize="none",
                               stores=stores)
            first_s = time.perf_counter() - t
            assert first.write is not None
            store_s = first.timings["store_s"]
            print(f"first curation: {first.pages} pages, {first.chunks} chunks in {first_s:.2f}s "
                  f"(crawl {first.timings['crawl_s']:.2f}s, chunk {first.timings['chunk_s']:.2f}s, "
                  f"embed+upsert {store_s:.2f}s = {first.chunks / store_s:.1f} chunks/s)")
            t = time.perf_counter()
            again = curate_url(start, "benchsite", "1.0", depth=1, max_pages=args.pages + 1, summarize="none",
                               stores=stores)
            again_s = time.perf_counter() - t
            assert again.write is not None
            print(f"re-curation of unchanged docs: {again_s:.2f}s, {again.write.embedded} embedded; "
                  f"ratio {again_s / first_s:.3f} [target <= 0.05]")
            print(f"re-curation: {again.pages} pages ({again.unchanged} unchanged, {again.rendered} rendered, "
                  f"{again.rechunked} chunked anew; crawl {again.timings['crawl_s']:.2f}s, "
                  f"chunk {again.timings['chunk_s']:.2f}s, store {again.timings['store_s']:.2f}s)")

    # 10k chunks: synthetic unit vectors (search cost does not depend on what they mean), real queries.
    import numpy as np

    from opsgraft.curation.store import collection_name
    from opsgraft.retrieval.search import searcher

    rng = np.random.default_rng(0)
    client = stores.client
    from opsgraft.curation.embed import ChromaEmbedding

    col = client.create_collection(collection_name("bench10k", "1.0"), embedding_function=ChromaEmbedding(embedder),
                                   metadata={"component": "bench10k", "version": "1.0", "embedder": embedder.name,
                                             "hnsw:space": "cosine", "summarize": "none"})
    t = time.perf_counter()
    for startn in range(0, args.chunks, 1000):
        vecs = rng.normal(size=(min(1000, args.chunks - startn), embedder.dim)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        ids = [f"c{startn + i}" for i in range(len(vecs))]
        col.add(ids=ids, embeddings=vecs.tolist(), documents=[f"doc {i}" for i in ids],
                metadatas=[{"url": f"http://x/{i}", "heading_path": f"h {i}"} for i in ids])
    print(f"10k store: {col.count()} chunks added in {time.perf_counter() - t:.1f}s")
    s = searcher("bench10k", tmp / "stores")
    queries = [f"how do I {random.Random(i).choice(WORDS)} the {random.Random(i + 1).choice(WORDS)} {i}"
               for i in range(args.queries)]
    for q in queries[:5]:
        s.search(q, 5)
    # The query embedding's two runtimes, side by side, query by query (ONNX Runtime is the default).
    runtimes = ["onnx", "torch"] if getattr(embedder, "runtime", "") == "onnx" else [getattr(embedder, "runtime", "")]
    lat: dict[str, list[float]] = {r: [] for r in runtimes}
    emb: dict[str, list[float]] = {r: [] for r in runtimes}
    for i, q in enumerate(queries):
        for rt in runtimes:
            if rt:
                embedder.runtime = rt
            t = time.perf_counter()
            docs = s.search(q, 5)
            lat[rt].append((time.perf_counter() - t) * 1000)
            assert len(docs) == 5
            if i < 30:
                t = time.perf_counter()
                embedder.embed([q])
                emb[rt].append((time.perf_counter() - t) * 1000)
    for rt in runtimes:
        print(f"retrieval top-5 over {col.count()} chunks, {rt or 'query'} embedding: p50 {statistics.median(lat[rt]):.1f} ms, "
              f"p95 {sorted(lat[rt])[int(len(lat[rt]) * 0.95)]:.1f} ms (query embedding alone p50 "
              f"{statistics.median(emb[rt]):.1f} ms) [target p50 <= 25 ms]")
    if len(runtimes) == 2:
        print(f"search p50 torch/onnx: {statistics.median(lat['torch']) / statistics.median(lat['onnx']):.2f}x "
              f"(embedding alone {statistics.median(emb['torch']) / statistics.median(emb['onnx']):.2f}x)")
    embedder.runtime = runtimes[0] or embedder.runtime
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
