"""The local embedder: a one-text call (the query path) gives the vector a batch gives."""

from __future__ import annotations

import numpy as np

from opsgraft.curation.embed import get_embedder


def test_a_single_text_embeds_as_in_a_batch() -> None:
    emb = get_embedder("local")
    texts = ["log a metric per epoch", "word " * 400, "ünïcode query with `code()`"]  # the 2nd is truncated
    batch = np.array(emb.embed([*texts, "a shorter neighbour"]))[: len(texts)]
    single = np.array([emb.embed([t])[0] for t in texts])
    assert single.shape == (3, emb.dim)
    np.testing.assert_allclose(single, batch, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(single, axis=1), 1.0, atol=1e-5)
    assert float(single[0] @ single[2]) < 0.9  # distinct texts, distinct vectors
