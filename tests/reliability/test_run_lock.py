"""Local runs: one at a time per home, and a lease left by a killed run is taken over at once.

An offline run works at the snapshot's capture time, so a lease a killed run left would never run out
for the next run of the same command. The home's run lock (an OS file lock, dropped by the kernel
when its process dies) tells the next run that no live run can hold that lease.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared.local.runlock import HomeBusy, hold_home
from shared.local.state import SqliteStateStore
from shared.noise import LeaseHeld
from tests.factories import make_finding
from tests.reliability.test_state_layout import DyingNotifier, WorkerKilled, nc
from tests.sinks.conftest import FakeClock, RecordingNotifier, RecordingSink

pytestmark = [pytest.mark.reliability]

HOLD = ("import sys, time; from pathlib import Path; from shared.local.runlock import hold_home; "
        "hold_home(Path(sys.argv[1])); print('held', flush=True); time.sleep(60)")


def _holder(home: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(home)], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_live_run_keeps_the_home_and_a_killed_one_frees_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc = _holder(home)
    try:
        started = time.monotonic()
        with pytest.raises(HomeBusy, match="another aks-triage run is using"):
            hold_home(home, wait_s=0.3)
        assert time.monotonic() - started >= 0.3
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    hold_home(home, wait_s=5.0)  # the kernel dropped the dead run's lock
    hold_home(home, wait_s=0.0)  # this process holds it now: a second call is a no-op


async def test_a_sole_writer_takes_over_the_lease_a_killed_run_left_at_the_same_moment(tmp_path: Path) -> None:
    store = SqliteStateStore(tmp_path / "state.db")
    clock = FakeClock()  # frozen: the next run works at the same capture time
    sink = RecordingSink()
    finding = make_finding()
    with pytest.raises(WorkerKilled):
        await nc(store, sink, DyingNotifier(die=1), clock).publish(finding)
    # Without the guarantee the lease counts: a concurrent run might still be working on it.
    with pytest.raises(LeaseHeld):
        await nc(store, sink, RecordingNotifier(), clock).publish(finding)
    notifier = RecordingNotifier()
    out = await nc(store, sink, notifier, clock, sole_writer=True).publish(finding)
    assert out.finding_id == finding.finding_id
    assert len(notifier.notices) == 1 and len(sink.rows) == 1
    again = await nc(store, sink, notifier, clock, sole_writer=True).publish(finding)
    assert again.action == "duplicate" and len(notifier.notices) == 1 and len(sink.rows) == 1
