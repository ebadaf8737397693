"""Resolve and timer cost against the number of stored groups, with the production state code
(`shared.noise.NoiseControl` over `shared.azure.tables.TableStateStore` and the real Tables SDK).

Two table services, the same protocol on each:

- the **stand-in** (`benchmarks.table_standin`, a child process): Azure Table Storage's one index,
  (PartitionKey, RowKey) sorted, so an operation costs what it reads and not what is stored. The
  keys `state_resolve_flat_ratio` / `state_timer_flat_ratio` are wall-time ratios on it, largest
  level / smallest, taken per sampling round (the levels of a round run back to back and share
  the machine's load) and their median over the rounds, with its bootstrap standard error: our
  process (the code and the SDK) plus loopback HTTP plus a service whose per-request cost does
  not depend on the size. Ratios of the fastest samples, lower quartiles and medians are reported
  next to them.
  It also counts the index entries each request walked (`x-standin-scanned`): a query that read
  rows it does not return shows there.
- **Azurite** (LokiJS, in memory): the same figures, reported as the emulator's cost
  (`state_azurite_*`). Its queries filter the whole collection, so they grow with the table.

For each level G (10, 100, 1,000, 10,000 stored groups; to 1,000 with --fast) a fresh table is
filled: SEED_GROUPS real findings are published through NoiseControl, then every entity they wrote
is copied with new cluster ids until the table holds G groups (GROUPS_PER_CLUSTER per cluster; the
copies are the wire format the code wrote). Due-index copies and copied event claims are filed
1,000 days ahead: stored, none due and none past the dedup window while the samples run (pruning
is bounded per run and follows the expired events, not the stored groups). All levels are filled
first, then sampled round-robin in one process (level order rotated per round), so a change of
machine load falls on every level alike.

- resolve: per sample a new finding for a target cluster is published (untimed), then
  `NoiseControl.resolve(<ResourceWriteSuccess of that cluster>)` is timed: claim, the cluster's
  groups, closing the open one under its etag, its finding, the notice and the row.
- timer: per sample a new transient finding is published at clock c, then `escalate_due()` is timed
  at c + escalate_after + 1 min (one group due for escalation, one claim due for tending; each
  sample on a cluster of its own, so each is a new group).

Per operation and level: wall and CPU (`time.process_time`, this process only), state calls,
HTTP requests, entities returned, index entries walked (stand-in), request and response bytes, and
Python function calls (one extra untimed run under `sys.setprofile`: a CPU measure that does not
move with the machine's load). The notifier and the findings sink are counting stand-ins.
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from benchmarks.infra import azurite

GROUP_LEVELS = (10, 100, 1000, 10000)
FAST_LEVELS = (10, 100, 1000)
GROUPS_PER_CLUSTER = 10
SEED_GROUPS = 10  # real findings published per level (one cluster, ten error codes)
SAMPLES, AZURITE_SAMPLES, FAST_SAMPLES = 201, 7, 3
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
METHOD = (
    "wall of the operation against a stand-in table service with Azure Table Storage's (PartitionKey, RowKey) "
    "index (benchmarks/table_standin.py): median over sampling rounds of (largest level / smallest level in "
    "the same round), levels sampled round-robin in one process; Azurite's figures are the emulator's cost"
)


class CountingStore:
    """The state store with every call counted (calls per method, entities returned, time per method)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.wall: defaultdict[str, float] = defaultdict(float)
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

    async def transact(self, partition: str, ops: Any) -> Any:  # the port's answer, passed through as it is
        return await self._timed("transact", self.inner.transact(partition, ops))


