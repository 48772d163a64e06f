"""The bench run directory: torn last lines, refusal of incompatible directories, the reading rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opsgraft.errors import ConfigError
from opsgraft.evaluation.benchmark import records as rec


def _header(**config) -> dict:
    base = {"tasks": ["t1"], "modes": ["zero-shot"], "temperatures": [0.2], "n": 3, "repair": 0, "seed": 0,
            "max_tokens": 2048, "models": [{"name": "m", "backend": "replay"}]}
    return {"opsgraft_bench": 1, "created": rec.now(), "opsgraft_version": "0.1.0", "opsgraft_commit": "abc",
            "corpus_version": "c0ffee", "machine": {}, "config": {**base, **config},
            "models": {"m": {"backend": "replay", "path": None, "sha256": None, "base_url": None, "model": None}}}


def _r(sample: int, round_: int, final: bool, status: str = "failed", cell: str = "m|zero-shot|0.2") -> dict:
    return {"v": 1, "cell": cell, "task": "t1", "sample": sample, "round": round_, "final": final, "status": status}


def test_torn_last_line_is_dropped_by_the_reader_and_cut_by_the_writer(tmp_path: Path):
    rd = rec.RunDir(tmp_path / "run", _header())
    rd.append(_r(0, 0, True))
    rd.append(_r(1, 0, True, "passed"))
    path = rd.records_path
    with path.open("ab") as fh:
        fh.write(b'{"v": 1, "cell": "m|zero-shot|0.2", "task": "t1", "sam')  # killed mid-write
    assert [r["sample"] for r in rec.read_records(path.parent)] == [0, 1]
    rd2 = rec.RunDir(tmp_path / "run", _header())  # reopening truncates the torn tail
    assert path.read_bytes().endswith(b"}\n")
    rd2.append(_r(2, 0, True))
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(ln) for ln in lines)


def test_invalid_json_last_line_with_newline_is_cut_too(tmp_path: Path):
    rd = rec.RunDir(tmp_path / "run", _header())
    rd.append(_r(0, 0, True))
    with rd.records_path.open("ab") as fh:
        fh.write(b'{"broken\n')
    assert rec.truncate_torn_tail(rd.records_path) == len(b'{"broken\n')
    assert len(rec.read_records(rd.path)) == 1


def test_a_broken_middle_line_is_an_error(tmp_path: Path):
    rd = rec.RunDir(tmp_path / "run", _header())
    with rd.records_path.open("ab") as fh:
        fh.write(b"not json\n")
    rd.append(_r(0, 0, True))
    with pytest.raises(ConfigError, match=r"records\.jsonl:1: not a JSON record"):
        rec.read_records(rd.path)


def test_incompatible_run_dirs_are_refused_with_the_reason(tmp_path: Path):
    rec.RunDir(tmp_path / "run", _header())
    rec.RunDir(tmp_path / "run", _header())  # the same grid resumes
    with pytest.raises(ConfigError, match=r"grid differs in 'n' \(3 there, 5 now\)"):
        rec.RunDir(tmp_path / "run", _header(n=5))
    other = _header()
    other["corpus_version"] = "deadbeef"
    with pytest.raises(ConfigError, match="corpus version c0ffee, this is deadbeef"):
        rec.RunDir(tmp_path / "run", other)
    old = json.loads((tmp_path / "run" / "run.json").read_text())
    old["opsgraft_bench"] = 0
    (tmp_path / "run" / "run.json").write_text(json.dumps(old))
    with pytest.raises(ConfigError, match="bench format 0"):
        rec.RunDir(tmp_path / "run", _header())
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("user file")
    with pytest.raises(ConfigError, match="holds no run.json"):
        rec.RunDir(tmp_path / "mine", _header())
    assert (tmp_path / "mine" / "notes.txt").read_text() == "user file"


def test_finished_chains_keep_the_last_attempt_and_skip_unfinished():
    records = [
        _r(0, 0, False), _r(0, 1, False),  # attempt killed before its last round
        _r(0, 0, False), _r(0, 1, True, "passed"),  # redone: finished
        _r(1, 0, False),  # unfinished
        _r(2, 0, True, "passed"),
    ]
    chains = rec.finished_chains(records)
    assert sorted(rec.chain_key(c[-1]) for c in chains) == [("m|zero-shot|0.2", "t1", 0), ("m|zero-shot|0.2", "t1", 2)]
    first = next(c for c in chains if c[0]["sample"] == 0)
    assert [(r["round"], r["final"]) for r in first] == [(0, False), (1, True)]
    assert rec.finished_keys(records) == {("m|zero-shot|0.2", "t1", 0), ("m|zero-shot|0.2", "t1", 2)}
    assert rec.pass_counts(chains) == {("m|zero-shot|0.2", "t1"): (2, 2)}
    assert rec.pass_counts(chains, round_=0) == {("m|zero-shot|0.2", "t1"): (2, 1)}


def test_model_sha256_is_hashed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import hashlib

    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + b"x" * 1000)
    want = hashlib.sha256(model.read_bytes()).hexdigest()
    assert rec.file_sha256(model) == want
    calls = []
    monkeypatch.setattr(hashlib, "sha256", lambda *a: calls.append(a) or (_ for _ in ()).throw(AssertionError))
    assert rec.file_sha256(model) == want and not calls  # from the cache


def test_a_snapshot_installed_from_a_checkout_reports_that_checkouts_commit(tmp_path: Path, monkeypatch):
    """The bench runs from `pip install <checkout>` while the tree is edited; its report read 'commit unknown'."""
    import subprocess
    from importlib import metadata

    import opsgraft

    checkout = tmp_path / "check out"  # a space: pip writes the folder as a percent-encoded file URL
    checkout.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", str(checkout)], check=True)
    (checkout / "f").write_text("x\n")
    subprocess.run([*git, "-C", str(checkout), "add", "f"], check=True)
    subprocess.run([*git, "-C", str(checkout), "commit", "-qm", "c"], check=True)
    head = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    installed = tmp_path / "site" / "opsgraft"  # the installed copy: no git around it
    installed.mkdir(parents=True)
    (installed / "__init__.py").write_text("")
    monkeypatch.setattr(opsgraft, "__file__", str(installed / "__init__.py"))

    class Dist:
        def __init__(self, text: str | None):
            self.text = text

        def read_text(self, name: str) -> str | None:
            return self.text if name == "direct_url.json" else None

    url = checkout.as_uri()
    monkeypatch.setattr(metadata, "distribution", lambda name: Dist(json.dumps({"dir_info": {}, "url": url})))
    assert rec.opsgraft_commit() == head
    vcs = {"url": "https://example.org/opsgraft.git", "vcs_info": {"vcs": "git", "commit_id": "a" * 40}}
    monkeypatch.setattr(metadata, "distribution", lambda name: Dist(json.dumps(vcs)))
    assert rec.opsgraft_commit() == "a" * 40
    # Nothing recorded (a wheel) and no git around the package: unknown, as before.
    monkeypatch.setattr(metadata, "distribution", lambda name: Dist(None))
    assert rec.opsgraft_commit() == "unknown"
