"""The publish chain of a new finding: storage round trips before the card and the row, card and
row in parallel, and resumption from what the claim and the group transaction stored.

How round trips are counted (`Trips`): every store call is stamped with a sequence number when it
starts and when it ends. A call's depth is 1 + the largest depth of the calls that had ended
before it started (0 when none had): calls in flight together share a depth, so concurrent
calls count as one round trip and a call that waits for another's answer counts one more. The
trips before the card are the largest depth among the calls that started before the Teams post
started (the same for the row and the ingestion post). The store is the real Azure Tables client
against Azurite (a transaction is one request).
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from shared.local.state import MemoryStateStore
from shared.noise import NoiseControl
from shared.noise.table import decision_row
from shared.notify.notice import Notice
from tests.azurite_support import Azurite
from tests.factories import make_finding, make_operation
from tests.sinks.conftest import FakeClock, NoiseTestSettings, RecordingNotifier, RecordingSink

pytestmark = [pytest.mark.reliability]


@dataclass
class Call:
    name: str
    partition: str
    start: int
    end: int | None = None
    depth: int = 0


@dataclass
class Trips:
    """A StateStore proxy recording each call's start and end (see the module doc)."""

    inner: Any
    seq: itertools.count[int] = field(default_factory=itertools.count)
    calls: list[Call] = field(default_factory=list)
    marks: dict[str, int] = field(default_factory=dict)  # "card" / "row": when that post started

    def mark(self, what: str) -> None:
        self.marks.setdefault(what, next(self.seq))

    def __getattr__(self, name: str) -> Any:
        fn = getattr(self.inner, name)
        if not callable(fn) or name.startswith("_"):
            return fn

        async def call(*a: Any, **kw: Any) -> Any:
            c = Call(name, str(a[0]) if a else "", next(self.seq))
            c.depth = 1 + max((d.depth for d in self.calls if d.end is not None and d.end < c.start), default=0)
            self.calls.append(c)
            try:
                return await fn(*a, **kw)
            finally:
                c.end = next(self.seq)

        return call

    def before(self, what: str) -> int:
        at = self.marks[what]
        return max((c.depth for c in self.calls if c.start < at), default=0)

    def reset(self) -> None:
        self.calls.clear()
        self.marks.clear()


class MarkingNotifier(RecordingNotifier):
    def __init__(self, trips: Trips, delay_s: float = 0.0) -> None:
        super().__init__()
        self.trips, self.delay_s = trips, delay_s
        self.done_at: float | None = None

    async def notify(self, notice: Notice) -> None:
        self.trips.mark("card")
        await asyncio.sleep(self.delay_s)
        await super().notify(notice)
        self.done_at = time.monotonic()


class MarkingSink(RecordingSink):
    def __init__(self, trips: Trips) -> None:
        super().__init__()
        self.trips = trips
        self.done_at: float | None = None

    async def write(self, rows: Sequence[dict[str, Any]]) -> None:
        self.trips.mark("row")
        await super().write(rows)
        self.done_at = time.monotonic()


@pytest.fixture
async def table(azurite: Azurite) -> AsyncIterator[Any]:
    from shared.azure.tables import TableStateStore

    store = TableStateStore(azurite.connection_string, "chain" + uuid.uuid4().hex[:12])
    await store.get("warm", "up")  # the table exists: its creation is not the finding's round trip
    yield store
    await store.close()


