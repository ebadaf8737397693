"""Scale: a 10,000-event burst over 100 clusters on a simulated clock spanning several
cache TTLs, against the HTTPS ARM emulator throttling per subscription like ARM.

Setup: 100 variants of the seed ConnFail scenario (benchmarks.scenario.variant: resource groups,
cluster and node resource group renamed per variant; subscription-level ids shared, so all 100
clusters draw on ONE subscription's read bucket, the worst case). The emulator runs in its own
process with 50 ms per GET and `SubscriptionRateLimit` on with ARM's documented bucket (250 tokens,
25 per second, per subscription): a GET with no token left is answered 429 with `Retry-After`.

Simulated clock (`SharedSimClock`): events arrive at a constant simulated rate so that the large
run spans SIM_TTLS x the ARM read-cache TTL (settings.arm_cache_ttl_s, 60 s by default: 10,000
events over 300 s; the small run arrives at the same rate, so it spans a tenth of that). The clock
runs at real speed but skips idle time: when the host loop hands out item i and i / rate lies
ahead, it jumps there (in Azure the app would sit idle until that event arrived); when the app falls
behind (CPU, 429 waits) simulated time is real time. It is injected into the production
`AzureArmReader` (its `clock` argument, used by `_TtlCache` and the Activity Log reuse), into
`Deps.now` (the error source's and pipeline's wall clock), and, through a 16-byte mapped file, into
the emulator's token bucket (benchmarks.arm_server._file_clock), so the bucket refills 25 tokens per
simulated second. Nothing sleeps to make time pass; Retry-After waits are real sleeps and the
simulated clock runs through them.

Queue stand-in: the work items go through `shared.pipeline.intake` into an in-memory WorkQueue
(`MemoryWorkQueue`, same enqueue/receive/delete contract as `StorageWorkQueue`). Azurite's receive
and delete round trips (~20-60 ms each on this machine, in Node) would dominate items/s and its CPU
would compete with ours; the queue's own cost is measured by `intake` and `e2e`. The host loop is
burst_bench's (batchSize / newBatchThreshold from host.json, `QueueMessageInConverter`, the indexed
`shared.handlers.on_work_item` with one process-wide Deps). The publisher counts findings instead
of writing to sinks (it keeps no findings, so it does not grow the heap).

Two sizes in one process (SIZES; the small one first, which is also the warm-up for imports and
connection pools), each with a fresh reader, cache and bucket:
- `scale_items_per_s_ratio` = items/s at the large size / items/s at the small size (>= 0.90);
- `scale_cpu_per_item_ratio` = CPU s per item (time.process_time of this process over the drain;
  the emulator's CPU is in another process) at the large size / at the small size (<= 1.10);
- `scale_reads_ratio` = GETs the emulator received during the large run (429s included) /
  (distinct reads x ceil(burst duration / TTL)) (<= 1.2), the burst duration being the simulated
  time from the first item handed out to the last; distinct reads = distinct
  (id, api-version) pairs asked through the reader, plus distinct Activity Log queries;
- `scale_rss_growth_mb` = VmHWM after the large drain - VmRSS before it (<= 10 MB);
- `scale_unanswered_429` = check results that ended "ARM throttled the read" + findings whose
  notes say throttled + items that failed with a throttling error + 429s on the wire with no later
  answer to the same URL (<= 0), over both sizes and a
  throttle probe: PROBE_ITEMS more items with ARM's refill rate but a tenth of its capacity
  (PROBE_BUCKET), so that 429s keep coming through a whole run (with ARM's own bucket they come
  in the first seconds, when 100 clusters' first reads exceed 250 tokens). `scale_429_sent` is the
  number of 429s the emulator answered over all three runs.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import itertools
import json
import math
import mmap
import os
import struct
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from benchmarks.burst_bench import _HostLoop
from benchmarks.infra import ROOT, arm_emulator, reset_peak_rss, rss_mb, trust_benchmark_ca
from benchmarks.scenario import FakeAsyncCredential, burst_events, event_now, load_scenario, make_error_source

LATENCY_S = 0.05
CLUSTERS = 100
SIM_TTLS = 5  # the large run spans this many cache TTLs of simulated time
SIZES = (1000, 10000)
FAST_SIZES = (100, 300)
BUCKET = (250.0, 25.0)  # ARM's documented per-subscription read bucket: capacity, refill per second
# The throttle probe: ARM's refill rate with a tenth of its capacity, so that 429s come all through
# the run and not only in the first seconds (at ARM's own bucket, the sizes' first reads of 100
# clusters, about 900 GETs, already exceed the 250 tokens: a few hundred 429s per run).
PROBE_BUCKET = (25.0, 25.0)
PROBE_ITEMS, FAST_PROBE_ITEMS = 150, 30


class SharedSimClock:
    """Simulated monotonic seconds: real time, except that idle time is skipped.

    The clock runs at real speed; when the host loop hands out item i and i / rate lies ahead of
    it, it jumps there (in Azure the app would have sat idle until that event arrived). So if the
    app keeps up with the burst, simulated time is the events' arrival time; if it falls behind
    (CPU, 429 waits), simulated time is real time, as the backlog would be in Azure. The state
    (base, mark) is also written to a 16-byte mapped file that the emulator's token bucket reads
    (benchmarks.arm_server._file_clock), so the bucket refills per simulated second.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        with open(path, "wb") as f:
            f.write(b"\0" * 16)
        self._f = open(path, "r+b")  # noqa: SIM115 - kept mapped for the clock's life
        self._mm = mmap.mmap(self._f.fileno(), 16)
        self.base = 0.0
        self.mark = time.monotonic()
        self.skipped_s = 0.0
        self._write()

    def _write(self) -> None:
        self._mm[:16] = struct.pack("2d", self.base, self.mark)

    def __call__(self) -> float:
        return self.base + (time.monotonic() - self.mark)

    def reset(self) -> None:
        """Simulated time 0 is now (the start of the drain)."""
        self.base, self.mark, self.skipped_s = 0.0, time.monotonic(), 0.0
        self._write()

    def advance_to(self, t: float) -> None:
        now = self()
        if t > now:
            self.skipped_s += t - now
            self.base, self.mark = t, time.monotonic()
            self._write()

    def close(self) -> None:
        self._mm.close()
        self._f.close()


