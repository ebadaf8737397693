"""End to end: Event Grid entry point -> Teams POST and Logs Ingestion POST, against the dependent-call floor.

The production wiring, untouched: `AKS_TRIAGE_*` settings in the environment point ARM at the HTTPS
ARM emulator, storage at Azurite (behind a delay line), Logs Ingestion and Teams at
benchmarks.sink_server, and IDENTITY_ENDPOINT at its loopback managed-identity endpoint, so
`shared.handlers.get_deps()` builds what the Function App builds (ManagedIdentityCredential, the
Azure ARM reader, Table state, the ingestion sink, the Teams notifier, Storage queues). Each sample
calls the indexed `on_aks_event` function with a decoded Event Grid event, receives the work item
from the queue (one receive round trip; the host's polling wait is `queue_hop`'s figure, not this
one), calls the indexed `on_work_item`, and reads the sink server's log: card = Teams POST answered
- entry; row = last ingestion POST answered - entry (time.monotonic, comparable across processes).

Injected latency: ARM 50 / 100 / 150 ms per GET, storage +10 ms per request, Teams 300 ms,
ingestion 100 ms. Paths: `cluster_status` (the error is in the cluster's status.provisioningError)
and `activity_log` (the status has no error; it is in the Activity Log by correlation id).

Floor (the dependent chain, injected latencies only):
    card_floor = enqueue + receive + 1 storage round trip (the dedup claim) + D x ARM + Teams
    row_floor  = the same with ingestion instead of Teams
D is the data-flow depth of the ARM reads (benchmarks.arm_trace.dataflow_depth over a traced run
of the same work item: a read depends on another only when its id needs a name from that
response), so a read the code serialises without needing to is counted against it.
`card_latency_ratio` / `row_latency_ratio` = the worst, over paths and ARM latencies, of the
median wall / floor. Every new sample uses its own cluster (a new finding each time).
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import statistics
import time
import uuid
from typing import Any

from benchmarks.arm_trace import TracingArmReader, capture_bodies, dataflow_depth, fresh_task, install_task_tracker
from benchmarks.infra import arm_emulator, azurite, sink_server, trust_benchmark_ca
from benchmarks.scenario import (
    RecordingPublisher,
    Scenario,
    event_now,
    load_scenario,
    make_error_source,
    make_reader,
    variant,
)
from benchmarks.sink_server import TEAMS_PATH

STORAGE_S = 0.01
TEAMS_S = 0.3
INGESTION_S = 0.1
ARM_LATENCIES_S = (0.05, 0.1, 0.15)
PATHS = ("cluster_status", "activity_log")
QUEUE = "bench-e2e-work"


def _make_variant(scn: Scenario, index: int, path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A distinct cluster (ids, event id, correlation id); on the AL path its status carries no error."""
    snap, event = variant(scn.snapshot, scn.event, index)
    corr = str(uuid.UUID(int=(5 << 64) + index))
    old = (event.get("data") or {}).get("correlationId")
    if old:
        event["data"]["correlationId"] = corr
    event["id"] = str(uuid.UUID(int=(6 << 64) + index))
    for entry in snap.get("activity_log", []):
        if old and str(entry.get("correlationId", "")).lower() == str(old).lower():
            entry["correlationId"] = corr
            entry["eventDataId"] = str(uuid.UUID(int=(7 << 64) + index))
    if path == "activity_log":
        for rid, body in snap["resources"].items():
            if "/managedclusters/" in rid.lower() and rid.lower().count("/") == 8:
                (body.get("properties") or {}).get("status", {}).pop("provisioningError", None)
    return snap, event