@pytest.mark.azurite
@pytest.mark.parametrize("transient", ["false", "true"])  # "true": the group's escalation entry too
async def test_a_new_finding_needs_one_round_trip_before_its_card_and_its_row(table: Any, transient: str) -> None:
    trips = Trips(table)
    notifier, sink = MarkingNotifier(trips), MarkingSink(trips)
    nc = NoiseControl(trips, sink, notifier, FakeClock(), NoiseTestSettings())
    out = await nc.publish_detailed(make_finding(transient=transient))
    assert out.action == "new" and out.card_sent and out.row_written
    # One round: the claim, its timer entry and the group transaction (planned on "no group yet").
    assert trips.before("card") == 1, [(c.name, c.depth) for c in trips.calls]
    assert trips.before("row") == 1
    assert sorted(c.name for c in trips.calls if c.depth == 1) == sorted(
        ["create", "upsert", "transact"] + (["upsert"] if transient == "true" else []))
    # The next finding of the group in this process: planned on the group as this process wrote it.
    trips.reset()
    grouped = await nc.publish_detailed(make_finding(transient=transient, op=make_operation(event_id="evt-2")))
    assert grouped.action == "grouped" and grouped.occurrence_count == 2 and "card" not in trips.marks
    assert trips.before("row") == 1
    # Another instance (nothing remembered): its guess "no group yet" fails whole, it reads, and
    # commits on the second try: three round trips, the most a finding takes.
    other = NoiseControl(trips, sink, notifier, FakeClock(), NoiseTestSettings())
    trips.reset()
    third = await other.publish_detailed(make_finding(transient=transient, op=make_operation(event_id="evt-3")))
    assert third.action == "grouped" and third.occurrence_count == 3
    assert trips.before("row") == 3, [(c.name, c.depth) for c in trips.calls]
    # ...and the first instance, whose memory of the group is now stale, pays the same and no more.
    trips.reset()
    fourth = await nc.publish_detailed(make_finding(transient=transient, op=make_operation(event_id="evt-4")))
    assert fourth.occurrence_count == 4 and trips.before("row") == 3
    assert len(notifier.cards) == 1 and len(sink.rows) == 4


@pytest.mark.azurite
async def test_a_duplicate_delivery_costs_one_round_trip_and_sends_nothing(table: Any) -> None:
    trips = Trips(table)
    notifier, sink = MarkingNotifier(trips), MarkingSink(trips)
    nc = NoiseControl(trips, sink, notifier, FakeClock(), NoiseTestSettings())
    f = make_finding()
    await nc.publish_detailed(f)
    trips.reset()
    again = await nc.publish_detailed(f)
    assert again.action == "duplicate" and len(sink.rows) == 1 and len(notifier.cards) == 1
    assert max(c.depth for c in trips.calls) == 2  # the claim's insert answers 409, then one read of it


async def test_a_slow_teams_post_does_not_delay_the_row() -> None:
    trips = Trips(MemoryStateStore())
    notifier, sink = MarkingNotifier(trips, delay_s=0.6), MarkingSink(trips)
    nc = NoiseControl(trips, sink, notifier, FakeClock(), NoiseTestSettings())
    started = time.monotonic()
    out = await nc.publish_detailed(make_finding())
    assert out.card_sent and out.row_written
    assert sink.done_at is not None and notifier.done_at is not None
    assert sink.done_at - started < 0.3, "the row waited for the card"
    assert notifier.done_at - started >= 0.6
    assert sink.rows[0]["AlertSent"] is True
    # Both recorded: the row as soon as it went (the card was still out), the card by the final save.
    ev = next(e for e in await trips.inner.query_range("e-", "e-~"))
    assert (ev["status"], ev["row_written"], ev["card_sent"]) == ("done", True, True)
    assert "finding" not in ev  # a finished event keeps only its steps


class Killed(BaseException):
    pass


class KillAt:
    """A store proxy that kills the worker just before (or just after) the first call named `at`."""

    def __init__(self, inner: Any, at: str, when: str = "before") -> None:
        self.inner, self.at, self.when, self.armed = inner, at, when, True

    def __getattr__(self, name: str) -> Any:
        fn = getattr(self.inner, name)
        if name != self.at:
            return fn

        async def call(*a: Any, **kw: Any) -> Any:
            fire = self.armed
            self.armed = False
            if fire and self.when == "before":
                raise Killed(name)
            out = await fn(*a, **kw)
            if fire:
                raise Killed(name)
            return out

        return call


