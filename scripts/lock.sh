#!/usr/bin/env bash
# The hash-locked requirements: requirements.lock (runtime: what the Function App and the demo
# install) and requirements-dev.lock (runtime + test/lint tools), compiled from requirements.txt and
# requirements-dev.txt with pip-tools. Once the loose runtime list lives in requirements.in (so that
# requirements.txt, the file Azure's remote build installs, can be the lock itself), the runtime
# lock is compiled from requirements.in and copied to requirements.txt. Every pin carries its sha256 hashes; setup installs them
# with --require-hashes, so a package whose files changed on the index is refused.
#
#   bash scripts/lock.sh            regenerate both locks (keeps existing pins; pip-compile
#                                   --upgrade-package NAME in LOCK_ARGS moves one)
#   bash scripts/lock.sh --check    offline: every requirement is pinned in the lock by a version it
#                                   allows, every pin has hashes, the runtime pins equal the dev ones
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3

if [ "${1:-}" = "--check" ]; then
  exec "$PY" - <<'PYEOF'
import re
import sys
from pathlib import Path

try:
    from packaging.requirements import Requirement
except ImportError:  # the venv has it (a runtime pin); a bare interpreter may not
    from pip._vendor.packaging.requirements import Requirement


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def reqs(path: Path, seen: set[Path] | None = None) -> list[Requirement]:
    seen = seen or set()
    seen.add(path)
    out: list[Requirement] = []
    for line in path.read_text().splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-r "):
            out += reqs(path.parent / line[3:].strip(), seen)
            continue
        out.append(Requirement(line))
    return out


def pins(path: Path) -> tuple[dict[str, str], list[str]]:
    found: dict[str, str] = {}
    unhashed: list[str] = []
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)", line)
        if not m:
            continue
        found[norm(m[1])] = m[2]
        if i + 1 >= len(lines) or "--hash=sha256:" not in lines[i + 1]:
            unhashed.append(m[1])
    return found, unhashed


problems: list[str] = []
locks = {}
runtime_in = "requirements.in" if Path("requirements.in").exists() else "requirements.txt"
if runtime_in == "requirements.in" and Path("requirements.txt").read_text() != Path("requirements.lock").read_text():
    problems.append("requirements.txt (what Azure installs) differs from requirements.lock: run scripts/lock.sh")
for src, lock in ((runtime_in, "requirements.lock"), ("requirements-dev.txt", "requirements-dev.lock")):
    pinned, unhashed = pins(Path(lock))
    locks[lock] = pinned
    problems += [f"{lock}: {name} has no --hash" for name in unhashed]
    for r in reqs(Path(src)):
        have = pinned.get(norm(r.name))
        if have is None:
            problems.append(f"{lock}: {r.name} ({src}) is not pinned: run scripts/lock.sh")
        elif not r.specifier.contains(have, prereleases=True):
            problems.append(f"{lock}: {r.name}=={have} does not satisfy {r} ({src}): run scripts/lock.sh")
for name, version in locks["requirements.lock"].items():
    if locks["requirements-dev.lock"].get(name) != version:
        problems.append(f"{name}: {version} in requirements.lock but "
                        f"{locks['requirements-dev.lock'].get(name)} in requirements-dev.lock")
if problems:
    print("lock check FAILED:\n  " + "\n  ".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"lock check: {len(locks['requirements.lock'])} runtime and {len(locks['requirements-dev.lock'])} "
      "dev pins, all hashed and consistent with requirements*.txt")
PYEOF
fi

TOOLS=$(mktemp -d /tmp/aks-triage-lock.XXXXXX)
trap 'rm -rf "$TOOLS"' EXIT
"$PY" -m venv "$TOOLS/venv"
"$TOOLS/venv/bin/python" -m pip install -q pip-tools
export CUSTOM_COMPILE_COMMAND="scripts/lock.sh"
RUNTIME_IN=requirements.txt
[ -f requirements.in ] && RUNTIME_IN=requirements.in
for pair in "$RUNTIME_IN requirements.lock" "requirements-dev.txt requirements-dev.lock"; do
  set -- $pair
  # No index URLs or find-links in the files: pip's own configuration decides where packages come from.
  "$TOOLS/venv/bin/pip-compile" -q --allow-unsafe --generate-hashes --strip-extras --no-emit-index-url \
    --no-emit-find-links ${LOCK_ARGS:-} -o "$2" "$1"
done
if [ "$RUNTIME_IN" = requirements.in ]; then cp requirements.lock requirements.txt; fi
bash "$0" --check
