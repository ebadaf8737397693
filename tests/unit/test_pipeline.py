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

    async def publish(self, finding: Finding) -> Any:
        self.published.append(finding)
        return "published"

    async def resolve(self, op: FailedOperation) -> Any:
        self.resolved.append(op)
        return "resolved"

    async def escalate_due(self, recheck: Any = None) -> Any:
        raise AssertionError("the pipeline's process() never escalates")


class NotYet:
    async def fetch(self, op: FailedOperation, arm: Any = None, *, attempt: int = 0) -> OperationError:
        raise ErrorNotYetAvailable(["cluster_status", "activity_log"])


class Known:
    def __init__(self, error: OperationError) -> None:
        self.error = error

    async def fetch(self, op: FailedOperation, arm: Any = None, *, attempt: int = 0) -> OperationError:
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


# --- concurrency of the diagnosis and the Activity Log retry schedule ----------------------------


def _specs(n: int, gather: Any, *, inputs: tuple[str, ...] = ()) -> list[Any]:
    from shared.checklib.base import CheckSpec, result
    from shared.models import CheckStatus

    specs: list[Any] = []
    for i in range(n):
        spec: Any = None

        def evaluate(facts: Any, _i: int = i) -> Any:
            return result(specs[_i], CheckStatus.PASS, f"saw {facts!r}")

        spec = CheckSpec(id=f"probe_{inputs[0] if inputs else 'plain'}_{i}", title="probe", docs=(),
                         gather=gather, evaluate=evaluate, inputs=inputs)
        specs.append(spec)
    return specs


QUOTA = OperationError(code="QuotaExceeded", message="Operation could not be completed as it results in "
                       "exceeding approved standardDSv3Family Cores quota.", source="activity_log")


