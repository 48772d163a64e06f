"""Write results beside the input without ever overwriting a file."""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any


def free_path(directory: Path, stem: str, suffix: str) -> Path:
    """``stem+suffix`` in ``directory``, or ``stem_2+suffix`` ... when taken."""
    candidate = directory / f"{stem}{suffix}"
    i = 2
    while candidate.exists():
        candidate = directory / f"{stem}_{i}{suffix}"
        i += 1
    return candidate


def write_new(path: Path, text: str) -> Path:
    """Create ``path`` exclusively (fails rather than overwrite a file that appeared meanwhile)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


def unified_diff(old: str, new: str, old_name: str, new_name: str) -> str:
    """A unified diff of two versions of a file."""
    return "".join(difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), fromfile=old_name, tofile=new_name
    ))


def write_outputs(input_path: Path, tag: str, adapted: str, record: dict[str, Any],
                  out_dir: Path | None = None) -> dict[str, Path]:
    """Write ``<stem>_<tag>.py``, its ``.diff`` and ``.opsgraft.json``; returns their paths."""
    directory = out_dir or input_path.parent
    directory.mkdir(parents=True, exist_ok=True)
    code_path = free_path(directory, f"{input_path.stem}_{tag}", ".py")
    base = code_path.with_suffix("")
    diff_path = free_path(directory, base.name, ".diff")
    record_path = free_path(directory, base.name, ".opsgraft.json")
    write_new(code_path, adapted)
    # utf-8-sig as in analysis.read_source: a BOM the adapted copy drops is not a change to show.
    write_new(diff_path, unified_diff(input_path.read_text(encoding="utf-8-sig"), adapted,
                                      f"a/{input_path.name}", f"b/{code_path.name}"))
    record = {**record, "outputs": {"code": str(code_path), "diff": str(diff_path), "record": str(record_path)}}
    write_new(record_path, json.dumps(record, indent=1))
    return {"code": code_path, "diff": diff_path, "record": record_path}
