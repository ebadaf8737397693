"""A queue worker in its own process, for the kill -9 loop (tests/reliability/test_kill_loop.py).

The production composition (tests.reliability.deps.build: real ARM client against the HTTPS ARM
emulator, TableStateStore and StorageWorkQueue on Azurite, LogsIngestionSink and TeamsNotifier
against the HTTPS receivers), driven the way the Functions host drives it: receive one message
invisible for VISIBILITY_S, run shared.handlers.on_work_item, delete it on success, make it visible
again on failure; the escalation timer runs between messages (it finishes claims a killed worker
left behind). Prints `ready` once built.

Side effects are journalled to an O_APPEND file, one write per line, so what a SIGKILL interrupted
is still on disk: `<pid> send-row <key>` before a row is sent and `<pid> row <key>` once the
findings sink accepted it, `send-card`/`card` likewise for Teams, `<pid> claim <key>` when it
claimed an event, `<pid> done <key>` when the event's state says done. The test allows a
duplicate row or card only where the journal shows the side effect without the record that follows
it in the same process (neither the Teams webhook nor the Logs Ingestion API takes an idempotency key).

Usage: python -m tests.reliability.kill_worker '<json config>'
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

VISIBILITY_S = 3  # longer than the lease below: a redelivery after a kill finds the lease run out
LEASE_S = 2.0


class Journal:
    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.pid = os.getpid()

    def line(self, what: str, key: str) -> None:
        os.write(self.fd, f"{self.pid} {what} {key}\n".encode())


class JournalSink:
    def __init__(self, inner: Any, journal: Journal) -> None:
        self.inner, self.journal = inner, journal

    async def write(self, rows: Sequence[dict[str, Any]]) -> None:
        for r in rows:  # before: a kill while the request is in flight may leave the row stored
            self.journal.line("send-row", f"{r.get('EventId')}/{r.get('Status')}")
        await self.inner.write(rows)
        for r in rows:
            self.journal.line("row", f"{r.get('EventId')}/{r.get('Status')}")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class JournalNotifier:
    def __init__(self, inner: Any, journal: Journal) -> None:
        self.inner, self.journal = inner, journal

    async def notify(self, notice: Any) -> None:
        self.journal.line("send-card", notice.notice_id)
        await self.inner.notify(notice)
        self.journal.line("card", notice.notice_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class JournalState:
    def __init__(self, inner: Any, journal: Journal) -> None:
        self.inner, self.journal = inner, journal

    async def create(self, partition: str, row: str, entity: dict[str, Any]) -> bool:
        created = bool(await self.inner.create(partition, row, entity))
        if created and partition.startswith("e-"):
            self.journal.line("claim", row)
        return created

    async def upsert(self, partition: str, row: str, entity: dict[str, Any]) -> None:
        await self.inner.upsert(partition, row, entity)
        if partition.startswith("e-") and entity.get("status") == "done":
            self.journal.line("done", row)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def main(cfg: dict[str, Any]) -> None:
    from azure.storage.queue.aio import QueueClient

    from shared import handlers
    from tests.emulators.plugin import FakeAsyncCredential
    from tests.reliability.deps import build, make_settings

    journal = Journal(cfg["journal"])
    built = build(make_settings(), arm_url=cfg["arm_url"], ca_file=cfg["ca_file"], credential=FakeAsyncCredential(),
                  ingestion_url=cfg["ingestion_url"], teams_url=cfg["teams_url"], storage=cfg["storage"],
                  queue_name=cfg["queue"], table=cfg["table"],
                  wrap_state=lambda s: JournalState(s, journal), wrap_sink=lambda s: JournalSink(s, journal),
                  wrap_notifier=lambda n: JournalNotifier(n, journal), noise_options={"lease_s": LEASE_S})
    handlers.set_deps(built.deps)
    q = QueueClient.from_connection_string(cfg["storage"], cfg["queue"])
    print("ready", flush=True)
    try:
        while True:
            msgs = [m async for m in q.receive_messages(max_messages=1, visibility_timeout=VISIBILITY_S)]
            for msg in msgs:
                try:
                    await handlers.on_work_item(msg.content)
                except Exception:  # the host: visible again soon, retried (poisoned after 5 dequeues)
                    await q.update_message(msg, visibility_timeout=1)
                else:
                    await q.delete_message(msg)
            await built.publisher.escalate_due()
            if not msgs:
                await asyncio.sleep(0.2)
    finally:
        await q.close()
        await built.aclose()


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
