#!/usr/bin/env bash
# Quick start 2: set up (if needed) and run the whole test suite, lint and type checks included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV=${AKS_TRIAGE_VENV:-.venv}
"$VENV/bin/ruff" check .
"$VENV/bin/mypy"
# bandit must be clean. pip-audit needs PyPI's JSON API or OSV, which this workplace's package
# mirror does not serve: the scan says so loudly and, only for that case, warns instead of failing.
AKS_TRIAGE_VENV="$VENV" AKS_TRIAGE_AUDIT_OFFLINE_OK="${AKS_TRIAGE_AUDIT_OFFLINE_OK:-1}" bash scripts/security_scan.sh
"$VENV/bin/python" -m pytest "$@"
"$VENV/bin/python" -m benchmarks --fast
