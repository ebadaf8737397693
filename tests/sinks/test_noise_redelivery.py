"""Redelivery, lease and state-outage behaviour of noise control (each test failed on the old code).

- a delivery that meets another delivery's live lease must not be completed as success;
- a retried event replays the decision stored on its own entity, however many events joined since;
- a slow sink call is cut at a deadline below the lease, so a redelivery cannot post twice;
- a state store that keeps failing defers the event (the queue retries) instead of posting ungrouped.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

from shared.local.state import MemoryStateStore, SqliteStateStore
from shared.noise import LeaseHeld, NoiseControl, StateDown
from shared.notify.notice import Notice
from tests.factories import make_finding, make_operation
from tests.sinks.conftest import FakeClock, NoiseTestSettings, RecordingNotifier, RecordingSink

pytestmark = [pytest.mark.reliability]


def make_nc(state: Any, sink: RecordingSink, notifier: Any, clock: FakeClock, **kw: Any) -> NoiseControl:
    lease = kw.pop("lease_s", 25.0)
    return NoiseControl(state, sink, notifier, clock, NoiseTestSettings(**kw), lease_s=lease)


class Killed(BaseException):
    """A worker killed mid-publish: nothing after this line of the worker runs."""


async def test_delivery_meeting_a_live_lease_is_not_completed(tmp_path: Path, sink: RecordingSink,
                                                              notifier: RecordingNotifier, clock: FakeClock) -> None:
    nc = make_nc(SqliteStateStore(tmp_path / "s.db"), sink, notifier, clock)
    f = make_finding(op=make_operation(event_id="evt-held"))

    async def die(rows: Any) -> None:
        raise Killed

    real_write, sink.write = sink.write, die  # type: ignore[method-assign]
    with pytest.raises(Killed):
        await nc.publish(f)
    sink.write = real_write  # type: ignore[method-assign]
    clock.advance(seconds=5)
    with pytest.raises(LeaseHeld) as held:  # the queue must keep the message and deliver it later
        await nc.publish(f)
    assert held.value.until > clock.now()
    # The host's redelivery comes after visibilityTimeout (30 s); the lease must be over by then.
    clock.advance(seconds=30)
    out = await nc.publish(f)
    assert out.row_written and len(sink.rows) == 1 and len(notifier.cards) == 1


async def test_lease_is_shorter_than_the_queue_redelivery_interval() -> None:
    import json

    host = json.loads((Path(__file__).parents[2] / "host.json").read_text())
    visibility = host["extensions"]["queues"]["visibilityTimeout"]
    h, m, s = (int(x) for x in visibility.split(":"))
    nc = NoiseControl(MemoryStateStore(), RecordingSink(), RecordingNotifier(), FakeClock(), NoiseTestSettings())
    assert nc.lease.total_seconds() < h * 3600 + m * 60 + s


async def test_retried_event_replays_its_stored_decision(tmp_path: Path, sink: RecordingSink,
                                                         notifier: RecordingNotifier, clock: FakeClock) -> None:
    """The first event of a group is killed before its card; 60 more join the group meanwhile.
    The retry must still post the card, with the count it was given the first time."""
    nc = make_nc(SqliteStateStore(tmp_path / "s.db"), sink, notifier, clock)
    first = make_finding(op=make_operation(event_id="evt-first"))

    real_send = notifier.notify

    async def die(card: Any) -> None:
        raise Killed

    notifier.notify = die  # type: ignore[method-assign,assignment]
    with pytest.raises(Killed):
        await nc.publish(first)
    notifier.notify = real_send  # type: ignore[method-assign]
    for i in range(60):
        clock.advance(seconds=1)
        await nc.publish(make_finding(op=make_operation(event_id=f"evt-later-{i}")))
    assert notifier.cards == []  # all grouped behind the first event's card
    clock.advance(seconds=1)
    out = await nc.publish(first)
    assert out.action == "new" and out.card_sent and out.occurrence_count == 1
    assert len(notifier.cards) == 1
    mine = [r for r in sink.rows if r["EventId"] == "evt-first"]
    assert len(mine) == 1 and mine[0]["OccurrenceCount"] == 1 and mine[0]["AlertSent"] is True


class SlowNotifier(RecordingNotifier):
    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s
        self.started = 0

    async def notify(self, notice: Notice) -> None:
        self.started += 1
        await asyncio.sleep(self.delay_s)  # a trickling response: every read within its timeout
        await super().notify(notice)


async def test_slow_sink_call_is_cut_below_the_lease(tmp_path: Path, sink: RecordingSink, clock: FakeClock) -> None:
    notifier = SlowNotifier(delay_s=30)
    nc = make_nc(SqliteStateStore(tmp_path / "s.db"), sink, notifier, clock, lease_s=1.0)
    assert nc.call_deadline_s < nc.lease.total_seconds()
    out = await asyncio.wait_for(nc.publish(make_finding(op=make_operation(event_id="evt-slow"))), timeout=10)
    assert out.alert_failed and not out.card_sent  # cut, flagged for the timer, row still written
    assert len(sink.rows) == 1 and sink.rows[0]["AlertSent"] is True  # the card is the row's: the timer retries it


class FlakyState:
    """A real SQLite store that fails a fraction of calls, like a Table endpoint under 5% errors."""

    def __init__(self, inner: Any, rate: float, seed: int) -> None:
        self.inner = inner
        self.rate = rate
        self.rng = random.Random(seed)

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.inner, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.rng.random() < self.rate:
                raise ConnectionError("injected state failure")
            return await real(*args, **kwargs)

        return call


async def test_state_errors_defer_instead_of_flooding(tmp_path: Path, sink: RecordingSink,
                                                      notifier: RecordingNotifier, clock: FakeClock) -> None:
    nc = make_nc(FlakyState(SqliteStateStore(tmp_path / "s.db"), 0.05, seed=7), sink, notifier, clock)
    deferred = 0
    for i in range(60):
        f = make_finding(op=make_operation(event_id=f"evt-flaky-{i}"))
        for _attempt in range(20):  # the queue's redeliveries
            try:
                await nc.publish(f)
                break
            except (StateDown, LeaseHeld):
                deferred += 1
                clock.advance(seconds=31)
        clock.advance(seconds=1)
    assert deferred > 0
    assert len(notifier.cards) == 1  # one group, one card, even with the store failing
    assert sorted(r["EventId"] for r in sink.rows) == sorted(f"evt-flaky-{i}" for i in range(60))


async def test_state_down_defers_and_sends_nothing(sink: RecordingSink, notifier: RecordingNotifier,
                                                   clock: FakeClock) -> None:
    state = MemoryStateStore()
    state.fail = ConnectionError("table endpoint unreachable")
    nc = make_nc(state, sink, notifier, clock)
    with pytest.raises(StateDown):
        await nc.publish(make_finding(op=make_operation(event_id="evt-down")))
    assert notifier.cards == [] and sink.rows == []
