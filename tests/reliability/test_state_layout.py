"""Issue 15.1 / 15.6: stale claims finished by the timer exactly once; state partitioned so resolution
and the timer read O(their own work), not O(all state); expiry of events and closed groups.

Real stores: Azurite's Table service (as in Azure) and SQLite (the CLI); the in-memory store for the
size sweep, wrapped to count the entities each call returns (the figure that grows with a
whole-partition read). A worker "dies" by raising a BaseException nothing in the app catches,
mid-publish, with its lease still held: what a kill -9 leaves in the table.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.local.state import MemoryStateStore, SqliteStateStore
from shared.noise import NoiseControl
from shared.noise.table import MAX_DUE_PER_RUN, P_DUE
from shared.notify.notice import Notice
from shared.render.rows import iso_z
from tests.factories import make_finding, make_operation, make_success
from tests.sinks.conftest import FakeClock, NoiseTestSettings, RecordingNotifier, RecordingSink

pytestmark = [pytest.mark.reliability]


class WorkerKilled(BaseException):
    """The worker process dying: nothing in the app catches it, no lease is released."""


class DyingNotifier(RecordingNotifier):
    """Dies on the first `die` posts (before sending), then records like RecordingNotifier."""

    def __init__(self, die: int = 1) -> None:
        super().__init__()
        self.die = die

    async def notify(self, notice: Notice) -> None:
        if self.die:
            self.die -= 1
            raise WorkerKilled("kill -9")
        await super().notify(notice)


class DyingSink(RecordingSink):
    def __init__(self, die: int = 1) -> None:
        super().__init__()
        self.die = die

    async def write(self, rows: Sequence[dict[str, Any]]) -> None:
        if self.die:
            self.die -= 1
            raise WorkerKilled("kill -9")
        await super().write(rows)


class Counting:
    """A store proxy counting the entities its reads return."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.returned = 0
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        fn = getattr(self.inner, name)

        async def call(*a: Any, **kw: Any) -> Any:
            self.calls += 1
            out = await fn(*a, **kw)
            if isinstance(out, list):
                self.returned += len(out)
            elif isinstance(out, dict):
                self.returned += 1
            return out

        return call


