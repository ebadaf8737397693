"""The queue hop: from intake's enqueue to the work item in the worker's hands, with the Functions
host's own polling algorithm and host.json's settings, against a real Azurite queue.

The poller is a port of the Storage queue extension's listener (Microsoft.Azure.WebJobs.Extensions.
Storage.Queues, `QueueListener.ExecuteAsync` and `RandomizedExponentialBackoffStrategy`, MIT), as
documented in "Azure Queue storage trigger for Azure Functions", section "Polling algorithm":

- one `ExistsAsync` before the first receive, then `ReceiveMessages(batchSize, 10 min visibility)`;
- a receive that found messages: the next receive follows at once (the listener waits only while
  more than `newBatchThreshold` messages are being processed), and the next delay is the minimum;
- a receive that found nothing: wait `GetNextDelay(found a message since the last delay?)`:
  after a found message the minimum, 100 ms (`QueuePollingIntervals.Minimum`); otherwise
  minimum + U(0.8, 1.2) x 2^(k-1) x 100 ms for the k-th empty receive in a row ("about 200 ms",
  then about 300, 500 ...), capped at `maxPollingInterval`. With 250 ms the idle interval is
  250 ms after three empty receives.
- a message enqueued by a queue *output binding* of a function on the same host instance wakes the
  listener at once (`SharedQueueWatcher.Notify`). Intake does write through an output binding, but
  on Flex Consumption the Event Grid and queue functions scale on separate instances, so the
  shortcut is not counted on and not modelled; the enqueue here is the host's write of that binding
  (`StorageWorkQueue.enqueue`, the same one message).

Arrivals are warm but idle: Poisson at one event per `MEAN_GAP_S` seconds; a share of them start
a burst of `BURST_SIZE` events (gaps exponential, mean `BURST_GAP_S`). Several independent
(queue, poller, arrival stream) lanes run at once to gather samples in less wall time; each lane
sees the idle arrival rate. The enqueue is the production `StorageWorkQueue.enqueue`.

Measured per message (one process, `time.perf_counter`): hop = enqueue call started -> the receive
that returned it answered. Parts in the details: the enqueue round trip, the wait (enqueue
answered -> start of the receive that found it) and that receive's round trip. Azurite's round
trips (Node, on this shared machine) stand in for Azure's in-region ones.

Idle cost: every lane's receives are counted over an idle window with no arrivals, and their mean
is taken per poller; per hour
and per month (730 h) at an assumed public price (QUEUE_PRICE_PER_10K_USD, stated in the output).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import statistics
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.infra import ROOT, azurite, percentile

MIN_INTERVAL_S = 0.100  # QueuePollingIntervals.Minimum
RANDOMIZATION = 0.2  # RandomizedExponentialBackoffStrategy.RandomizationFactor
LISTENER_VISIBILITY_S = 600  # QueueListener: messages are received invisible for 10 minutes
MEAN_GAP_S = 5.0
BURST_SHARE = 0.25
BURST_SIZE = 5
BURST_GAP_S = 0.2
LANES, FAST_LANES = 4, 1
EVENTS, FAST_EVENTS = 30, 4  # Poisson arrivals per lane (bursts add to them)
IDLE_S, FAST_IDLE_S = 20.0, 5.0
HOURS_PER_MONTH = 730
# Assumption, not measured: USD per 10,000 queue transactions (Standard, LRS). Check the current
# price on azure.microsoft.com/pricing/details/storage/queues for the account type and region.
QUEUE_PRICE_PER_10K_USD = 0.004

_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$")


def parse_timespan(text: str) -> float:
    """host.json's TimeSpan ('[d.]hh:mm:ss[.fffffff]') in seconds; other forms are refused (a bare
    number is days to .NET's TimeSpan.Parse, a known misconfiguration)."""
    m = _TIMESPAN.match(text.strip())
    if not m:
        raise ValueError(f"not a [d.]hh:mm:ss[.f] TimeSpan: {text!r}")
    days, hours, minutes, seconds, frac = m.groups()
    return (
        int(days or 0) * 86400
        + int(hours) * 3600
        + int(minutes) * 60
        + int(seconds)
        + (int(frac) / 10 ** len(frac) if frac else 0.0)
    )


