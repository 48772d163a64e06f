"""Real isolation for sandbox runs where the machine has it (bubblewrap). Placeholder seam: see wrap()."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from opsgraft.errors import SandboxError

MODES = ("none", "bwrap")


def wrap(argv: list[str], *, root: Path, env: Mapping[str, str], mode: str) -> list[str]:
    """``argv`` wrapped so that it runs isolated according to ``mode``."""
    raise SandboxError(f"isolation {mode!r} is not available")
