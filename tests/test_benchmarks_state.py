"""The state benchmark's table stand-in answers the Tables SDK as the service does for the calls
TableStateStore makes, walks only the index range a query names, and refuses what its index model
does not cover; a tiny benchmark run reports flat counts (JSON shape and counts only, no timing)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from benchmarks.table_standin import StandinProcess, Table, parse_filter, query
from shared.azure.tables import TableStateStore
from shared.ports import StateOp


@pytest.fixture(scope="module")
def standin() -> Iterator[StandinProcess]:
    srv = StandinProcess()
    try:
        yield srv
    finally:
        srv.close()


class _Wire:
    def __init__(self) -> None:
        self.scanned: list[int] = []

    def hook(self, response: Any) -> None:
        self.scanned.append(int(response.http_response.headers.get("x-standin-scanned") or 0))


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_point_operations_etags_and_conflicts(standin: StandinProcess) -> None:
    async def go() -> None:
        s = TableStateStore(standin.connection_string, "pointops")
        try:
            assert await s.create("p", "a", {"n": 1, "s": "x", "f": 1.5, "b": True})
            assert not await s.create("p", "a", {"n": 2})  # 409: already there
            got = await s.get("p", "a")
            assert got is not None and got["n"] == 1 and got["s"] == "x" and got["f"] == 1.5 and got["b"] is True
            assert await s.get("p", "missing") is None
            assert await s.replace_if_match("p", "a", {"n": 3}, got["_etag"])
            assert not await s.replace_if_match("p", "a", {"n": 4}, got["_etag"])  # 412: stale etag
            assert not await s.replace_if_match("p", "nope", {"n": 4}, got["_etag"])  # 404
            await s.upsert("p", "b", {"n": 5})
            fresh = await s.get("p", "a")
            assert fresh is not None and fresh["n"] == 3
            assert not await s.delete("p", "a", got["_etag"])  # stale etag
            assert await s.delete("p", "a", fresh["_etag"])
            assert await s.get("p", "a") is None
        finally:
            await s.close()

    _run(go())


def test_transaction_is_all_or_none(standin: StandinProcess) -> None:
    async def go() -> None:
        s = TableStateStore(standin.connection_string, "txops")
        try:
            await s.upsert("p", "a", {"v": 1})
            a = await s.get("p", "a")
            assert a is not None
            both = [StateOp("create", "b", {"v": 2}), StateOp("replace", "a", {"v": 3}, a["_etag"])]
            assert await s.transact("p", both)
            stale = [StateOp("create", "c", {"v": 9}), StateOp("replace", "a", {"v": 4}, a["_etag"])]
            assert not await s.transact("p", stale)  # the stale etag fails the batch ...
            assert await s.get("p", "c") is None  # ... and its first operation was not applied
            assert not await s.transact("p", [StateOp("create", "b", {"v": 5})])  # exists
            assert await s.transact("p", [StateOp("delete", "b"), StateOp("upsert", "d", {"v": 6})])
            rows = {r["v"] for r in await s.query("p")}
            assert rows == {3, 6}
        finally:
            await s.close()

    _run(go())


def test_queries_walk_only_the_named_key_range_and_page_past_1000(standin: StandinProcess) -> None:
    rows = [{"PartitionKey": f"c-{c:03d}", "RowKey": f"g|{g:04d}", "v": g} for c in range(5) for g in range(1200)]
    rows += [{"PartitionKey": "c-002", "RowKey": f"f|{g:04d}", "v": g} for g in range(50)]
    standin.seed("rangeops", rows)
    wire = _Wire()

    async def go() -> None:
        s = TableStateStore(standin.connection_string, "rangeops", raw_response_hook=wire.hook)
        try:
            got = await s.query_range("c-002", "c-002", "g|0100", "g|0199")
            assert [r["v"] for r in got] == list(range(100, 200))
            assert wire.scanned[-1] == 100  # a pinned partition: the RowKey range only
            wire.scanned.clear()
            every = await s.query_range("c-002", "c-002", "g|", "g|~")
            assert len(every) == 1200  # two pages: 1,000 then the continuation
            assert wire.scanned == [1000, 200]
            wire.scanned.clear()
            multi = await s.query_range("c-001", "c-003", "f|")
            assert {r["_pk"] for r in multi} == {"c-001", "c-002", "c-003"}
            assert sum(wire.scanned) == 3 * 1200 + 50  # a PartitionKey range walks the whole key range
            assert len(await s.query("c-004")) == 1200
        finally:
            await s.close()

    _run(go())


def test_filters_the_index_cannot_serve_are_refused() -> None:
    with pytest.raises(Exception, match="table scan"):
        parse_filter("RowKey eq 'a'")
    with pytest.raises(Exception, match="not served"):
        parse_filter("PartitionKey eq 'a' and status eq 'open'")
    t = Table()
    for pk in ("a", "b", "c"):
        for rk in ("1", "2", "3"):
            t.put((pk, rk), {})
    keys, walked, nxt = query(t, parse_filter("PartitionKey eq 'b' and RowKey gt '1'"), 10, None)
    assert keys == [("b", "2"), ("b", "3")] and walked == 3 and nxt is None  # ('b','1') is walked, not returned
    keys, walked, nxt = query(t, parse_filter("PartitionKey ge 'a' and PartitionKey lt 'c'"), 3, None)
    assert keys == [("a", "1"), ("a", "2"), ("a", "3")] and nxt == ("b", "1")


def test_a_table_scan_from_the_sdk_fails_loudly(standin: StandinProcess) -> None:
    async def go() -> None:
        from azure.data.tables.aio import TableClient

        async with TableClient.from_connection_string(standin.connection_string, "scanops") as c:
            await c.create_table()
            with pytest.raises(HttpResponseError) as err:
                _ = [e async for e in c.query_entities("status eq 'open'")]
            assert err.value.status_code == 501

    _run(go())


def test_tiny_state_run_reports_flat_counts_on_both_services() -> None:
    from benchmarks.state_bench import run

    out = run(samples=2, levels=(10, 30))
    for key in ("state_resolve_flat_ratio", "state_timer_flat_ratio", "state_azurite_resolve_flat_ratio"):
        assert isinstance(out[key], float) and out[key] > 0, key
    for op in ("resolve", "timer"):
        assert all(out["state_counts_same_at_every_level"][op].values()), out["state_counts"][op]
        assert out["state_counts"][op]["calls"]["10"] > 0
        assert out["state_counts"][op]["scanned"]["10"] > 0
    for levels in (out["state_standin_levels"], out["state_azurite_levels"]):
        assert levels["30"]["copied_clusters"] == 2
        assert levels["10"]["resolved_groups"] == 2  # each resolve sample closed its group
        assert levels["10"]["escalated_groups"] == 2
        assert levels["10"]["timer_errors"] == []
    # The same code made the same calls on both services.
    assert out["state_azurite_levels"]["10"]["resolve_calls"] == out["state_standin_levels"]["10"]["resolve_calls"]