@dataclass(frozen=True)
class QueueHostSettings:
    max_polling_interval_s: float
    batch_size: int
    new_batch_threshold: int


def host_queue_settings(path: Path | None = None) -> QueueHostSettings:
    """extensions.queues from host.json, with the extension's defaults and its minimum check."""
    data = json.loads((path or ROOT / "host.json").read_text(encoding="utf-8"))
    queues = data.get("extensions", {}).get("queues", {})
    interval = parse_timespan(str(queues.get("maxPollingInterval", "00:01:00")))
    if interval < MIN_INTERVAL_S:  # the host refuses it: "MaxPollingInterval must not be less than 00:00:00.1"
        raise ValueError(f"maxPollingInterval {interval} s is below the host's minimum of {MIN_INTERVAL_S} s")
    batch = int(queues.get("batchSize", 16))
    return QueueHostSettings(interval, batch, int(queues.get("newBatchThreshold", batch // 2)))


class BackoffStrategy:
    """RandomizedExponentialBackoffStrategy(minimum=100 ms, maximum=maxPollingInterval), delta = minimum."""

    def __init__(self, maximum_s: float, rng: random.Random, minimum_s: float = MIN_INTERVAL_S) -> None:
        if minimum_s > maximum_s:
            raise ValueError("minimum above maximum")
        self.minimum, self.maximum, self.rng = minimum_s, maximum_s, rng
        self.current = 0.0
        self.exponent = 0

    def next_delay(self, execution_succeeded: bool) -> float:
        if execution_succeeded:
            self.current, self.exponent = self.minimum, 1
        elif self.current != self.maximum:
            interval = self.minimum
            if self.exponent > 0:
                factor = self.rng.uniform(1.0 - RANDOMIZATION, 1.0 + RANDOMIZATION)
                interval += factor * 2.0 ** (self.exponent - 1) * self.minimum
            if interval < self.maximum:
                self.current = interval
                self.exponent += 1
            else:
                self.current = self.maximum
        return self.current


@dataclass
class Lane:
    name: str
    sent: dict[str, float] = field(default_factory=dict)  # id -> enqueue started
    sent_done: dict[str, float] = field(default_factory=dict)  # id -> enqueue answered
    burst_follower: set[str] = field(default_factory=set)
    hops: list[tuple[str, float, float, float, float]] = field(default_factory=list)  # id, hop, enq, wait, recv
    requests: dict[str, int] = field(
        default_factory=lambda: {"exists": 0, "receive": 0, "empty_receive": 0, "delete": 0}
    )
    delays: list[float] = field(default_factory=list)


async def _poller(
    lane: Lane,
    conn: str,
    queue: str,
    cfg: QueueHostSettings,
    rng: random.Random,
    stop: asyncio.Event,
    counting: list[bool],
) -> None:
    """QueueListener.ExecuteAsync as a loop (no dynamic concurrency: the app does not enable it)."""
    from azure.storage.queue.aio import QueueClient

    strategy = BackoffStrategy(cfg.max_polling_interval_s, rng)
    processing: set[asyncio.Task[None]] = set()
    found_since_last_delay = False
    async with QueueClient.from_connection_string(conn, queue) as client:
        lane.requests["exists"] += 1
        await client.get_queue_properties()  # ExistsAsync

        async def complete(msg: Any) -> None:  # the function ran; CompleteProcessingMessageAsync deletes it
            await client.delete_message(msg)
            if counting[0]:
                lane.requests["delete"] += 1

        while not stop.is_set():
            t0 = time.perf_counter()
            batch = [
                m
                async for m in client.receive_messages(
                    max_messages=cfg.batch_size, visibility_timeout=LISTENER_VISIBILITY_S
                )
            ]
            t1 = time.perf_counter()
            if counting[0]:
                lane.requests["receive"] += 1
                lane.requests["empty_receive"] += not batch
            for msg in batch:
                mid = json.loads(msg.content)["bench_id"]
                started = lane.sent.get(mid)
                if started is not None:
                    done = lane.sent_done.get(mid, started)
                    lane.hops.append((mid, t1 - started, done - started, max(0.0, t0 - done), t1 - t0))
                task = asyncio.ensure_future(complete(msg))
                processing.add(task)
                task.add_done_callback(processing.discard)
            if batch:
                found_since_last_delay = True
                while len(processing) > cfg.new_batch_threshold:  # WaitForNewBatchThreshold
                    await asyncio.wait(set(processing), return_when=asyncio.FIRST_COMPLETED)
                continue
            delay = strategy.next_delay(found_since_last_delay)
            found_since_last_delay = False
            lane.delays.append(delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
        if processing:
            await asyncio.gather(*processing)


async def _producer(lane: Lane, conn: str, queue: str, events: int, rng: random.Random) -> None:
    from shared.azure.queue import StorageWorkQueue

    q = StorageWorkQueue(queue, connection_string=conn)
    try:
        await q.ensure()
        for _ in range(events):
            await asyncio.sleep(rng.expovariate(1.0 / MEAN_GAP_S))
            size = BURST_SIZE if rng.random() < BURST_SHARE else 1
            for k in range(size):
                if k:
                    await asyncio.sleep(rng.expovariate(1.0 / BURST_GAP_S))
                mid = uuid.uuid4().hex
                if k:
                    lane.burst_follower.add(mid)
                lane.sent[mid] = time.perf_counter()
                await q.enqueue({"bench_id": mid})
                lane.sent_done[mid] = time.perf_counter()
    finally:
        await q.aclose()


async def _measure(
    conn: str, cfg: QueueHostSettings, lanes: int, events: int, idle_s: float, seed: int
) -> dict[str, Any]:
    from azure.storage.queue.aio import QueueServiceClient

    rng = random.Random(seed)
    names = [f"hop{uuid.uuid4().hex[:12]}" for _ in range(lanes)]
    async with QueueServiceClient.from_connection_string(conn) as svc:
        for n in names:
            await svc.create_queue(n)
    stop = asyncio.Event()
    counting = [False]
    all_lanes = [Lane(n) for n in names]
    pollers = [
        asyncio.ensure_future(_poller(ln, conn, ln.name, cfg, random.Random(rng.random()), stop, counting))
        for ln in all_lanes
    ]
    # Idle window: no arrivals; the pollers reach the maximum interval and stay there.
    await asyncio.sleep(2.0)
    counting[0] = True
    t_idle = time.perf_counter()
    await asyncio.sleep(idle_s)
    idle_elapsed = time.perf_counter() - t_idle
    idle_receives = [ln.requests["receive"] for ln in all_lanes]
    # Arrivals
    t_arr = time.perf_counter()
    await asyncio.gather(*(_producer(ln, conn, ln.name, events, random.Random(rng.random())) for ln in all_lanes))
    await asyncio.sleep(cfg.max_polling_interval_s * 2 + 1.0)  # the last messages are picked up
    arrivals_s = time.perf_counter() - t_arr
    stop.set()
    await asyncio.gather(*pollers)
    hops = [h for ln in all_lanes for h in ln.hops]
    sent = sum(len(ln.sent) for ln in all_lanes)
    followers = set().union(*(ln.burst_follower for ln in all_lanes))
    lone = [h[1] for h in hops if h[0] not in followers]
    after = [h[1] for h in hops if h[0] in followers]
    per_hour = statistics.mean(idle_receives) / idle_elapsed * 3600 if idle_elapsed else 0.0
    model_per_hour = 3600 / cfg.max_polling_interval_s
    month = per_hour * HOURS_PER_MONTH

    def ms(values: list[float], pct: float) -> float | None:
        return round(1000 * percentile(values, pct), 1) if values else None

    return {
        "hops": [h[1] for h in hops],
        "messages_sent": sent,
        "messages_received": len(hops),
        "queue_hop_lone_p50_s": round(percentile(lone, 50), 3) if lone else None,
        "queue_hop_burst_follower_p50_s": round(percentile(after, 50), 3) if after else None,
        "queue_hop_parts_p50_ms": {
            "enqueue_round_trip": ms([h[2] for h in hops], 50),
            "poll_wait": ms([h[3] for h in hops], 50),
            "receive_round_trip": ms([h[4] for h in hops], 50),
        },
        "queue_hop_parts_p95_ms": {
            "enqueue_round_trip": ms([h[2] for h in hops], 95),
            "poll_wait": ms([h[3] for h in hops], 95),
            "receive_round_trip": ms([h[4] for h in hops], 95),
        },
        "idle_window_s": round(idle_elapsed, 1),
        "idle_receives_per_lane": idle_receives,
        "idle_transactions_per_hour": round(per_hour),
        "idle_transactions_per_hour_model": round(model_per_hour),
        "idle_transactions_per_month": round(month),
        "idle_cost_per_month_usd": round(month / 10_000 * QUEUE_PRICE_PER_10K_USD, 2),
        "idle_cost_assumption": (
            f"USD {QUEUE_PRICE_PER_10K_USD} per 10,000 queue transactions (assumed public "
            f"Standard LRS price, not measured), {HOURS_PER_MONTH} h per month, one listener "
            "(one queue-triggered function on one instance); each receive is one transaction"
        ),
        "arrivals_s": round(arrivals_s, 1),
        "requests": {k: sum(ln.requests[k] for ln in all_lanes) for k in all_lanes[0].requests},
        "poll_delays_seen_ms": sorted({round(1000 * d) for ln in all_lanes for d in ln.delays})[:12],
    }


def run(
    fast: bool = False, samples: int | None = None, host_json: Path | None = None, idle_s: float | None = None
) -> dict[str, Any]:
    cfg = host_queue_settings(host_json)
    lanes = FAST_LANES if fast else LANES
    events = samples or (FAST_EVENTS if fast else EVENTS)
    idle_s = idle_s or (FAST_IDLE_S if fast else IDLE_S)
    load_start = [round(x, 2) for x in os.getloadavg()]
    with azurite() as az:
        out = asyncio.run(_measure(az.connection_string, cfg, lanes, events, idle_s, seed=19))
    hops = out.pop("hops")
    return {
        "queue_hop_p50_s": round(percentile(hops, 50), 3) if hops else None,
        "queue_hop_p95_s": round(percentile(hops, 95), 3) if hops else None,
        "queue_hop_samples": len(hops),
        "queue_hop_mean_s": round(statistics.mean(hops), 3) if hops else None,
        "queue_hop_p99_s": round(percentile(hops, 99), 3) if hops else None,
        "queue_hop_max_s": round(max(hops), 3) if hops else None,
        "queue_hop_over_1s": sum(h > 1.0 for h in hops),
        "queue_hop_settings": {
            "maxPollingInterval_s": cfg.max_polling_interval_s,
            "batchSize": cfg.batch_size,
            "newBatchThreshold": cfg.new_batch_threshold,
            "minimum_interval_s": MIN_INTERVAL_S,
        },
        "queue_hop_arrivals": {
            "lanes": lanes,
            "poisson_events_per_lane": events,
            "mean_gap_s": MEAN_GAP_S,
            "burst_share": BURST_SHARE,
            "burst_size": BURST_SIZE,
            "burst_gap_s": BURST_GAP_S,
        },
        "queue_hop_model_poll_wait_p50_s": round(cfg.max_polling_interval_s / 2, 3),
        **out,
        "loadavg": {"start": load_start, "end": [round(x, 2) for x in os.getloadavg()]},
    }
