"""The noise controller between the pipeline and the sinks: dedup, grouping, escalation, resolution.

Owns the publishing rules (FindingWriter.publish, resolve, escalate_due):
- Idempotency: each event is claimed in the state store under `operation.idempotency_key`
  (insert-if-absent). A completed event is a no-op, so a redelivered event gives one row and one
  card. Twin events of one failure (same FindingId, e.g. the cluster and agent-pool events of one
  correlation id) collapse to the first.
- The publish chain of a new finding (round trips of storage latency before the posts):
  1. at once: the claim (carrying the packed finding) with its timer index entry, and the group
     transaction of the cluster's partition (`StateStore.transact`: the finding, the group, the
     cluster's card window and the event's decision row, all or none), planned on what this
     process last wrote of the group and window (etags remembered) or on their absence;
  2. only when that guess was wrong (another instance wrote the group, or it exists from before
     this process): read the group, the window and the decision row at once, re-plan, commit;
  3. the card and the row are posted at once (Teams and Logs Ingestion), each recorded on the
     event as it ends while the other is still out, the last by the final "done" save.
  So 1 round trip before the card and the row when the guess holds, 3 when it does not. The
  decision row is created once per event (create-if-absent inside the transaction): whichever
  delivery's transaction commits first decides, and every other run replays that decision, so an
  event is never counted twice even though the transaction runs beside the claim.
- Crash safety: the event entity records its steps (`card_sent`, `row_written`) and holds a short
  lease. A retry of the same work item after a crash or a sink failure redoes only the missing
  steps; a concurrent duplicate delivery, while the lease is held, backs off. The duplicate window
  is each post's own, from its send to its record: a crash there repeats that post on the retry
  (neither sink takes an idempotency key).
- Grouping: (cluster id, error code) is a group. The first finding of a window (default 60 min,
  started by the card) posts a card; later ones in the window update the count (their rows are
  still written, OccurrenceCount = the count in the window, AlertSent = false). A cluster posts at
  most `max_cards_per_cluster` finding cards per window (the card window row, in the same
  transaction).
- AlertSent: the row is written beside the card, before the card's answer, so it says whether
  this row's finding posts a card (posted, or re-sent by the timer when the post failed).
- Escalation (timer): an open group of a transient (or maybe-transient) error that is still open
  after `escalate_after_h` (default 24 h) is escalated once: one escalation card, one row with
  Status=escalated. The timer also finishes notices a crash interrupted, re-sends cards that
  failed to post, and finishes stale claims: an event whose worker claimed it and died (and that
  no redelivery resumed) is taken over once its lease has run out, under the event's etag, so
  exactly one runner finishes it (timer or redelivery), from the finding stored in the claim.
- State layout (shared.noise.table): events in day partitions, groups, findings, decisions and
  the card window in their cluster's partition, a due index for the timer. Resolution reads one
  cluster's groups; the timer reads only what is due. Groups reference their latest finding; a
  finished event drops its copy of the finding.
- Expiry: events (with their decision rows, and findings no group references) are deleted
  `dedup_days` after the event (default 8: Event Grid retries for 24 h); resolved groups
  `resolved_ttl_days` after resolution (default 30). Deduplication holds within the dedup window.
- Resolution: a later ResourceWriteSuccess for the cluster resolves its open groups: one short
  resolved card per success event and one row with Status=resolved per group.
- Leases and redelivery: the lease (default 25 s) is shorter than the queue's redelivery interval
  (host.json visibilityTimeout, 30 s), so the host's retry after a crash finds it expired and
  resumes. A delivery that meets a live lease raises LeaseHeld: the message returns later (and
  goes to poison at its last dequeue) instead of being completed as success. Every sink and store
  call has a deadline, and the whole publish one below the lease, so a slow sink cannot outlive it.
- Replay: the decision (card or not, count, status, card slot) is stored in the event's decision
  row with the group change, and on the event entity; a retry replays it exactly, however many
  events joined the group meanwhile.
- State store down: publish raises StateDown and the queue retries the work item later (the SDK
  has already retried); nothing is sent ungrouped, so an outage cannot flood the channel.
- Sink failures: a FindingsSink error is raised once the card post beside it has ended (the queue
  retries the work item; the step flags make the retry write only what is missing). A Notifier
  error is logged, the group is marked `card_pending` for the timer to retry; never raised.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from shared.azure.tables import pack_finding
from shared.models import FailedOperation, Finding
from shared.noise.outcomes import EscalateOutcome, LeaseHeld, PublishOutcome, ResolveOutcome, StateDown
from shared.noise.policy import (
    DECISION_FIELDS,
    OPEN,
    RECENT_MAX,
    Decision,
    decision_fields,
    escalation_due,
    group_key,
    occurrence,
    parse_time,
    resolved_by,
    stored_decision,
)
from shared.noise.table import (
    ETAG,
    EVENT_PREFIX,
    GROUP_ROW,
    MAX_DUE_PER_RUN,
    MAX_PRUNED_PER_RUN,
    P_DUE,
    PK,
    RK,
    WINDOW_ROW,
    StateTable,
    cluster_partition,
    concurrently,
    decision_row,
    due_row,
    event_partition,
    finding_row,
    group_row,
    parse_due_row,
)
from shared.notify.notice import Notice, NoticeItem, NoticeKind, notice_id
from shared.ports import Clock, FindingsSink, Notifier, SinkError, StateOp, StateStore
from shared.render.rows import finding_to_row, iso_z

log = logging.getLogger(__name__)


def tx_committed(answer: Any) -> bool:
    """A transaction's answer means it committed: the etags (True from a store proxy that keeps only that)."""
    return answer is True or isinstance(answer, list)


