#!/usr/bin/env bash
# Set up (scripts/bootstrap.sh) and run `hdc demo`. Extra arguments go to `hdc demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/hdc demo "$@"