async def _dataflow(event: dict[str, Any], emu: Any) -> tuple[int, int, str]:
    """(data-flow depth, observed critical path, code) of one traced diagnosis of `event`."""
    from shared.azure import arm
    from shared.events import parse_event
    from shared.pipeline import Deps, WorkItem, process
    from shared.settings import Settings

    install_task_tracker()
    op = parse_event(copy.deepcopy(event))
    settings = Settings(arm_endpoint=emu.base_url, arm_cache_ttl_s=0.0)
    now = event_now(op.event_time)  # type: ignore[union-attr]
    tracer = TracingArmReader(make_reader(settings, emu.base_url, emu.ca_file))
    recorder: Any = RecordingPublisher()  # records the finding; the sinks are not this pass's concern
    deps = Deps(settings=settings, arm=tracer, errors=make_error_source(tracer, lambda: now, settings),
                publisher=recorder, queue=None, now=lambda: now)
    from datetime import UTC, datetime

    try:
        with capture_bodies(tracer) as bodies:
            outcome = await fresh_task(process(WorkItem(op=op, enqueued_at=datetime.now(UTC)), deps))
    finally:
        await arm.aclose()
    known = {op.subscription_id.lower(), op.resource_group.lower(), op.cluster_name.lower()}  # type: ignore[union-attr]
    per_read = dataflow_depth(tracer.reads, bodies, known)
    code = outcome.finding.classification.code if outcome.finding else f"({outcome.status})"
    return max(per_read.values(), default=0), tracer.critical_path(), code


def _production_env(emu: Any, sinks: Any) -> None:
    os.environ.update({
        "AKS_TRIAGE_ARM_ENDPOINT": emu.base_url,
        "AKS_TRIAGE_ARM_CACHE_TTL_S": "0",  # every sample reads everything, like the floor assumes
        "AKS_TRIAGE_STORAGE_CONNECTION_STRING": sinks.storage.connection_string,
        "AKS_TRIAGE_WORK_QUEUE": QUEUE,
        "AKS_TRIAGE_STATE_TABLE": "benche2estate",
        "AKS_TRIAGE_LOGS_INGESTION_ENDPOINT": sinks.base_url,
        "AKS_TRIAGE_DCR_IMMUTABLE_ID": "dcr-bench",
        "AKS_TRIAGE_TEAMS_WEBHOOK_URL": f"{sinks.base_url}{TEAMS_PATH}?api-version=2016-06-01&sig=bench",
        "IDENTITY_ENDPOINT": sinks.token_url,
        "IDENTITY_HEADER": "bench",
        "AZURE_CLIENT_ID": "00000000-0000-0000-0000-0000000000b1",
    })


async def _samples(variants: dict[tuple[str, float], list[dict[str, Any]]], emu: Any, sinks: Any,
                   floors: dict[str, int], chains: dict[str, int]) -> dict[str, Any]:
    import azure.functions as func
    from azure.functions.eventgrid import EventGridEventInConverter
    from azure.functions.queue import QueueMessageInConverter

    import function_app
    from shared.azure.queue import StorageWorkQueue

    fns = {f.get_function_name(): f.get_user_function() for f in function_app.app.get_functions()}
    host_queue = StorageWorkQueue(QUEUE, connection_string=sinks.storage.connection_string)
    out: dict[str, Any] = {}
    try:
        for (path, lat), events in variants.items():
            emu.set_latency(lat)
            cards, rows, handler, trips = [], [], [], []
            for i, ev in enumerate(events):
                sinks.call("clear_log")
                t0 = time.monotonic()
                await fns["on_aks_event"](EventGridEventInConverter.decode(
                    func.meta.Datum(json.dumps(ev), "json"), trigger_metadata={}))
                got = await host_queue.receive(max_messages=1, visibility_timeout=300)
                if len(got) != 1:
                    raise RuntimeError(f"intake enqueued {len(got)} work items for one event")
                body, receipt = got[0]
                meta = {"Id": func.meta.Datum(receipt.id, "string"), "DequeueCount": func.meta.Datum(1, "int")}
                await fns["on_work_item"](QueueMessageInConverter.decode(func.meta.Datum(body, "string"),
                                                                        trigger_metadata=meta))
                t_done = time.monotonic()
                log, storage = sinks.sink_log()
                await host_queue.delete(receipt)
                teams = [r[2] for r in log if r[0] == "teams"]
                ingest = [r[2] for r in log if r[0] == "ingestion"]
                if not teams or not ingest:
                    raise RuntimeError(f"{path}: no card or no row posted ({len(teams)} cards, {len(ingest)} rows)")
                if i == 0:
                    continue  # warm-up: the first event of each setting (connections, first-use imports)
                cards.append(max(teams) - t0)
                rows.append(max(ingest) - t0)
                handler.append(t_done - t0)
                trips.append(storage["queue"] + storage["table"] - 1)  # minus the host's receive
            depth = floors[path]
            base = 3 * STORAGE_S + depth * lat
            card_floor, row_floor = base + TEAMS_S, base + INGESTION_S
            card, row = statistics.median(cards), statistics.median(rows)
            out[f"{path}@{int(lat * 1000)}ms"] = {
                "card_s": round(card, 4), "row_s": round(row, 4), "card_floor_s": round(card_floor, 4),
                "row_floor_s": round(row_floor, 4), "card_ratio": round(card / card_floor, 3),
                "row_ratio": round(row / row_floor, 3), "handler_done_s": round(statistics.median(handler), 4),
                "storage_round_trips_per_finding": max(trips), "samples": len(cards),
                # against the chain the code actually runs (observed critical path), for comparison
                "card_ratio_observed_chain": round(card / (3 * STORAGE_S + chains[path] * lat + TEAMS_S), 3),
                "row_ratio_observed_chain": round(row / (3 * STORAGE_S + chains[path] * lat + INGESTION_S), 3),
            }
    finally:
        from shared.azure import arm

        await host_queue.aclose()
        await arm.aclose()
    return out


