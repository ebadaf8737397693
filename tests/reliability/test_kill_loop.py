"""Issue 15 "done when": kill -9 at random points, then a rerun; every finding stored exactly once.

A worker process (tests/reliability/kill_worker.py: the production composition over Azurite, the
HTTPS ARM emulator and the HTTPS ingestion/Teams receivers) drains a queue of work items; the test
SIGKILLs it KILLS times at random points of its work (after a seeded random number of journalled
steps, plus a few random milliseconds), starting a fresh one each time, then lets a last one finish. Asserted:

* nothing lost: every event's state entity is `done` and it has a findings row; every group a card;
  nothing in the poison queue;
* nothing finalized twice: at most one `done` record per event in the journal; a second row or card
  for an event only where the journal shows the side effect sent (possibly accepted) by a process
  that died before recording it (the at-least-once window of sinks without idempotency keys:
  `send-row` / `send-card` without `done` in the same process), never otherwise;
* bounded: the whole loop within BUDGET_S.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.harness import cluster_body, cluster_id, failure_event, utcnow

pytestmark = [pytest.mark.reliability, pytest.mark.azurite]

ROOT = Path(__file__).resolve().parents[2]
KILLS = 6
CLUSTERS = 6
EVENTS_PER_CLUSTER = 5
BUDGET_S = 60.0
SEED = 15_2026


def _spawn(cfg: dict[str, Any]) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tests.reliability.kill_worker", json.dumps(cfg)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


async def _wait_ready(proc: subprocess.Popen[str], deadline: float) -> None:
    assert proc.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), max(1.0, deadline - time.monotonic()))
    assert line.strip() == "ready", f"worker did not start: {line!r} (rc={proc.poll()})"


def _lines(journal: Path) -> list[list[str]]:
    if not journal.exists():
        return []
    return [ln.split(" ", 2) for ln in journal.read_text().splitlines() if ln.count(" ") >= 2]


def _kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


async def test_kill_dash_nine_loop_loses_nothing_and_doubles_nothing(
        arm_emulator: Any, ingestion: Any, teams: Any, azurite: Any, tls: Any, tmp_path: Path) -> None:
    from azure.storage.queue.aio import QueueClient

    from shared.azure.tables import TableStateStore
    from shared.events import parse_event
    from shared.notify.notice import notice_id
    from shared.pipeline import WorkItem

    rng = random.Random(SEED)
    started = time.monotonic()
    deadline = started + BUDGET_S
    name = f"kill{uuid.uuid4().hex[:10]}"
    code, message = "SubnetIsFull", "Subnet aks-subnet does not have enough capacity for 3 IP addresses."
    events = []
    for c in range(CLUSTERS):
        arm_emulator.put(cluster_id(c), cluster_body(cluster_id(c), code, message))
        events += [failure_event(rng, cluster_id(c), when=utcnow() - timedelta(minutes=2))
                   for _ in range(EVENTS_PER_CLUSTER)]
    ops = {e["id"]: parse_event(e) for e in events}
    key_of = {eid: op.idempotency_key for eid, op in ops.items()}  # type: ignore[union-attr]

    q = QueueClient.from_connection_string(azurite.connection_string, name)
    poison = QueueClient.from_connection_string(azurite.connection_string, f"{name}-poison")
    await q.create_queue()
    await poison.create_queue()
    for op in ops.values():
        await q.send_message(WorkItem(op=op, enqueued_at=utcnow()).model_dump_json())
    journal = tmp_path / "journal.txt"
    cfg = {"arm_url": arm_emulator.base_url, "ca_file": tls.ca_file, "ingestion_url": ingestion.base_url,
           "teams_url": teams.url, "storage": azurite.connection_string, "queue": name, "table": name,
           "journal": str(journal)}
    kill_points: list[float] = []
    interrupted: list[int] = []  # per kill: events the killed worker claimed and did not finish
    state = TableStateStore(azurite.connection_string, name)
    try:
        for _ in range(KILLS):
            proc = _spawn(cfg)
            try:
                await _wait_ready(proc, deadline)
                # Kill in the middle of the work: once the worker has journalled a random number of
                # new steps (claims, sends, records), after a random few milliseconds more.
                target = len(_lines(journal)) + rng.randint(1, 8)
                for _poll in range(int(BUDGET_S / 0.005)):  # polling a file: no event to wait on
                    if len(_lines(journal)) >= target or proc.poll() is not None or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.005)
                pause = rng.uniform(0.0, 0.05)
                kill_points.append(target)
                await asyncio.sleep(pause)
            finally:
                _kill(proc)
            mine = [(what, key) for pid, what, key in _lines(journal) if pid == str(proc.pid)]
            claimed = {k for what, k in mine if what == "claim"}
            interrupted.append(len(claimed - {k for what, k in mine if what == "done"}))
        # The rerun: a worker that is left alone until the work is done.
        proc = _spawn(cfg)
        try:
            await _wait_ready(proc, deadline)
            while time.monotonic() < deadline:
                done = [e for e in await state.query_range("e-", "e-~") if e.get("status") == "done"]
                props = await q.get_queue_properties()
                if len(done) == len(events) and props.approximate_message_count == 0:
                    break
                await asyncio.sleep(0.5)
        finally:
            _kill(proc)
        elapsed = time.monotonic() - started
        entities = {e["_rk"]: e for e in await state.query_range("e-", "e-~")}
        poisoned = [m.content async for m in poison.receive_messages(max_messages=32)]
    finally:
        await state.close()
        for client in (q, poison):
            await client.delete_queue()
            await client.close()

    lines = _lines(journal)
    by_pid: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for pid, what, key in lines:
        by_pid[pid].add((what, key))
    dones = Counter(key for _pid, what, key in lines if what == "done")

    def unrecorded(kind: str, side_key: str, event_key: str) -> int:
        """Processes that made the side effect and died before recording the event done."""
        return sum(1 for seen in by_pid.values() if (kind, side_key) in seen and ("done", event_key) not in seen)

    rows = Counter(r["EventId"] for r in ingestion.rows if r.get("Status") == "open")
    problems: list[str] = []
    for eid, key in key_of.items():
        ev = entities.get(key)
        if ev is None or ev.get("status") != "done":
            problems.append(f"LOST: event {eid} state {None if ev is None else ev.get('status')}")
        if rows[eid] == 0:
            problems.append(f"LOST: event {eid} has no row")
        if rows[eid] > 1 + unrecorded("send-row", f"{eid}/open", key):
            problems.append(f"DOUBLE: event {eid} has {rows[eid]} rows, not explained by a kill")
        if dones[key] > 1:
            problems.append(f"DOUBLE: event {eid} finalized {dones[key]} times")
    card_budget = sum(unrecorded("send-card", notice_id("opened", k), k) for k in key_of.values())
    doubled = sum(rows.values()) - len(rows) + max(0, len(teams.cards) - CLUSTERS)
    if not CLUSTERS <= len(teams.cards) <= CLUSTERS + card_budget:
        problems.append(f"cards: {len(teams.cards)} for {CLUSTERS} groups (kill-explained extra: {card_budget})")
    if poisoned:
        problems.append(f"poisoned: {poisoned[:2]}")
    summary = (f"kill -9 loop: {KILLS} kills at journal lines {kill_points} (claims left behind: {interrupted}), "
               f"{len(events)} events, {sum(rows.values())} rows ({doubled} kill-window duplicates), "
               f"{len(teams.cards)} cards, {len(lines)} journal lines, {elapsed:.1f} s")
    print(summary)
    assert not problems, summary + "\n" + "\n".join(problems)
    assert any(interrupted), f"no kill landed inside a publish: the loop tested nothing ({summary})"
    assert elapsed < BUDGET_S, summary