async def test_the_timer_finishes_a_claim_from_the_finding_it_carries() -> None:
    """Killed before the group transaction: the finding exists only in the claim. The timer (no
    redelivery comes) finishes it from there: one row, one card."""
    state, clock = MemoryStateStore(), FakeClock()
    sink, notifier = RecordingSink(), RecordingNotifier()
    with pytest.raises(Killed):
        await NoiseControl(KillAt(state, "transact"), sink, notifier, clock,
                           NoiseTestSettings()).publish(make_finding())
    assert [e["_pk"][:2] for e in await state.query_range("c-", "c-~")] == []  # nothing but the claim
    clock.advance(seconds=30)
    out = await NoiseControl(state, sink, notifier, clock, NoiseTestSettings()).escalate_due()
    assert out.claims_finished == 1
    assert len(sink.rows) == 1 and len(notifier.cards) == 1


async def test_a_decision_taken_before_a_crash_is_replayed_after_60_more_events() -> None:
    """Killed right after the group transaction (nothing recorded on the event): 60 events join the
    group meanwhile (more than its `recent` list keeps); the retry replays the stored decision
    exactly: the first event's card, count 1."""
    state, clock = MemoryStateStore(), FakeClock()
    sink, notifier = RecordingSink(), RecordingNotifier()
    first = make_finding(op=make_operation(event_id="evt-first"))
    with pytest.raises(Killed):
        await NoiseControl(KillAt(state, "transact", when="after"), sink, notifier, clock,
                           NoiseTestSettings()).publish(first)
    assert (sink.rows, notifier.cards) == ([], [])
    nc = NoiseControl(state, sink, notifier, clock, NoiseTestSettings())
    for i in range(60):
        clock.advance(seconds=1)
        assert (await nc.publish(make_finding(op=make_operation(event_id=f"evt-more-{i}")))).action == "grouped"
    clock.advance(seconds=30)
    out = await nc.publish(first)
    assert out.action == "new" and out.card_sent and out.occurrence_count == 1
    assert len(notifier.cards) == 1 and len(sink.rows) == 61
    assert await state.get(_cpk(first), decision_row(first.operation.idempotency_key)) is not None


def _cpk(f: Any) -> str:
    from shared.noise.table import cluster_partition

    return cluster_partition(f.operation.cluster_id)


@pytest.mark.azurite
async def test_concurrent_first_findings_of_one_group_post_one_card(table: Any) -> None:
    """Eight events of a new group at once, from two instances: every guess is "no group yet", one
    transaction commits, the others fail whole and re-plan: one card, eight rows, counts 1..8."""
    sink, notifier = RecordingSink(), RecordingNotifier()
    a, b = (NoiseControl(table, sink, notifier, FakeClock(), NoiseTestSettings()) for _ in range(2))
    outs = await asyncio.gather(*((a if i % 2 else b).publish_detailed(
        make_finding(op=make_operation(event_id=f"evt-burst-{i}"))) for i in range(8)))
    assert sorted(o.occurrence_count for o in outs) == list(range(1, 9))
    assert [o.action for o in outs].count("new") == 1 and len(notifier.cards) == 1 and len(sink.rows) == 8


@pytest.mark.azurite
async def test_two_deliveries_of_one_event_at_once_give_one_row_and_one_card(table: Any) -> None:
    """The loser of the claim may still commit the event's decision (its transaction ran beside
    its claim); the winner's own transaction then fails on the decision row and replays it."""
    sink, notifier = RecordingSink(), RecordingNotifier()
    f = make_finding()
    a, b = (NoiseControl(table, sink, notifier, FakeClock(), NoiseTestSettings()) for _ in range(2))
    outs = await asyncio.gather(a.publish_detailed(f), b.publish_detailed(f), return_exceptions=True)
    from shared.noise import LeaseHeld

    assert sorted(type(o).__name__ for o in outs) == sorted(["PublishOutcome", "LeaseHeld"]), outs
    assert any(isinstance(o, LeaseHeld) for o in outs)
    assert len(sink.rows) == 1 and len(notifier.cards) == 1
    group = next(e for e in await table.query_range("c-", "c-~") if e["_rk"].startswith("g|"))
    assert group["total_count"] == 1  # counted once
