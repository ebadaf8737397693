#!/usr/bin/env bash
# Quick start 1: set up what the demo needs (if needed) and run `aks-triage demo` on the embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --demo
exec "${AKS_TRIAGE_VENV:-.venv}/bin/aks-triage" demo "$@"
