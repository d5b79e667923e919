#!/usr/bin/env bash
# Set up (scripts/bootstrap.sh), lint (ruff check, ruff format --check) and run the whole test suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not slow"` for the fast tier.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/python -m ruff check --quiet . || { echo "test.sh: ruff check failed (ruff check --fix . mends most)" >&2; exit 1; }
.venv/bin/python -m ruff format --check --quiet . || { echo "test.sh: run ruff format ." >&2; exit 1; }
exec .venv/bin/python -m pytest -q "$@"