async def test_every_selected_check_starts_at_once_more_than_the_arm_concurrency(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Twelve checks (the reader allows 8 requests at a time) that each wait until all twelve have
    started: a per-item check gate of 8 would leave four waiting for a slot and the eight time out."""
    import asyncio

    from shared.checks import registry

    started: list[int] = []
    all_in = asyncio.Event()

    async def gather(ctx: Any) -> str:
        started.append(1)
        if len(started) == 12:
            all_in.set()
        await all_in.wait()
        return "all started"

    specs = _specs(12, gather)
    monkeypatch.setattr(registry, "selected", lambda classification: list(specs))
    pub = RecordingPublisher()
    d = deps(Known(QUOTA), RecordingQueue(), pub)
    d.settings = Settings(arm_concurrency=8, check_timeout_s=2)
    outcome = await asyncio.wait_for(process(WorkItem(op=op_from_fixture(NOW), enqueued_at=NOW), d), 10)
    assert outcome.finding is not None
    assert [r.id for r in outcome.finding.checks] == [s.id for s in specs]
    assert {r.status.value for r in outcome.finding.checks} == {"pass"}


async def test_checks_needing_the_failure_history_wait_for_it_and_the_others_do_not(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from shared.checks import registry

    plain_ran = asyncio.Event()

    async def plain(ctx: Any) -> str:
        plain_ran.set()
        return "plain"

    async def historic(ctx: Any) -> str:
        return f"history={ctx.extras['failure_history']}"

    async def history(op: FailedOperation) -> list[dict[str, Any]]:
        await plain_ran.wait()  # answers only once a check that does not need it has run
        return [{"code": "QuotaExceeded"}]

    specs = [*_specs(1, historic, inputs=("failure_history",)), *_specs(2, plain)]
    monkeypatch.setattr(registry, "selected", lambda classification: list(specs))
    pub = RecordingPublisher()
    d = deps(Known(QUOTA), RecordingQueue(), pub)
    d.history = history
    outcome = await asyncio.wait_for(process(WorkItem(op=op_from_fixture(NOW), enqueued_at=NOW), d), 10)
    assert outcome.finding is not None
    checks = outcome.finding.checks
    assert [r.id for r in checks] == [s.id for s in specs]  # results keep the selection's order
    assert "history=[{'code': 'QuotaExceeded'}]" in checks[0].summary
    assert checks[1].summary == "saw 'plain'"


class _OrderedReader:
    """SnapshotArmReader that records the order of reads."""

    def __init__(self, inner: SnapshotArmReader) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def for_run(self) -> _OrderedReader:
        return self

    @property
    def reads_made(self) -> int:
        return len(self.calls)

    async def get(self, resource_id: str, api_version: str) -> dict[str, Any]:
        self.calls.append(resource_id.lower())
        return await self.inner.get(resource_id, api_version)

    async def activity_log(self, subscription_id: str, **kw: Any) -> list[dict[str, Any]]:
        self.calls.append("activity_log")
        return await self.inner.activity_log(subscription_id, **kw)


async def test_first_attempt_reads_the_activity_log_right_after_a_status_without_error() -> None:
    """The seed ConnFail scenario with the cluster status emptied: the first attempt reads the status,
    then at once the Activity Log (no deferral, no other read in between), and publishes."""
    from shared.errors import ArmErrorSource
    from shared.events import parse_event

    scn = Path(__file__).resolve().parents[2] / "shared" / "demo" / "scenarios" / "apiserver-connfail-authorized-ranges"
    snap = json.loads((scn / "snapshot.json").read_text())
    event = json.loads((scn / "event.json").read_text())
    op = parse_event(event[0] if isinstance(event, list) else event)
    assert isinstance(op, FailedOperation)
    for rid, body in snap["resources"].items():
        if rid.lower() == op.cluster_id.lower():
            body["properties"]["status"].pop("provisioningError")
    reader = _OrderedReader(SnapshotArmReader(Snapshot.from_obj(snap)))
    now = op.event_time + timedelta(minutes=1)
    q, pub = RecordingQueue(), RecordingPublisher()
    d = Deps(settings=Settings(), arm=reader, errors=ArmErrorSource(reader, now=lambda: now), publisher=pub,
             queue=q, now=lambda: now)
    outcome = await process(WorkItem(op=op, enqueued_at=now), d)
    assert outcome.status == "published" and q.messages == []
    assert outcome.finding is not None and outcome.finding.error.source == "activity_log"
    assert outcome.finding.classification.code == "VMExtensionError_K8SAPIServerConnFail"
    assert reader.calls[:2] == [op.cluster_id.lower(), "activity_log"]


class _AppearsAt:
    """The error shows up in the Activity Log `after` past the event; before that, not yet."""

    def __init__(self, clock: list[datetime], at: datetime) -> None:
        self.clock, self.at = clock, at

    async def fetch(self, op: FailedOperation, arm: Any = None, *, attempt: int = 0) -> OperationError:
        if self.clock[0] < self.at:
            raise ErrorNotYetAvailable(["cluster_status", "activity_log"])
        return QUOTA


async def _time_to_card(t_al_s: float, settings: Settings) -> float:
    """Seconds from the event to the published finding, each deferral waiting its scheduled delay."""
    event_time = NOW
    clock = [event_time]
    q, pub = RecordingQueue(), RecordingPublisher()
    item = WorkItem(op=op_from_fixture(event_time), enqueued_at=event_time)
    errors = _AppearsAt(clock, event_time + timedelta(seconds=t_al_s))
    d = Deps(settings=settings, arm=SnapshotArmReader(Snapshot({}, [])), errors=errors, publisher=pub, queue=q,
             now=lambda: clock[0])
    for _ in range(200):
        outcome = await process(item, d)
        if outcome.status == "published":
            return (clock[0] - event_time).total_seconds()
        message, delay = q.messages.pop()
        clock[0] += timedelta(seconds=delay)
        item = parse_work_item(json.dumps(message))
    raise AssertionError("never published")


async def test_activity_log_only_errors_are_published_within_one_schedule_step_of_appearing() -> None:
    """A stepped schedule 15, 30, 60, 120 s (then 120 s; fewer reads, for subscriptions short of Activity
    Log reads): attempts at 0, 15, 45, 105, 225, ... s. An error that appears at T_AL is on the card at
    the first attempt after it: within 30 s of T_AL while T_AL <= 45 s, within 60 s up to 105 s, and
    within 120 s later on (the step the schedule is on)."""
    settings = Settings(error_retry_schedule_s=(15, 30, 60, 120))
    attempts = [0, 15, 45, 105, 225, 345]
    for t_al in [0, 1, 14, 15, 16, 30, 44, 45, 46, 104, 105, 106, 224, 300]:
        card = await _time_to_card(t_al, settings)
        assert card == next(a for a in attempts if a >= t_al), t_al
        step = 30 if t_al <= 45 else 60 if t_al <= 105 else 120
        assert card - t_al <= step and (t_al > 45 or card - t_al <= 30)
    # The first attempt does not wait: an error already there at the event is published at once.
    assert await _time_to_card(0, settings) == 0


async def test_a_schedule_of_15_then_30_s_keeps_the_card_within_30_s_of_the_activity_log_entry() -> None:
    """The Activity Log takes 3 to 20 minutes (Azure Monitor's ingestion-time article): only steps of
    at most 30 s all the way keep time to card <= T_AL + 30 s there; "15,30" does (one status GET and
    one Activity Log query per attempt: about 60 attempts by the 30-minute deadline). It is the default."""
    assert Settings().error_retry_schedule_s == (15, 30)
    settings = Settings(error_retry_schedule_s=(15, 30), error_deadline_min=30)
    for t_al in [0, 14, 46, 180, 181, 600, 1199, 1200, 1750]:
        card = await _time_to_card(t_al, settings)
        assert 0 <= card - t_al <= 30, t_al