def op_name(f: Finding) -> str:
    return f.operation.cluster_name

DEDUP_DAYS = 8  # events (and their findings) are kept this long after the event: Event Grid retries 24 h
RESOLVED_TTL_DAYS = 30  # a resolved group is deleted this long after its resolution
# Finding cards one cluster may post per group window (default 60 min), whatever its groups: a
# cluster failing in many ways at once (or state trouble splitting groups) cannot flood the channel.
# Over the cap the rows are still written (AlertSent=false) and the log says so.
MAX_CARDS_PER_CLUSTER = 10
# A timer run stops taking new entries after this long (host.json functionTimeout is 10 min); what is
# left stays in the due index for the next run.
TIMER_BUDGET_S = 240.0


class NoiseSettings(Protocol):
    """The part of shared.settings.Settings noise control reads (read-only, so frozen models fit)."""

    @property
    def group_window_min(self) -> int: ...

    @property
    def escalate_after_h(self) -> float: ...


Recheck = Callable[[Finding], Awaitable[bool]]


@dataclass(frozen=True)
class _Plan:
    """One event's decision and the transaction of its cluster's partition that records it."""

    decision: Decision
    ops: list[StateOp]
    fields: dict[str, Any]  # the decision as stored (event entity, decision row)
    group: dict[str, Any] | None = None  # the group entity the transaction writes
    window: dict[str, Any] | None = None  # the card window it writes, if it takes a slot
    index_escalation: bool = False  # a fresh group of an escalating kind: its timer entry goes beside


