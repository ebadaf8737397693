#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: Python venv + packages, npm tools, Chromium, checkov.
# Usage: scripts/setup.sh [--python-only] [--no-chromium] [--demo]
#   --demo   only what `aks-triage demo` needs: the runtime lock and the package (no test tools,
#            no npm, no Chromium, no checkov; the demo then skips the card previews and says so)
# Python packages come from the hash-locked files only (requirements-dev.lock, or requirements.lock
# for --demo), installed with --require-hashes: a package whose files differ from the lock is refused.
# Each step is skipped when already done (hash of its inputs), and fails loudly otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=${AKS_TRIAGE_VENV:-$ROOT/.venv}
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
PYTHON_ONLY=0; CHROMIUM=1; DEMO=0
for arg in "$@"; do
  case "$arg" in
    --python-only) PYTHON_ONLY=1 ;;
    --no-chromium) CHROMIUM=0 ;;
    --demo) DEMO=1; PYTHON_ONLY=1 ;;
    *) echo "setup: unknown option $arg" >&2; exit 2 ;;
  esac
done

say() { echo "[setup] $*" >&2; }

"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 needed, found {sys.version}"'
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PY" -m venv "$VENV"
fi
dev_want=dev-$(cat requirements-dev.lock pyproject.toml | sha256sum | cut -c1-16)
demo_want=demo-$(cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)
have=$(cat "$VENV/.aks-triage-deps" 2>/dev/null || true)
if [ "$DEMO" = 1 ]; then lock=requirements.lock; want=$demo_want; else lock=requirements-dev.lock; want=$dev_want; fi
# A venv with the full dev set current also serves the demo.
if [ "$have" != "$want" ] && ! { [ "$DEMO" = 1 ] && [ "$have" = "$dev_want" ]; }; then
  say "installing Python packages from $lock (hash-checked)"
  PYTHON="$VENV/bin/python" bash scripts/lock.sh --check >/dev/null
  "$VENV/bin/python" -m pip install -q --require-hashes -r "$lock"
  "$VENV/bin/python" -m pip install -q --no-deps -e .
  "$VENV/bin/python" -m pip check
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
