"""Synopsis chunks: a hit on an API's first paragraph returns the API's chunk with its signature."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsgraft.curation.chunker import Chunker
from opsgraft.curation.embed import get_embedder
from opsgraft.curation.store import Stores
from opsgraft.retrieval.search import searcher
from opsgraft.types import RawPage

# A long signature dilutes the embedding of tool.strip's chunk (cosine to the query 0.469 as embedded,
# 0.523 for its first paragraph alone); the fillers sit in between (0.474, 0.484) or above (0.533).
PARAMS = ", ".join(f"{n}: int | None = None" for n in (
    "tokenizer_config", "quantization_bits", "learning_rate", "warmup_steps", "random_seed", "batch_size",
    "num_workers", "gradient_clip", "weight_decay", "mixed_precision", "checkpoint_dir", "log_interval",
    "device_map", "cache_dir"))
SECTIONS = {
    "tool.strip": (f"tool.strip(model: TModel, *, {PARAMS})",
                   "Removes auxiliary layers and operations added during compression, so the model is clean "
                   "for export."),
    "tool.add_layer": ("tool.add_layer(model)", "Inserts an extra layer into the model before export."),
    "tool.export_layers": ("tool.export_layers(model)", "Exports the layers of the model."),
    "tool.aux_layers": ("tool.aux_layers(model)", "Lists the auxiliary layers of the model."),
}
QUERY = "remove auxiliary layers before export"


def api_page() -> RawPage:
    body = "\n\n".join(f"## {name}\n\n```\n{sig}\n```\n\n{doc}" for name, (sig, doc) in SECTIONS.items())
    return RawPage(url="http://127.0.0.1/tool.html", title="tool", text=f"# tool\n\n{body}")


def build(root: Path, synopses: bool, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    emb = get_embedder("local")
    chunker = Chunker(emb.count_tokens)
    if not synopses:
        monkeypatch.setattr(chunker, "_synopsis", lambda sec: "")
    Stores(root).write("tool", "1.0", chunker.chunk_page(api_page(), "tool", "1.0"), emb, {})
    docs = searcher("tool", root).search(QUERY, top_k=3)
    assert len({d.chunk_id for d in docs}) == len(docs), "one chunk returned twice"
    return [d.title.split(" > ")[-1] for d in docs] + [d.text for d in docs if d.title.endswith("tool.strip")]


def test_a_synopsis_hit_returns_the_chunk_with_the_signature(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    without = build(tmp_path / "plain", False, monkeypatch)
    assert "tool.strip" not in without  # the signature hides it
    monkeypatch.undo()
    found = build(tmp_path / "synopsis", True, monkeypatch)
    assert "tool.strip" in found[:3]
    assert "cache_dir" in found[-1] and "Removes auxiliary layers" in found[-1]  # the parent, not the synopsis
