"""Intake latency: the Event Grid trigger function (parse, filter, set the queue output binding) and
the host's write of the message to Azurite.

The events are decoded with the worker's own converter (EventGridEventInConverter) *before* the
clock starts, then the indexed user function of `on_aks_event` is awaited one event at a time on
one event loop, as the Python worker runs async functions, with real `func.Out` objects (HostOut)
for its two queue outputs; after it returns, this process does what the host does with the
outputs: encodes them with the worker's QueueMessageOutConverter and writes each string to the
Azurite queue as it is (`host_write`, messageEncoding "none"). Each event is timed with
perf_counter from the call to the end of that write (what Event Grid waits for). The queues exist
before the clock starts (as deployed). The first invocation is included: it pays the handler's
lazy import; it is also reported alone (`intake_first_ms`). `intake_p99_ms` is the median over 3 rounds of 1,000 events
(one round of 200 with --fast) of each round's nearest-rank p99. `intake_own_*` is the function
alone (without the host's write), i.e. what our code costs; `intake_enqueue_p99_ms` the write.

The mix: 70 % ResourceWriteFailure, 10 % ResourceActionFailure, 10 % NodePoolRollingFailed (all
enqueued), 10 % non-AKS ResourceWriteFailure (parsed, filtered out, not enqueued). Ids, times and
correlation ids are unique per event; clusters cycle over 10 names.
"""

from __future__ import annotations

import asyncio
import copy
import json
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func

from benchmarks.infra import ROOT, azurite, percentile

EVENTS = ROOT / "tests" / "fixtures" / "events"
SUB = "00000000-0000-0000-0000-000000000000"


def _load(name: str) -> dict[str, Any]:
    raw = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    event: dict[str, Any] = raw[0] if isinstance(raw, list) else raw
    return event


def make_events(n: int) -> list[dict[str, Any]]:
    write = _load("eg.resources.ResourceWriteFailure.aks.subscription-topic.constructed.json")
    action = _load("eg.resources.ResourceActionFailure.aks.subscription-topic.constructed.json")
    pool = _load("eg.containerservice.NodePoolRollingFailed.eventgrid-schema.sdk-fixture.go.json")
    t0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    out = []
    for i in range(n):
        slot = i % 10
        cluster = f"aks-bench-{i % 10:02d}"
        cid = (f"/subscriptions/{SUB}/resourceGroups/rg-bench/providers/Microsoft.ContainerService/"
               f"managedClusters/{cluster}")
        when = (t0 + timedelta(milliseconds=37 * i)).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
        if slot == 8:
            ev = copy.deepcopy(pool)
            ev["topic"] = cid
            ev["subject"] = cid
        else:
            ev = copy.deepcopy(action if slot == 7 else write)
            uri = cid
            if slot == 9:  # not AKS: filtered out by the parser
                uri = f"/subscriptions/{SUB}/resourceGroups/rg-bench/providers/Microsoft.Storage/storageAccounts/st{i}"
            ev["subject"] = uri
            ev["data"]["resourceUri"] = uri
            ev["data"]["correlationId"] = str(uuid.UUID(int=i + 1))
        ev["id"] = str(uuid.UUID(int=(1 << 64) + i))
        ev["eventTime"] = when
        out.append(ev)
    return out


_INDEXED: dict[str, Any] = {}


class HostOut(func.Out[str]):
    """A real `func.Out[str]`: what the Python worker hands an output-binding parameter."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


async def host_write(out: HostOut, queue: Any) -> list[str]:
    """The host's side of a queue output binding after the function returned: the worker encodes
    the value, the host writes each string as one message, text as it is (messageEncoding none)."""
    from azure.functions.queue import QueueMessageOutConverter

    if out.get() is None:
        return []
    datum = QueueMessageOutConverter.encode(out.get(), expected_type=None)
    texts: list[str] = json.loads(datum.value) if datum.type == "json" else [datum.value]
    for text in texts:
        await queue.send_text(text)
    return texts


async def _measure(events: list[Any], conn: str, queue_name: str = "bench-intake") -> dict[str, Any]:
    import function_app
    from shared.azure.queue import StorageWorkQueue

    if not _INDEXED:  # the worker indexes an app once; get_functions() refuses a second call
        _INDEXED.update({str(f.get_function_name()): f for f in function_app.app.get_functions()})
    fn = _INDEXED["on_aks_event"].get_user_function()
    work = StorageWorkQueue(queue_name, connection_string=conn)
    poison = StorageWorkQueue(f"{queue_name}-poison", connection_string=conn)
    await work.ensure()
    await poison.ensure()
    times: list[float] = []
    own: list[float] = []
    writes: list[float] = []
    try:
        for ev in events:
            work_out, poison_out = HostOut(), HostOut()
            t = time.perf_counter()
            await fn(ev, work_out, poison_out)
            t_fn = time.perf_counter()
            await host_write(work_out, work)
            await host_write(poison_out, poison)
            t_end = time.perf_counter()
            times.append((t_end - t) * 1000)
            own.append((t_fn - t) * 1000)
            if work_out.get() is not None:
                writes.append((t_end - t_fn) * 1000)
        # Count what arrived (peek-free: receive in batches of 32 and leave them invisible).
        got = 0
        while True:
            batch = await work.receive(max_messages=32, visibility_timeout=300)
            if not batch:
                break
            got += len(batch)
        rejected = len(await poison.receive(max_messages=32))
    finally:
        await work.aclose()
        await poison.aclose()
    return {"times": times, "own": own, "enqueue": writes, "enqueued": got, "dead_lettered": rejected}


def run(fast: bool = False, events: int | None = None) -> dict[str, Any]:
    """Median over `rounds` runs of n events each (3 x 1,000; 1 x 200 with --fast) of the p99."""
    from azure.functions.eventgrid import EventGridEventInConverter

    n = events or (200 if fast else 1000)
    rounds = 1 if fast or events else 3
    payloads = make_events(n)
    decoded = [EventGridEventInConverter.decode(func.meta.Datum(json.dumps(p), "json"), trigger_metadata={})
               for p in payloads]
    expected = sum(1 for i in range(n) if i % 10 != 9)
    results = []
    with azurite() as az:
        for r in range(rounds):
            res = asyncio.run(_measure(decoded, az.connection_string, f"bench-intake-{r}"))
            if res["enqueued"] != expected or res["dead_lettered"]:
                raise RuntimeError(f"intake enqueued {res['enqueued']} of {expected} "
                                   f"(dead-lettered {res['dead_lettered']})")
            results.append(res)
    p99s = [percentile(res["times"], 99) for res in results]
    mid = results[p99s.index(statistics.median_low(p99s))]
    return {
        "intake_p99_ms": round(statistics.median(p99s), 2),
        "intake_p99_per_round_ms": [round(v, 2) for v in p99s],
        "intake_p50_ms": round(percentile(mid["times"], 50), 2),
        "intake_max_ms": round(max(mid["times"]), 2),
        "intake_first_ms": round(results[0]["times"][0], 1),
        "intake_own_p99_ms": round(percentile(mid["own"], 99), 3),
        "intake_own_p50_ms": round(percentile(mid["own"], 50), 3),
        "intake_enqueue_p99_ms": round(percentile(mid["enqueue"], 99), 2),
        "intake_events": n,
        "intake_rounds": rounds,
        "intake_enqueued": mid["enqueued"],
    }
