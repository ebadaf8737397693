"""Noise control against real state stores: Azurite's Table service (as in Azure) and SQLite (CLI).

Dedup, grouping, escalation and resolution are driven by a fake clock; crashes are injected by
failing the sink or the state store at a chosen step and re-running the same work.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from shared.local.state import MemoryStateStore, SqliteStateStore
from shared.noise import LeaseHeld, NoiseControl, StateDown, group_key
from shared.ports import SinkError
from tests.azurite_support import Azurite
from tests.factories import make_finding, make_operation, make_success
from tests.sinks.conftest import FakeClock, NoiseTestSettings, RecordingNotifier, RecordingSink

pytestmark = [pytest.mark.reliability]


@pytest.fixture(params=["azurite", "sqlite"])
async def state(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    if request.param == "azurite":
        request.applymarker(pytest.mark.azurite)
        from shared.azure.tables import TableStateStore

        az: Azurite = request.getfixturevalue("azurite")
        store = TableStateStore(az.connection_string, "noise" + uuid.uuid4().hex[:12])
        yield store
        await store.close()
    else:
        yield SqliteStateStore(tmp_path / "state.db")


def make_nc(state: Any, sink: RecordingSink, notifier: RecordingNotifier, clock: FakeClock, **kw: Any) -> NoiseControl:
    return NoiseControl(state, sink, notifier, clock, NoiseTestSettings(**kw))


async def test_same_event_twice_gives_one_row_and_one_card(state: Any, sink: RecordingSink,
                                                          notifier: RecordingNotifier, clock: FakeClock) -> None:
    nc = make_nc(state, sink, notifier, clock)
    f = make_finding(op=make_operation(event_id="evt-1"))
    first = await nc.publish_detailed(f)
    clock.advance(minutes=3)
    second = await nc.publish_detailed(f)
    assert (first.action, first.row_written, first.card_sent) == ("new", True, True)
    assert second.action == "duplicate"
    assert len(sink.rows) == 1 and len(notifier.cards) == 1
    assert sink.rows[0]["AlertSent"] is True and sink.rows[0]["OccurrenceCount"] == 1


async def test_concurrent_duplicate_deliveries_give_one_card(state: Any, sink: RecordingSink,
                                                             notifier: RecordingNotifier, clock: FakeClock) -> None:
    nc = make_nc(state, sink, notifier, clock)
    f = make_finding(op=make_operation(event_id="evt-dup"))
    outcomes = await asyncio.gather(*(nc.publish_detailed(f) for _ in range(4)), return_exceptions=True)
    # The losers see the winner's live lease and raise LeaseHeld (the queue redelivers them later).
    assert [getattr(o, "action", None) for o in outcomes].count("new") == 1
    assert all(isinstance(o, LeaseHeld) for o in outcomes if not hasattr(o, "action"))
    assert len(notifier.cards) == 1 and len(sink.rows) == 1


async def test_twin_events_of_one_failure_collapse(state: Any, sink: RecordingSink, notifier: RecordingNotifier,
                                                   clock: FakeClock) -> None:
    """The cluster event and the agent-pool event of one correlation id are one finding."""
    nc = make_nc(state, sink, notifier, clock)
    cluster_evt = make_operation(event_id="e-cluster", correlation_id="11111111-1111-1111-1111-111111111111")
    pool_evt = make_operation(event_id="e-pool", correlation_id="11111111-1111-1111-1111-111111111111",
                              agent_pool="np1")
    a = make_finding(op=cluster_evt)
    b = make_finding(op=pool_evt, finding_id=a.finding_id)
    await nc.publish_detailed(a)
    out = await nc.publish_detailed(b)
    assert out.action == "duplicate" and a.operation.idempotency_key in out.detail
    assert len(sink.rows) == 1 and len(notifier.cards) == 1


async def test_grouping_within_window_counts_instead_of_posting(state: Any, sink: RecordingSink,
                                                                notifier: RecordingNotifier, clock: FakeClock) -> None:
    nc = make_nc(state, sink, notifier, clock)
    actions = []
    for minute in (0, 10, 25, 59):
        clock.moment = clock.moment.replace(minute=minute)
        actions.append((await nc.publish_detailed(make_finding())).action)
    assert actions == ["new", "grouped", "grouped", "grouped"]
    assert len(notifier.cards) == 1
    assert [r["OccurrenceCount"] for r in sink.rows] == [1, 2, 3, 4]  # one row per unique event
    assert [r["AlertSent"] for r in sink.rows] == [True, False, False, False]
    # After the window a new card goes out, saying how many happened in all.
    clock.advance(minutes=61)
    out = await nc.publish_detailed(make_finding())
    assert out.action == "new" and out.occurrence_count == 1
    assert len(notifier.cards) == 2
    facts = {f["title"]: f["value"] for f in notifier.cards[1]["attachments"][0]["content"]["body"][2]["facts"]}
    assert "5 since" in facts["Occurrences"]


async def test_groups_are_per_cluster_and_error_code(state: Any, sink: RecordingSink, notifier: RecordingNotifier,
                                                     clock: FakeClock) -> None:
    nc = make_nc(state, sink, notifier, clock)
    await nc.publish_detailed(make_finding(code="SubnetIsFull"))
    await nc.publish_detailed(make_finding(code="QuotaExceeded"))
    await nc.publish_detailed(make_finding(op=make_operation(cluster="aks-other"), code="SubnetIsFull"))
    await nc.publish_detailed(make_finding(op=make_operation(cluster="AKS-PROD-01".lower())))  # same group
    assert len(notifier.cards) == 3 and len(sink.rows) == 4
    assert group_key("/SUBSCRIPTIONS/X/a", "Code") == group_key("/subscriptions/x/A", "code")


async def test_escalation_once_after_threshold_for_transient(state: Any, sink: RecordingSink,
                                                             notifier: RecordingNotifier, clock: FakeClock) -> None:
    nc = make_nc(state, sink, notifier, clock)
    await nc.publish_detailed(make_finding(code="AllocationFailed", transient="true", category="capacity"))
    await nc.publish_detailed(make_finding(code="SubnetIsFull", transient="false"))  # not transient: no escalation
    clock.advance(hours=23, minutes=59)
    assert (await nc.escalate_due()).escalated == []
    clock.advance(minutes=2)
    out = await nc.escalate_due()
    assert out.escalated == ["aks-prod-01/AllocationFailed"]
    assert len(notifier.cards) == 3
    assert notifier.headlines()[-1].startswith("Escalated: aks-prod-01: ")
    assert "Still failing after 24 h" in json.dumps(notifier.cards[-1])
    assert sink.rows[-1]["Status"] == "escalated" and sink.rows[-1]["AlertSent"] is True
    clock.advance(hours=5)
    again = await nc.escalate_due()
    assert again.escalated == [] and len(notifier.cards) == 3  # escalated once only
    # New occurrences of the escalated group carry its status.
    clock.advance(hours=2)
    await nc.publish_detailed(make_finding(code="AllocationFailed", transient="true"))
    assert sink.rows[-1]["Status"] == "escalated"


async def test_escalation_recheck_can_close_quietly(state: Any, sink: RecordingSink, notifier: RecordingNotifier,
                                                    clock: FakeClock) -> None:
    nc = make_nc(state, sink, notifier, clock)
    await nc.publish_detailed(make_finding(code="ZonalAllocationFailed", transient="true"))
    clock.advance(hours=25)

    async def fixed(_: Any) -> bool:
        return False

    out = await nc.escalate_due(recheck=fixed)
    assert out.resolved == ["aks-prod-01/ZonalAllocationFailed"] and out.escalated == []
    assert len(notifier.cards) == 1 and sink.rows[-1]["Status"] == "resolved"


async def test_resolution_by_later_write_success(state: Any, sink: RecordingSink, notifier: RecordingNotifier,
                                                 clock: FakeClock) -> None:
    nc = make_nc(state, sink, notifier, clock)
    await nc.publish_detailed(make_finding(code="SubnetIsFull"))
    await nc.publish_detailed(make_finding(code="QuotaExceeded"))
    await nc.publish_detailed(make_finding(op=make_operation(cluster="aks-other")))
    clock.advance(minutes=30)
    success = make_success(event_id="ok-1")
    out = await nc.resolve(success)
    assert sorted(out.resolved) == ["QuotaExceeded", "SubnetIsFull"] and out.card_sent and out.rows_written == 2
    assert len(notifier.cards) == 4 and notifier.headlines()[-1] == "Resolved: aks-prod-01"
    assert [r["Status"] for r in sink.rows[-2:]] == ["resolved", "resolved"]
    # The same success event again: nothing more. Another success: nothing open any more.
    assert (await nc.resolve(success)).duplicate
    assert (await nc.resolve(make_success(event_id="ok-2"))).resolved == ()
    assert len(notifier.cards) == 4
    # A new failure after resolution opens a fresh group and posts again.
    clock.advance(minutes=5)
    assert (await nc.publish_detailed(make_finding(code="SubnetIsFull"))).action == "new"
    assert len(notifier.cards) == 5
    # The other cluster's group is untouched: still open, so it escalates if transient... it is not.
    assert (await nc.escalate_due()).escalated == []


async def test_agent_pool_success_resolves_only_that_pool(state: Any, sink: RecordingSink,
                                                          notifier: RecordingNotifier, clock: FakeClock) -> None:
    nc = make_nc(state, sink, notifier, clock)
    await nc.publish_detailed(make_finding(op=make_operation(agent_pool="np1"), code="ZonalAllocationFailed"))
    await nc.publish_detailed(make_finding(code="SubnetIsFull"))
    out = await nc.resolve(make_success(agent_pool="NP1"))
    assert out.resolved == ("ZonalAllocationFailed",)


async def test_state_store_down_defers(sink: RecordingSink, notifier: RecordingNotifier,
                                                      clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    state = MemoryStateStore()
    state.fail = ConnectionError("table endpoint unreachable")
    nc = make_nc(state, sink, notifier, clock)
    f = make_finding(op=make_operation(event_id="evt-down"))
    with pytest.raises(StateDown):  # deferred: the queue retries; nothing goes out ungrouped
        await nc.publish_detailed(f)
    assert notifier.cards == [] and sink.rows == []
    assert (await nc.resolve(make_success())).resolved == ()
    assert (await nc.escalate_due()).errors


@pytest.mark.azurite
async def test_azurite_unreachable_defers(azurite: Azurite, sink: RecordingSink, notifier: RecordingNotifier,
                                              clock: FakeClock) -> None:
    """A real TableStateStore whose endpoint refuses connections (azure-core errors, not ours)."""
    from shared.azure.tables import TableStateStore

    dead = azurite.connection_string.replace(f":{azurite.table_port}/", ":9/")
    store = TableStateStore(dead, "unreachable", retry_total=0)
    try:
        with pytest.raises(StateDown):
            await make_nc(store, sink, notifier, clock).publish_detailed(make_finding())
    finally:
        await store.close()
    assert sink.rows == [] and notifier.cards == []


async def test_crash_after_card_before_row_writes_only_the_row(state: Any, sink: RecordingSink,
                                                               notifier: RecordingNotifier, clock: FakeClock) -> None:
    nc = make_nc(state, sink, notifier, clock)
    f = make_finding(op=make_operation(event_id="evt-crash"))
    sink.fail_next = 1
    with pytest.raises(SinkError):
        await nc.publish_detailed(f)  # card out, row failed: the queue will retry the work item
    assert len(notifier.cards) == 1 and sink.rows == []
    clock.advance(seconds=30)
    retry = await nc.publish_detailed(f)
    assert (retry.row_written, retry.card_sent) == (True, False)
    assert len(notifier.cards) == 1 and len(sink.rows) == 1 and sink.rows[0]["AlertSent"] is True
    assert (await nc.publish_detailed(f)).action == "duplicate"


async def test_killed_process_is_resumed_after_the_lease(state: Any, sink: RecordingSink,
                                                         notifier: RecordingNotifier, clock: FakeClock) -> None:
    """A worker killed after the card (no chance to release its lease): a redelivery within the
    lease backs off, the retry after the lease writes only the row."""
    nc = make_nc(state, sink, notifier, clock)
    f = make_finding(op=make_operation(event_id="evt-killed"))

    class Killed(BaseException):
        pass

    async def die(rows: Any) -> None:
        raise Killed

    real_write, sink.write = sink.write, die  # type: ignore[method-assign]
    with pytest.raises(Killed):
        await nc.publish_detailed(f)
    sink.write = real_write  # type: ignore[method-assign]
    clock.advance(seconds=5)
    with pytest.raises(LeaseHeld):
        await nc.publish_detailed(f)
    clock.advance(seconds=30)
    out = await nc.publish_detailed(f)
    assert (out.row_written, out.card_sent) == (True, False)
    assert len(notifier.cards) == 1 and len(sink.rows) == 1


async def test_teams_failure_is_recorded_and_retried_by_the_timer(state: Any, sink: RecordingSink,
                                                                  notifier: RecordingNotifier,
                                                                  clock: FakeClock) -> None:
    nc = make_nc(state, sink, notifier, clock)
    notifier.fail_next = 1
    out = await nc.publish_detailed(make_finding())
    assert out.alert_failed and out.row_written and not out.card_sent
    # The row went out beside the card: AlertSent says the card is this row's (the timer posts it).
    assert sink.rows[0]["AlertSent"] is True and notifier.cards == []
    clock.advance(minutes=5)
    timer = await nc.escalate_due()
    assert timer.cards_retried == 1 and len(notifier.cards) == 1
    assert (await nc.escalate_due()).cards_retried == 0


async def test_escalation_interrupted_by_sink_failure_is_finished_next_run(
        state: Any, sink: RecordingSink, notifier: RecordingNotifier, clock: FakeClock) -> None:
    nc = make_nc(state, sink, notifier, clock)
    await nc.publish_detailed(make_finding(code="AllocationFailed", transient="true"))
    clock.advance(hours=25)
    sink.fail_next = 1
    first = await nc.escalate_due()
    assert first.escalated == [] and first.errors and len(notifier.cards) == 2  # card out, row failed
    second = await nc.escalate_due()
    assert second.notices_completed == 1
    assert len(notifier.cards) == 2 and sink.rows[-1]["Status"] == "escalated"
    assert (await nc.escalate_due()).notices_completed == 0


async def test_any_exception_after_the_claim_releases_the_lease(state: Any, sink: RecordingSink,
                                                                notifier: RecordingNotifier, clock: FakeClock,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Not only sink errors: a row-building bug (or a cancelled invocation) must not leave the lease
    held, or the queue's retry would look like a concurrent duplicate and the finding would be lost."""
    import shared.noise.controller

    real = shared.noise.controller.finding_to_row  # type: ignore[attr-defined]
    calls = {"n": 0}

    def flaky(*a: Any, **kw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("row builder failed once")
        return real(*a, **kw)

    monkeypatch.setattr(shared.noise.controller, "finding_to_row", flaky)
    nc = make_nc(state, sink, notifier, clock)
    f = make_finding(op=make_operation(event_id="evt-flaky"))
    with pytest.raises(RuntimeError):
        await nc.publish_detailed(f)
    clock.advance(seconds=30)  # the host's retry, well within the 300 s lease
    out = await nc.publish_detailed(f)
    assert out.action == "new" and out.row_written  # the card went out on the first attempt
    assert len(notifier.cards) == 1 and len(sink.rows) == 1


async def test_cancelled_resolution_releases_the_lease(state: Any, sink: RecordingSink,
                                                       notifier: RecordingNotifier, clock: FakeClock) -> None:
    nc = make_nc(state, sink, notifier, clock)
    await nc.publish_detailed(make_finding())

    async def hang(rows: Any) -> None:
        await asyncio.sleep(3600)

    real_write, sink.write = sink.write, hang  # type: ignore[method-assign]
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(nc.resolve(make_success(event_id="ok-timeout")), 0.5)
    sink.write = real_write  # type: ignore[method-assign]
    clock.advance(seconds=10)
    out = await nc.resolve(make_success(event_id="ok-timeout"))
    assert out.resolved == ("SubnetIsFull",) and not out.card_sent and out.rows_written == 1
    assert len(notifier.cards) == 2  # the resolved card went out once, before the hang
