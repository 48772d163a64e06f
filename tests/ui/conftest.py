"""UI fixtures: a folder served by the page holding the config:json fixture scripts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def served(tmp_path: Path) -> Path:
    """A root folder with scripts/tiny_fit.py and scripts/train_grid.py (both define DEFAULT_CONFIG)."""
    root = tmp_path / "project"
    (root / "scripts").mkdir(parents=True)
    for name in ("tiny_fit.py", "train_grid.py"):
        shutil.copy(FIXTURES / name, root / "scripts" / name)
    (root / "plain.py").write_text("print('no config here')\n")
    return root
