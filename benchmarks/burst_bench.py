"""ARM read budget under a burst: 200 failure events over 10 clusters through the queue path.

Setup: 10 variants of the seed ConnFail scenario (benchmarks.scenario.variant: every resource group,
cluster and node resource group renamed per variant, so their ids are distinct; subscription-level
ids stay shared, as for clusters of one subscription) served together by the HTTPS ARM emulator with
50 ms per request. Each event gets its own event id, time and correlation id (with matching Activity
Log entries), as 200 separate failed operations would.

Path, as in Azure: `shared.pipeline.intake` enqueues the 200 work items on an Azurite queue; a small
host loop drains it like the Functions queue listener (batchSize + newBatchThreshold from host.json:
a new batch is fetched when no more than newBatchThreshold messages are in flight), decodes each
message with the worker's QueueMessageInConverter and calls `shared.handlers.on_work_item`, which
runs `process` with the one process-wide Deps (one Azure ARM reader, one credential, shared cache).
The publisher records findings instead of writing to sinks: the burst measures ARM reads.

`burst_reads_ratio` = GETs the emulator received / distinct reads the pipeline asked for (distinct
(resource id, api-version) pairs, plus distinct Activity Log queries, recorded by a wrapper around
the reader). 1.0 means nothing was read twice. `peak_rss_mb` = VmHWM of this process after the
burst (the Function worker's process: imports + the burst; Azurite and the emulator run elsewhere).
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from datetime import timedelta
from typing import Any

from benchmarks.arm_trace import TracingArmReader
from benchmarks.infra import ROOT, arm_emulator, azurite, rss_mb, trust_benchmark_ca
from benchmarks.scenario import (
    RecordingPublisher,
    burst_events,
    event_now,
    load_scenario,
    make_error_source,
    make_reader,
)

LATENCY_S = 0.05
CLUSTERS = 10


def build(seed_event: dict[str, Any], seed_snapshot: dict[str, Any], events: int,
          clusters: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The burst's events (0.3 s apart) and the merged snapshot of all cluster variants."""
    return burst_events(seed_event, seed_snapshot, events, clusters, spacing_s=0.3, id_base=2)


class _HostLoop:
    """The queue listener's concurrency model: batchSize, newBatchThreshold (host.json)."""

    def __init__(self, queue: Any, handle: Any, batch_size: int, threshold: int) -> None:
        self.queue = queue
        self.handle = handle
        self.batch_size = batch_size
        self.threshold = threshold
        self.failures: list[str] = []
        self.max_concurrency = 0

    async def drain(self, expected: int) -> int:
        import azure.functions as func
        from azure.functions.queue import QueueMessageInConverter

        done = 0
        running: set[asyncio.Task[Any]] = set()
        idle_polls = 0

        async def one(body: str, receipt: Any) -> None:
            meta = {"Id": func.meta.Datum(receipt.id, "string"),
                    "DequeueCount": func.meta.Datum(int(receipt.dequeue_count or 1), "int")}
            msg = QueueMessageInConverter.decode(func.meta.Datum(body, "string"), trigger_metadata=meta)
            try:
                await self.handle(msg)
            except Exception as err:  # the host would retry; the benchmark reports it
                self.failures.append(f"{type(err).__name__}: {str(err)[:200]}")
            await self.queue.delete(receipt)

        while done < expected:
            if len(running) <= self.threshold:
                batch = await self.queue.receive(max_messages=self.batch_size, visibility_timeout=600)
                for body, receipt in batch:
                    t = asyncio.ensure_future(one(body, receipt))
                    running.add(t)
                if not batch and not running:
                    idle_polls += 1
                    if idle_polls > 20:
                        raise RuntimeError(f"queue drained after {done} of {expected} items")
                    await asyncio.sleep(0.05)
                    continue
                idle_polls = 0
            self.max_concurrency = max(self.max_concurrency, len(running))
            finished, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            done += len(finished)
        return done


