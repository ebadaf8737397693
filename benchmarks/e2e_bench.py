"""End to end: Event Grid entry point -> Teams POST and Logs Ingestion POST, against the dependent-call floor.

The production wiring, untouched: `AKS_TRIAGE_*` settings in the environment point ARM at the HTTPS
ARM emulator, storage at Azurite (behind a delay line), Logs Ingestion and Teams at
benchmarks.sink_server, and IDENTITY_ENDPOINT at its loopback managed-identity endpoint, so
`shared.handlers.get_deps()` builds what the Function App builds (ManagedIdentityCredential, the
Azure ARM reader, Table state, the ingestion sink, the Teams notifier, Storage queues). Each sample
calls the indexed `on_aks_event` function with a decoded Event Grid event and its two queue output
bindings, writes what it set to the queue as the host does after the function returns (the enqueue
round trip), receives the work item from the queue (one receive round trip; the host's polling
wait is `queue_hop`'s figure, not this one), calls the indexed `on_work_item`, and reads the sink
server's log: card = Teams POST answered - entry; row = last ingestion POST answered - entry
(time.monotonic, comparable across processes).

Injected latency: ARM 50 / 100 / 150 ms per GET, storage +10 ms per request, Teams 300 ms,
ingestion 100 ms. Paths: `cluster_status` (the error is in the cluster's status.provisioningError)
and `activity_log` (the status has no error; it is in the Activity Log by correlation id).

Floor (the dependent chain, injected latencies only):
    card_floor = enqueue + receive + 1 storage round trip (the dedup claim) + D x ARM + Teams
    row_floor  = the same with ingestion instead of Teams
D is the depth of the ARM reads' dependent chain (benchmarks.arm_trace.dataflow_depth over a traced
run of the same work item through shared.pipeline.process: a read depends on another when its id
needs a name from that response; the checks' reads need the classified error; the Activity Log is
queried after the status GET), so a read the code serialises without needing to is counted against
it. Cluster status: cluster -> subnet -> NSG = 3; Activity Log: cluster -> Activity Log -> subnet
-> NSG = 4. `e2e_dataflow_depth_data_only` is the chain without the control edges.
`card_latency_ratio` / `row_latency_ratio` = the worst, over paths and ARM latencies, of the
median wall / floor. Every new sample uses its own cluster (a new finding each time).
The samples are first attempts (WorkItem.attempt 0). A retry of an Activity-Log-only item
(attempt >= 1: an earlier attempt found no error in the status) reads the status and the Activity
Log side by side (shared.errors.ArmErrorSource.fetch), so its floor is 3 ARM rounds (cluster +
Activity Log -> subnet -> NSG), not 4; the first attempt keeps the status-then-Activity-Log order
(the control edge above), or every cluster-status item would pay an Activity Log query.
The traced pass runs with the task tracker installed (`arm_trace.task_tracker()`), removed before
the production samples: they run with the loop's own task factory.

Per setting, measured on the production run itself (no tracer in it): the ARM GETs per finding and
the ARM rounds seen on the wire (`arm_wire_rounds`: the longest chain of GETs in the emulator's log
each sent after the one before had been answered), the storage round trips per finding (queue and
table requests through the delay line, minus the host's receive), and where the time went:
entry -> first ARM GET (split into the intake call, the host's enqueue + receive, and work item in
hand -> first GET), the ARM span, the ARM emulator's own time per GET past the injected latency
(`arm_emulator_service_s`: not the app's, but inside the span), last ARM answer -> card.
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

from benchmarks.arm_trace import (
    TimedErrorSource,
    TracingArmReader,
    capture_bodies,
    dataflow_depth,
    fresh_task,
    task_tracker,
    wire_rounds,
)
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


async def _dataflow(event: dict[str, Any], emu: Any) -> dict[str, Any]:
    """The floor of one traced diagnosis of `event` (through shared.pipeline.process): the dependent
    chain's depth, the same without control edges, the program-order critical path, the reads."""
    from datetime import UTC, datetime

    from shared.azure import arm
    from shared.events import parse_event
    from shared.pipeline import Deps, WorkItem, process
    from shared.settings import Settings

    op = parse_event(copy.deepcopy(event))
    settings = Settings(arm_endpoint=emu.base_url, arm_cache_ttl_s=0.0)
    now = event_now(op.event_time)  # type: ignore[union-attr]
    tracer = TracingArmReader(make_reader(settings, emu.base_url, emu.ca_file))
    errors = TimedErrorSource(make_error_source(tracer, lambda: now, settings))
    recorder: Any = RecordingPublisher()  # records the finding; the sinks are not this pass's concern
    deps = Deps(settings=settings, arm=tracer, errors=errors, publisher=recorder, queue=None, now=lambda: now)
    try:
        with task_tracker(), capture_bodies(tracer) as bodies:
            outcome = await fresh_task(process(WorkItem(op=op, enqueued_at=datetime.now(UTC)), deps))
    finally:
        await arm.aclose()
    known = {op.subscription_id, op.resource_group, op.cluster_name}  # type: ignore[union-attr]
    if getattr(op, "agent_pool", None):
        known.add(op.agent_pool)  # type: ignore[union-attr]
    floor = dataflow_depth(tracer.reads, bodies, known, error_known_at=errors.done_at)
    data = dataflow_depth(tracer.reads, bodies, known)
    code = outcome.finding.classification.code if outcome.finding else f"({outcome.status})"
    return {
        "floor": max(floor.values(), default=0),
        "data_only": max(data.values(), default=0),
        "critical_path": tracer.critical_path(),
        "code": code,
        "error_source": outcome.finding.error.source if outcome.finding else None,
        "reads": len(tracer.network_reads),
        "sequential_waits": sorted(f"{r.key[0]} (program depth {r.depth}, floor {floor[r.key]})"
                                   for r in tracer.network_reads if r.depth > floor[r.key]),
    }


