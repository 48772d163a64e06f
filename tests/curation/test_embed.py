"""The local embedder: a one-text call (the query path, ONNX Runtime) gives the vector a batch (torch) gives."""

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
    monkeypatch.setenv("OPSGRAFT_EMBED_RUNTIME", "torch")  # the ONNX session keeps its own threads
    emb = LocalEmbedder()
    before = torch.get_num_threads()
    try:
        emb.embed(["one query"])
        assert torch.get_num_threads() == 2  # whatever the load
    finally:
        torch.set_num_threads(before)


TEXTS = ["log a metric per epoch", "word " * 400, "ünïcode query with `mlflow.log_metric(key, value)`", ""]


def test_the_onnx_query_path_gives_the_torch_vector_and_is_cached() -> None:
    from opsgraft.curation.embed import LocalEmbedder, onnx_export_path

    emb = LocalEmbedder()
    enc = emb.query_encoder()
    assert enc is not None
    path = onnx_export_path(emb.model_dir)
    assert path.stat().st_size > 10_000_000 and path.with_suffix(".probe.json").exists()
    assert not list(path.parent.glob("*.tmp*"))  # the export was moved into place whole
    for text in TEXTS:
        np.testing.assert_allclose(enc(text), emb._torch_query(text), atol=1e-5)
    # A second embedder finds the export and answers a query without loading the torch model.
    again = LocalEmbedder()
    mtime = path.stat().st_mtime_ns
    np.testing.assert_allclose(again.embed([TEXTS[0]])[0], emb._torch_query(TEXTS[0]), atol=1e-5)
    assert again._model is None and path.stat().st_mtime_ns == mtime


def test_a_damaged_export_is_exported_again(caplog) -> None:
    from opsgraft.curation.embed import LocalEmbedder, onnx_export_path

    first = LocalEmbedder()
    first.query_encoder()
    path = onnx_export_path(first.model_dir)
    path.write_bytes(b"not an onnx graph")
    emb = LocalEmbedder()
    with caplog.at_level("INFO", logger="opsgraft.curation.embed"):
        vec = emb.embed([TEXTS[2]])[0]
    assert any("re-exporting" in r.getMessage() for r in caplog.records)
    assert emb.query_encoder() is not None and path.stat().st_size > 10_000_000
    np.testing.assert_allclose(vec, first._torch_query(TEXTS[2]), atol=1e-5)


def test_an_export_that_does_not_match_its_probe_is_not_trusted() -> None:
    import json

    from opsgraft.curation.embed import LocalEmbedder, OnnxQueryEncoder, onnx_export_path

    emb = LocalEmbedder()
    emb.query_encoder()
    path = onnx_export_path(emb.model_dir)
    probe = path.with_suffix(".probe.json")
    data = json.loads(probe.read_text())
    data["vector"] = [-x for x in data["vector"]]
    probe.write_text(json.dumps(data))
    try:
        OnnxQueryEncoder(path, emb.tokenizer, emb.max_tokens)
    except ValueError as exc:
        assert "does not give the vector it was exported with" in str(exc)
    else:
        raise AssertionError("a mismatching probe was accepted")


def test_the_torch_runtime_skips_onnx_and_a_bad_runtime_is_refused(monkeypatch) -> None:
    import pytest

    from opsgraft.curation.embed import LocalEmbedder, onnx_export_path
    from opsgraft.errors import ConfigError

    monkeypatch.setenv("OPSGRAFT_EMBED_RUNTIME", "torch")
    emb = LocalEmbedder()
    assert emb.query_encoder() is None and len(emb.embed(["a query"])[0]) == emb.dim
    assert not onnx_export_path(emb.model_dir).exists()
    monkeypatch.setenv("OPSGRAFT_EMBED_RUNTIME", "tensorrt")
    with pytest.raises(ConfigError, match="OPSGRAFT_EMBED_RUNTIME"):
        LocalEmbedder()


def test_tokens_are_counted_as_the_model_tokenizer_cuts_them() -> None:
    emb = get_embedder("local")
    hf = emb.model.tokenizer
    for text in TEXTS:
        assert emb.count_tokens(text) == len(hf(text, add_special_tokens=False, truncation=False)["input_ids"])
    assert emb.count_tokens(TEXTS[1]) == 400  # counting does not truncate
