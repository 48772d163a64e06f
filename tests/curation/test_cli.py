"""The curate / stores / retrieve commands end to end, through the CLI entry point."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from opsgraft.cli import main

TINY_INIT = '''"""tinyops: a tiny MLOps helper used to test package curation."""

from tinyops.core import Tracker, log_metric

__all__ = ["Tracker", "log_metric", "push"]


def push(remote: str = "origin", *, force: bool = False) -> int:
    """Push tracked data to a remote.

    Example::

        import tinyops
        tinyops.push("storage")

    Returns the number of files pushed.
    """
    return 0
'''
TINY_CORE = '''"""Core tracking API."""


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Log a metric value, for example once per epoch.

    >>> log_metric("loss", 0.5, step=1)
    """


class Tracker:
    """Keeps a run's parameters and metrics."""

    def __init__(self, name: str) -> None:
        self.name = name

    def log_param(self, key: str, value: object) -> None:
        """Record one hyperparameter of the run."""

    def finish(self) -> None:
        """End the run."""
'''


def make_tiny_package(root: Path) -> Path:
    site = root / "site"
    pkg = site / "tinyops"
    (pkg / "tests").mkdir(parents=True)
    (pkg / "__init__.py").write_text(TINY_INIT)
    (pkg / "core.py").write_text(TINY_CORE)
    (pkg / "_private.py").write_text('def hidden():\n    """HIDDEN_PRIVATE_DOC"""\n')
    (pkg / "tests" / "__init__.py").write_text("")
    (pkg / "tests" / "test_core.py").write_text('def test_x():\n    """HIDDEN_TEST_DOC"""\n')
    (pkg / "broken.py").write_text('raise ImportError("needs an extra that is not installed")\n')
    (pkg / "quits.py").write_text("import sys\nsys.exit(3)\n")
    (pkg / "segfaults.py").write_text("import ctypes\nctypes.string_at(0)\n")  # kills the renderer
    dist = site / "tinyops-0.3.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tinyops\nVersion: 0.3.1\n")
    (dist / "top_level.txt").write_text("tinyops\n")
    return site


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPSGRAFT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("OPSGRAFT_STORES", str(tmp_path / "stores"))
    monkeypatch.setenv("OPSGRAFT_RETRIEVAL_TRACE", str(tmp_path / "trace.jsonl"))
    return tmp_path


def curate_tiny_package(env: Path, name: str, monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str]) -> str:
    """``opsgraft curate --package NAME`` on the tiny package (importable for this test); its stdout."""
    site = make_tiny_package(env)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", str(site))
    code, out, err = run(["curate", "--package", name], capsys)
    assert code == 0, err
    return out


@pytest.mark.browser
def test_curate_package_end_to_end(env: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = curate_tiny_package(env, "tinyops", monkeypatch, capsys)
    assert out.startswith("tinyops@0.3.1: 3 pages, 2 modules")  # index + tinyops + tinyops.core

    from opsgraft.curation.store import Stores

    stores = Stores(env / "stores")
    [info] = stores.list_stores()
    assert (info.key, info.summarize) == ("tinyops@0.3.1", "lazy") and info.count >= 4
    col = stores.client.get_collection(info.collection)
    got = col.get(include=["documents", "metadatas"])
    text = "\n".join(got["documents"])
    heads = {m["heading_path"] for m in got["metadatas"]}
    assert "tinyops > tinyops.push" in heads
    # re-exports are documented once, where the public API exposes them (tinyops.Tracker)
    assert "tinyops > class tinyops.Tracker > tinyops.Tracker.log_param" in heads, heads
    assert "```python\nimport tinyops\ntinyops.push(\"storage\")\n```" in text
    assert "HIDDEN_PRIVATE_DOC" not in text and "HIDDEN_TEST_DOC" not in text
    assert all(m["url"].startswith("pkgdoc://tinyops@0.3.1/") for m in got["metadatas"])

    code, out, _ = run(["stores"], capsys)
    assert code == 0 and "tinyops@0.3.1" in out and str(info.count) in out

    code, out, _ = run(["curate", "--package", "tinyops"], capsys)
    assert code == 0 and "up to date" in out
    code, out, _ = run(["curate", "--package", "tinyops", "--force"], capsys)
    assert code == 0 and f"0 embedded, {info.count} reused" in out

    script = env / "train.py"
    script.write_text("for epoch in range(3):\n    loss = 1.0 / (epoch + 1)\n")
    code, out, _ = run(["retrieve", str(script), "--to", "tinyops", "--instruction", "log the loss per epoch",
                        "--top-k", "2"], capsys)
    assert code == 0 and "== docs-target ==" in out and "log_metric" in out
    assert (env / "trace.jsonl").exists()

    code, out, _ = run(["stores", "rm", "tinyops@0.3.1"], capsys)
    assert code == 0 and "removed tinyops@0.3.1" in out
    assert stores.list_stores() == []


@pytest.mark.browser
def test_curate_one_module_of_a_package(env: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = curate_tiny_package(env, "tinyops.core", monkeypatch, capsys)
    assert out.startswith("tinyops.core@0.3.1: 2 pages, 1 modules")  # the package's version, one module

    from opsgraft.curation.store import Stores

    stores = Stores(env / "stores")
    [info] = stores.list_stores()
    got = stores.client.get_collection(info.collection).get(include=["metadatas"])
    heads = {m["heading_path"] for m in got["metadatas"]}
    assert any(h.endswith("tinyops.core.Tracker.log_param") for h in heads)
    assert not any(h.startswith("tinyops >") for h in heads)  # nothing of the package's other modules
    assert stores.find("tinyops.core").key == "tinyops.core@0.3.1"


@pytest.mark.browser
def test_curate_a_standard_library_module(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """config:json's rag mode searches a store of the json module, versioned as the running Python."""
    import platform

    code, out, err = run(["curate", "--package", "json"], capsys)
    assert code == 0, err
    assert out.startswith(f"json@{platform.python_version()}: ")
    from opsgraft.curation.store import Stores

    stores = Stores(env / "stores")
    info = stores.find("json")
    got = stores.client.get_collection(info.collection).get(include=["metadatas"])
    assert any(m["heading_path"].endswith("json.load") for m in got["metadatas"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_bad_input_is_one_line(env: Path, capsys: pytest.CaptureFixture[str], site_url: str) -> None:
    cases = [
        (["curate", "--package", "surely-not-installed-pkg"], 2, "is not installed"),
        (["curate", "--package", "json.no_such_module"], 2, "is not installed"),
        (["curate", "--url", f"http://127.0.0.1:{_free_port()}/", "--component", "x"], 5, "cannot reach"),
        (["curate", "--url", site_url + "docs/nope.html", "--component", "x"], 5, "HTTP 404"),
        (["curate", "--url", site_url + "docs/data.json", "--component", "x"], 5, "not HTML"),
        (["curate", "--component", "x"], 2, "either --url"),
        (["retrieve", str(env / "missing.py"), "--to", "dvc"], 2, "no such file"),
    ]
    for argv, want_code, want in cases:
        code, _, err = run(argv, capsys)
        assert code == want_code, (argv, err)
        assert err.startswith("error: ") and want in err and err.count("\n") == 1, err
    # nothing was half-written
    from opsgraft.curation.store import Stores

    assert Stores(env / "stores").list_stores() == []
    assert list(Stores(env / "stores").client.list_collections()) == []


def test_corrupt_store_dir(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (env / "stores").mkdir()
    (env / "stores" / "chroma.sqlite3").write_bytes(b"garbage" * 1000)
    code, _, err = run(["stores"], capsys)
    assert code == 5 and err.startswith("error: cannot open the store directory") and err.count("\n") == 1
    script = env / "a.py"
    script.write_text("import git\n")
    code, _, err = run(["retrieve", str(script), "--from", "gitpython", "--to", "dvc"], capsys)
    assert code == 5 and "cannot open the store directory" in err
