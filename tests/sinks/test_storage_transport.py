"""The storage clients read no environment per request: a ~/.netrc entry for the storage host neither
breaks requests nor replaces the SDK's own Authorization header (aiohttp's trust_env would do both, and
costs two thread-pool hops per request on the publish chain)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from shared.azure.queue import StorageWorkQueue
from shared.azure.tables import TableStateStore


@pytest.fixture
def netrc_for_loopback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login someone password not-for-storage\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HOME", str(tmp_path))


async def test_table_state_works_with_a_netrc_entry_for_its_host(azurite: Any, netrc_for_loopback: None) -> None:
    store = TableStateStore(azurite.connection_string, f"t{uuid.uuid4().hex[:12]}")
    try:
        assert await store.create("p", "r", {"v": 1})
        got = await store.get("p", "r")
        assert got is not None and got["v"] == 1
    finally:
        await store.close()


async def test_queue_works_with_a_netrc_entry_for_its_host(azurite: Any, netrc_for_loopback: None) -> None:
    q = StorageWorkQueue(f"q{uuid.uuid4().hex[:12]}", connection_string=azurite.connection_string)
    try:
        await q.enqueue({"hello": "world"})
        got = await q.receive(max_messages=1)
        assert [body for body, _ in got] == ['{"hello":"world"}']
    finally:
        await q.aclose()
