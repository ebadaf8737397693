"""One local run at a time per home folder, held by the operating system.

The local state store is shared by every CLI run that uses the same home. A run killed in the middle
of a publish leaves its claim leased; on Azure the lease runs out in real time, but an offline run
works at the snapshot's capture time, so the next run of the same command would always find the
lease still held. An exclusive lock on a file in the home settles it: the kernel drops the lock when
its process ends (kill -9 included), so a run holding it knows every lease it finds was left by a run
that is gone, and may take it over (NoiseControl's `sole_writer`).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import IO

LOCK_NAME = ".run.lock"
WAIT_S = 30.0
POLL_S = 0.05

_held: dict[Path, IO[bytes]] = {}


class HomeBusy(RuntimeError):
    """Another live run holds the home's lock for longer than we wait."""


def _try_lock(f: IO[bytes]) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def hold_home(home: Path, *, wait_s: float = WAIT_S) -> None:
    """Take the home's lock for the rest of this process (kept until exit; a second call is a no-op)."""
    key = home.resolve()
    if key in _held:
        return
    key.mkdir(parents=True, exist_ok=True)
    f = open(key / LOCK_NAME, "a+b")  # noqa: SIM115 - held open on purpose until the process ends
    deadline = time.monotonic() + wait_s
    while not _try_lock(f):
        if time.monotonic() >= deadline:
            f.close()
            raise HomeBusy(f"another aks-triage run is using {key} (waited {wait_s:.0f} s)")
        time.sleep(POLL_S)
    os.set_inheritable(f.fileno(), False)
    _held[key] = f
