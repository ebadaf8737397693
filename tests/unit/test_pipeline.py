"""Pipeline failure semantics with in-process ports (the Azure-backed ones have their own tests)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.local.snapshot import Snapshot, SnapshotArmReader
from shared.models import FailedOperation, Finding, OperationError, OperationKind
from shared.pipeline import Deps, WorkItem, intake, parse_work_item, process
from shared.ports import ErrorNotYetAvailable
from shared.settings import Settings

EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "events"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
WRITE_FAILURE = "eg.resources.ResourceWriteFailure.aks.subscription-topic.constructed.json"


class RecordingQueue:
    def __init__(self) -> None:
        self.messages: list[tuple[dict[str, Any], int]] = []

    async def enqueue(self, message: dict[str, Any], *, delay_s: int = 0) -> None:
        json.dumps(message)  # what goes on the queue must be JSON
        self.messages.append((message, delay_s))


class RecordingPublisher:
    def __init__(self) -> None:
        self.published: list[Finding] = []
        self.resolved: list[FailedOperation] = []

    async def publish(self, finding: Finding) -> str:
        self.published.append(finding)
        return "published"

    async def resolve(self, op: FailedOperation) -> str:
        self.resolved.append(op)
        return "resolved"


class NotYet:
    async def fetch(self, op: FailedOperation, arm: Any = None) -> OperationError:
        raise ErrorNotYetAvailable(["cluster_status", "activity_log"])


class Known:
    def __init__(self, error: OperationError) -> None:
        self.error = error

    async def fetch(self, op: FailedOperation, arm: Any = None) -> OperationError:
        return self.error


def op_from_fixture(event_time: datetime) -> FailedOperation:
    from shared.events import parse_events

    raw = json.loads((EVENTS / "eg.resources.ResourceWriteFailure.aks.subscription-topic.constructed.json").read_text())
    (op,) = parse_events(raw)
    assert isinstance(op, FailedOperation)
    return op.model_copy(update={"event_time": event_time})


def deps(errors: Any, queue: RecordingQueue | None, publisher: RecordingPublisher) -> Deps:
    arm = SnapshotArmReader(Snapshot({}, []))
    return Deps(settings=Settings(error_retry_schedule_s=(90,), error_deadline_min=30), arm=arm, errors=errors,
                publisher=publisher, queue=queue, dead_letters=queue, now=lambda: NOW)


async def test_intake_enqueues_a_work_item_per_failure_and_ignores_the_rest() -> None:
    q, pub = RecordingQueue(), RecordingPublisher()
    failure = json.loads((EVENTS / WRITE_FAILURE).read_text())
    other = json.loads((EVENTS / "eg.resources.ResourceWriteSuccess.rg-topic.eventgrid-schema.json").read_text())
    other = other if isinstance(other, list) else [other]
    result = await intake(failure + other, deps(NotYet(), q, pub))
    assert len(result.enqueued) == 1 and len(result.ignored) == len(other)
    (message, delay), = q.messages
    assert delay == 0
    assert parse_work_item(json.dumps(message)).op.correlation_id == "55555555-5555-5555-5555-555555555555"


async def test_malformed_event_goes_to_dead_letters_with_reason_and_payload() -> None:
    q, pub = RecordingQueue(), RecordingPublisher()
    result = await intake('[{"id": "x", "eventType": "Microsoft.Resources.ResourceWriteFailure"}]',
                          deps(NotYet(), q, pub))
    assert result.rejected and "eventTime" in result.rejected[0]
    (message, _), = q.messages
    assert "eventTime" in message["reason"] and '"id": "x"' in message["payload"]


async def test_error_not_yet_available_defers_with_delay_before_the_deadline() -> None:
    q, pub = RecordingQueue(), RecordingPublisher()
    item = WorkItem(op=op_from_fixture(NOW - timedelta(minutes=4)), enqueued_at=NOW)
    outcome = await process(item, deps(NotYet(), q, pub))
    assert outcome.status == "deferred"
    (message, delay), = q.messages
    assert delay == 90
    assert parse_work_item(json.dumps(message)).attempt == 1
    assert pub.published == []


async def test_after_the_deadline_the_finding_is_written_as_unknown_with_the_reason() -> None:
    q, pub = RecordingQueue(), RecordingPublisher()
    item = WorkItem(op=op_from_fixture(NOW - timedelta(minutes=45)), enqueued_at=NOW, attempt=12)
    outcome = await process(item, deps(NotYet(), q, pub))
    assert outcome.status == "published" and q.messages == []
    (finding,) = pub.published
    assert finding.error.code == "Unknown"
    assert "activity_log" in finding.error.message and "45 min" in finding.error.message
    assert any("not found" in n for n in finding.notes)


async def test_write_success_resolves_instead_of_diagnosing() -> None:
    q, pub = RecordingQueue(), RecordingPublisher()
    op = op_from_fixture(NOW).model_copy(update={"kind": OperationKind.WRITE_SUCCESS})
    outcome = await process(WorkItem(op=op, enqueued_at=NOW), deps(NotYet(), q, pub))
    assert outcome.status == "resolved" and pub.resolved == [op] and pub.published == []


async def test_known_error_is_classified_and_fingerprinted_stably() -> None:
    q, pub = RecordingQueue(), RecordingPublisher()
    error = OperationError(code="QuotaExceeded", message="Operation could not be completed as it results in "
                           "exceeding approved standardDSv3Family Cores quota.", source="activity_log")
    item = WorkItem(op=op_from_fixture(NOW), enqueued_at=NOW)
    first = await process(item, deps(Known(error), q, pub))
    again = await process(item, deps(Known(error), q, pub))
    assert first.finding is not None and again.finding is not None
    assert first.finding.classification.code == "QuotaExceeded"
    assert first.finding.finding_id == again.finding.finding_id
    # ARM is empty here: checks that needed it say they could not decide, none claims "pass".
    assert all(r.status.value != "pass" for r in first.finding.checks)


def test_work_item_rejects_unknown_fields_and_versions() -> None:
    good = WorkItem(op=op_from_fixture(NOW), enqueued_at=NOW).model_dump(mode="json")
    with pytest.raises(ValueError, match="invalid work item"):
        parse_work_item(json.dumps({**good, "extra": 1}))
    with pytest.raises(ValueError, match="invalid work item"):
        parse_work_item(json.dumps({**good, "v": 2}))
    with pytest.raises(ValueError, match="invalid work item"):
        parse_work_item(b"\xff")