class _HostOut:
    """What the Python worker hands a queue output-binding parameter (func.Out[str]): set, then get."""

    def __init__(self) -> None:
        self._value: str | None = None

    def set(self, val: str) -> None:
        self._value = val

    def get(self) -> str | None:
        return self._value


async def _host_writes(out: _HostOut, queue: Any) -> None:
    """The host's side of the output binding, after the function returned: the worker encodes the
    value, the host writes each string as one message (host.json messageEncoding "none")."""
    from azure.functions.queue import QueueMessageOutConverter

    value = out.get()
    if value is None:
        return
    datum = QueueMessageOutConverter.encode(value, expected_type=None)
    for text in json.loads(datum.value) if datum.type == "json" else [datum.value]:
        await queue.send_text(text)


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


async def _storage_round_trips(connection_string: str, n: int = 5) -> dict[str, float]:
    """Median seconds of the bare storage calls the chain makes, through the same delay line, with no
    app code around them: the claim round's slowest request (a 4-row entity-group transaction, as the
    group transaction is) and a single-row create (the claim). They give the floor the emulator's
    own service time: `*_ratio_service_floor` says how much of the excess is Azurite's."""
    from shared.azure.tables import TableStateStore
    from shared.ports import StateOp

    store = TableStateStore(connection_string, f"e2eprobe{uuid.uuid4().hex[:10]}")
    creates, batches = [], []
    try:
        await store.create("warm", "up", {"v": 0})
        for i in range(n):
            t = time.monotonic()
            await store.create(f"p{i}", "claim", {"v": i})
            creates.append(time.monotonic() - t)
            ops = [StateOp("create", f"r{j}", {"v": j}) for j in range(4)]
            t = time.monotonic()
            await store.transact(f"b{i}", ops)
            batches.append(time.monotonic() - t)
    finally:
        await store.close()
    return {"table_create_s": statistics.median(creates), "table_transaction_s": statistics.median(batches)}


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
            bare = await _storage_round_trips(sinks.storage.connection_string)
            cards, rows, handler, trips, gets, rounds = [], [], [], [], [], []
            split: dict[str, int] = {}
            first_arm, arm_span, tail, intake_s, hop_s, to_arm = [], [], [], [], [], []
            service: list[float] = []
            for i, ev in enumerate(events):
                sinks.call("clear_log")
                emu.clear_log()
                t0 = time.monotonic()
                work_out, poison_out = _HostOut(), _HostOut()
                await fns["on_aks_event"](EventGridEventInConverter.decode(
                    func.meta.Datum(json.dumps(ev), "json"), trigger_metadata={}), work_out, poison_out)
                if poison_out.get() is not None:
                    raise RuntimeError(f"intake dead-lettered the event: {str(poison_out.get())[:300]}")
                t_intake = time.monotonic()
                await _host_writes(work_out, host_queue)  # what the host does after the function returns
                got = await host_queue.receive(max_messages=1, visibility_timeout=300)
                t_received = time.monotonic()
                if len(got) != 1:
                    raise RuntimeError(f"intake enqueued {len(got)} work items for one event")
                body, receipt = got[0]
                meta = {"Id": func.meta.Datum(receipt.id, "string"), "DequeueCount": func.meta.Datum(1, "int")}
                await fns["on_work_item"](QueueMessageInConverter.decode(func.meta.Datum(body, "string"),
                                                                        trigger_metadata=meta))
                t_done = time.monotonic()
                log, storage = sinks.sink_log()
                wire = [(r.started, r.finished) for r in emu.log() if r.method == "GET"]
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
                intake_s.append(t_intake - t0)
                hop_s.append(t_received - t_intake)
                trips.append(storage["queue"] + storage["table"] - 1)  # minus the host's receive
                for kind, count in storage.items():
                    split[kind] = max(split.get(kind, 0), count)
                gets.append(len(wire))
                rounds.append(wire_rounds(wire))
                service.extend(b - a - lat for a, b in wire)  # the emulator's own time per GET, past the latency
                if wire:
                    first_arm.append(min(a for a, _ in wire) - t0)
                    to_arm.append(min(a for a, _ in wire) - t_received)
                    arm_span.append(max(b for _, b in wire) - min(a for a, _ in wire))
                    tail.append(max(teams) - max(b for _, b in wire))
            depth = floors[path]
            base = 3 * STORAGE_S + depth * lat
            card_floor, row_floor = base + TEAMS_S, base + INGESTION_S
            card, row = statistics.median(cards), statistics.median(rows)
            # The same chain with each dependent call at what it costs here with no app code around
            # it: the host's write + receive as measured, the claim round's slowest request, the
            # emulator's own time per ARM round. For reading the excess, not a target.
            served = (statistics.median(hop_s) + max(bare["table_transaction_s"], bare["table_create_s"])
                      + depth * (lat + (_median(service) or 0.0)))
            out[f"{path}@{int(lat * 1000)}ms"] = {
                "card_s": round(card, 4), "row_s": round(row, 4), "card_floor_s": round(card_floor, 4),
                "row_floor_s": round(row_floor, 4), "card_ratio": round(card / card_floor, 3),
                "row_ratio": round(row / row_floor, 3), "handler_done_s": round(statistics.median(handler), 4),
                "storage_round_trips_per_finding": max(trips), "samples": len(cards),
                "storage_requests_max": split,  # queue (the host's write and receive included) and table
                "arm_depth_floor": depth, "arm_wire_rounds": max(rounds), "arm_gets_per_finding": max(gets),
                "entry_to_first_arm_s": _median(first_arm), "intake_call_s": _median(intake_s),
                "enqueue_receive_s": _median(hop_s), "work_item_to_first_arm_s": _median(to_arm),
                "arm_span_s": _median(arm_span), "arm_emulator_service_s": _median(service),
                "last_arm_to_card_s": _median(tail), "loadavg": [round(x, 2) for x in os.getloadavg()],
                # against the chain the code actually runs (observed critical path), for comparison
                "card_ratio_observed_chain": round(card / (3 * STORAGE_S + chains[path] * lat + TEAMS_S), 3),
                "row_ratio_observed_chain": round(row / (3 * STORAGE_S + chains[path] * lat + INGESTION_S), 3),
                "bare_storage_s": {k: round(v, 4) for k, v in bare.items()},
                "card_ratio_service_floor": round(card / (served + TEAMS_S), 3),
                "row_ratio_service_floor": round(row / (served + INGESTION_S), 3),
            }
    finally:
        from shared.azure import arm

        await host_queue.aclose()
        await arm.aclose()
    return out


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 4) if values else None


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
            traced = {path: await _dataflow(probes[path], emu) for path in PATHS}
            floors = {p: t["floor"] for p, t in traced.items()}
            observed = {p: t["critical_path"] for p, t in traced.items()}
            _production_env(emu, sinks)
            per = await _samples(variants, emu, sinks, floors, observed)
            return {"per_setting": per, "dataflow_depth": floors, "observed_critical_path": observed,
                    "dataflow_depth_data_only": {p: t["data_only"] for p, t in traced.items()},
                    "codes": {p: t["code"] for p, t in traced.items()},
                    "error_sources": {p: t["error_source"] for p, t in traced.items()},
                    "traced_reads": {p: t["reads"] for p, t in traced.items()},
                    "sequential_waits": {p: t["sequential_waits"] for p, t in traced.items()}}

        res = asyncio.run(main())
    per = res["per_setting"]
    return {
        "card_latency_ratio": max(v["card_ratio"] for v in per.values()),
        "row_latency_ratio": max(v["row_ratio"] for v in per.values()),
        **{f"e2e_{k}": v for k, v in res.items()},
        "e2e_latency_ms": {"storage": STORAGE_S * 1000, "teams": TEAMS_S * 1000, "ingestion": INGESTION_S * 1000},
        "tls_verify_default_store": pooled,
    }
