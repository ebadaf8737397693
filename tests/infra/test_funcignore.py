"""The deployment package leaves out every local directory the repository ignores (virtual
environments, caches, build and test output): a publish from a developer machine must not zip them."""

from __future__ import annotations

import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_ANYWAY = {"__pycache__"}  # the remote build compiles for its own interpreter; stale files are ignored


def _patterns(name: str) -> list[str]:
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")]


def test_every_ignored_directory_stays_out_of_the_package() -> None:
    ignored_dirs = [p for p in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines() if p.endswith("/")]
    excluded = _patterns(".funcignore")
    missing = [d for d in (d.rstrip("/") for d in ignored_dirs)
               if d not in SHIPPED_ANYWAY and not any(fnmatch.fnmatch(d, pat) for pat in excluded)]
    assert not missing, f".funcignore lets these ignored directories into the package: {missing}"


def test_the_local_venvs_on_disk_are_excluded() -> None:
    excluded = _patterns(".funcignore")
    for venv in ROOT.glob(".venv*"):
        assert any(fnmatch.fnmatch(venv.name, pat) for pat in excluded), venv.name


def test_what_the_app_needs_is_shipped() -> None:
    excluded = _patterns(".funcignore")
    for needed in ("function_app.py", "host.json", "requirements.txt", "shared"):
        assert not any(fnmatch.fnmatch(needed, pat) for pat in excluded), needed
