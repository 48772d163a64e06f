#!/usr/bin/env bash
# Sets up (scripts/setup.sh), lints (ruff, mypy) and runs the test suite. Extra arguments go to
# pytest, e.g. `bash scripts/test.sh -m slow` for real training and the real embedded model.
# pytest runs on 2 worker processes (pytest-xdist, the dev extra) when it is installed; a later
# `-n 0` in the arguments runs it in one process, `-n 4` on four.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy opsgraft adapters evaluation curation retrieval
workers=()
if .venv/bin/python -c 'import xdist' 2>/dev/null; then
    workers=(-n 2 --dist loadgroup)
fi
exec .venv/bin/python -m pytest -q "${workers[@]}" "$@"