def run(fast: bool = False, samples: int | None = None) -> dict[str, Any]:
    n = samples or (1 if fast else 5)
    lats = ARM_LATENCIES_S[:1] if fast else ARM_LATENCIES_S
    scn = load_scenario("connfail")
    pooled = trust_benchmark_ca()  # before the first aiohttp import
    merged: dict[str, Any] = {"resources": {}, "activity_log": []}
    variants: dict[tuple[str, float], list[dict[str, Any]]] = {}
    probes: dict[str, dict[str, Any]] = {}
    index = 0
    for path in PATHS:
        for lat in lats:
            for _ in range(n + 1):
                snap, ev = _make_variant(scn, index, path)
                index += 1
                merged["resources"].update(snap["resources"])
                merged["activity_log"].extend(snap.get("activity_log", []))
                variants.setdefault((path, lat), []).append(ev)
                probes.setdefault(path, ev)
        snap, ev = _make_variant(scn, index, path)  # the traced run's own cluster
        index += 1
        merged["resources"].update(snap["resources"])
        merged["activity_log"].extend(snap.get("activity_log", []))
        probes[path] = ev
    with azurite() as az, arm_emulator() as emu, sink_server(az) as sinks:
        emu.serve(merged)
        emu.set_latency(ARM_LATENCIES_S[0])
        sinks.set_sink_latency(TEAMS_S, INGESTION_S, STORAGE_S)

        async def main() -> dict[str, Any]:
            floors, observed, codes = {}, {}, {}
            for path in PATHS:
                floors[path], observed[path], codes[path] = await _dataflow(probes[path], emu)
            _production_env(emu, sinks)
            per = await _samples(variants, emu, sinks, floors, observed)
            return {"per_setting": per, "dataflow_depth": floors, "observed_critical_path": observed,
                    "codes": codes}

        res = asyncio.run(main())
    per = res["per_setting"]
    return {
        "card_latency_ratio": max(v["card_ratio"] for v in per.values()),
        "row_latency_ratio": max(v["row_ratio"] for v in per.values()),
        **{f"e2e_{k}": v for k, v in res.items()},
        "e2e_latency_ms": {"storage": STORAGE_S * 1000, "teams": TEAMS_S * 1000, "ingestion": INGESTION_S * 1000},
        "tls_verify_default_store": pooled,
    }
