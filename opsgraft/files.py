"""Write a file whole: a reader, a crash or a kill meets the old file or the new one, never half of one."""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def write_whole(path: Path, data: str | bytes, *, prefix: str = ".") -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` through a temporary file in the same folder, renamed over it.

    The temporary name is unique per call, so threads and processes writing the same path do not meet;
    the last rename wins. It is created the way ``open`` creates files (the umask's mode, not mkstemp's
    0600), and removed if the write fails. ``prefix`` starts its name (callers that sweep their own
    leftovers pick theirs). Returns ``path``.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(f"{prefix}{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with tmp.open("xb") as fh:
            fh.write(payload)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