class NoiseControl(StateTable):
    """The publisher: noise rules (shared.noise.policy) applied over the state table in front of
    the sinks. One per process; safe for concurrent use."""

    def __init__(self, state: StateStore, sink: FindingsSink, notifier: Notifier, clock: Clock,
                 settings: NoiseSettings, *, lease_s: float = 25.0,
                 escalate_transient: tuple[str, ...] = ("true", "depends"),
                 dedup_days: float = DEDUP_DAYS, resolved_ttl_days: float = RESOLVED_TTL_DAYS,
                 timer_budget_s: float = TIMER_BUDGET_S, max_cards_per_cluster: int = MAX_CARDS_PER_CLUSTER,
                 sole_writer: bool = False) -> None:
        super().__init__(state, lease_s=lease_s, sole_writer=sole_writer)
        self.sink = sink
        self.notifier = notifier
        self.clock = clock
        self.window = timedelta(minutes=settings.group_window_min)
        self.window_min = int(settings.group_window_min)
        self.escalate_after = timedelta(hours=settings.escalate_after_h)
        # The whole publish may take 80% of the lease (each call a third of it, see StateTable).
        self.publish_deadline_s = lease_s * 0.8
        self.escalate_transient = escalate_transient
        if dedup_days < 2:
            raise ValueError("dedup_days must cover Event Grid's 24 h of redeliveries (>= 2)")
        self.dedup = timedelta(days=dedup_days)
        self.resolved_ttl = timedelta(days=resolved_ttl_days)
        self.timer_budget_s = timer_budget_s
        self.max_cards_per_cluster = max_cards_per_cluster
        self._groups: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._windows: OrderedDict[str, dict[str, Any]] = OrderedDict()

    # --- publish ---------------------------------------------------------------------------

    async def publish(self, finding: Finding) -> PublishOutcome:
        """Publish one finding and say what happened. Raises StateDown / LeaseHeld / SinkError for
        the queue to retry the work item later."""
        return await self.publish_detailed(finding)

    async def publish_detailed(self, f: Finding) -> PublishOutcome:
        now = self.clock.now()
        op = f.operation
        key = op.idempotency_key
        epk, cpk = event_partition(op.event_time), cluster_partition(op.cluster_id)
        gk = group_key(op.cluster_id, f.classification.code)
        packed = pack_finding(f)
        # One round trip for a new finding: the claim (carrying the finding, so whoever finishes it -
        # this run, a redelivery or the timer after a crash - works from the same stored finding)
        # with its timer entry, and beside it the group transaction, planned on what this process
        # last wrote of the group and the card window (or on their absence). The transaction's
        # conditions (etags, create-if-absent, the event's decision row created once) make a wrong
        # guess fail whole, and only the first decision for an event ever commits.
        cached_group, cached_window = self._cached(cpk, gk)
        plan = self._plan(f, key, now, cached_group, cached_window, packed)
        calls: list[Awaitable[Any]] = [self._claim_event(epk, key, now, {
            "kind": "finding", "group": gk, "cpk": cpk, "finding_id": f.finding_id, "finding": packed})]
        if plan.ops:
            calls.append(self._call(self.state.transact(cpk, plan.ops)))
        if plan.index_escalation:
            calls.append(self._due(now + self.escalate_after, "g", cpk, gk))
        claimed, *steps = await concurrently(*calls)
        committed = self._committed(cpk, gk, plan, steps[0] if plan.ops else None)
        if isinstance(claimed, BaseException):
            raise claimed
        claim, ev = claimed
        if claim == "done":
            return PublishOutcome("duplicate", f.finding_id, gk, int(ev.get("count", 0) or 0),
                                  detail="event already published")
        if claim == "busy":  # a decision this call committed is in the decision row: the holder replays it
            raise LeaseHeld(key, parse_time(ev.get("lease_until")) or now + self.lease)
        reindex = plan.index_escalation and any(isinstance(s, BaseException) for s in steps[1:])
        return await self._run_publish(f, epk, key, gk, cpk, ev, now, committed=committed,
                                       resumed=claim == "resume" or reindex)

    async def _run_publish(self, f: Finding, epk: str, key: str, gk: str, cpk: str, ev: dict[str, Any],
                           now: datetime, *, committed: _Plan | None = None, resumed: bool = True) -> PublishOutcome:
        try:
            async with asyncio.timeout(self.publish_deadline_s):
                return await self._publish_claimed(f, epk, key, gk, cpk, ev, now, committed, resumed)
        except TimeoutError as err:
            await self._save_event_quietly(epk, key, ev, lease_until="")
            raise StateDown(f"publish of {f.finding_id} exceeded {self.publish_deadline_s:.0f} s") from err
        except (Exception, asyncio.CancelledError):
            # Whatever failed, the queue's retry of this work item must be able to resume at once
            # (a kept lease would make it look like a concurrent duplicate and be dropped).
            await self._save_event_quietly(epk, key, ev, lease_until="")
            raise

    async def _publish_claimed(self, f: Finding, epk: str, key: str, gk: str, cpk: str, ev: dict[str, Any],
                               now: datetime, committed: _Plan | None, resumed: bool) -> PublishOutcome:
        decision = stored_decision(ev, now)  # recorded on the event by an earlier run: replayed exactly
        if decision is None and committed is not None:
            decision = committed.decision
            ev.update(committed.fields)
        if decision is None:  # StateDown propagates: the queue retries, nothing goes out ungrouped
            decision = await self._join_group(f, cpk, gk, key, now, ev)
        elif resumed and decision.total == 1 and str(f.classification.transient) in self.escalate_transient:
            # The group's escalation entry went beside the group's creation: put it (same key) again.
            await self._due_quietly(decision.first_seen + self.escalate_after, "g", cpk, gk)
        if decision.twin_of is not None:
            ev.pop("finding", None)
            await self._save_event(epk, key, ev, status="done", twin_of=decision.twin_of, lease_until="")
            return PublishOutcome("duplicate", f.finding_id, gk, decision.count,
                                  detail=f"same finding as event {decision.twin_of}")

        current = f.model_copy(update={"status": decision.status, "occurrence_count": decision.count})
        card_sent = bool(ev.get("card_sent"))
        want_card = decision.send_card and not card_sent
        if want_card and "card_slot" not in ev:
            # A decision recorded without its card slot (state written by an earlier version): take one now.
            ev["card_slot"] = await self._take_card_slot(cpk, now)
            await self._save_event(epk, key, ev)
        detail = ""
        if want_card and not ev.get("card_slot"):
            want_card = False
            detail = f"card suppressed: {op_name(f)} already posted {self.max_cards_per_cluster} cards this window"
            log.warning("%s (finding %s; its row is still written)", detail, f.finding_id)
        # The row goes out beside the card, so it cannot wait for the card's answer: AlertSent says
        # the card is this row's to send (posted, or retried by the timer if the post fails).
        planned = decision.send_card and (card_sent or bool(ev.get("card_slot")))
        row_needed = not ev.get("row_written")
        rows = [finding_to_row(current, alert_sent=planned, time_generated=now)] if row_needed else []
        # Posts that ended normally and need no record of their own before the final save (a card
        # that failed is settled: flagged for the timer).
        settled: set[str] = set()
        one_save = asyncio.Lock()  # the two records never race each other on the event entity

        async def record(step: str, other: str, wanted: bool) -> None:
            async with one_save:
                if wanted and other not in settled:  # the other post is still out: record this one at once
                    await self._save_event_quietly(epk, key, ev)
                settled.add(step)

        result = {"card": False, "failed": False}

        async def post_card() -> None:
            notice = self._finding_notice("opened" if decision.total == 1 else "updated", key, current,
                                          first_seen=decision.first_seen, total=decision.total, now=now)
            if await self._notify(notice, what=f"finding {f.finding_id}"):
                result["card"] = ev["card_sent"] = True
                await record("card", "row", row_needed)
            else:
                result["failed"] = True
                await self._flag_card_pending(cpk, gk, key, now)
                settled.add("card")

        async def write_row() -> None:
            await self._write(rows)  # raises: the caller releases the lease, the queue retries
            ev["row_written"] = True
            await record("row", "card", want_card)

        outcomes = await concurrently(*([post_card()] if want_card else []), *([write_row()] if row_needed else []))
        for failure in outcomes:
            if isinstance(failure, BaseException):
                raise failure  # what did go out is in `ev` already: the release records it
        ev.pop("finding", None)  # a finished event keeps only its steps (the group references the finding)
        await self._save_event_quietly(epk, key, ev, row_written=True, status="done", lease_until="")
        outcome = PublishOutcome("new" if decision.send_card else "grouped", f.finding_id, gk, decision.count,
                                 row_written=row_needed, card_sent=result["card"], alert_failed=result["failed"],
                                 detail=detail)
        log.info("published %s: %s, count %d, row %s, card %s", f.finding_id, outcome.action, decision.count,
                 row_needed, result["card"])
        return outcome

    async def _take_card_slot(self, cpk: str, now: datetime) -> bool:
        """One of the cluster's cards for the current window, if any is left (etag-guarded counter)."""
        for _ in range(8):
            w = await self._call(self.state.get(cpk, WINDOW_ROW))
            slot, change = self._card_window(w, now)
            if change is None:
                return slot
            if tx_committed(await self._call(self.state.transact(cpk, [change]))):
                self._windows.pop(cpk, None)
                return True
        raise StateDown("card counter: too much contention")

    def _card_window(self, w: dict[str, Any] | None, now: datetime) -> tuple[bool, StateOp | None]:
        """The cluster's card counter with one more card -> (a slot is left, the write taking it)."""
        start = parse_time((w or {}).get("window_start"))
        if w is None:
            return True, StateOp("create", WINDOW_ROW, {"window_start": iso_z(now), "cards": 1})
        if start is None or now - start >= self.window:
            return True, StateOp("replace", WINDOW_ROW, {"window_start": iso_z(now), "cards": 1}, etag=w.get(ETAG))
        if int(w.get("cards", 0)) < self.max_cards_per_cluster:
            return True, StateOp("replace", WINDOW_ROW, {**w, "cards": int(w.get("cards", 0)) + 1}, etag=w.get(ETAG))
        return False, None

    def _plan(self, f: Finding, key: str, now: datetime, g: dict[str, Any] | None, w: dict[str, Any] | None,
              packed: str) -> _Plan:
        """What counting this event in its group means, given the group and card window as read (or
        guessed) -> the decision and the one transaction of the cluster's partition that records it:
        the finding, the group, the card window and the event's decision row (created once)."""
        op = f.operation
        recent: list[list[Any]] = json.loads(g.get("recent") or "[]") if g else []
        decision, start = occurrence(g, recent, event_key=key, finding_id=f.finding_id, now=now, window=self.window)
        fields = decision_fields(decision)
        if decision.twin_of is not None:
            return _Plan(decision, [StateOp("create", decision_row(key), {**fields, "twin_of": decision.twin_of})],
                         fields)
        if any(ek == key for ek, *_ in recent):  # counted by an earlier version, without a decision row
            return _Plan(decision, [], fields)
        fresh = g is None or g.get("status") not in OPEN
        send, count, total, status = decision.send_card, decision.count, decision.total, decision.status
        recent = [*([] if fresh else recent), [key, f.finding_id, send, count, status]][-RECENT_MAX:]
        entity: dict[str, Any] = {k: v for k, v in (g or {}).items() if k != ETAG}
        if fresh:
            entity = {"first_seen": iso_z(now), "escalated_at": "", "resolved_at": "", "resolved_by": "",
                      "card_pending": False, "notice": ""}
        entity.update({
            "cluster_id": op.cluster_id, "cluster_name": op.cluster_name, "agent_pool": op.agent_pool or "",
            "error_code": f.classification.code, "transient": f.classification.transient,
            "severity": f.severity, "status": status, "last_seen": iso_z(now), "window_start": iso_z(start),
            "window_count": count, "total_count": total, "recent": json.dumps(recent),
            "finding_id": f.finding_id,
        })
        gk = group_key(op.cluster_id, f.classification.code)
        ops = [StateOp("upsert", finding_row(f.finding_id), {"finding": packed, "group": gk}),
               StateOp("create", group_row(gk), entity) if g is None
               else StateOp("replace", group_row(gk), entity, etag=g.get(ETAG))]
        window: dict[str, Any] | None = None
        if send:
            fields["card_slot"], take = self._card_window(w, now)
            if take is not None:
                ops.append(take)
                window = dict(take.entity)
        ops.append(StateOp("create", decision_row(key), fields))
        # The timer's escalation entry goes beside the group's creation (a crash leaving only the
        # entry is harmless; a retry or the timer resuming the claim writes it again).
        return _Plan(decision, ops, fields, group=entity, window=window,
                     index_escalation=fresh and str(f.classification.transient) in self.escalate_transient)

    def _committed(self, cpk: str, gk: str, plan: _Plan, answer: Any) -> _Plan | None:
        """The plan if its transaction committed (what it wrote is remembered), else None."""
        if not plan.ops or not tx_committed(answer):
            self._forget(cpk, gk)
            return None
        etags = dict(zip((o.row for o in plan.ops), answer if isinstance(answer, list) else [], strict=False))
        if plan.group is not None and etags.get(group_row(gk)):
            self._remember(self._groups, (cpk, gk), {**plan.group, ETAG: etags[group_row(gk)]})
        if plan.window is not None and etags.get(WINDOW_ROW):
            self._remember(self._windows, cpk, {**plan.window, ETAG: etags[WINDOW_ROW]})
        return plan

    async def _join_group(self, f: Finding, cpk: str, gk: str, key: str, now: datetime,
                          ev: dict[str, Any]) -> Decision:
        """Count the event in its group from fresh reads (the decision row first: a decision an
        earlier run committed is replayed exactly), retried on a conflict. The decision is copied
        into `ev` for the event's next save."""
        packed = str(ev.get("finding") or "") or pack_finding(f)
        for _ in range(8):
            g, w, d = await concurrently(self._get_group(cpk, gk), self._call(self.state.get(cpk, WINDOW_ROW)),
                                         self._call(self.state.get(cpk, decision_row(key))))
            for read in (g, w, d):
                if isinstance(read, BaseException):
                    raise read
            if d is not None and (done := stored_decision(d, now)) is not None:
                ev.update({k: v for k, v in d.items() if k in DECISION_FIELDS})
                return done
            self._remember(self._groups, (cpk, gk), g)
            self._remember(self._windows, cpk, w)
            plan = self._plan(f, key, now, g, w, packed)
            calls: list[Awaitable[Any]] = [self._call(self.state.transact(cpk, plan.ops))] if plan.ops else []
            if plan.index_escalation:
                calls.append(self._due(now + self.escalate_after, "g", cpk, gk))
            steps = await concurrently(*calls)
            for step in steps:
                if isinstance(step, BaseException):
                    raise step
            if not plan.ops or self._committed(cpk, gk, plan, steps[0]) is not None:
                ev.update(plan.fields)
                return plan.decision
        raise StateDown(f"group {gk}: too much contention")

    # What this process last wrote (or read) of groups and card windows, with their etags: the
    # guess the next transaction is planned on. Bounded; a stale entry only costs a failed guess.
    CACHE_MAX = 1024

    def _cached(self, cpk: str, gk: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        return self._groups.get((cpk, gk)), self._windows.get(cpk)

    def _remember(self, cache: OrderedDict[Any, dict[str, Any]], k: Any, entity: dict[str, Any] | None) -> None:
        if entity is None or not entity.get(ETAG):
            cache.pop(k, None)
            return
        cache[k] = entity
        cache.move_to_end(k)
        while len(cache) > self.CACHE_MAX:
            cache.popitem(last=False)

    def _forget(self, cpk: str, gk: str | None = None) -> None:
        if gk is not None:
            self._groups.pop((cpk, gk), None)
        self._windows.pop(cpk, None)

    def _finding_notice(self, kind: NoticeKind, key: str, f: Finding, *, first_seen: datetime, total: int,
                        now: datetime) -> Notice:
        item = NoticeItem(error_code=f.classification.code, finding=f, first_seen=first_seen,
                          occurrences=int(f.occurrence_count), total=total)
        return Notice(kind=kind, notice_id=notice_id(kind, key), at=now, cluster_id=f.operation.cluster_id,
                      cluster_name=f.operation.cluster_name, items=(item,), window_min=self.window_min,
                      event_type=f.operation.event_type)

    async def _notify(self, notice: Notice, *, what: str) -> bool:
        try:
            async with asyncio.timeout(self.call_deadline_s):
                await self.notifier.notify(notice)
        except Exception as err:  # the row still goes out; the timer retries the card
            retry = getattr(err, "retryable", None)
            log.warning("Teams card for %s not sent (%s%s): %s", what, type(err).__name__,
                        "" if retry is None else f", retryable={retry}", str(err)[:300])
            return False
        return True

    async def _write(self, rows: list[dict[str, Any]]) -> None:
        try:
            async with asyncio.timeout(self.call_deadline_s):
                await self.sink.write(rows)
        except TimeoutError as err:
            raise SinkError(f"findings sink: no answer within {self.call_deadline_s:.0f} s") from err

    async def _flag_card_pending(self, cpk: str, gk: str, key: str, now: datetime) -> None:
        def flag(g: dict[str, Any]) -> dict[str, Any]:
            return {**g, "card_pending": True, "pending_event": key}

        try:
            await self._due(now, "g", cpk, gk)
            await self._mutate_group(cpk, gk, flag)
        except StateDown as err:
            log.warning("state store: could not flag the failed card of group %s for retry: %s", gk, err)

    @staticmethod
    def _claimed_finding(ev: dict[str, Any]) -> Finding | None:
        """The finding a claim carries (claims made before the finding moved into them have none)."""
        try:
            return Finding.model_validate_json(str(ev["finding"])) if ev.get("finding") else None
        except ValueError:
            log.warning("event %s: its stored finding is unreadable", str(ev.get("finding_id"))[:40])
            return None

    async def _load_finding(self, cpk: str, finding_id: Any) -> Finding | None:
        if not finding_id:
            return None
        stored = await self._call(self.state.get(cpk, finding_row(str(finding_id))))
        try:
            return Finding.model_validate_json((stored or {}).get("finding") or "")
        except ValueError:
            log.warning("finding %s in %s: missing or unreadable", finding_id, cpk)
            return None

    # --- resolution ------------------------------------------------------------------------

    async def resolve(self, op: FailedOperation) -> ResolveOutcome:
        """A later successful write on the cluster: resolve its open groups, one short notice."""
        now = self.clock.now()
        key = op.idempotency_key
        epk = event_partition(op.event_time)
        try:
            claim, ev = await self._claim_event(epk, key, now, {"kind": "resolve", "op": op.model_dump_json()})
        except StateDown as err:
            log.warning("state store unavailable (%s): cannot tell which findings %s resolves; no notice sent",
                        err, op.cluster_name)
            return ResolveOutcome(detail=f"state store unavailable: {err}")
        if claim in ("done", "busy"):
            return ResolveOutcome(duplicate=True, detail=f"success event {claim}")
        return await self._run_resolve(op, epk, key, ev, now)

    async def _run_resolve(self, op: FailedOperation, epk: str, key: str, ev: dict[str, Any],
                           now: datetime) -> ResolveOutcome:
        try:
            return await self._resolve_claimed(op, epk, key, ev, now)
        except (Exception, asyncio.CancelledError):
            await self._save_event_quietly(epk, key, ev, lease_until="")
            raise

    async def _resolve_claimed(self, op: FailedOperation, epk: str, key: str, ev: dict[str, Any],
                               now: datetime) -> ResolveOutcome:
        cpk = cluster_partition(op.cluster_id)
        try:
            # One cluster's groups (the success event names the cluster): flat in the table's size.
            groups = await self._call(self.state.query_range(cpk, cpk, GROUP_ROW, GROUP_ROW + "~"))
            mine = resolved_by(groups, cluster_id=op.cluster_id, agent_pool=op.agent_pool)
            resolved: list[dict[str, Any]] = []
            for g in mine:
                gk = str(g[RK])[len(GROUP_ROW):]
                if g.get("status") in OPEN:
                    def close(x: dict[str, Any]) -> dict[str, Any] | None:
                        if x.get("status") not in OPEN:
                            return None
                        return {**x, "prev_status": x.get("status"), "status": "resolved", "resolved_at": iso_z(now),
                                "resolved_by": key, "card_pending": False, "notice": ""}

                    await self._due(now + self.resolved_ttl, "g", cpk, gk)  # expiry of the closed group
                    g = (await self._mutate_group(cpk, gk, close))[0] or g
                if g.get("resolved_by") == key:
                    resolved.append(g)
            findings = [await self._load_finding(cpk, g.get("finding_id")) for g in resolved]
        except StateDown as err:
            # Success events are frequent and a resolution notice is not worth a poison queue: log, drop.
            log.warning("state store unavailable (%s): cannot tell which findings %s resolves; no notice sent",
                        err, op.cluster_name)
            await self._save_event_quietly(epk, key, ev, lease_until="")
            return ResolveOutcome(detail=f"state store unavailable: {err}")
        if not resolved:
            await self._save_event_quietly(epk, key, ev, status="done", lease_until="")
            return ResolveOutcome(detail="no open findings for this cluster")
        kept = [(f, g) for f, g in zip(findings, resolved, strict=True) if f is not None]
        card_now = False
        alert_sent = bool(ev.get("card_sent"))
        if not alert_sent and kept:
            notice = Notice(
                kind="resolved", notice_id=notice_id("resolved", key), at=op.event_time, cluster_id=op.cluster_id,
                cluster_name=op.cluster_name, window_min=self.window_min, event_type=op.event_type,
                items=tuple(NoticeItem(error_code=str(g.get("error_code", "")), finding=f,
                                       first_seen=parse_time(g.get("first_seen")) or now,
                                       occurrences=int(g.get("window_count", 1)), total=int(g.get("total_count", 1)),
                                       prev_status=str(g.get("prev_status", "open")))
                            for f, g in kept))
            if await self._notify(notice, what=f"resolution of {op.cluster_name}"):
                alert_sent = card_now = True
                await self._save_event_quietly(epk, key, ev, card_sent=True)
        rows = 0
        if not ev.get("row_written"):
            batch = [finding_to_row(f.model_copy(update={"status": "resolved",
                                                        "occurrence_count": int(g.get("total_count", 1))}),
                                    alert_sent=alert_sent, time_generated=now)
                     for f, g in kept]
            await self._write(batch)  # raises: the caller releases the lease, the queue retries
            rows = len(batch)
        await self._save_event_quietly(epk, key, ev, row_written=True, status="done", lease_until="")
        codes = tuple(str(g.get("error_code", "")) for g in resolved)
        log.info("resolved %s on %s (card %s)", ", ".join(codes), op.cluster_name, card_now)
        return ResolveOutcome(codes, card_sent=card_now, rows_written=rows)

    # --- escalation timer ------------------------------------------------------------------

    async def escalate_due(self, recheck: Recheck | None = None) -> EscalateOutcome:
        """Timer: what the due index names up to now - escalate long-open transient groups once,
        finish interrupted notices, retry failed cards, finish stale claims, expire closed groups -
        then prune events past the dedup window. Reads only what is due, never all groups.

        `recheck(finding) -> still failing?` lets the caller confirm against ARM before escalating;
        a group it reports fixed is resolved quietly (row only). Without it an open group counts as
        still failing (no success event has closed it).
        """
        now = self.clock.now()
        out = EscalateOutcome()
        try:
            due = await self._call(self.state.query_range(P_DUE, P_DUE, "", iso_z(now) + "|~",
                                                          limit=MAX_DUE_PER_RUN))
        except StateDown as err:
            log.error("escalation run skipped: state store unavailable: %s", err)
            out.errors.append(f"state store unavailable: {err}")
            return out
        started = time.monotonic()
        for entry in due:
            if time.monotonic() - started > self.timer_budget_s:
                out.errors.append(f"time budget of {self.timer_budget_s:.0f} s spent; the rest waits for the next run")
                return out
            _at, kind, partition, row = parse_due_row(str(entry[RK]))
            label = f"{kind} {row[:40]}"
            try:
                again: datetime | None = None
                if kind == "e":
                    again = await self._tend_claim(partition, row, now, out)
                    next_row = None if again is None else due_row(again, "e", partition, row)
                elif kind == "g":
                    label, again = await self._tend_group(partition, row, now, recheck, out)
                    next_row = None if again is None else due_row(again, "g", partition, row)
                else:
                    next_row = None
                if again is not None and next_row != entry[RK]:
                    await self._due(again, "e" if kind == "e" else "g", partition, row)
                if next_row != entry[RK]:
                    await self._call(self.state.delete(P_DUE, str(entry[RK]), entry.get(ETAG)))
            except StateDown as err:
                out.errors.append(f"{label}: state store: {err}")
                log.warning("timer: %s: state store: %s", label, err)
            except SinkError as err:
                out.errors.append(f"{label}: sink: {err}")
                log.warning("timer: %s: findings sink failed, next run finishes it: %s", label, err)
            except LeaseHeld:
                continue  # another runner is on it; the entry stays for the next run
            except Exception as err:  # one bad entry must not stop the run; it stays for the next one
                out.errors.append(f"{label}: {type(err).__name__}: {str(err)[:200]}")
                log.exception("timer: %s failed", label)
        try:
            await self._prune(now, out)
        except StateDown as err:
            out.errors.append(f"pruning: state store: {err}")
            log.warning("timer: pruning: state store: %s", err)
        return out

    async def _tend_claim(self, epk: str, key: str, now: datetime, out: EscalateOutcome) -> datetime | None:
        """A claim's lease ran out: finish the event if its worker died -> when to look again (None: done)."""
        ev = await self._call(self.state.get(epk, key))
        if ev is None or ev.get("status") == "done":
            return None
        lease = parse_time(ev.get("lease_until"))
        if lease is not None and lease > now:
            return lease  # someone is working on it (a redelivery resumed it)
        # Take it over under the etag: of the timer runs and redeliveries that try, exactly one wins.
        taken = {**ev, "lease_until": iso_z(now + self.lease)}
        if not await self._replace(epk, key, taken, ev.get(ETAG)):
            return now + self.lease
        taken.pop(ETAG, None)
        if ev.get("kind") == "resolve":
            op = FailedOperation.model_validate_json(str(ev.get("op") or "{}"))
            await self._run_resolve(op, epk, key, taken, now)
        else:
            cpk, fid = str(ev.get("cpk") or ""), ev.get("finding_id")
            f = self._claimed_finding(ev) or await self._load_finding(cpk, fid)
            if f is None:
                await self._save_event(epk, key, taken, status="done", abandoned="finding missing", lease_until="")
                out.errors.append(f"claim {key[:16]}: its finding {fid} is missing; abandoned")
                return None
            await self._run_publish(f, epk, key, str(ev.get("group") or ""), cpk, taken, now)
        out.claims_finished += 1
        log.warning("timer finished event %s, whose worker stopped after claiming it", key[:32])
        return None

    async def _tend_group(self, cpk: str, gk: str, now: datetime, recheck: Recheck | None,
                          out: EscalateOutcome) -> tuple[str, datetime | None]:
        """One group the index names -> (label, when to look again; None: nothing left to do)."""
        g = await self._get_group(cpk, gk)
        if g is None:
            return f"group {gk[:12]}", None
        label = f"{g.get('cluster_name')}/{g.get('error_code')}"
        if g.get("notice"):
            if await self._complete_notice(cpk, gk, g, now):
                out.notices_completed += 1
        else:
            if g.get("card_pending") and g.get("status") in OPEN and await self._retry_card(cpk, gk, g):
                out.cards_retried += 1
            if escalation_due(g, now=now, after=self.escalate_after, transient=self.escalate_transient):
                await self._escalate(cpk, gk, g, now, recheck, out, label)
        g = await self._get_group(cpk, gk)
        if g is None:
            return label, None
        resolved_at = parse_time(g.get("resolved_at"))
        if g.get("status") not in OPEN and resolved_at is not None and now - resolved_at >= self.resolved_ttl \
                and not g.get("notice"):
            if await self._call(self.state.delete(cpk, group_row(gk), g.get(ETAG))):
                await self._call(self.state.delete(cpk, finding_row(str(g.get("finding_id") or ""))))
                w = await self._call(self.state.get(cpk, WINDOW_ROW))
                start = parse_time((w or {}).get("window_start"))
                if w is not None and (start is None or now - start >= self.window):  # a spent card counter
                    await self._call(self.state.delete(cpk, WINDOW_ROW, w.get(ETAG)))
                    self._forget(cpk)
                out.pruned += 1
                return label, None
            return label, now  # changed meanwhile (reopened?): look again next run
        return label, self._next_look(g, now)

    def _next_look(self, g: dict[str, Any], now: datetime) -> datetime | None:
        if g.get("notice") or (g.get("card_pending") and g.get("status") in OPEN):
            return now  # unfinished: the next run tries again
        first = parse_time(g.get("first_seen"))
        if (g.get("status") == "open" and not g.get("escalated_at") and first is not None
                and str(g.get("transient", "")) in self.escalate_transient):
            return max(first + self.escalate_after, now)
        resolved_at = parse_time(g.get("resolved_at"))
        if g.get("status") not in OPEN and resolved_at is not None:
            return resolved_at + self.resolved_ttl
        return None

    async def _escalate(self, cpk: str, gk: str, g: dict[str, Any], now: datetime, recheck: Recheck | None,
                        out: EscalateOutcome, label: str) -> None:
        finding = await self._load_finding(cpk, g.get("finding_id"))
        if recheck is not None and finding is not None and not await recheck(finding):
            kind, status = "quiet_resolve", "resolved"
        else:
            kind, status = "escalation", "escalated"

        def claim(x: dict[str, Any]) -> dict[str, Any] | None:
            if x.get("status") != "open" or x.get("escalated_at") or x.get("notice"):
                return None
            stamp = {"escalated_at": iso_z(now)} if status == "escalated" else {"resolved_at": iso_z(now)}
            return {**x, "status": status, **stamp, "notice": kind, "notice_card": kind == "quiet_resolve",
                    "notice_row": False, "prev_status": x.get("status")}

        claimed, changed = await self._mutate_group(cpk, gk, claim)
        if claimed is None or not changed:
            return  # another timer run (or a resolution) got there first
        await self._complete_notice(cpk, gk, claimed, now)
        (out.escalated if kind == "escalation" else out.resolved).append(label)

    async def _retry_card(self, cpk: str, gk: str, g: dict[str, Any]) -> bool:
        f = await self._load_finding(cpk, g.get("finding_id"))
        if f is None:
            return False
        current = f.model_copy(update={"status": g.get("status", "open"),
                                       "occurrence_count": int(g.get("window_count", 1))})
        total = int(g.get("total_count", 1))
        # The same notice the failed post carried (same id: a sink that got it after all dedupes it).
        notice = self._finding_notice("opened" if total == 1 else "updated", str(g.get("pending_event") or gk),
                                      current, first_seen=parse_time(g.get("first_seen")) or self.clock.now(),
                                      total=total, now=self.clock.now())
        if not await self._notify(notice, what=f"retry of {g.get('cluster_name')}/{g.get('error_code')}"):
            return False
        await self._mutate_group(cpk, gk, lambda x: {**x, "card_pending": False} if x.get("card_pending") else None)
        return True

    async def _complete_notice(self, cpk: str, gk: str, g: dict[str, Any], now: datetime) -> bool:
        """Send the card and write the row of a claimed notice (escalation / quiet resolve); resumable."""
        kind = str(g.get("notice"))
        f = await self._load_finding(cpk, g.get("finding_id"))
        total = int(g.get("total_count", 1))
        alert_sent = bool(g.get("notice_card")) and kind == "escalation"
        if f is None:
            await self._mutate_group(cpk, gk, lambda x: {**x, "notice": ""})
            return False
        if kind == "escalation" and not g.get("notice_card"):
            first = parse_time(g.get("first_seen")) or now
            notice = self._finding_notice(
                "escalated", f"{gk}|{g.get('escalated_at') or ''}",
                f.model_copy(update={"status": "escalated", "occurrence_count": total}),
                first_seen=first, total=total, now=now)
            alert_sent = await self._notify(notice, what=f"escalation of {g.get('cluster_name')}")
            if alert_sent:
                await self._mutate_group(cpk, gk, lambda x: {**x, "notice_card": True})
        if not g.get("notice_row"):
            status = "escalated" if kind == "escalation" else "resolved"
            row = finding_to_row(f.model_copy(update={"status": status, "occurrence_count": total}),
                                 alert_sent=alert_sent, time_generated=now)
            await self._write([row])  # SinkError: the notice stays open; the next run finishes it
            await self._mutate_group(cpk, gk, lambda x: {**x, "notice_row": True})
        done, _ = await self._mutate_group(
            cpk, gk, lambda x: {**x, "notice": ""} if x.get("notice_row") and x.get("notice_card") else None)
        return bool(done is not None and not done.get("notice"))

    # --- expiry ----------------------------------------------------------------------------

    async def _prune(self, now: datetime, out: EscalateOutcome) -> None:
        """Delete events (whole days) past the dedup window, with the findings no group references."""
        last_expired_day = event_partition(now - self.dedup - timedelta(days=1))
        expired = await self._call(self.state.query_range(EVENT_PREFIX, last_expired_day,
                                                          limit=MAX_PRUNED_PER_RUN))
        for ev in expired:
            if ev.get("kind") == "finding" and ev.get("cpk") and ev.get("finding_id"):
                cpk, fid = str(ev["cpk"]), str(ev["finding_id"])
                g = await self._get_group(cpk, str(ev.get("group") or ""))
                if g is None or g.get("finding_id") != fid:
                    await self._call(self.state.delete(cpk, finding_row(fid)))
                await self._call(self.state.delete(cpk, decision_row(str(ev[RK]))))
            await self._call(self.state.delete(str(ev[PK]), str(ev[RK])))
            out.pruned += 1