async def _run(events: list[dict[str, Any]], emu: Any, conn: str) -> dict[str, Any]:
    from shared import handlers
    from shared.azure.queue import StorageWorkQueue
    from shared.events import parse_event
    from shared.pipeline import Deps, intake
    from shared.settings import Settings

    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))["extensions"]["queues"]
    first = parse_event(copy.deepcopy(events[0]))
    now_at = event_now(first.event_time) + timedelta(minutes=2)  # type: ignore[union-attr]
    settings = Settings(arm_endpoint=emu.base_url)
    reader = make_reader(settings, emu.base_url, emu.ca_file)
    tracer = TracingArmReader(reader)
    publisher: Any = RecordingPublisher()  # records findings; these benchmarks measure ARM reads, not sinks
    queue = StorageWorkQueue("bench-burst", connection_string=conn)
    poison = StorageWorkQueue("bench-burst-poison", connection_string=conn)
    deps = Deps(settings=settings, arm=tracer, errors=make_error_source(tracer, lambda: now_at, settings),
                publisher=publisher, queue=queue, dead_letters=poison, now=lambda: now_at)
    handlers.set_deps(deps)
    try:
        for ev in events:
            res = await intake(ev, deps)
            if len(res.enqueued) != 1:
                raise RuntimeError(f"intake did not enqueue the burst event: {res}")
        emu.clear_log()
        rss_before, _ = rss_mb()
        loop = _HostLoop(queue, handlers.on_work_item, int(host.get("batchSize", 16)),
                         int(host.get("newBatchThreshold", 8)))
        t0 = time.monotonic()
        processed = await loop.drain(len(events))
        wall = time.monotonic() - t0
        log = emu.log()
    finally:
        handlers.set_deps(None)
        await queue.aclose()
        await poison.aclose()
        from shared.azure import arm

        await arm.aclose()
    _, peak = rss_mb()
    gets = sum(1 for r in log if r.method == "GET")
    needed = len(tracer.distinct_keys())
    statuses: dict[str, int] = {}
    for r in log:
        statuses[str(r.status)] = statuses.get(str(r.status), 0) + 1
    codes: dict[str, int] = {}
    for f in publisher.findings:
        codes[f.classification.code] = codes.get(f.classification.code, 0) + 1
    return {
        "burst_reads_ratio": round(gets / needed, 3) if needed else None,
        "peak_rss_mb": round(peak, 1),
        "burst_arm_gets": gets,
        "burst_distinct_reads": needed,
        "burst_requests_asked": len(tracer.reads),
        "burst_client_reads": reader.reads_made,
        "burst_cache_hits": getattr(reader, "cache_hits", None),
        "burst_coalesced": getattr(reader, "coalesced", None),
        "burst_max_in_flight_client": getattr(reader, "max_in_flight", None),
        "burst_http_statuses": statuses,
        "burst_items": processed,
        "burst_published": len(publisher.findings),
        "burst_failures": loop.failures[:5],
        "burst_failures_count": len(loop.failures),
        "burst_codes": codes,
        "burst_wall_s": round(wall, 3),
        "burst_items_per_s": round(processed / wall, 1) if wall else None,
        "burst_host_concurrency": loop.max_concurrency,
        "burst_rss_before_mb": round(rss_before, 1),
        "latency_ms": LATENCY_S * 1000,
    }


def run(fast: bool = False, events: int | None = None) -> dict[str, Any]:
    n = events or (60 if fast else 200)
    scn = load_scenario("connfail")
    pooled = trust_benchmark_ca()  # must precede the first aiohttp import
    evs, snapshot = build(scn.event, scn.snapshot, n, CLUSTERS)
    with azurite() as az, arm_emulator() as emu:
        emu.serve(snapshot)
        emu.set_latency(LATENCY_S)
        return {**asyncio.run(_run(evs, emu, az.connection_string)), "tls_verify_default_store": pooled}