class Wire:
    """What the Tables client sent and received (its raw_response_hook): requests, bytes, and the
    stand-in's count of index entries walked."""

    def __init__(self) -> None:
        self.requests = self.scanned = self.bytes_out = self.bytes_in = 0

    def reset(self) -> None:
        self.requests = self.scanned = self.bytes_out = self.bytes_in = 0

    def hook(self, response: Any) -> None:
        self.requests += 1
        headers = response.http_response.headers
        self.scanned += int(headers.get("x-standin-scanned") or 0)
        self.bytes_in += int(headers.get("Content-Length") or 0)
        request = response.http_request
        body = getattr(request, "body", None) or getattr(request, "content", None) or b""
        self.bytes_out += len(body) if isinstance(body, (bytes, str)) else int(request.headers.get("Content-Length")
                                                                               or 0)


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


@dataclass
class Level:
    groups: int
    table: str
    inner: Any
    store: CountingStore
    wire: Wire
    nc: Any
    clock: _Clock
    notifier: _Notifier
    seeding: dict[str, Any] = field(default_factory=dict)
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {"resolve": [], "timer": []})
    resolved: int = 0
    escalated: int = 0
    timer_errors: list[str] = field(default_factory=list)
    timer_start: Any = None
    py_calls: dict[str, int] = field(default_factory=dict)
    floor: dict[str, float] = field(default_factory=dict)


def _copies(seed: list[dict[str, Any]], seed_cid: str, copies: int, far: str) -> list[dict[str, Any]]:
    """The seed cluster's entities (wire format: values and @odata.type annotations) for `copies`
    new clusters; event rows get a per-copy suffix, due-index rows move 1,000 days ahead."""
    from shared.noise.table import cluster_key
    from tests.factories import cluster_id

    skey = cluster_key(seed_cid)
    far_day = far[:10].replace("-", "")
    out = []
    for n in range(copies):
        cid = cluster_id(f"aks-copy-{n:05d}", f"rg-copy-{n:05d}")
        ckey = cluster_key(cid)

        def rename(value: Any, cid: str = cid, ckey: str = ckey) -> Any:
            return value.replace(seed_cid, cid).replace(skey, ckey) if isinstance(value, str) else value

        for e in seed:
            pk, rk = str(e["PartitionKey"]), str(e["RowKey"])
            new = {k: rename(v) for k, v in e.items() if k not in ("Timestamp", "odata.etag", "odata.metadata")}
            new["PartitionKey"] = rename(pk)
            new["RowKey"] = rename(rk)
            if pk == "due":  # stored, never due within the benchmark
                new["RowKey"] = far + new["RowKey"][19:] + f"|copy{n}"
            elif pk.startswith("e-"):  # stored, never past the dedup window within the benchmark
                new["PartitionKey"] = "e-" + far_day
                new["RowKey"] += f"|copy{n}"
            out.append(new)
    return out


