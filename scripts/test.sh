#!/usr/bin/env bash
# Sets up (scripts/setup.sh), lints (ruff, mypy) and runs the test suite. Extra arguments go to
# pytest, e.g. `bash scripts/test.sh -m slow` for real training and the real embedded model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy opsgraft adapters evaluation curation retrieval
exec .venv/bin/python -m pytest -q "$@"
