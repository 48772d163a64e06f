"""The local embedder: a one-text call (the query path) gives the vector a batch gives."""

from __future__ import annotations

import numpy as np

from opsgraft.curation.embed import MAX_QUERY_THREADS, get_embedder, idle_cores


def test_a_single_text_embeds_as_in_a_batch() -> None:
    emb = get_embedder("local")
    texts = ["log a metric per epoch", "word " * 400, "ünïcode query with `code()`"]  # the 2nd is truncated
    batch = np.array(emb.embed([*texts, "a shorter neighbour"]))[: len(texts)]
    single = np.array([emb.embed([t])[0] for t in texts])
    assert single.shape == (3, emb.dim)
    np.testing.assert_allclose(single, batch, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(single, axis=1), 1.0, atol=1e-5)
    assert float(single[0] @ single[2]) < 0.9  # distinct texts, distinct vectors


def test_a_query_takes_the_cores_nobody_else_runs_on(tmp_path) -> None:
    import os

    cores = len(os.sched_getaffinity(0))
    loadavg = tmp_path / "loadavg"
    loadavg.write_text("2.10 1.90 1.70 1/345 6789\n")  # only the caller runs
    assert idle_cores(str(loadavg)) == min(MAX_QUERY_THREADS, cores)
    loadavg.write_text(f"2.10 1.90 1.70 {cores + 1}/345 6789\n")  # every core is taken by others
    assert idle_cores(str(loadavg)) == 1
    loadavg.write_text("garbage\n")
    assert idle_cores(str(loadavg)) == 1
    assert idle_cores(str(tmp_path / "missing")) == 1


def test_embed_threads_pins_the_thread_count(monkeypatch) -> None:
    import torch

    from opsgraft.curation.embed import LocalEmbedder

    monkeypatch.setenv("OPSGRAFT_EMBED_THREADS", "2")
    emb = LocalEmbedder()
    before = torch.get_num_threads()
    try:
        emb.embed(["one query"])
        assert torch.get_num_threads() == 2  # whatever the load
    finally:
        torch.set_num_threads(before)
