#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: Python venv + packages, npm tools, Chromium, checkov.
# Usage: scripts/setup.sh [--python-only] [--no-chromium]
# Each step is skipped when already done (hash of its inputs), and fails loudly otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=${AKS_TRIAGE_VENV:-$ROOT/.venv}
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
PYTHON_ONLY=0; CHROMIUM=1
for arg in "$@"; do
  case "$arg" in
    --python-only) PYTHON_ONLY=1 ;;
    --no-chromium) CHROMIUM=0 ;;
    *) echo "setup: unknown option $arg" >&2; exit 2 ;;
  esac
done

say() { echo "[setup] $*" >&2; }

"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 needed, found {sys.version}"'
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PY" -m venv "$VENV"
fi
want=$(cat requirements.txt requirements-dev.txt pyproject.toml | sha256sum | cut -c1-16)
if [ "$(cat "$VENV/.aks-triage-deps" 2>/dev/null || true)" != "$want" ]; then
  say "installing Python packages"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -r requirements-dev.txt
  "$VENV/bin/python" -m pip install -q --no-deps -e .
  echo "$want" > "$VENV/.aks-triage-deps"
fi
[ "$PYTHON_ONLY" = 1 ] && exit 0

command -v node >/dev/null || { echo "setup: node is required (Azurite, Kusto parser, card renderer)" >&2; exit 1; }
want=$(sha256sum package-lock.json | cut -c1-16)
if [ "$(cat node_modules/.aks-triage-deps 2>/dev/null || true)" != "$want" ]; then
  say "installing npm tools (azurite, kusto parser, adaptivecards)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > node_modules/.aks-triage-deps
fi

if [ "$CHROMIUM" = 1 ] && ! command -v chromium >/dev/null; then
  say "installing Debian chromium (card rendering)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

if [ -x tests/infra/install_checkov.sh ] || [ -f tests/infra/install_checkov.sh ]; then
  bash tests/infra/install_checkov.sh
fi
say "ready"
