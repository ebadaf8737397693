"""The diagnosis reads ARM in as few rounds as the data allows: the real Azure ARM reader against the
HTTPS emulator, the seed ConnFail scenario, the benchmark's own instrument (benchmarks.arm_trace).

Each read is traced with the depth of what its task had seen when it asked (program order), and the
floor is the dependent chain of the same reads (dataflow_depth: an id needs a name an earlier response
gave; the checks' reads need the classified error; the Activity Log is queried after the status GETs).
The code meets the floor when both are equal. Depths come from task causality, not from timings.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from benchmarks.arm_trace import (
    TimedErrorSource,
    TracingArmReader,
    capture_bodies,
    dataflow_depth,
    fresh_task,
    install_task_tracker,
)
from benchmarks.scenario import RecordingPublisher, event_now, load_scenario, variant
from shared.azure.arm import AzureArmReader
from shared.errors import ArmErrorSource
from shared.events import parse_event
from shared.models import FailedOperation
from shared.pipeline import Deps, WorkItem, process
from shared.settings import Settings
from tests.emulators.arm_emulator import ArmEmulator
from tests.emulators.plugin import FakeAsyncCredential, arm_emulator, arm_server, fake_credential  # noqa: F401

CODE = "VMExtensionError_K8SAPIServerConnFail"


def _world(path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The seed scenario for one cluster; on the Activity Log path its status carries no error."""
    scn = load_scenario("connfail")
    snap, event = variant(scn.snapshot, scn.event, 41)
    old = event["data"]["correlationId"]
    corr = str(uuid.UUID(int=41))
    event["data"]["correlationId"] = corr
    for entry in snap.get("activity_log", []):
        if str(entry.get("correlationId", "")).lower() == str(old).lower():
            entry["correlationId"] = corr
    if path == "activity_log":
        for rid, body in snap["resources"].items():
            if "/managedclusters/" in rid.lower() and rid.count("/") == 8:
                body["properties"]["status"].pop("provisioningError")
    return snap, event


@pytest.fixture
async def reader(arm_emulator: ArmEmulator,  # noqa: F811
                 fake_credential: FakeAsyncCredential) -> AsyncIterator[AzureArmReader]:  # noqa: F811
    r = AzureArmReader(Settings(arm_cache_ttl_s=0), credential=fake_credential, base_url=arm_emulator.base_url,
                       connection_verify=arm_emulator.ca_file, retry_backoff_factor=0.01)
    yield r
    await r.aclose()


async def _traced_run(path: str, reader: AzureArmReader, arm_emulator: ArmEmulator  # noqa: F811
                      ) -> tuple[FailedOperation, TracingArmReader, TimedErrorSource, dict[Any, Any], Any]:
    """One work item of `path`'s world through the pipeline, every read traced and its body kept."""
    snap, event = _world(path)
    arm_emulator.serve(snap)
    op = parse_event(copy.deepcopy(event))
    assert isinstance(op, FailedOperation)
    now = event_now(op.event_time)
    install_task_tracker()
    tracer = TracingArmReader(reader)
    errors = TimedErrorSource(ArmErrorSource(tracer, now=lambda: now))
    deps = Deps(settings=Settings(arm_cache_ttl_s=0), arm=tracer, errors=errors,
                publisher=RecordingPublisher(), queue=None, now=lambda: now)  # type: ignore[arg-type]
    with capture_bodies(tracer) as bodies:
        outcome = await fresh_task(process(WorkItem(op=op, enqueued_at=datetime.now(UTC)), deps))
    return op, tracer, errors, bodies, outcome


@pytest.mark.parametrize(("path", "floor"), [("cluster_status", 3), ("activity_log", 4)])
async def test_the_diagnosis_reads_in_as_many_rounds_as_its_dependent_chain(
        path: str, floor: int, reader: AzureArmReader, arm_emulator: ArmEmulator) -> None:  # noqa: F811
    arm_emulator.latency_s = 0.02
    op, tracer, errors, bodies, outcome = await _traced_run(path, reader, arm_emulator)

    assert outcome.status == "published" and outcome.finding is not None
    assert outcome.finding.classification.code == CODE
    assert outcome.finding.error.source == path
    known = {op.subscription_id, op.resource_group, op.cluster_name}
    per_read = dataflow_depth(tracer.reads, bodies, known, error_known_at=errors.done_at)
    waits = sorted(f"{r.key[0]} (program depth {r.depth}, floor {per_read[r.key]})"
                   for r in tracer.network_reads if r.depth > per_read[r.key])
    assert max(per_read.values()) == floor
    assert tracer.critical_path() == floor, waits
    # Each resource once on the wire (no retries here): the rounds were not bought with extra reads.
    gets = [r for r in arm_emulator.log if r.method == "GET"]
    assert len(gets) == len(tracer.network_reads)
    assert len({(r.path.lower(), r.query.get("$filter", "")) for r in gets}) == len(gets)


async def test_the_floor_without_control_edges_is_the_data_chain_alone(
        reader: AzureArmReader, arm_emulator: ArmEmulator) -> None:  # noqa: F811
    """The Activity Log path's floor is one round deeper than its data chain: the checks need the
    classified error, which needs the Activity Log entry (reported next to the floor as data-only)."""
    op, tracer, errors, bodies, _ = await _traced_run("activity_log", reader, arm_emulator)
    known = {op.subscription_id, op.resource_group, op.cluster_name}
    assert max(dataflow_depth(tracer.reads, bodies, known).values()) == 3
    assert max(dataflow_depth(tracer.reads, bodies, known, error_known_at=errors.done_at).values()) == 4
