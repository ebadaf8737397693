"""`kill -9` at random points of a CLI diagnose, then a rerun: every finding is stored exactly once.

A real `aks-triage diagnose --event ... --snapshot ...` subprocess writing to the local store (SQLite
findings and state, card files) is SIGKILLed at seeded random moments, from before its imports finish
to after it has written; the next run, and a final run to completion, must leave one row and one card
for the failure: no loss, no duplicate. Twelve runs are killed whatever the load: kill moments follow
how long the runs take, and if none got as far as storing by the sixth kill, one run goes to the end
so the rest are killed while replaying a stored finding.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from shared.demo import scenarios

ROOT = Path(__file__).resolve().parents[2]
KILLS = 12
SEED = int(os.environ.get("AKS_TRIAGE_KILL_SEED", "20261203"))


def _command(folder: Path) -> list[str]:
    return [sys.executable, "-m", "shared", "diagnose", "--event", str(folder / "event.json"),
            "--snapshot", str(folder / "snapshot.json"), "-o", "none"]


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AKS_TRIAGE_", "AZURE_", "IDENTITY_", "MSI_"))}
    return env | {"AKS_TRIAGE_HOME": str(home), "IDENTITY_ENDPOINT": "http://127.0.0.1:9/token"}


def _rows(home: Path) -> list[tuple[str, str]]:
    db = next(home.rglob("findings*.db"), None)
    if db is None:
        return []
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        table = next((t for t in tables if "finding" in t.lower()), None)
        if table is None:  # a run killed between creating the file and its table
            return []
        return [(str(a), str(b)) for a, b in conn.execute(f'SELECT "FindingId", "Status" FROM "{table}"')]


def test_killed_cli_runs_then_a_rerun_store_each_finding_once(tmp_path: Path) -> None:
    (folder,) = [p for p in scenarios() if p.name == "apiserver-connfail-authorized-ranges"]
    home = tmp_path / "home"
    rnd = random.Random(SEED)
    # How long a whole run takes here: the kills land anywhere inside it.
    started = time.monotonic()
    full = subprocess.run(_command(folder), cwd=ROOT, env=_env(tmp_path / "probe"), capture_output=True, text=True,
                          timeout=180, check=False)
    assert full.returncode == 0, full.stderr[-2000:]
    duration = time.monotonic() - started
    killed = killed_replays = attempts = 0
    while killed < KILLS and attempts < 3 * KILLS:
        attempts += 1
        stored = bool(_rows(home))
        if killed == KILLS // 2 and not stored:
            # Half the kills done and none got as far as storing: one run to the end, so the rest
            # are killed while replaying a stored finding.
            subprocess.run(_command(folder), cwd=ROOT, env=_env(home), capture_output=True, timeout=180, check=False)
            stored = bool(_rows(home))
        began = time.monotonic()
        proc = subprocess.Popen(_command(folder), cwd=ROOT, env=_env(home), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        # half the kills in the last part of a run, where the store and the card are written
        low = 0.6 * duration if attempts % 2 else 0.05
        time.sleep(rnd.uniform(low, duration))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            killed += 1
            killed_replays += stored
        else:
            # It finished before its kill moment: runs are quicker than the probe measured (the load
            # changed). Aim the next kills inside what this run took.
            duration = min(duration, time.monotonic() - began)
        proc.wait(timeout=60)
    assert killed == KILLS, f"only {killed} of {attempts} runs were still working when killed"
    done = subprocess.run(_command(folder), cwd=ROOT, env=_env(home), capture_output=True, text=True, timeout=180,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = _rows(home)
    ids = {fid for fid, _status in rows}
    assert len(ids) == 1, rows
    assert len(rows) == 1, f"the finding was stored {len(rows)} times: {rows}"
    cards = [p for p in home.rglob("*.json") if "cards" in p.parts]
    assert len(cards) == 1, [str(c) for c in cards]
    card = json.loads(cards[0].read_text(encoding="utf-8"))
    assert card, "the card file is empty"
    assert killed_replays or not killed, "no run was killed while replaying a stored finding"
