"""Issue 8.3: hostile Event Grid payloads. Declared behaviour of the parser (shared.events): it
returns a FailedOperation or Ignored, or raises EventError naming the field - nothing else, for any
input. Intake (shared.pipeline.intake) never raises on a payload: a bad event is dead-lettered with
its reason (Event Grid would otherwise retry it for 24 h and then drop it)."""

from __future__ import annotations

import asyncio
import json
import random
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.events import EventError, Ignored, iter_payload, parse_event
from shared.models import FailedOperation
from shared.pipeline import WorkItem
from tests.reliability.harness import cluster_id, failure_event

pytestmark = pytest.mark.security

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
TYPES = ["Microsoft.Resources.ResourceWriteFailure", "Microsoft.Resources.ResourceActionFailure",
         "Microsoft.Resources.ResourceDeleteFailure", "Microsoft.Resources.ResourceWriteSuccess",
         "Microsoft.ContainerService.NodePoolRollingFailed"]


def base_event(**data: Any) -> dict[str, Any]:
    ev = failure_event(random.Random(7), cluster_id(3), when=NOW)
    ev["data"].update(data)
    return ev


def nodepool_event(pool: Any) -> dict[str, Any]:
    return {"id": "e-np", "eventType": "Microsoft.ContainerService.NodePoolRollingFailed",
            "eventTime": "2026-11-21T12:00:00Z", "topic": cluster_id(3), "subject": "x", "dataVersion": "1",
            "data": {"nodePoolName": pool}}


def parse_all(payload: Any) -> list[FailedOperation | Ignored | EventError]:
    out: list[FailedOperation | Ignored | EventError] = []
    try:
        events = list(iter_payload(payload))
    except EventError as err:
        return [err]
    for e in events:
        try:
            out.append(parse_event(e))
        except EventError as err:
            out.append(err)
    return out


def check_operation(op: FailedOperation) -> None:
    assert op.correlation_id is None or GUID.match(op.correlation_id)
    assert op.tenant_id is None or GUID.match(op.tenant_id)
    assert "/" not in op.cluster_name and "/" not in op.resource_group
    WorkItem.model_validate_json(WorkItem(op=op, enqueued_at=NOW).model_dump_json())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids, max_size=4),
    max_leaves=25)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_any_json_value_gives_only_declared_outcomes(value: Any) -> None:
    for r in parse_all(json.dumps(value)):
        if isinstance(r, FailedOperation):
            check_operation(r)


field_values = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=80),
                         st.lists(st.text(max_size=5), max_size=2), st.dictionaries(st.text(max_size=5),
                                                                                    st.text(max_size=5), max_size=2))


@settings(max_examples=400, deadline=None)
@given(etype=st.sampled_from(TYPES), cloud=st.booleans(), uri_tail=st.text(max_size=60),
       corr=field_values, tenant=field_values, op_name=field_values, method=field_values, url=field_values,
       claims=field_values, pool=field_values, data_is_obj=st.booleans(), t=st.sampled_from(
           ["2026-11-21T12:00:00.1234567Z", "2026-11-21T12:00:00", "not a time", "", "9999-12-31T23:59:59Z"]))
def test_structured_events_with_hostile_fields(etype: str, cloud: bool, uri_tail: str, corr: Any, tenant: Any,
                                               op_name: Any, method: Any, url: Any, claims: Any, pool: Any,
                                               data_is_obj: bool, t: str) -> None:
    uri = cluster_id(1).rsplit("/", 1)[0] + "/" + uri_tail
    data = {"resourceUri": uri, "correlationId": corr, "tenantId": tenant, "operationName": op_name,
            "httpRequest": {"method": method, "url": url}, "claims": claims, "nodePoolName": pool}
    ev: dict[str, Any] = {"id": "e1", "data": data if data_is_obj else uri_tail}
    if cloud:
        ev.update({"specversion": "1.0", "type": etype, "time": t, "source": uri})
    else:
        ev.update({"eventType": etype, "eventTime": t, "topic": uri, "subject": uri})
    for r in parse_all([ev]):
        if isinstance(r, FailedOperation):
            check_operation(r)


@pytest.mark.parametrize("pool", [True, 123, ["a"], {"x": 1}])
def test_nodepool_name_of_wrong_type_is_an_event_error(pool: Any) -> None:
    """Found by tests/fuzz/fuzz_events.py (pydantic's ValidationError escaped parse_event); fixed."""
    with pytest.raises(EventError) as info:
        parse_event(nodepool_event(pool))
    assert "nodePoolName" in str(info.value)


