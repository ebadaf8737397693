#!/usr/bin/env bash
# Install checkov into its own virtualenv for tests/infra/test_checkov.py.
#
# checkov pins pycep-parser==0.5.1 (the app's dev venv uses 0.7.1) and weighs ~264 MB, so it must
# never go into the project venv. Usage: tests/infra/install_checkov.sh [venv-dir]
# Defaults: venv at <repo>/.venv-checkov (or $CHECKOV_VENV), interpreter python3 (or $PYTHON).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${1:-${CHECKOV_VENV:-$ROOT/.venv-checkov}}"
PY="${PYTHON:-python3}"
# Pinned: a new checkov release can add checks and turn CI red without a change here.
CHECKOV_VERSION="${CHECKOV_VERSION:-3.3.30}"

if [ -x "$VENV/bin/checkov" ] && "$VENV/bin/pip" show checkov 2>/dev/null | grep -qx "Version: $CHECKOV_VERSION"; then
  echo "checkov $CHECKOV_VERSION already in $VENV"
  exit 0
fi

"$PY" -m venv "$VENV"
# Keep git, ruff and pytest out of the venv's 264 MB without touching the repo's .gitignore.
printf '*\n' > "$VENV/.gitignore"
"$VENV/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
"$VENV/bin/pip" install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION"
"$VENV/bin/checkov" --version
