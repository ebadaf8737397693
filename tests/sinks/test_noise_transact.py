"""StateStore.transact: one partition's operations applied atomically, on every store.

The Azure store is the real azure-data-tables client against Azurite (an entity-group transaction,
one request); SQLite and in-memory must give the same answers: all or none, False (nothing
applied) when a condition fails, and the new etags (those a read then returns) when it commits.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from shared.local.state import MemoryStateStore, SqliteStateStore
from shared.ports import StateOp


@pytest.fixture(params=["azurite", "sqlite", "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    if request.param == "azurite":
        request.applymarker(pytest.mark.azurite)
        from shared.azure.tables import TableStateStore

        az = request.getfixturevalue("azurite")
        s = TableStateStore(az.connection_string, "tx" + uuid.uuid4().hex[:12])
        yield s
        await s.close()
    elif request.param == "sqlite":
        yield SqliteStateStore(tmp_path / "state.db")
    else:
        yield MemoryStateStore()


async def _rows(store: Any, pk: str) -> dict[str, dict[str, Any]]:
    return {e["_rk"]: {k: v for k, v in e.items() if not k.startswith("_")}
            for e in await store.query_range(pk, pk)}


async def test_a_batch_applies_every_kind_of_operation_at_once(store: Any) -> None:
    await store.upsert("p", "old", {"v": 1})
    await store.upsert("p", "gone", {"v": 1})
    old = await store.get("p", "old")
    gone = await store.get("p", "gone")
    ok = await store.transact("p", [
        StateOp("create", "new", {"v": 2}),
        StateOp("upsert", "up", {"v": 3}),
        StateOp("replace", "old", {"v": 4}, etag=old["_etag"]),
        StateOp("delete", "gone", etag=gone["_etag"]),
    ])
    assert isinstance(ok, list) and ok[3] is None
    assert await _rows(store, "p") == {"new": {"v": 2}, "up": {"v": 3}, "old": {"v": 4}}
    assert (await store.get("p", "old"))["_etag"] != old["_etag"]
    assert ok[:3] == [(await store.get("p", row))["_etag"] for row in ("new", "up", "old")]
    # the etag a transaction answered is good for the next conditional write
    assert await store.transact("p", [StateOp("replace", "old", {"v": 5}, etag=ok[2])]) is not None


@pytest.mark.parametrize("failing", ["create_exists", "replace_stale", "replace_absent", "delete_stale"])
async def test_a_failed_condition_applies_nothing(store: Any, failing: str) -> None:
    await store.upsert("p", "a", {"v": 1})
    a = await store.get("p", "a")
    await store.upsert("p", "a", {"v": 2})  # a's etag is now stale
    a_now = await store.get("p", "a")
    bad = {
        "create_exists": StateOp("create", "a", {"v": 9}),
        "replace_stale": StateOp("replace", "a", {"v": 9}, etag=a["_etag"]),
        "replace_absent": StateOp("replace", "missing", {"v": 9}),
        "delete_stale": StateOp("delete", "a", etag=a["_etag"]),
    }[failing]
    ops = [StateOp("create", "b", {"v": 1}), StateOp("upsert", "c", {"v": 1}), bad]
    assert await store.transact("p", ops) is None
    assert await _rows(store, "p") == {"a": {"v": 2}}, failing
    assert (await store.get("p", "a"))["_etag"] == a_now["_etag"]  # untouched


async def test_two_writers_with_the_same_etag_one_wins(store: Any) -> None:
    await store.upsert("p", "g", {"n": 0})
    g = await store.get("p", "g")
    first = await store.transact("p", [StateOp("replace", "g", {"n": 1}, etag=g["_etag"]),
                                       StateOp("create", "d|one", {"by": "one"})])
    second = await store.transact("p", [StateOp("replace", "g", {"n": 1}, etag=g["_etag"]),
                                        StateOp("create", "d|two", {"by": "two"})])
    assert isinstance(first, list) and second is None
    assert await _rows(store, "p") == {"g": {"n": 1}, "d|one": {"by": "one"}}


async def test_other_partitions_are_not_touched_and_bad_batches_are_refused(store: Any) -> None:
    await store.upsert("q", "x", {"v": 1})
    assert await store.transact("p", []) == []
    assert await store.transact("p", [StateOp("create", "x", {"v": 2})]) is not None  # "x" in p, not q
    assert await _rows(store, "q") == {"x": {"v": 1}}
    with pytest.raises(ValueError):
        await store.transact("p", [StateOp("upsert", "y", {}), StateOp("upsert", "y", {})])
    with pytest.raises(ValueError):
        await store.transact("p", [StateOp("upsert", f"r{i}", {}) for i in range(101)])
