#!/usr/bin/env bash
# Create .venv (if needed) and install hdc-video with its test extras into it. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import hdc_video, torch, torchvision, av, sklearn, pytest, ruff" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.hdc-installed ]; then
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -m pip install -q -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import hdc_video, torch, torchvision, av, sklearn, pytest, ruff" \
    || { echo "bootstrap: installing hdc-video failed" >&2; exit 1; }
  touch .venv/.hdc-installed
fi
