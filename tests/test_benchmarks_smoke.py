"""The benchmark command keeps working: one component, tiny sizes, JSON shape only.

No timing is asserted anywhere in the unit tests (issue 7): figures depend on the machine. The full
benchmark is `python -m benchmarks`; CI runs `python -m benchmarks --fast` separately.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks import KEYS, TARGETS

ROOT = Path(__file__).resolve().parents[1]


def test_runner_fast_mode_reports_every_key_with_numbers_for_the_component_run() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--json", "--fast", "--only", "cold_import", "--samples", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False, env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    for key in KEYS:
        assert key in report
        assert key in report["targets_met"]
    for key in ("cold_import_s", "cold_import_rss_mb"):
        assert isinstance(report[key], float), (key, report[key])
        assert report[key] > 0
        assert isinstance(report["targets_met"][key], bool)
    # Components not selected are null with a reason, never a made-up number.
    assert report["intake_p99_ms"] is None
    assert report["errors"]["intake"] == "not selected (--only)"
    assert set(TARGETS) <= set(report["targets"])
    assert report["fast"] is True
    assert report["machine"]["python"]