def test_deeply_nested_json_is_an_event_error() -> None:
    """100,000 nested arrays: json.loads raises RecursionError, which must not escape."""
    deep = '{"id": "x", "data": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(EventError):
        list(iter_payload(deep))
    with pytest.raises(EventError):
        list(iter_payload(deep.encode()))


def test_invalid_utf8_is_an_event_error_with_position() -> None:
    with pytest.raises(EventError) as info:
        list(iter_payload(b'{"id": "\xff\xfe"}'))
    assert "UTF-8" in str(info.value) and info.value.field == "$"


def test_control_characters_and_nul_are_data_not_errors() -> None:
    ev = base_event(claims={"name": "evil\x00\x1b[31m\u202e<at>all</at>\nline2"})
    op = parse_event(ev)
    assert isinstance(op, FailedOperation)
    assert op.caller is not None and len(op.caller) <= 256  # kept as data; escaped where rendered


def test_non_guid_correlation_and_tenant_ids_are_dropped() -> None:
    op = parse_event(base_event(correlationId="x' or 1==1 //", tenantId="'; drop table --"))
    assert isinstance(op, FailedOperation)
    assert op.correlation_id is None and op.tenant_id is None


def test_subscription_id_in_resource_uri_must_be_a_guid() -> None:
    """A non-GUID subscription is not an ARM id: reject at intake (dead-letter, no retries), instead of
    enqueueing work that fails with 400 InvalidResourceId five times and lands in the poison queue."""
    uri = "/subscriptions/x'|take 1/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c"
    ev = base_event(resourceUri=uri)
    ev["subject"] = uri
    try:
        r = parse_event(ev)
    except EventError:
        return
    assert isinstance(r, Ignored), f"accepted a non-GUID subscription: {r!r}"


def test_api_version_from_the_request_url_is_validated() -> None:
    url = f"https://management.azure.com{cluster_id(3)}?api-version=2024-01-01'|take 1&x=1"
    op = parse_event(base_event(httpRequest={"method": "PUT", "url": url}))
    assert isinstance(op, FailedOperation)
    assert op.api_version is None or re.fullmatch(r"\d{4}-\d{2}-\d{2}(-[A-Za-z0-9]+)?", op.api_version), op.api_version


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"])
def test_extreme_event_times_are_rejected_or_usable(when: str) -> None:
    """An accepted event time must be convertible to UTC: the card renders it in UTC, and an
    OverflowError there fails the work item every time (then, see the crash tests, it is lost)."""
    ev = base_event()
    ev["eventTime"] = when
    try:
        op = parse_event(ev)
    except EventError:
        return
    assert isinstance(op, FailedOperation)
    op.event_time.astimezone(UTC)  # OverflowError = bug


class _Queue:
    """The real StorageWorkQueue's size rule without a network: messages over 64 KB are refused."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    async def enqueue(self, message: dict[str, Any], *, delay_s: int = 0) -> None:
        from shared.azure.queue import MAX_MESSAGE_BYTES
        from shared.ports import SinkError

        size = len(json.dumps(message, separators=(",", ":"), default=str).encode())
        if size > MAX_MESSAGE_BYTES:
            raise SinkError(f"queue message of {size} bytes exceeds 64 KB", retryable=False)
        self.items.append(message)


def _deps(queue: _Queue, dead: _Queue) -> Any:
    from shared.pipeline import Deps
    from shared.settings import Settings

    return Deps(settings=Settings(), arm=None, errors=None, publisher=None, queue=queue,  # type: ignore[arg-type]
                dead_letters=dead, now=lambda: NOW)


@pytest.mark.parametrize("size", [70_000, 1_100_000])
def test_huge_event_is_dead_lettered_not_raised(size: int) -> None:
    """A 70 KB / 1.1 MB cluster name (ARM allows 63 characters) must not make intake raise: a raise
    makes Event Grid retry the delivery for 24 h and then drop it (no dead-letter by default)."""
    from shared.pipeline import intake

    ev = base_event(resourceUri=cluster_id(3).rsplit("/", 1)[0] + "/" + "a" * size)
    ev["subject"] = ev["data"]["resourceUri"]
    queue, dead = _Queue(), _Queue()
    result = asyncio.run(intake(json.dumps([ev, base_event()]), _deps(queue, dead)))
    assert len(queue.items) == 1, "the valid event of the batch was not enqueued"
    assert len(dead.items) == 1 and result.rejected, "the huge event was not dead-lettered with a reason"
    assert len(json.dumps(dead.items[0])) < 64 * 1024


def test_huge_batch_of_bytes_is_refused_early() -> None:
    from shared.events import MAX_EVENT_BYTES

    with pytest.raises(EventError):
        list(iter_payload(b"[" + b" " * (MAX_EVENT_BYTES * 64) + b"]"))
