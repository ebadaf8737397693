"""Issue 8.3: bounded atheris runs of the event parser and the error normaliser, in CI.

Each fuzz target runs as its own process (libFuzzer owns the process) with a run count and a
time limit; a crash (an undeclared exception or a broken invariant, see the targets' docstrings)
makes libFuzzer exit non-zero and write the crashing input, which this test prints as a
reproducer. Override the budget with AKS_TRIAGE_FUZZ_RUNS / AKS_TRIAGE_FUZZ_SECONDS.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.security

ROOT = Path(__file__).resolve().parents[2]
RUNS = int(os.environ.get("AKS_TRIAGE_FUZZ_RUNS", "50000"))
SECONDS = int(os.environ.get("AKS_TRIAGE_FUZZ_SECONDS", "20"))


# Crashes already reported, with a deterministic regression test each (xfail strict until fixed).
# Remove an entry when its fix lands; any other crash fails this test.
KNOWN_BUGS: dict[str, str] = {
    # "<text of the uncaught exception>": "<file: what, and the regression test that pins it>",
}


@pytest.mark.parametrize("target", ["fuzz_events.py", "fuzz_normalizer.py"])
def test_fuzz_target_bounded(target: str, tmp_path: Path) -> None:
    pytest.importorskip("atheris", reason="atheris is in requirements-dev.txt")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    cmd = [sys.executable, str(ROOT / "tests" / "fuzz" / target), f"-runs={RUNS}",
           f"-max_total_time={SECONDS}", "-max_len=8192", "-rss_limit_mb=2048",
           f"-artifact_prefix={tmp_path}/", "-print_final_stats=1", str(corpus)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=SECONDS * 3 + 120, env=env, cwd=ROOT)
    out = proc.stdout + proc.stderr
    crashes = sorted(p for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-", "leak-")))
    detail = "\n".join(f"{p.name}: {p.read_bytes()[:2000]!r}" for p in crashes)
    uncaught = out[out.find("=== Uncaught Python exception"):][:3000] if "Uncaught Python" in out else ""
    for marker, bug in KNOWN_BUGS.items():
        if proc.returncode != 0 and marker in uncaught:
            pytest.xfail(f"known bug: {bug}\n{uncaught[:800]}")
    assert proc.returncode == 0 and not crashes, (
        f"{target} failed (exit {proc.returncode}). Reproduce: python tests/fuzz/{target} <crash file>\n"
        f"{uncaught}\n{detail}\n--- output tail ---\n{out[-3000:]}")
    done = [line for line in out.splitlines() if line.startswith("Done ")]
    assert done, out[-3000:]
    runs_done = int(done[-1].split()[1])
    # Either the run budget or the time budget ended the run; a run that did almost nothing is a setup bug.
    assert runs_done >= min(RUNS, 1000), done[-1]