@dataclass
class _Receipt:
    id: str
    dequeue_count: int = 1


class MemoryWorkQueue:
    """WorkQueue stand-in: FIFO of JSON texts (StorageWorkQueue's message format) with receipts."""

    def __init__(self) -> None:
        self._items: list[tuple[str, _Receipt]] = []
        self._ids = itertools.count()
        self.enqueued = 0
        self.deleted = 0

    async def enqueue(self, message: dict[str, Any], *, delay_s: int = 0) -> None:
        self._items.append((json.dumps(message, separators=(",", ":"), default=str), _Receipt(f"m{next(self._ids)}")))
        self.enqueued += 1

    async def receive(self, max_messages: int = 32, visibility_timeout: int = 30) -> list[tuple[str, Any]]:
        batch, self._items = self._items[:max_messages], self._items[max_messages:]
        return list(batch)

    async def delete(self, receipt: Any) -> None:
        self.deleted += 1


class CountingReader:
    """ArmReader wrapper that counts distinct reads without keeping a log (a log of 10,000 items x
    44 reads would be the benchmark's own RSS growth)."""

    def __init__(
        self,
        inner: Any,
        keys: set[tuple[str, ...]] | None = None,
        counter: list[int] | None = None,
    ) -> None:
        self.inner = inner
        self.keys: set[tuple[str, ...]] = keys if keys is not None else set()
        self.asked = counter if counter is not None else [0]

    async def get(self, resource_id: str, api_version: str) -> dict[str, Any]:
        self.keys.add((resource_id.strip().rstrip("/").lower(), api_version))
        self.asked[0] += 1
        body: dict[str, Any] = await self.inner.get(resource_id, api_version)
        return body

    async def activity_log(self, subscription_id: str, **kw: Any) -> list[dict[str, Any]]:
        self.keys.add(
            (
                "activity_log",
                subscription_id.lower(),
                str(kw.get("correlation_id") or "").lower(),
                str(kw.get("resource_id") or "").lower(),
            )
        )
        self.asked[0] += 1
        events: list[dict[str, Any]] = await self.inner.activity_log(subscription_id, **kw)
        return events

    def for_run(self) -> CountingReader:
        return CountingReader(self.inner.for_run(), self.keys, self.asked)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class CountingPublisher:
    """Counts findings and what the throttling did to them; keeps nothing else."""

    def __init__(self) -> None:
        self.published = 0
        self.throttled_checks = 0
        self.throttled_notes = 0
        self.with_root_cause = 0

    async def publish(self, finding: Any) -> None:
        self.published += 1
        self.with_root_cause += bool(finding.root_causes)
        self.throttled_checks += sum(
            1
            for c in finding.checks
            if "throttl" in (c.reason or c.summary).lower() and str(c.status).lower().endswith("error")
        )
        self.throttled_notes += sum(1 for n in finding.notes if "throttl" in n.lower() or "429" in n)

    async def resolve(self, op: Any) -> None:
        return None

    async def escalate_due(self) -> None:
        return None


