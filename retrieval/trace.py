"""The retrieval trace: one JSONL line per retrieval, so a generation can be traced to the docs it saw."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from opsgraft.config import cache_dir

log = logging.getLogger(__name__)
_lock = threading.Lock()


def default_trace_path() -> Path:
    """``OPSGRAFT_RETRIEVAL_TRACE`` or ``<cache>/traces/retrieval.jsonl``."""
    env = os.environ.get("OPSGRAFT_RETRIEVAL_TRACE")
    return Path(env) if env else cache_dir() / "traces" / "retrieval.jsonl"


def write_trace(record: dict[str, Any], path: Path | None = None) -> Path:
    """Append ``record`` (with a timestamp) to the trace file; tracing never breaks a retrieval."""
    target = path or default_trace_path()
    line = json.dumps({"ts": time.time(), **record}, ensure_ascii=False, default=str)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _lock, target.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
    except OSError as exc:
        log.warning("could not write the retrieval trace %s: %s", target, exc)
    return target


def read_trace(path: Path | None = None) -> list[dict[str, Any]]:
    """Every record of a trace file."""
    target = path or default_trace_path()
    if not target.exists():
        return []
    return [json.loads(x) for x in target.read_text(encoding="utf-8").splitlines() if x.strip()]