async def _seed(lv: Level, conn: str, standin: Any) -> None:
    """Publish SEED_GROUPS real findings, then copy their entities to reach the level's groups."""
    from tests.factories import cluster_id, make_finding, make_operation

    seed_cluster = "aks-seed"
    seed_cid = cluster_id(seed_cluster, "rg-seed")
    for i in range(min(SEED_GROUPS, lv.groups)):
        op = make_operation(cluster=seed_cluster, rg="rg-seed", event_time=lv.clock.t)
        await lv.nc.publish(make_finding(op=op, code=CODES[i % len(CODES)], transient="true",
                                         diagnosed_at=lv.clock.t))
    copies = max(0, lv.groups - SEED_GROUPS) // GROUPS_PER_CLUSTER
    lv.seeding = {"seeded_groups": min(SEED_GROUPS, lv.groups), "copied_clusters": copies, "copied_entities": 0}
    if not copies:
        return
    far = (lv.clock.t + timedelta(days=FAR_FUTURE_DAYS)).strftime("%Y-%m-%dT%H:%M:%S")
    t0 = time.monotonic()
    if standin is not None:
        seed = standin.dump(lv.table)
        rows = _copies(seed, seed_cid, copies, far)
        standin.seed(lv.table, rows)
    else:
        rows = await _seed_azurite(conn, lv.table, seed_cid, copies, far)
        seed = rows[: len(rows) // copies]
    lv.seeding.update({"copied_entities": len(rows), "seed_entities": len(seed),
                       "copy_s": round(time.monotonic() - t0, 1)})


async def _seed_azurite(conn: str, table: str, seed_cid: str, copies: int, far: str) -> list[dict[str, Any]]:
    from azure.core.exceptions import ServiceRequestError
    from azure.data.tables.aio import TableClient

    async with TableClient.from_connection_string(conn, table) as client:
        seed = [dict(e) for e in [x async for x in client.list_entities()]]
        rows = _copies(seed, seed_cid, copies, far)
        gate = asyncio.Semaphore(4)

        async def submit(ops: list[tuple[str, dict[str, Any]]]) -> None:
            async with gate:
                for attempt in range(4):  # Azurite resets a connection now and then under this load
                    try:
                        await client.submit_transaction(ops)
                        return
                    except ServiceRequestError:
                        if attempt == 3:
                            raise
                        await asyncio.sleep(0.5 * (attempt + 1))

        by_partition: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for new in rows:
            by_partition.setdefault(new["PartitionKey"], []).append(("upsert", new))
        await asyncio.gather(*(submit(ops[i : i + 100])  # a transaction: one partition, <= 100 operations
                               for ops in by_partition.values() for i in range(0, len(ops), 100)))
    return rows


async def _timed(lv: Level, op: Callable[[], Awaitable[Any]]) -> tuple[Any, dict[str, Any]]:
    lv.store.reset()
    lv.wire.reset()
    c0, t0 = time.process_time(), time.perf_counter()
    out = await op()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return out, {
        "wall": wall, "cpu": cpu, "calls": sum(lv.store.calls.values()), "entities": lv.store.entities,
        "http": lv.wire.requests, "scanned": lv.wire.scanned, "bytes_out": lv.wire.bytes_out,
        "bytes_in": lv.wire.bytes_in, "by_call": dict(lv.store.wall),
    }


async def _resolve_sample(lv: Level, k: int, keep: bool) -> None:
    from tests.factories import T0, make_finding, make_operation, make_success

    # 7 minutes apart: at most 9 of the target's finding cards fall in one 60-minute window, under
    # the per-cluster cap of 10, so every sample does the same work.
    lv.clock.t = T0 + timedelta(minutes=5 + 7 * k)
    ev = make_operation(cluster="aks-target", rg="rg-target", event_time=lv.clock.t)
    await lv.nc.publish(make_finding(op=ev, code="SubnetIsFull", diagnosed_at=lv.clock.t))
    lv.clock.t += timedelta(minutes=1)
    ok = make_success(cluster="aks-target", rg="rg-target", event_time=lv.clock.t)
    out, sample = await _timed(lv, lambda: lv.nc.resolve(ok))
    if keep:
        lv.resolved += len(out.resolved)
        lv.samples["resolve"].append(sample)


async def _timer_sample(lv: Level, k: int, keep: bool) -> None:
    from tests.factories import make_finding, make_operation

    start = lv.clock.t + timedelta(minutes=1)
    lv.clock.t = start
    # A cluster of its own per sample: a new group each time (a repeated code would join the group
    # already escalated, and escalation happens once per group).
    ev = make_operation(cluster=f"aks-timer-{k:03d}", rg="rg-timer", event_time=lv.clock.t)
    await lv.nc.publish(make_finding(op=ev, code=CODES[k % len(CODES)], transient="true", diagnosed_at=lv.clock.t))
    lv.clock.t = start + timedelta(hours=_Settings.escalate_after_h) + timedelta(minutes=1)
    out, sample = await _timed(lv, lv.nc.escalate_due)
    if keep:
        lv.escalated += len(out.escalated)
        lv.timer_errors.extend(out.errors)
        lv.samples["timer"].append(sample)


async def _count_py_calls(coro: Awaitable[Any]) -> int:
    """Python function calls made on this thread while `coro` runs (the event loop runs nothing else)."""
    calls = [0]

    def prof(_frame: Any, event: str, _arg: Any) -> None:
        if event == "call":
            calls[0] += 1

    sys.setprofile(prof)
    try:
        await coro
    finally:
        sys.setprofile(None)
    return calls[0]


async def _measure(conn: str, levels: tuple[int, ...], samples: int, standin: Any) -> list[Level]:
    from shared.azure.tables import TableStateStore
    from shared.noise import NoiseControl
    from tests.factories import T0, make_finding, make_operation, make_success

    lvs: list[Level] = []
    try:
        for g in levels:
            wire = Wire()
            table = "bench" + uuid.uuid4().hex[:12]
            inner = TableStateStore(conn, table, raw_response_hook=wire.hook)
            store = CountingStore(inner)
            clock, notifier = _Clock(T0), _Notifier()
            lv = Level(g, table, inner, store, wire, NoiseControl(store, _Sink(), notifier, clock, _Settings()),
                       clock, notifier)
            lvs.append(lv)
            await _seed(lv, conn, standin)
        # The seeding's heap is not a worker's: keep it out of the samples' garbage collections.
        gc.collect()
        gc.freeze()
        n = len(lvs)
        for k in range(samples + 1):  # round 0 warms each table's connection
            for lv in lvs[k % n:] + lvs[: k % n]:
                await _resolve_sample(lv, k, keep=k > 0)
        for lv in lvs:
            lv.clock.t += timedelta(hours=1)
            await lv.nc.escalate_due()  # untimed: tends what the resolve samples left due
        for k in range(samples + 1):
            for lv in lvs[k % n:] + lvs[: k % n]:
                await _timer_sample(lv, k, keep=k > 0)
        for lv in lvs:  # Python calls: one more of each, untimed, under the profiler
            lv.clock.t += timedelta(minutes=3)
            ev = make_operation(cluster="aks-target", rg="rg-target", event_time=lv.clock.t)
            await lv.nc.publish(make_finding(op=ev, code="SubnetIsFull", diagnosed_at=lv.clock.t))
            lv.clock.t += timedelta(minutes=1)
            ok = make_success(cluster="aks-target", rg="rg-target", event_time=lv.clock.t)
            lv.py_calls["resolve"] = await _count_py_calls(lv.nc.resolve(ok))
            start = lv.clock.t + timedelta(minutes=1)
            lv.clock.t = start
            ev = make_operation(cluster="aks-timer-py", rg="rg-timer", event_time=lv.clock.t)
            await lv.nc.publish(make_finding(op=ev, code=CODES[0], transient="true", diagnosed_at=lv.clock.t))
            lv.clock.t = start + timedelta(hours=_Settings.escalate_after_h, minutes=1)
            lv.py_calls["timer"] = await _count_py_calls(lv.nc.escalate_due())
            await _floor(lv, samples)
    finally:
        gc.unfreeze()
        for lv in lvs:
            await lv.inner.close()
    return lvs


async def _floor(lv: Level, samples: int) -> None:
    """The service alone at this size: one read of the target cluster's group range, one insert."""
    from shared.noise.table import cluster_partition
    from tests.factories import T0, cluster_id

    cpk = cluster_partition(cluster_id("aks-target", "rg-target"))
    q, c = [], []
    for k in range(samples):
        t0 = time.perf_counter()
        await lv.inner.query_range(cpk, cpk, "g|", "g|~")
        q.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        await lv.inner.create("e-" + T0.strftime("%Y%m%d"), f"bench-floor-{uuid.uuid4().hex}", {"k": k})
        c.append(time.perf_counter() - t0)
    lv.floor = {"partition_query_ms": round(1000 * statistics.median(q), 2),
                "event_insert_ms": round(1000 * statistics.median(c), 2)}


def _summary(lv: Level) -> dict[str, Any]:
    med = statistics.median
    out: dict[str, Any] = {"groups_stored": lv.groups}
    for op in ("resolve", "timer"):
        s = lv.samples[op]
        walls = sorted(x["wall"] for x in s)
        out[f"{op}_ms"] = round(1000 * med(walls), 2)
        out[f"{op}_min_ms"] = round(1000 * walls[0], 2)
        out[f"{op}_p25_ms"] = round(1000 * walls[len(walls) // 4], 2)
        out[f"{op}_wall_ms_samples"] = [round(1000 * x["wall"], 2) for x in s]
        out[f"{op}_cpu_ms"] = round(1000 * med([x["cpu"] for x in s]), 2)
        for key in ("calls", "http", "entities", "scanned", "bytes_out", "bytes_in"):
            values = [x[key] for x in s]
            out[f"{op}_{key}"] = med(values)
            if min(values) != max(values):
                out[f"{op}_{key}_range"] = [min(values), max(values)]
        names = sorted({n for x in s for n in x["by_call"]})
        out[f"{op}_ms_by_call"] = {n: round(1000 * med([x["by_call"].get(n, 0.0) for x in s]), 2) for n in names}
        out[f"{op}_py_calls"] = lv.py_calls.get(op)
    out.update({"resolved_groups": lv.resolved, "escalated_groups": lv.escalated, "timer_errors": lv.timer_errors[:3],
                "notices": dict(lv.notifier.notices), "samples": len(lv.samples["resolve"]), **lv.floor,
                **lv.seeding})
    return out


def _code_version() -> dict[str, Any]:
    """Which state code ran: HEAD and the state files changed on disk but not committed."""
    import subprocess

    from benchmarks.infra import ROOT

    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=str(ROOT), capture_output=True, text=True, check=False, timeout=30)
        return proc.stdout.strip()

    paths = ["shared/noise", "shared/azure/tables.py", "shared/local/state.py"]
    return {"head": git("rev-parse", "--short", "HEAD"),
            "uncommitted": git("status", "--short", "--", *paths).splitlines()}


def _paired(lvs: list[Level], op: str) -> float | None:
    """Median over rounds of (wall at the largest level / wall at the smallest) in the same round:
    the levels of one round run back to back, so they share the machine's load of that moment."""
    ratios = _round_ratios(lvs, op)
    return round(statistics.median(ratios), 3) if ratios else None


def _round_ratios(lvs: list[Level], op: str) -> list[float]:
    lo, hi = lvs[0].samples[op], lvs[-1].samples[op]
    return [b["wall"] / a["wall"] for a, b in zip(lo, hi, strict=True) if a["wall"] > 0]


def _paired_se(lvs: list[Level], op: str, resamples: int = 1000) -> float | None:
    """Bootstrap standard error of the paired median (rounds resampled with replacement, seeded)."""
    import random

    ratios = _round_ratios(lvs, op)
    if len(ratios) < 3:
        return None
    rng = random.Random(6)
    meds = [statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(resamples)]
    return round(statistics.pstdev(meds), 3)


def _ratio(per: dict[str, dict[str, Any]], lo: str, hi: str, key: str) -> float | None:
    a, b = per[lo].get(key), per[hi].get(key)
    return round(b / a, 3) if a else None


def _flat(per: dict[str, dict[str, Any]], keys: tuple[str, ...]) -> dict[str, bool]:
    return {k: len({str(r[k]) for r in per.values()}) == 1 for k in keys}


def run(fast: bool = False, samples: int | None = None, levels: tuple[int, ...] | None = None,
        azurite_too: bool = True) -> dict[str, Any]:
    from benchmarks.table_standin import StandinProcess

    code = _code_version()
    levels = levels or (FAST_LEVELS if fast else GROUP_LEVELS)
    n = samples or (FAST_SAMPLES if fast else SAMPLES)
    n_az = samples or (FAST_SAMPLES if fast else AZURITE_SAMPLES)
    lo, hi = str(levels[0]), str(levels[-1])
    load = {"start": [round(x, 2) for x in os.getloadavg()]}
    srv = StandinProcess()
    try:
        stand_lvs = asyncio.run(_measure(srv.connection_string, levels, n, srv))
    finally:
        srv.close()
    stand = {str(lv.groups): _summary(lv) for lv in stand_lvs}
    load["after_standin"] = [round(x, 2) for x in os.getloadavg()]
    az: dict[str, dict[str, Any]] = {}
    az_lvs: list[Level] = []
    if azurite_too:
        with azurite() as emu:
            az_lvs = asyncio.run(_measure(emu.connection_string, levels, n_az, None))
        az = {str(lv.groups): _summary(lv) for lv in az_lvs}
    load["end"] = [round(x, 2) for x in os.getloadavg()]
    counted = ("calls", "http", "entities", "scanned", "bytes_out", "bytes_in", "py_calls")
    timed = ("resolve_min_ms", "resolve_ms", "resolve_cpu_ms", "timer_min_ms", "timer_ms", "timer_cpu_ms")
    per_level = {g: {k: r[k] for k in timed} for g, r in stand.items()}
    return {
        "state_resolve_flat_ratio": _paired(stand_lvs, "resolve"),
        "state_timer_flat_ratio": _paired(stand_lvs, "timer"),
        "state_method": METHOD,
        "state_resolve_flat_ratio_se": _paired_se(stand_lvs, "resolve"),
        "state_timer_flat_ratio_se": _paired_se(stand_lvs, "timer"),
        "state_resolve_min_ratio": _ratio(stand, lo, hi, "resolve_min_ms"),
        "state_timer_min_ratio": _ratio(stand, lo, hi, "timer_min_ms"),
        "state_resolve_median_ratio": _ratio(stand, lo, hi, "resolve_ms"),
        "state_timer_median_ratio": _ratio(stand, lo, hi, "timer_ms"),
        "state_resolve_p25_ratio": _ratio(stand, lo, hi, "resolve_p25_ms"),
        "state_timer_p25_ratio": _ratio(stand, lo, hi, "timer_p25_ms"),
        "state_resolve_cpu_ratio": _ratio(stand, lo, hi, "resolve_cpu_ms"),
        "state_timer_cpu_ratio": _ratio(stand, lo, hi, "timer_cpu_ms"),
        "state_resolve_py_calls_ratio": _ratio(stand, lo, hi, "resolve_py_calls"),
        "state_timer_py_calls_ratio": _ratio(stand, lo, hi, "timer_py_calls"),
        "state_standin_ms": per_level,
        "state_counts": {op: {k: {g: r[f"{op}_{k}"] for g, r in stand.items()} for k in counted}
                         for op in ("resolve", "timer")},
        "state_counts_same_at_every_level": {op: _flat(stand, tuple(f"{op}_{k}" for k in counted if k != "py_calls"))
                                             for op in ("resolve", "timer")},
        "state_azurite_resolve_flat_ratio": _paired(az_lvs, "resolve") if az_lvs else None,
        "state_azurite_timer_flat_ratio": _paired(az_lvs, "timer") if az_lvs else None,
        "state_azurite_resolve_median_ratio": _ratio(az, lo, hi, "resolve_ms") if az else None,
        "state_azurite_timer_median_ratio": _ratio(az, lo, hi, "timer_ms") if az else None,
        "state_azurite_ms": {g: {k: r[k] for k in ("resolve_min_ms", "resolve_ms", "resolve_cpu_ms", "timer_min_ms",
                                                    "timer_ms", "timer_cpu_ms",
                                                    "partition_query_ms", "event_insert_ms")} for g, r in az.items()},
        "state_standin_levels": stand,
        "state_azurite_levels": az,
        "state_code": code,
        "loadavg": load,
    }
