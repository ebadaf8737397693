"""Resolve and timer cost against the number of stored groups (issue 19, item 6), on Azurite Tables
with the production state code (`shared.noise.NoiseControl` over `shared.azure.tables.TableStateStore`).

For each level G in GROUP_LEVELS (10, 100, 1,000, 10,000 stored groups) a fresh table is filled:
SEED_GROUPS real findings are published through NoiseControl (claim, finding, group, due index,
card counter: whatever the code on disk writes), then every entity they wrote is copied, with new
cluster ids, until the table holds G groups (GROUPS_PER_CLUSTER groups per cluster; the copies keep
the wire format, because they are read back with the Tables SDK and written with it in
per-partition transactions). Copies of due-index entries are moved 1,000 days ahead: the stored
groups are there, none of them is due. Then, with a fake clock (the controller's `clock`):

- resolve: per sample, a new finding for a target cluster (not one of the copies) is published
  (untimed), then `NoiseControl.resolve(<ResourceWriteSuccess of that cluster>)` is timed (wall
  and CPU of this process). That is the whole resolve path: claim, reading the cluster's groups,
  closing the open one under its etag, loading its finding, the notice and the row.
- timer: per sample, a new finding of a transient error is published for a timer target cluster
  at clock c, and `NoiseControl.escalate_due()` is timed at c + escalate_after + 1 min (one group
  due for escalation, one claim due for tending). An untimed run first clears what the resolve
  samples left due.

The notifier and the findings sink are counting stand-ins (this measures state cost), and every
state call is counted by a wrapper around the store: `state_resolve_calls` / `state_timer_calls`
(calls per operation) and the entities they returned say whether the code reads more as the
table grows, independently of the machine. Keys: `state_resolve_flat_ratio` and
`state_timer_flat_ratio` = median wall time at the largest level / at the smallest (<= 1.10).
Azurite keeps tables in memory (LokiJS) and filters a partition query over the collection, so
its own cost may grow with the table where Azure Table Storage's partition index does not: the
entity counts are reported next to the times for that reason.
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import time
import uuid
from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any

from benchmarks.infra import azurite

GROUP_LEVELS = (10, 100, 1000, 10000)
FAST_LEVELS = (10, 100, 1000)
GROUPS_PER_CLUSTER = 10
SEED_GROUPS = 10  # real findings published per level (one cluster, ten error codes)
SAMPLES, FAST_SAMPLES = 7, 3
CODES = (
    "SubnetIsFull",
    "QuotaExceeded",
    "VMExtensionProvisioningError",
    "OutboundConnFailVMExtensionError",
    "InsufficientSubnetSize",
    "ReconcileVMSSAgentPoolFailed",
    "ZonalAllocationFailed",
    "AllocationFailed",
    "OverconstrainedAllocationRequest",
    "SkuNotAvailable",
)
FAR_FUTURE_DAYS = 1000


class CountingStore:
    """The state store with every call counted (calls per method, entities returned)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.wall: defaultdict[str, float] = defaultdict(float)  # seconds per method
        self.entities = 0

    def reset(self) -> None:
        self.calls.clear()
        self.wall.clear()
        self.entities = 0

    async def _timed(self, name: str, coro: Any) -> Any:
        self.calls[name] += 1
        t0 = time.perf_counter()
        try:
            return await coro
        finally:
            self.wall[name] += time.perf_counter() - t0

    async def get(self, partition: str, row: str) -> Any:
        out = await self._timed("get", self.inner.get(partition, row))
        self.entities += out is not None
        return out

    async def create(self, partition: str, row: str, entity: dict[str, Any]) -> bool:
        return bool(await self._timed("create", self.inner.create(partition, row, entity)))

    async def upsert(self, partition: str, row: str, entity: dict[str, Any]) -> None:
        await self._timed("upsert", self.inner.upsert(partition, row, entity))

    async def replace_if_match(self, partition: str, row: str, entity: dict[str, Any], etag: str) -> bool:
        return bool(await self._timed("replace_if_match", self.inner.replace_if_match(partition, row, entity, etag)))

    async def query(self, partition: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = await self._timed("query", self.inner.query(partition))
        self.entities += len(out)
        return out

    async def query_range(self, *args: Any, **kw: Any) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = await self._timed("query_range", self.inner.query_range(*args, **kw))
        self.entities += len(out)
        return out

    async def delete(self, partition: str, row: str, etag: str | None = None) -> bool:
        return bool(await self._timed("delete", self.inner.delete(partition, row, etag)))


class _Sink:
    def __init__(self) -> None:
        self.rows = 0

    async def write(self, rows: Any) -> None:
        self.rows += len(rows)


class _Notifier:
    name = "bench"

    def __init__(self) -> None:
        self.notices: Counter[str] = Counter()

    async def notify(self, notice: Any) -> None:
        self.notices[str(notice.kind)] += 1


class _Clock:
    def __init__(self, start: Any) -> None:
        self.t = start

    def now(self) -> Any:
        return self.t


class _Settings:
    group_window_min = 60
    escalate_after_h = 24.0


async def _seed(conn: str, table: str, nc: Any, clock: _Clock, groups: int) -> dict[str, Any]:
    """Publish SEED_GROUPS real findings, then copy their entities to reach `groups` groups."""
    from azure.core.exceptions import ServiceRequestError
    from azure.data.tables.aio import TableClient

    from shared.noise.table import cluster_key
    from tests.factories import cluster_id, make_finding, make_operation

    seed_cluster = "aks-seed"
    seed_cid = cluster_id(seed_cluster, "rg-seed")
    for i in range(min(SEED_GROUPS, groups)):
        op = make_operation(cluster=seed_cluster, rg="rg-seed", event_time=clock.t)
        await nc.publish(make_finding(op=op, code=CODES[i % len(CODES)], transient="true", diagnosed_at=clock.t))
    copies = max(0, groups - SEED_GROUPS) // GROUPS_PER_CLUSTER
    if not copies:
        return {"seeded_groups": min(SEED_GROUPS, groups), "copied_clusters": 0, "copied_entities": 0}
    skey = cluster_key(seed_cid)
    t0 = time.monotonic()
    written = 0
    async with TableClient.from_connection_string(conn, table) as client:
        seed = [dict(e) for e in [x async for x in client.list_entities()]]
        far = (clock.t + timedelta(days=FAR_FUTURE_DAYS)).strftime("%Y-%m-%dT%H:%M:%S")
        gate = asyncio.Semaphore(4)

        def rename(value: Any, cid: str, ckey: str) -> Any:
            if isinstance(value, str):
                return value.replace(seed_cid, cid).replace(skey, ckey)
            return value

        async def submit(ops: list[tuple[str, dict[str, Any]]]) -> None:
            nonlocal written
            async with gate:
                for attempt in range(4):  # Azurite resets a connection now and then under this load
                    try:
                        await client.submit_transaction(ops)
                        break
                    except ServiceRequestError:
                        if attempt == 3:
                            raise
                        await asyncio.sleep(0.5 * (attempt + 1))
            written += len(ops)

        by_partition: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for n in range(copies):
            name = f"aks-copy-{n:05d}"
            cid = cluster_id(name, f"rg-copy-{n:05d}")
            ckey = cluster_key(cid)
            for e in seed:
                pk, rk = str(e["PartitionKey"]), str(e["RowKey"])
                new = {k: rename(v, cid, ckey) for k, v in e.items()}
                new["PartitionKey"], new["RowKey"] = (
                    rename(pk, cid, ckey),
                    rename(rk, cid, ckey) + (f"|copy{n}" if pk.startswith("e-") else ""),
                )
                if pk == "due":  # stored, never due within the benchmark
                    new["RowKey"] = far + new["RowKey"][19:] + f"|copy{n}"
                by_partition.setdefault(new["PartitionKey"], []).append(("upsert", new))
        tasks = []
        for ops in by_partition.values():
            for i in range(0, len(ops), 100):  # a transaction: one partition, at most 100 operations
                tasks.append(asyncio.ensure_future(submit(ops[i : i + 100])))
        await asyncio.gather(*tasks)
    return {
        "seeded_groups": min(SEED_GROUPS, groups),
        "copied_clusters": copies,
        "copied_entities": written,
        "seed_entities": len(seed),
        "copy_s": round(time.monotonic() - t0, 1),
    }


async def _level(conn: str, groups: int, samples: int) -> dict[str, Any]:
    from shared.azure.tables import TableStateStore
    from shared.noise import NoiseControl
    from tests.factories import T0, make_finding, make_operation, make_success

    table = "bench" + uuid.uuid4().hex[:12]
    http = [0]  # HTTP responses the Tables client received (pages of a query included)

    def on_response(_response: Any) -> None:
        http[0] += 1

    inner = TableStateStore(conn, table, raw_response_hook=on_response)
    store = CountingStore(inner)
    sink, notifier, clock = _Sink(), _Notifier(), _Clock(T0)
    nc = NoiseControl(store, sink, notifier, clock, _Settings())
    try:
        seeding = await _seed(conn, table, nc, clock, groups)
        # The seeding's own heap must not be the samples' GC cost: a worker holds no such heap
        # (measured: without this, resolve CPU rose 21 -> 31 ms at 10,000 groups; with it, 24.7 -> 24.9).
        gc.collect()
        gc.freeze()
        stored = len(await inner.query_range("c-", "c-~", "g|", "g|~"))
        # resolve samples: a fresh open group on the target cluster, then its success event
        res_wall, res_cpu, res_calls, res_entities, resolved = [], [], [], [], 0
        res_by_call: dict[str, list[float]] = {}
        res_http: list[int] = []
        for k in range(samples + 1):
            clock.t = T0 + timedelta(minutes=5 + 2 * k)
            op = make_operation(cluster="aks-target", rg="rg-target", event_time=clock.t)
            await nc.publish(make_finding(op=op, code="SubnetIsFull", diagnosed_at=clock.t))
            clock.t += timedelta(minutes=1)
            ok = make_success(cluster="aks-target", rg="rg-target", event_time=clock.t)
            store.reset()
            http[0] = 0
            c0, t0 = time.process_time(), time.perf_counter()
            out = await nc.resolve(ok)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            if k == 0:
                continue  # warm-up (first use of this table's connection)
            resolved += len(out.resolved)
            res_wall.append(wall)
            res_cpu.append(cpu)
            res_calls.append(sum(store.calls.values()))
            res_http.append(http[0])
            for name, spent in store.wall.items():
                res_by_call.setdefault(name, []).append(spent)
            res_entities.append(store.entities)
        # timer samples: one group due for escalation each time
        clock.t = T0 + timedelta(hours=1)
        await nc.escalate_due()  # untimed: tends what the resolve samples left due
        tim_wall, tim_cpu, tim_calls, tim_entities, escalated = [], [], [], [], 0
        tim_by_call: dict[str, list[float]] = {}
        tim_http: list[int] = []
        timer_errors: list[str] = []
        after = timedelta(hours=_Settings.escalate_after_h)
        for k in range(samples + 1):
            start = clock.t + timedelta(minutes=1)
            clock.t = start
            op = make_operation(cluster="aks-timer", rg="rg-timer", event_time=clock.t)
            await nc.publish(make_finding(op=op, code=CODES[k % len(CODES)], transient="true", diagnosed_at=clock.t))
            clock.t = start + after + timedelta(minutes=1)
            store.reset()
            http[0] = 0
            c0, t0 = time.process_time(), time.perf_counter()
            out_t = await nc.escalate_due()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            if k == 0:
                continue
            escalated += len(out_t.escalated)
            timer_errors.extend(out_t.errors)
            tim_wall.append(wall)
            tim_cpu.append(cpu)
            tim_calls.append(sum(store.calls.values()))
            tim_http.append(http[0])
            for name, spent in store.wall.items():
                tim_by_call.setdefault(name, []).append(spent)
            tim_entities.append(store.entities)
        # Azurite's own cost at this size: one partition read and one point read, no controller
        from shared.noise.table import cluster_partition
        from tests.factories import cluster_id

        cpk = cluster_partition(cluster_id("aks-target", "rg-target"))
        floor_q, floor_c = [], []
        for k in range(samples):
            t0 = time.perf_counter()
            await inner.query_range(cpk, cpk, "g|", "g|~")
            floor_q.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            await inner.create("e-" + T0.strftime("%Y%m%d"), f"bench-floor-{uuid.uuid4().hex}", {"k": k})
            floor_c.append(time.perf_counter() - t0)
    finally:
        gc.unfreeze()
        await inner.close()
    med = statistics.median
    return {
        "groups_stored": stored,
        "resolve_ms": round(1000 * med(res_wall), 2),
        "resolve_cpu_ms": round(1000 * med(res_cpu), 2),
        "resolve_calls": med(res_calls),
        "resolve_entities_read": med(res_entities),
        "resolve_http_requests": max(res_http),
        "timer_http_requests": max(tim_http),
        "resolve_ms_by_call": {k: round(1000 * med(v), 2) for k, v in sorted(res_by_call.items())},
        "timer_ms_by_call": {k: round(1000 * med(v), 2) for k, v in sorted(tim_by_call.items())},
        "azurite_partition_query_ms": round(1000 * med(floor_q), 2),
        "azurite_event_create_ms": round(1000 * med(floor_c), 2),
        "resolved_groups": resolved,
        "timer_ms": round(1000 * med(tim_wall), 2),
        "timer_cpu_ms": round(1000 * med(tim_cpu), 2),
        "timer_calls": med(tim_calls),
        "timer_entities_read": med(tim_entities),
        "escalated_groups": escalated,
        "timer_errors": timer_errors[:3],
        "notices": dict(notifier.notices),
        "samples": samples,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        **seeding,
    }


def _code_version() -> dict[str, Any]:
    """Which state code ran: HEAD and the state files changed on disk but not committed."""
    import subprocess

    from benchmarks.infra import ROOT

    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=str(ROOT), capture_output=True, text=True, check=False, timeout=30)
        return proc.stdout.strip()

    paths = ["shared/noise", "shared/azure/tables.py", "shared/local/state.py"]
    return {
        "head": git("rev-parse", "--short", "HEAD"),
        "uncommitted": git("status", "--short", "--", *paths).splitlines(),
    }