class _SimHostLoop(_HostLoop):
    """burst_bench's host loop; each handed-out item moves the simulated clock to its arrival time."""

    def __init__(self, *args: Any, clock: SharedSimClock, rate_per_s: float, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.clock = clock
        self.rate = rate_per_s
        self.handed = 0
        self.last_handout = 0.0
        inner = self.handle

        async def timed(msg: Any) -> Any:
            self.clock.advance_to(self.handed / self.rate)
            self.last_handout = self.clock()
            self.handed += 1
            return await inner(msg)

        self.handle = timed


def build_events(
    seed_event: dict[str, Any], seed_snapshot: dict[str, Any], events: int, clusters: int, rate_per_s: float
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The burst: event i for cluster i % clusters at simulated time i / rate, with its own ids."""
    return burst_events(seed_event, seed_snapshot, events, clusters, spacing_s=1 / rate_per_s, id_base=5)


async def _one_run(
    events: list[dict[str, Any]], emu: Any, rate: float, bucket: tuple[float, float] = BUCKET
) -> dict[str, Any]:
    from shared import handlers
    from shared.azure import arm
    from shared.events import parse_event
    from shared.pipeline import Deps, intake
    from shared.settings import Settings

    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))["extensions"]["queues"]
    settings = Settings(arm_endpoint=emu.base_url)
    ttl = settings.arm_cache_ttl_s
    clock_dir = tempfile.TemporaryDirectory(prefix="aks-triage-scale-")
    clock = SharedSimClock(os.path.join(clock_dir.name, "clock"))
    first = parse_event(copy.deepcopy(events[0]))
    base_now = event_now(first.event_time) + timedelta(minutes=2)  # type: ignore[union-attr]

    def now() -> Any:
        return base_now + timedelta(seconds=clock())

    from benchmarks import infra

    reader = arm.get_arm_reader(
        settings,
        credential=FakeAsyncCredential(),
        base_url=emu.base_url,
        connection_verify=True if infra.DEFAULT_CA_TRUSTED else emu.ca_file,
        retry_backoff_factor=0.0,
        clock=clock,
    )
    counting = CountingReader(reader)
    publisher: Any = CountingPublisher()  # stands in for noise control + sinks (counts only)
    queue = MemoryWorkQueue()
    deps = Deps(
        settings=settings,
        arm=counting,
        errors=make_error_source(counting, now, settings),
        publisher=publisher,
        queue=queue,
        dead_letters=MemoryWorkQueue(),
        now=now,
    )
    handlers.set_deps(deps)
    # a fresh, full bucket on the simulated clock
    emu.call("rate_limit", capacity=bucket[0], refill_per_s=bucket[1], clock_file=clock.path)
    try:
        for ev in events:
            res = await intake(ev, deps)
            if len(res.enqueued) != 1:
                raise RuntimeError(f"intake did not enqueue the burst event: {res}")
        emu.clear_log()
        gc.collect()
        rss_before, _ = rss_mb()
        peak_reset = reset_peak_rss()
        loop = _SimHostLoop(
            queue,
            handlers.on_work_item,
            int(host.get("batchSize", 16)),
            int(host.get("newBatchThreshold", 8)),
            clock=clock,
            rate_per_s=rate,
        )
        clock.reset()
        c0, t0 = time.process_time(), time.monotonic()
        processed = await loop.drain(len(events))
        cpu, wall = time.process_time() - c0, time.monotonic() - t0
        sim_duration = clock()
        _, peak = rss_mb()
        log = emu.log()
        throttled_total = int(emu.call("throttled")["throttled"])
    finally:
        handlers.set_deps(None)
        await arm.aclose()
        emu.call("rate_limit", capacity=0, refill_per_s=0)
        clock.close()
        clock_dir.cleanup()
    # the burst's duration as the app saw it: from the first item handed out to the last (equal to
    # the arrival span when the app keeps up; longer when it falls behind)
    burst_s = max(loop.last_handout, (len(events) - 1) / rate)
    windows = max(1, math.ceil(burst_s / ttl)) if ttl > 0 else len(events)
    gets = [r for r in log if r.method == "GET"]
    n429 = sum(1 for r in gets if r.status == 429)
    # On the wire: a 429 with no later answer (any status but 429) to the same URL
    last_answer: dict[tuple[str, str], float] = {}
    for r in gets:
        if r.status != 429:
            url = (r.path.lower(), json.dumps(sorted(r.query.items())))
            last_answer[url] = max(last_answer.get(url, 0.0), r.started)
    wire_unanswered = sum(
        1
        for r in gets
        if r.status == 429 and last_answer.get((r.path.lower(), json.dumps(sorted(r.query.items()))), -1.0) < r.started
    )
    distinct = len(counting.keys)
    throttled_failures = sum(1 for f in loop.failures if "throttl" in f.lower() or "429" in f)
    return {
        "items": processed,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "items_per_s": round(processed / wall, 1) if wall else None,
        "cpu_ms_per_item": round(1000 * cpu / processed, 3) if processed else None,
        "sim_duration_s": round(sim_duration, 1),
        "sim_arrival_span_s": round(len(events) / rate, 1),
        "sim_burst_s": round(burst_s, 1),
        "sim_idle_skipped_s": round(clock.skipped_s, 1),
        "cache_ttl_s": ttl,
        "ttl_windows": windows,
        "arm_gets": len(gets),
        "arm_gets_429": n429,
        "arm_gets_ok": len(gets) - n429,
        "emulator_throttled_total": throttled_total,
        "distinct_reads": distinct,
        "reads_asked": counting.asked[0],
        "read_budget": distinct * windows,
        "reads_ratio": round(len(gets) / (distinct * windows), 3) if distinct else None,
        "cache_hits": getattr(reader, "cache_hits", None),
        "coalesced": getattr(reader, "coalesced", None),
        "published": publisher.published,
        "with_root_cause": publisher.with_root_cause,
        "throttled_checks": publisher.throttled_checks,
        "throttled_notes": publisher.throttled_notes,
        "throttled_item_failures": throttled_failures,
        "wire_429_never_answered": wire_unanswered,
        "unanswered_429": publisher.throttled_checks + publisher.throttled_notes + throttled_failures + wire_unanswered,
        "item_failures": len(loop.failures),
        "item_failure_examples": loop.failures[:3],
        "host_concurrency": loop.max_concurrency,
        "rss_before_mb": round(rss_before, 1),
        "rss_peak_mb": round(peak, 1),
        "rss_growth_mb": round(peak - rss_before, 1) if peak_reset else None,
    }


def run(fast: bool = False, events: int | None = None) -> dict[str, Any]:
    sizes = (max(10, events // 4), events) if events else (FAST_SIZES if fast else SIZES)
    from shared.settings import Settings

    ttl = Settings().arm_cache_ttl_s or 60.0
    rate = sizes[-1] / (SIM_TTLS * ttl)  # the large run spans SIM_TTLS cache TTLs
    scn = load_scenario("connfail")
    pooled = trust_benchmark_ca()
    evs, snapshot = build_events(scn.event, scn.snapshot, sizes[-1], CLUSTERS, rate)
    runs: dict[str, Any] = {}
    with arm_emulator() as emu:
        emu.serve(snapshot)
        emu.set_latency(LATENCY_S)
        for n in sizes:
            load = [round(x, 2) for x in os.getloadavg()]
            runs[str(n)] = {**asyncio.run(_one_run(evs[:n], emu, rate)), "loadavg": load}
        n_probe = min(FAST_PROBE_ITEMS, sizes[-1]) if fast or events else PROBE_ITEMS
        load = [round(x, 2) for x in os.getloadavg()]
        probe = {**asyncio.run(_one_run(evs[:n_probe], emu, rate, PROBE_BUCKET)), "loadavg": load}
    small, large = runs[str(sizes[0])], runs[str(sizes[-1])]

    def ratio(a: Any, b: Any) -> float | None:
        return round(a / b, 3) if a and b else None

    return {
        "scale_items_per_s_ratio": ratio(large["items_per_s"], small["items_per_s"]),
        "scale_cpu_per_item_ratio": ratio(large["cpu_ms_per_item"], small["cpu_ms_per_item"]),
        "scale_reads_ratio": large["reads_ratio"],
        "scale_rss_growth_mb": large["rss_growth_mb"],
        "scale_unanswered_429": small["unanswered_429"] + large["unanswered_429"] + probe["unanswered_429"],
        "scale_429_sent": small["arm_gets_429"] + large["arm_gets_429"] + probe["arm_gets_429"],
        "scale_throttle_probe": {**probe, "bucket": {"capacity": PROBE_BUCKET[0], "refill_per_s": PROBE_BUCKET[1]}},
        "scale_sizes": list(sizes),
        "scale_clusters": CLUSTERS,
        "scale_sim_rate_per_s": round(rate, 2),
        "scale_bucket": {"capacity": BUCKET[0], "refill_per_s": BUCKET[1], "clock": "simulated"},
        "scale_queue": "in-memory stand-in (MemoryWorkQueue): Azurite's receive cost would dominate",
        "scale_runs": runs,
        "latency_ms": LATENCY_S * 1000,
        "tls_verify_default_store": pooled,
    }
