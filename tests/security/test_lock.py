"""Issue 15.11: the dependencies are locked with hashes and installed only from the locks.

`scripts/lock.sh --check` (run by setup and CI) passes on the repo's locks and fails, naming the
problem, on a lock with a pin missing its hashes, a pin outside what requirements*.txt allow, or a
runtime pin that differs from the dev lock. setup.sh, demo.sh and the CI entry install with
`--require-hashes` from the locks, never from the loose requirement files.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FILES = ("requirements.in", "requirements.txt", "requirements-dev.txt", "requirements.lock", "requirements-dev.lock")


def _check(folder: Path) -> subprocess.CompletedProcess[str]:
    (folder / "scripts").mkdir(exist_ok=True)
    shutil.copy(ROOT / "scripts" / "lock.sh", folder / "scripts" / "lock.sh")
    return subprocess.run(["bash", "scripts/lock.sh", "--check"], cwd=folder, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable}, timeout=60)


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    for name in FILES:
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def test_the_repo_locks_pass_the_check(repo_copy: Path) -> None:
    done = _check(repo_copy)
    assert done.returncode == 0, done.stderr
    assert "all hashed" in done.stdout


def test_every_pin_in_both_locks_has_a_hash() -> None:
    for lock in ("requirements.lock", "requirements-dev.lock"):
        lines = (ROOT / lock).read_text().splitlines()
        pins = [i for i, ln in enumerate(lines) if re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*==", ln)]
        assert len(pins) > 50, lock
        assert all("--hash=sha256:" in lines[i + 1] for i in pins), lock
        assert not any(ln.startswith(("--index-url", "--extra-index-url", "--find-links")) for ln in lines), lock


def test_a_pin_without_hashes_fails_the_check(repo_copy: Path) -> None:
    lock = repo_copy / "requirements.lock"
    text = lock.read_text()
    start = text.index("jmespath==1.0.1")
    end = text.index("\n    # via", start)
    lock.write_text(text[:start] + "jmespath==1.0.1" + text[end:])
    done = _check(repo_copy)
    assert done.returncode == 1 and "jmespath has no --hash" in done.stderr


def test_a_pin_outside_the_requirements_fails_the_check(repo_copy: Path) -> None:
    req = repo_copy / "requirements.in"
    req.write_text(req.read_text().replace("jmespath==1.0.1", "jmespath>=2"))
    done = _check(repo_copy)
    assert done.returncode == 1 and "jmespath==1.0.1 does not satisfy" in done.stderr


def test_a_requirement_missing_from_the_lock_fails_the_check(repo_copy: Path) -> None:
    req = repo_copy / "requirements-dev.txt"
    req.write_text(req.read_text() + "left-pad-nowhere>=1\n")
    done = _check(repo_copy)
    assert done.returncode == 1 and "left-pad-nowhere" in done.stderr and "not pinned" in done.stderr


def test_installs_use_the_locks_with_require_hashes() -> None:
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    installs = [ln for ln in setup.splitlines() if "pip install" in ln and not ln.lstrip().startswith("#")]
    assert installs, "setup.sh installs nothing?"
    for ln in installs:
        assert "--require-hashes" in ln or "--no-deps -e ." in ln, ln
        assert not re.search(r"requirements(-dev)?\.(txt|in)", ln), ln
    assert 'lock=requirements.lock' in setup and 'lock=requirements-dev.lock' in setup
    assert "setup.sh --demo" in (ROOT / "scripts" / "demo.sh").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "scripts/setup.sh" in ci and "lock.sh --check" in ci


def test_the_deploy_layout_requirements_txt_is_the_runtime_lock(repo_copy: Path) -> None:
    """The loose runtime list is requirements.in; requirements.txt (what Azure's remote build installs)
    must be the runtime lock itself, so the deploy is hash-checked too."""
    assert (ROOT / "requirements.txt").read_text() == (ROOT / "requirements.lock").read_text()
    assert 'file = ["requirements.in"]' in (ROOT / "pyproject.toml").read_text()
    (repo_copy / "requirements.txt").write_text("azure-functions==1.26.0\n")
    done = _check(repo_copy)
    assert done.returncode == 1 and "differs from requirements.lock" in done.stderr