def run(fast: bool = False, samples: int | None = None) -> dict[str, Any]:
    code = _code_version()
    levels = FAST_LEVELS if fast else GROUP_LEVELS
    n = samples or (FAST_SAMPLES if fast else SAMPLES)
    with azurite() as az:
        per = {str(g): asyncio.run(_level(az.connection_string, g, n)) for g in levels}
    lo, hi = per[str(levels[0])], per[str(levels[-1])]

    def ratio(key: str) -> float | None:
        return round(hi[key] / lo[key], 3) if lo[key] else None

    return {
        "state_resolve_flat_ratio": ratio("resolve_ms"),
        "state_timer_flat_ratio": ratio("timer_ms"),
        "state_resolve_cpu_ratio": ratio("resolve_cpu_ms"),
        "state_timer_cpu_ratio": ratio("timer_cpu_ms"),
        "state_resolve_calls": {g: r["resolve_calls"] for g, r in per.items()},
        "state_resolve_entities": {g: r["resolve_entities_read"] for g, r in per.items()},
        "state_timer_calls": {g: r["timer_calls"] for g, r in per.items()},
        "state_resolve_http_requests": {g: r["resolve_http_requests"] for g, r in per.items()},
        "state_timer_http_requests": {g: r["timer_http_requests"] for g, r in per.items()},
        "state_timer_entities": {g: r["timer_entities_read"] for g, r in per.items()},
        "state_azurite_partition_query_ms": {g: r["azurite_partition_query_ms"] for g, r in per.items()},
        "state_azurite_event_create_ms": {g: r["azurite_event_create_ms"] for g, r in per.items()},
        "state_resolve_ms_by_call": {g: r["resolve_ms_by_call"] for g, r in per.items()},
        "state_code": code,
        "state_levels": per,
    }
