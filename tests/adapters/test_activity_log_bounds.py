"""Activity Log reads are bounded: $select, lazy paging that stops at the failure entry, page and
entry caps, and a found failure reused by later work items (the item's deferrals).

Real azure-mgmt-resource client over HTTPS against the local ARM emulator.
"""

from __future__ import annotations

import copy
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest

from shared.azure import arm as arm_module
from shared.azure.arm import AzureArmReader
from shared.errors import ArmErrorSource
from shared.local.snapshot import Snapshot
from shared.settings import Settings
from tests.emulators.arm_emulator import ArmEmulator
from tests.emulators.plugin import FakeAsyncCredential, arm_emulator, arm_server, fake_credential  # noqa: F401
from tests.emulators.sample_data import CLUSTER_ID, CORRELATION, EVENT_TIME, SUB, failed_write_event, operation

MakeReader = Callable[..., AzureArmReader]
START, END = EVENT_TIME - timedelta(hours=6), EVENT_TIME + timedelta(minutes=30)


@pytest.fixture
async def make_reader(arm_emulator: ArmEmulator,  # noqa: F811
                      fake_credential: FakeAsyncCredential) -> AsyncIterator[MakeReader]:  # noqa: F811
    made: list[AzureArmReader] = []

    def make() -> AzureArmReader:
        reader = AzureArmReader(Settings(arm_retry_after_cap_s=0.2, arm_retry_total=1), credential=fake_credential,
                                base_url=arm_emulator.base_url, connection_verify=arm_emulator.ca_file,
                                retry_backoff_factor=0.01, clock=time.monotonic)
        made.append(reader)
        return reader

    yield make
    for r in made:
        await r.aclose()


def _entry(i: int, status: str) -> dict[str, Any]:
    e = copy.deepcopy(failed_write_event())
    e["eventDataId"] = f"id-{i:05d}"
    e["status"] = {"value": status, "localizedValue": status}
    if status != "Failed":
        e["properties"] = {"statusCode": "Accepted"}
    return e


def _serve(arm_emulator: ArmEmulator, entries: list[dict[str, Any]], page_size: int) -> None:  # noqa: F811
    arm_emulator.serve(Snapshot({}, entries))
    arm_emulator.page_size = page_size


def _activity_requests(arm_emulator: ArmEmulator) -> list[Any]:  # noqa: F811
    return [r for r in arm_emulator.log if r.path.lower().endswith("/eventtypes/management/values")]


async def test_stops_paging_at_the_failure_entry_and_selects_the_fields_used(
        make_reader: MakeReader, arm_emulator: ArmEmulator) -> None:  # noqa: F811
    # Newest first, like the service: the failure, then thousands of Started/Accepted entries.
    entries = [_entry(0, "Failed")] + [_entry(i, "Started") for i in range(1, 5001)]
    _serve(arm_emulator, entries, page_size=100)
    events = await make_reader().for_run().activity_log(SUB, correlation_id=CORRELATION, start=START, end=END)
    requests = _activity_requests(arm_emulator)
    assert len(requests) == 1, "the failure entry is on the first page: no further page is read"
    assert events[0]["eventDataId"] == "id-00000" and len(events) == 100
    selected = set(requests[0].query["$select"].split(","))
    assert {"status", "properties", "resourceId", "correlationId", "eventTimestamp", "eventDataId"} <= selected
    assert "claims" not in selected and "authorization" not in selected
    assert "correlationId eq" in requests[0].query["$filter"]


async def test_pages_and_entries_are_capped_when_no_failure_is_there(
        make_reader: MakeReader, arm_emulator: ArmEmulator,  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    entries = [_entry(i, "Started") for i in range(50_000)]
    _serve(arm_emulator, entries, page_size=200)
    events = await make_reader().activity_log(SUB, correlation_id=CORRELATION, start=START, end=END)
    requests = _activity_requests(arm_emulator)
    assert len(requests) <= arm_module.ACTIVITY_MAX_PAGES
    assert len(events) <= arm_module.ACTIVITY_MAX_ENTRIES
    assert "Activity Log read stopped" in caplog.text


async def test_failure_found_once_is_reused_by_the_next_work_item(
        make_reader: MakeReader, arm_emulator: ArmEmulator) -> None:  # noqa: F811
    entries = [_entry(0, "Failed")] + [_entry(i, "Started") for i in range(1, 300)]
    _serve(arm_emulator, entries, page_size=100)
    reader = make_reader()
    source = ArmErrorSource(reader, now=lambda: EVENT_TIME + timedelta(hours=1))
    op = operation()
    # The cluster's own status is not Failed: error retrieval goes to the Activity Log.
    first = await source.fetch(op, reader.for_run())
    assert len(_activity_requests(arm_emulator)) == 1
    # A redelivery of the same work item (deferred by noise control) reads no Activity Log again,
    # and gets the same error from its own copy.
    again = await source.fetch(op, reader.for_run())
    assert len(_activity_requests(arm_emulator)) == 1
    assert again == first


async def test_an_unfinished_correlation_is_read_again_on_the_next_attempt(
        make_reader: MakeReader, arm_emulator: ArmEmulator) -> None:  # noqa: F811
    _serve(arm_emulator, [_entry(i, "Started") for i in range(3)], page_size=100)
    reader = make_reader()
    assert not any(e["status"]["value"] == "Failed"
                   for e in await reader.for_run().activity_log(SUB, correlation_id=CORRELATION, start=START, end=END))
    arm_emulator.snapshot.activity_log.insert(0, _entry(99, "Failed"))
    events = await reader.for_run().activity_log(SUB, correlation_id=CORRELATION, start=START, end=END)
    assert events[0]["eventDataId"] == "id-00099"
    assert len(_activity_requests(arm_emulator)) == 2


async def test_one_run_reads_one_query_once(make_reader: MakeReader,
                                            arm_emulator: ArmEmulator) -> None:  # noqa: F811
    _serve(arm_emulator, [_entry(i, "Started") for i in range(3)], page_size=100)
    run = make_reader().for_run()
    a = await run.activity_log(SUB, resource_id=CLUSTER_ID, start=START, end=END)
    b = await run.activity_log(SUB, resource_id=CLUSTER_ID, start=START, end=END)
    assert a == b and a is not b
    assert len(_activity_requests(arm_emulator)) == 1
