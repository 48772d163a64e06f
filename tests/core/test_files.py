"""opsgraft.files.write_whole: the one write-by-rename that records, reports, caches and studies share."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from opsgraft.files import write_whole


def test_text_and_bytes_are_written_whole_with_the_umask_mode_and_no_leftover(tmp_path: Path) -> None:
    target = tmp_path / "run.json"
    assert write_whole(target, "héllo\n") == target
    assert target.read_bytes() == "héllo\n".encode()
    write_whole(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary(tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(UnicodeEncodeError):
        write_whole(target, "\ud800")  # a lone surrogate cannot be encoded: fails before any byte is written
    with pytest.raises(TypeError):
        write_whole(target, 42)  # type: ignore[arg-type]
    assert target.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]


def test_a_rename_failure_removes_the_prefixed_temporary(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()  # a directory in the way: the rename fails after the temporary was written
    (target / "x").write_text("x")
    with pytest.raises(OSError):
        write_whole(target, "new", prefix="tmp-")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_threads_writing_one_path_never_leave_half_a_file(tmp_path: Path) -> None:
    target = tmp_path / "cache.json"
    texts = [str(i) * 50_000 for i in range(8)]
    seen: list[str] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            if target.exists():
                seen.append(target.read_text(encoding="utf-8"))

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=lambda t=t: [write_whole(target, t) for _ in range(20)]) for t in texts]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    reader.join()
    assert target.read_text(encoding="utf-8") in texts
    assert seen and all(s in texts for s in seen)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.json"]
