import json

import pytest

from opsgraft.errors import ConfigError, ReplayMiss
from opsgraft.llm.base import request_key, sample_params
from opsgraft.llm.cache import CachedBackend
from opsgraft.llm.replay import ReplayBackend
from opsgraft.llm.scripted import ScriptedBackend
from opsgraft.types import Message

MSGS = (Message("system", "s"), Message("user", "add tracking"))


def test_cache_hit_skips_the_backend(tmp_path):
    inner = ScriptedBackend(["a", "b"])
    cached = CachedBackend(inner, tmp_path)
    first = cached.generate(MSGS, n=2, seed=1)
    assert [g.text for g in first] == ["a", "b"] and not any(g.cached for g in first)
    again = cached.generate(MSGS, n=2, seed=1)
    assert [g.text for g in again] == ["a", "b"] and all(g.cached for g in again)
    assert len(inner.calls) == 1 and cached.hits == 2


def test_cache_asks_only_for_missing_samples(tmp_path):
    inner = ScriptedBackend(["a", "b", "c"])
    cached = CachedBackend(inner, tmp_path)
    cached.generate(MSGS, n=1)
    out = cached.generate(MSGS, n=3)
    assert [g.text for g in out] == ["a", "b", "c"]
    assert inner.calls[-1][1] == 2  # one call for the two missing samples


def test_cache_key_depends_on_params_and_index():
    p = sample_params(0.2, 100, 0)
    assert request_key("m", MSGS, p, 0) != request_key("m", MSGS, p, 1)
    assert request_key("m", MSGS, p, 0) != request_key("m", MSGS, sample_params(0.3, 100, 0), 0)
    assert request_key("m", MSGS, p, 0) != request_key("other", MSGS, p, 0)


def test_record_then_strict_replay(tmp_path):
    cassette = tmp_path / "c.jsonl"
    inner = ScriptedBackend(["one", "two"], model="m")
    recorder = ReplayBackend(cassette, strict=False, inner=inner)
    assert [g.text for g in recorder.generate(MSGS, n=2)] == ["one", "two"]
    assert len(cassette.read_text().splitlines()) == 2
    replay = ReplayBackend(cassette, model="m")
    assert [g.text for g in replay.generate(MSGS, n=2)] == ["one", "two"]
    assert replay.replayed == 2
    line = json.loads(cassette.read_text().splitlines()[0])
    assert line["messages"][1]["content"] == "add tracking"


def test_strict_replay_miss_raises(tmp_path):
    cassette = tmp_path / "c.jsonl"
    ReplayBackend(cassette, strict=False, inner=ScriptedBackend(["x"], model="m")).generate(MSGS, n=1)
    replay = ReplayBackend(cassette, model="m")
    with pytest.raises(ReplayMiss, match="sample 1"):
        replay.generate(MSGS, n=2)
    with pytest.raises(ReplayMiss):
        replay.generate((Message("user", "something else"),), n=1)


def test_missing_or_broken_cassette_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        ReplayBackend(tmp_path / "none.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(ConfigError, match="bad.jsonl:1"):
        ReplayBackend(bad)


def test_binary_gzip_or_unreadable_cassette_is_a_config_error(tmp_path):
    import gzip

    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b'{"key": "k"}\n' + bytes(range(128, 256)))
    with pytest.raises(ConfigError, match=r"binary.jsonl:2: not a cassette \(binary data"):
        ReplayBackend(binary)
    packed = tmp_path / "c.jsonl.gz"
    packed.write_bytes(gzip.compress(b'{"key": "k"}\n'))
    with pytest.raises(ConfigError, match="gzip file"):
        ReplayBackend(packed)
    folder = tmp_path / "folder.jsonl"
    folder.mkdir()
    with pytest.raises(ConfigError, match="cannot read the cassette"):
        ReplayBackend(folder)
    not_entries = tmp_path / "list.jsonl"
    not_entries.write_text("[1, 2]\n")
    with pytest.raises(ConfigError, match="list.jsonl:1: not a cassette entry"):
        ReplayBackend(not_entries)


def test_cassette_with_a_bom_replays(tmp_path):
    inner = ScriptedBackend(["answer"], model="m")
    recorded = tmp_path / "c.jsonl"
    ReplayBackend(recorded, strict=False, inner=inner).generate((Message("user", "hi"),))
    recorded.write_bytes(b"\xef\xbb\xbf" + recorded.read_bytes())
    assert ReplayBackend(recorded, model="m").generate((Message("user", "hi"),))[0].text == "answer"


class IndexedBackend:
    """Answers sample i with a text naming i, as a seeded backend would: sample i is fixed by i alone."""

    name = "indexed"
    model = "indexed"
    context_window = 32768

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def count_tokens(self, messages):
        return 10

    def generate(self, messages, n=1, temperature=0.2, max_tokens=1024, seed=None, first_index=0):
        from opsgraft.types import Generation

        self.calls.append((first_index, n))
        return [Generation(text=f"sample {i}", index=i) for i in range(first_index, first_index + n)]


def test_cached_samples_are_the_ones_a_single_call_would_give(tmp_path):
    inner = IndexedBackend()
    cached = CachedBackend(inner, tmp_path / "cache")
    cached.generate(MSGS, n=1, seed=3)
    out = cached.generate(MSGS, n=3, seed=3)
    # Samples 1 and 2 are asked for as such, not as a fresh 0 and 1 (which would repeat sample 0).
    assert [g.text for g in out] == ["sample 0", "sample 1", "sample 2"]
    assert inner.calls == [(0, 1), (1, 2)]
    assert [g.index for g in out] == [0, 1, 2]


def test_replay_records_missing_runs_by_index(tmp_path):
    inner = IndexedBackend()
    cassette = tmp_path / "c.jsonl"
    rec = ReplayBackend(cassette, strict=False, inner=inner)
    rec.generate(MSGS, n=1, seed=3, first_index=1)
    out = rec.generate(MSGS, n=3, seed=3)
    assert [g.text for g in out] == ["sample 0", "sample 1", "sample 2"]
    assert inner.calls == [(1, 1), (0, 1), (2, 1)]
    assert rec.recorded == 3 and rec.replayed == 1
    strict = ReplayBackend(cassette, model="indexed")
    assert [g.text for g in strict.generate(MSGS, n=2, seed=3, first_index=1)] == ["sample 1", "sample 2"]


def test_index_runs():
    from opsgraft.llm.base import index_runs

    assert index_runs([]) == []
    assert index_runs([4, 1, 2]) == [(1, 2), (4, 1)]
