"""checkov (its own venv: tests/infra/install_checkov.sh) over infra/: no failed checks, no file it
could not parse, and every skip is an inline `#checkov:skip=CKV_...: reason` that checkov applied."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.infra.conftest import INFRA, REPO

CHECKOV = Path(os.environ.get("CHECKOV_VENV", REPO / ".venv-checkov")) / "bin" / "checkov"
SKIP_COMMENT = re.compile(r"//\s*checkov:skip=(CKV2?_[A-Z]+_\d+):\s*(.*)")


@pytest.fixture(scope="module")
def report() -> list[dict]:
    if not CHECKOV.exists():
        pytest.skip(f"checkov not installed at {CHECKOV}: run tests/infra/install_checkov.sh")
    proc = subprocess.run(
        [str(CHECKOV), "--directory", str(INFRA), "--skip-download", "--compact", "--output", "json"],
        capture_output=True, text=True, timeout=300, cwd=REPO, check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    data = json.loads(proc.stdout)
    return data if isinstance(data, list) else [data]


def inline_skips() -> dict[tuple[str, str], str]:
    skips = {}
    for path in INFRA.rglob("*.bicep"):
        for match in SKIP_COMMENT.finditer(path.read_text()):
            skips[(path.name, match.group(1))] = match.group(2).strip()
    return skips


def test_no_failed_checks(report):
    failed = [
        f"{c['check_id']} {c['check_name']} -> {c['file_path']} {c['resource']}"
        for r in report for c in r["results"]["failed_checks"]
    ]
    assert not failed, "\n".join(failed)


def test_every_template_was_scanned(report):
    by_type = {r["check_type"]: r["summary"] for r in report}
    assert "bicep" in by_type, by_type
    for check_type, summary in by_type.items():
        assert summary["parsing_errors"] == 0, f"{check_type}: checkov could not parse some files"
    assert by_type["bicep"]["passed"] >= 20
    scanned = {Path(c["file_abs_path"]).name for r in report
               for c in r["results"]["passed_checks"] + r["results"]["skipped_checks"]}
    for name in ("storage.bicep", "function.bicep", "keyvault.bicep", "teams-secret.bicep"):
        assert name in scanned, f"checkov evaluated nothing in {name}"


def test_every_skip_is_justified_and_used(report):
    skips = inline_skips()
    for (file, check), reason in skips.items():
        assert len(reason) >= 40, f"{file}: skip of {check} needs a real justification, got {reason!r}"
    applied = {(Path(c["file_abs_path"]).name, c["check_id"]) for r in report for c in r["results"]["skipped_checks"]}
    assert applied == set(skips), (
        f"skips checkov did not apply (stale): {set(skips) - applied}; "
        f"skips without an inline comment: {applied - set(skips)}"
    )