@pytest.fixture(params=["azurite", "sqlite"])
async def state(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    if request.param == "azurite":
        request.applymarker(pytest.mark.azurite)
        from shared.azure.tables import TableStateStore

        az = request.getfixturevalue("azurite")
        store = TableStateStore(az.connection_string, "layout" + uuid.uuid4().hex[:12])
        yield store
        await store.close()
    else:
        yield SqliteStateStore(tmp_path / "state.db")


def nc(state: Any, sink: Any, notifier: Any, clock: FakeClock, **kw: Any) -> NoiseControl:
    return NoiseControl(state, sink, notifier, clock, NoiseTestSettings(), **kw)


async def _all(state: Any) -> list[dict[str, Any]]:
    return list(await state.query_range("", "~"))


async def test_timer_finishes_a_claim_whose_worker_died_exactly_once(state: Any) -> None:
    clock = FakeClock()
    sink, notifier = RecordingSink(), DyingNotifier(die=1)
    f = make_finding()
    with pytest.raises(WorkerKilled):
        await nc(state, sink, notifier, clock).publish(f)
    assert notifier.notices == [] and len(sink.rows) <= 1  # the row goes out beside the card
    # Within the lease nobody takes it over: the worker might still be alive.
    out = await nc(state, sink, notifier, clock).escalate_due()
    assert out.claims_finished == 0 and notifier.notices == []
    clock.advance(seconds=26)  # past the 25 s lease; no redelivery ever comes (a CLI run, a lost message)
    # Two timer instances at once (two hosts): exactly one finishes it.
    a, b = await asyncio.gather(nc(state, sink, notifier, clock).escalate_due(),
                                nc(state, sink, notifier, clock).escalate_due())
    assert a.claims_finished + b.claims_finished == 1, (a, b)
    assert len(sink.rows) == 1 and len(notifier.notices) == 1
    assert sink.rows[0]["EventId"] == f.operation.event_id
    # A late redelivery of the same work item, and later timer runs, change nothing.
    again = await nc(state, sink, notifier, clock).publish(f)
    assert again.action == "duplicate"
    clock.advance(minutes=15)
    assert (await nc(state, sink, notifier, clock).escalate_due()).claims_finished == 0
    assert len(sink.rows) == 1 and len(notifier.notices) == 1


async def test_a_claim_dead_after_the_card_gets_only_its_row(state: Any) -> None:
    clock = FakeClock()
    sink, notifier = DyingSink(die=1), RecordingNotifier()
    with pytest.raises(WorkerKilled):
        await nc(state, sink, notifier, clock).publish(make_finding())
    assert len(notifier.notices) == 1 and sink.rows == []
    clock.advance(seconds=30)
    out = await nc(state, sink, notifier, clock).escalate_due()
    assert out.claims_finished == 1
    assert len(sink.rows) == 1 and len(notifier.notices) == 1  # the card is not posted again


async def test_timer_finishes_a_resolution_whose_worker_died(state: Any) -> None:
    clock = FakeClock()
    sink, notifier = RecordingSink(), RecordingNotifier()
    await nc(state, sink, notifier, clock).publish(make_finding())
    clock.advance(minutes=10)
    dying = DyingNotifier(die=1)
    with pytest.raises(WorkerKilled):
        await nc(state, sink, dying, clock).resolve(make_success())
    clock.advance(seconds=30)
    out = await nc(state, sink, notifier, clock).escalate_due()
    assert out.claims_finished == 1
    assert [n.kind for n in notifier.notices] == ["opened", "resolved"]
    assert [r["Status"] for r in sink.rows] == ["open", "resolved"]


async def test_redelivery_and_timer_racing_for_a_stale_claim_finish_it_once(state: Any) -> None:
    clock = FakeClock()
    sink, notifier = RecordingSink(), DyingNotifier(die=1)
    f = make_finding()
    with pytest.raises(WorkerKilled):
        await nc(state, sink, notifier, clock).publish(f)
    clock.advance(seconds=30)
    results = await asyncio.gather(nc(state, sink, notifier, clock).publish(f),
                                   nc(state, sink, notifier, clock).escalate_due(), return_exceptions=True)
    assert len(sink.rows) == 1 and len(notifier.notices) == 1, results


async def test_expiry_of_events_findings_and_resolved_groups(state: Any) -> None:
    clock = FakeClock()
    sink, notifier = RecordingSink(), RecordingNotifier()
    control = nc(state, sink, notifier, clock)
    await control.publish(make_finding())
    await control.publish(make_finding(op=make_operation(agent_pool="np1")))
    clock.advance(minutes=5)
    await control.resolve(make_success())
    clock.advance(days=1)
    await control.escalate_due()  # claims done: their index entries go
    before = await _all(state)
    assert any(e["_pk"].startswith("e-") for e in before) and any(e["_pk"].startswith("c-") for e in before)
    clock.advance(days=31)  # past the dedup window (8 d) and the resolved-group TTL (30 d)
    out = await control.escalate_due()
    assert out.pruned >= 3, out
    left = await _all(state)
    assert left == [], [(e["_pk"], e["_rk"]) for e in left]


async def test_an_open_group_and_its_finding_outlive_the_dedup_window(state: Any) -> None:
    clock = FakeClock()
    sink, notifier = RecordingSink(), RecordingNotifier()
    control = nc(state, sink, notifier, clock)
    await control.publish(make_finding())
    clock.advance(days=20)
    await control.escalate_due()
    kept = {(e["_pk"][:2], e["_rk"][:2]) for e in await _all(state)}
    assert ("c-", "g|") in kept and ("c-", "f|") in kept  # the group and the finding it references
    assert not any(pk == "e-" for pk, _ in kept)  # the event itself has expired
    clock.advance(minutes=1)
    out = await control.resolve(make_success())  # still resolvable, card included
    assert out.resolved == ("SubnetIsFull",) and out.card_sent


async def _fill(store: Any, clusters: int) -> None:
    clock = FakeClock()
    control = nc(store, RecordingSink(), RecordingNotifier(), clock)
    for i in range(clusters):
        await control.publish(make_finding(op=make_operation(cluster=f"aks-hist-{i:05d}")))
    clock.advance(minutes=5)
    for _ in range(clusters // MAX_DUE_PER_RUN + 1):  # each claim's index entry is looked at once
        await control.escalate_due()


@pytest.mark.parametrize("history", [10, 1000])
async def test_resolve_and_timer_read_their_own_work_not_the_history(history: int) -> None:
    """Flat cost: with 10 or 1,000 groups of other clusters stored, one resolution reads its own
    cluster's group (and finding) and a timer run with nothing due reads nothing."""
    store = Counting(MemoryStateStore())
    await _fill(store, history)
    clock = FakeClock()
    clock.advance(minutes=10)
    sink, notifier = RecordingSink(), RecordingNotifier()
    control = nc(store, sink, notifier, clock)
    await control.publish(make_finding())
    clock.advance(minutes=1)
    store.returned = store.calls = 0
    out = await control.resolve(make_success())
    assert out.resolved == ("SubnetIsFull",)
    resolve_reads = store.returned
    assert resolve_reads <= 4, resolve_reads  # its group (range + re-read in the etag loop) + its finding
    clock.advance(days=1)
    await control.escalate_due()  # this test's own index entries
    store.returned = store.calls = 0
    await control.escalate_due()
    assert store.returned == 0, store.returned
    # What is left in the index is due later: the expiry of the resolved group.
    left = await store.inner.query_range(P_DUE, P_DUE)
    assert len(left) == 1 and left[0]["at"] > iso_z(clock.now())


async def test_escalation_comes_from_the_due_index(state: Any) -> None:
    clock = FakeClock()
    sink, notifier = RecordingSink(), RecordingNotifier()
    control = nc(state, sink, notifier, clock)
    await control.publish(make_finding(transient="true", code="OperationNotAllowed"))
    clock.advance(hours=23)
    assert (await control.escalate_due()).escalated == []
    clock.advance(hours=1, minutes=1)
    out = await control.escalate_due()
    assert out.escalated == ["aks-prod-01/OperationNotAllowed"]
    clock.advance(hours=1)
    assert (await control.escalate_due()).escalated == []
    assert [n.kind for n in notifier.notices] == ["opened", "escalated"]
    assert timedelta(hours=24) <= clock.now() - notifier.notices[0].at


async def test_a_timer_run_stops_at_its_budget_and_the_rest_waits(state: Any) -> None:
    clock = FakeClock()
    sink, notifier = RecordingSink(), DyingNotifier(die=1)
    with pytest.raises(WorkerKilled):
        await nc(state, sink, notifier, clock).publish(make_finding())
    clock.advance(seconds=30)
    out = await nc(state, sink, notifier, clock, timer_budget_s=0.0).escalate_due()
    assert out.claims_finished == 0 and any("budget" in e for e in out.errors)
    assert notifier.notices == []
    out = await nc(state, sink, notifier, clock).escalate_due()
    assert out.claims_finished == 1 and len(sink.rows) == 1 and len(notifier.notices) == 1


async def test_cards_per_cluster_are_capped_per_window(state: Any) -> None:
    """15 error codes failing at once on one cluster: 10 cards (the cap), 15 rows; the next window
    posts again. A retry of a suppressed event stays suppressed (the slot decision is stored)."""
    clock = FakeClock()
    sink, notifier = RecordingSink(), RecordingNotifier()
    control = nc(state, sink, notifier, clock, max_cards_per_cluster=10)
    findings = [make_finding(op=make_operation(event_id=f"ev-{i}"), code=f"Code{i:02d}") for i in range(15)]
    outs = [await control.publish(f) for f in findings]
    assert len(notifier.notices) == 10 and len(sink.rows) == 15
    assert sum(1 for o in outs if o.detail.startswith("card suppressed")) == 5
    assert [r["AlertSent"] for r in sink.rows].count(True) == 10
    assert (await control.publish(findings[-1])).action == "duplicate" and len(notifier.notices) == 10
    other = make_finding(op=make_operation(cluster="aks-other", event_id="ev-x"), code="Code00")
    await control.publish(other)
    assert len(notifier.notices) == 11  # the cap is per cluster
    clock.advance(minutes=61)
    await control.publish(make_finding(op=make_operation(event_id="ev-late"), code="Code14"))
    assert len(notifier.notices) == 12


async def test_one_broken_due_entry_does_not_stop_the_timer_run() -> None:
    from shared.noise.table import due_row

    store = MemoryStateStore()
    clock = FakeClock()
    sink, notifier = RecordingSink(), DyingNotifier(die=1)
    with pytest.raises(WorkerKilled):
        await nc(store, sink, notifier, clock).publish(make_finding())
    # A resolution claim whose stored operation cannot be read (written by a bug, or by hand).
    await store.create("e-20240101", "broken", {"status": "claimed", "kind": "resolve", "op": "{not json",
                                                 "lease_until": ""})
    await store.upsert(P_DUE, due_row(clock.now(), "e", "e-20240101", "broken"), {"at": iso_z(clock.now())})
    clock.advance(seconds=30)
    out = await nc(store, sink, notifier, clock).escalate_due()
    assert out.claims_finished == 1 and len(sink.rows) == 1
    assert any("broken" in e for e in out.errors), out.errors
    assert any(e["_rk"].endswith("|broken") for e in await store.query_range(P_DUE, P_DUE))  # kept for a fix
