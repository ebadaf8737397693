#!/usr/bin/env bash
# Quick start 2: set up (if needed) and run the whole test suite, lint and type checks included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV=${AKS_TRIAGE_VENV:-.venv}
"$VENV/bin/ruff" check .
"$VENV/bin/mypy"
"$VENV/bin/python" -m pytest "$@"
"$VENV/bin/python" -m benchmarks --fast
