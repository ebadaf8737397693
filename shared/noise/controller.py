"""The noise controller between the pipeline and the sinks: dedup, grouping, escalation, resolution.

Owns the publishing rules (FindingWriter.publish, resolve, escalate_due):
- Idempotency: each event is claimed in the state store under `operation.idempotency_key`
  (insert-if-absent). A completed event is a no-op, so a redelivered event gives one row and one
  card. Twin events of one failure (same FindingId, e.g. the cluster and agent-pool events of one
  correlation id) collapse to the first.
- Crash safety: the event entity records its steps (`card_sent`, `row_written`) and holds a short
  lease. A retry of the same work item after a crash or a sink failure redoes only the missing
  steps; a concurrent duplicate delivery, while the lease is held, backs off.
- Grouping: (cluster id, error code) is a group. The first finding of a window (default 60 min,
  started by the card) posts a card; later ones in the window update the count (their rows are
  still written, OccurrenceCount = the count in the window, AlertSent = false). The group's
  decision for an event is stored with the group, so a retry never counts an event twice.
- Escalation (timer): an open group of a transient (or maybe-transient) error that is still open
  after `escalate_after_h` (default 24 h) is escalated once: one escalation card, one row with
  Status=escalated. The timer also finishes notices a crash interrupted and re-sends cards that
  failed to post.
- Resolution: a later ResourceWriteSuccess for the cluster resolves its open groups: one short
  resolved card per success event and one row with Status=resolved per group.
- Leases and redelivery: the lease (default 25 s) is shorter than the queue's redelivery interval
  (host.json visibilityTimeout, 30 s), so the host's retry after a crash finds it expired and
  resumes. A delivery that meets a live lease raises LeaseHeld: the message returns later (and
  goes to poison at its last dequeue) instead of being completed as success. Every sink and store
  call has a deadline, and the whole publish one below the lease, so a slow sink cannot outlive it.
- Replay: the decision (card or not, count, status) is stored on the event entity when taken; a
  retry replays it exactly, however many events joined the group meanwhile.
- State store down: publish raises StateDown and the queue retries the work item later (the SDK
  has already retried); nothing is sent ungrouped, so an outage cannot flood the channel.
- Sink failures: a FindingsSink error is raised (the queue retries the work item; the step flags
  make the retry write only what is missing). A Notifier error is logged, the row says
  AlertSent=false, the group is marked `card_pending` for the timer to retry; never raised.
Group updates use optimistic concurrency (etag) when the store offers `replace_if_match`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from shared.azure.tables import pack_finding
from shared.models import FailedOperation, Finding
from shared.noise.outcomes import EscalateOutcome, LeaseHeld, PublishOutcome, ResolveOutcome, StateDown
from shared.noise.policy import (
    OPEN,
    RECENT_MAX,
    Decision,
    escalation_due,
    group_key,
    occurrence,
    parse_time,
    resolved_by,
    stored_decision,
)
from shared.noise.table import ETAG, P_GROUP, StateTable
from shared.notify.notice import Notice, NoticeItem, NoticeKind, notice_id
from shared.ports import Clock, FindingsSink, Notifier, SinkError, StateStore
from shared.render.rows import finding_to_row, iso_z

log = logging.getLogger(__name__)



class NoiseSettings(Protocol):
    """The part of shared.settings.Settings noise control reads (read-only, so frozen models fit)."""

    @property
    def group_window_min(self) -> int: ...

    @property
    def escalate_after_h(self) -> float: ...


Recheck = Callable[[Finding], Awaitable[bool]]


class NoiseControl(StateTable):
    """The publisher: noise rules (shared.noise.policy) applied over the state table in front of
    the sinks. One per process; safe for concurrent use."""

    def __init__(self, state: StateStore, sink: FindingsSink, notifier: Notifier, clock: Clock,
                 settings: NoiseSettings, *, lease_s: float = 25.0,
                 escalate_transient: tuple[str, ...] = ("true", "depends")) -> None:
        super().__init__(state, lease_s=lease_s)
        self.sink = sink
        self.notifier = notifier
        self.clock = clock
        self.window = timedelta(minutes=settings.group_window_min)
        self.window_min = int(settings.group_window_min)
        self.escalate_after = timedelta(hours=settings.escalate_after_h)
        # The whole publish may take 80% of the lease (each call a third of it, see StateTable).
        self.publish_deadline_s = lease_s * 0.8
        self.escalate_transient = escalate_transient

    # --- publish ---------------------------------------------------------------------------

    async def publish(self, finding: Finding) -> PublishOutcome:
        """Publish one finding and say what happened. Raises StateDown / LeaseHeld / SinkError for
        the queue to retry the work item later."""
        return await self.publish_detailed(finding)

    async def publish_detailed(self, f: Finding) -> PublishOutcome:
        now = self.clock.now()
        key = f.operation.idempotency_key
        gk = group_key(f.operation.cluster_id, f.classification.code)
        claim, ev = await self._claim_event(key, now, {"kind": "finding", "group": gk, "finding_id": f.finding_id})
        if claim == "done":
            return PublishOutcome("duplicate", f.finding_id, gk, int(ev.get("count", 0) or 0),
                                  detail="event already published")
        if claim == "busy":
            raise LeaseHeld(key, parse_time(ev.get("lease_until")) or now + self.lease)
        try:
            async with asyncio.timeout(self.publish_deadline_s):
                return await self._publish_claimed(f, key, gk, ev, now)
        except TimeoutError as err:
            await self._save_event_quietly(key, ev, lease_until="")
            raise StateDown(f"publish of {f.finding_id} exceeded {self.publish_deadline_s:.0f} s") from err
        except (Exception, asyncio.CancelledError):
            # Whatever failed, the queue's retry of this work item must be able to resume at once
            # (a kept lease would make it look like a concurrent duplicate and be dropped).
            await self._save_event_quietly(key, ev, lease_until="")
            raise

    async def _publish_claimed(self, f: Finding, key: str, gk: str, ev: dict[str, Any],
                               now: datetime) -> PublishOutcome:
        decision = stored_decision(ev, now)
        if decision is None:  # StateDown propagates: the queue retries, nothing goes out ungrouped
            decision = await self._join_group(f, gk, key, now)
            if decision.twin_of is not None:
                await self._save_event(key, ev, status="done", twin_of=decision.twin_of)
                return PublishOutcome("duplicate", f.finding_id, gk, decision.count,
                                      detail=f"same finding as event {decision.twin_of}")
            await self._save_event(key, ev, count=decision.count, send_card=decision.send_card,
                                   total=decision.total, group_status=decision.status,
                                   first_seen=iso_z(decision.first_seen))

        current = f.model_copy(update={"status": decision.status, "occurrence_count": decision.count})
        card_now = alert_failed = False
        alert_sent = bool(ev.get("card_sent"))
        if decision.send_card and not alert_sent:
            notice = self._finding_notice("opened" if decision.total == 1 else "updated", key, current,
                                          first_seen=decision.first_seen, total=decision.total, now=now)
            if await self._notify(notice, what=f"finding {f.finding_id}"):
                alert_sent = card_now = True
                await self._save_event_quietly(key, ev, card_sent=True)
            else:
                alert_failed = True
                await self._flag_card_pending(gk, key)
        row_now = False
        if not ev.get("row_written"):
            row = finding_to_row(current, alert_sent=alert_sent and decision.send_card, time_generated=now)
            await self._write([row])  # raises: the caller releases the lease, the queue retries
            row_now = True
        await self._save_event_quietly(key, ev, row_written=True, status="done", lease_until="")
        outcome = PublishOutcome("new" if decision.send_card else "grouped", f.finding_id, gk, decision.count,
                                 row_written=row_now, card_sent=card_now, alert_failed=alert_failed)
        log.info("published %s: %s, count %d, row %s, card %s", f.finding_id, outcome.action, decision.count,
                 row_now, card_now)
        return outcome

    async def _join_group(self, f: Finding, gk: str, key: str, now: datetime) -> Decision:
        op = f.operation
        for _ in range(8):
            g = await self._call(self.state.get(P_GROUP, gk))
            recent: list[list[Any]] = json.loads(g.get("recent") or "[]") if g else []
            decision, start = occurrence(g, recent, event_key=key, finding_id=f.finding_id, now=now,
                                         window=self.window)
            if decision.twin_of is not None or any(ek == key for ek, *_ in recent):
                return decision
            fresh = g is None or g.get("status") not in OPEN
            send, count, total, status = decision.send_card, decision.count, decision.total, decision.status
            if fresh:
                recent = []
            recent = [*recent, [key, f.finding_id, send, count, status]][-RECENT_MAX:]
            entity: dict[str, Any] = {} if fresh or g is None else {k: v for k, v in g.items() if k != ETAG}
            if fresh:
                entity = {"first_seen": iso_z(now), "escalated_at": "", "resolved_at": "", "resolved_by": "",
                          "card_pending": False, "notice": ""}
            entity.update({
                "cluster_id": op.cluster_id, "cluster_name": op.cluster_name, "agent_pool": op.agent_pool or "",
                "error_code": f.classification.code, "transient": f.classification.transient,
                "severity": f.severity, "status": status, "last_seen": iso_z(now), "window_start": iso_z(start),
                "window_count": count, "total_count": total, "recent": json.dumps(recent),
                "finding": pack_finding(f),
            })
            if g is None:
                ok = await self._call(self.state.create(P_GROUP, gk, entity))
            else:
                ok = await self._replace(P_GROUP, gk, entity, g.get(ETAG))
            if ok:
                return decision
        raise StateDown(f"group {gk}: too much contention")

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

    async def _flag_card_pending(self, gk: str, key: str) -> None:
        def flag(g: dict[str, Any]) -> dict[str, Any]:
            return {**g, "card_pending": True, "pending_event": key}

        try:
            await self._mutate_group(gk, flag)
        except StateDown as err:
            log.warning("state store: could not flag the failed card of group %s for retry: %s", gk, err)

    # --- resolution ------------------------------------------------------------------------

    async def resolve(self, op: FailedOperation) -> ResolveOutcome:
        """A later successful write on the cluster: resolve its open groups, one short notice."""
        now = self.clock.now()
        key = op.idempotency_key
        try:
            claim, ev = await self._claim_event(key, now, {"kind": "resolve", "cluster": op.cluster_id[:512]})
        except StateDown as err:
            log.warning("state store unavailable (%s): cannot tell which findings %s resolves; no notice sent",
                        err, op.cluster_name)
            return ResolveOutcome(detail=f"state store unavailable: {err}")
        if claim in ("done", "busy"):
            return ResolveOutcome(duplicate=True, detail=f"success event {claim}")
        try:
            return await self._resolve_claimed(op, key, ev, now)
        except (Exception, asyncio.CancelledError):
            await self._save_event_quietly(key, ev, lease_until="")
            raise

    async def _resolve_claimed(self, op: FailedOperation, key: str, ev: dict[str, Any],
                               now: datetime) -> ResolveOutcome:
        try:
            groups = await self._call(self.state.query(P_GROUP))
            mine = resolved_by(groups, cluster_id=op.cluster_id, agent_pool=op.agent_pool)
            resolved: list[dict[str, Any]] = []
            for g in mine:
                if g.get("status") in OPEN:
                    def close(x: dict[str, Any]) -> dict[str, Any] | None:
                        if x.get("status") not in OPEN:
                            return None
                        return {**x, "prev_status": x.get("status"), "status": "resolved", "resolved_at": iso_z(now),
                                "resolved_by": key, "card_pending": False, "notice": ""}

                    g = (await self._mutate_group(self._gk(g), close))[0] or g
                if g.get("resolved_by") == key:
                    resolved.append(g)
        except StateDown as err:
            # Success events are frequent and a resolution notice is not worth a poison queue: log, drop.
            log.warning("state store unavailable (%s): cannot tell which findings %s resolves; no notice sent",
                        err, op.cluster_name)
            await self._save_event_quietly(key, ev, lease_until="")
            return ResolveOutcome(detail=f"state store unavailable: {err}")
        if not resolved:
            await self._save_event_quietly(key, ev, status="done", lease_until="")
            return ResolveOutcome(detail="no open findings for this cluster")
        findings = [self._unpack(g) for g in resolved]
        card_now = False
        alert_sent = bool(ev.get("card_sent"))
        if not alert_sent:
            notice = Notice(
                kind="resolved", notice_id=notice_id("resolved", key), at=op.event_time, cluster_id=op.cluster_id,
                cluster_name=op.cluster_name, window_min=self.window_min, event_type=op.event_type,
                items=tuple(NoticeItem(error_code=str(g.get("error_code", "")), finding=f,
                                       first_seen=parse_time(g.get("first_seen")) or now,
                                       occurrences=int(g.get("window_count", 1)), total=int(g.get("total_count", 1)),
                                       prev_status=str(g.get("prev_status", "open")))
                            for f, g in zip(findings, resolved, strict=True)))
            if await self._notify(notice, what=f"resolution of {op.cluster_name}"):
                alert_sent = card_now = True
                await self._save_event_quietly(key, ev, card_sent=True)
        rows = 0
        if not ev.get("row_written"):
            batch = [finding_to_row(f.model_copy(update={"status": "resolved",
                                                        "occurrence_count": int(g.get("total_count", 1))}),
                                    alert_sent=alert_sent, time_generated=now)
                     for f, g in zip(findings, resolved, strict=True) if f is not None]
            await self._write(batch)  # raises: the caller releases the lease, the queue retries
            rows = len(batch)
        await self._save_event_quietly(key, ev, row_written=True, status="done", lease_until="")
        codes = tuple(str(g.get("error_code", "")) for g in resolved)
        log.info("resolved %s on %s (card %s)", ", ".join(codes), op.cluster_name, card_now)
        return ResolveOutcome(codes, card_sent=card_now, rows_written=rows)

    @staticmethod
    def _gk(g: dict[str, Any]) -> str:
        return group_key(str(g.get("cluster_id", "")), str(g.get("error_code", "")))

    @staticmethod
    def _unpack(g: dict[str, Any]) -> Finding | None:
        try:
            return Finding.model_validate_json(g.get("finding") or "")
        except ValueError:
            log.warning("group %s/%s: stored finding unreadable", g.get("cluster_name"), g.get("error_code"))
            return None

    # --- escalation timer ------------------------------------------------------------------

    async def escalate_due(self, recheck: Recheck | None = None) -> EscalateOutcome:
        """Timer: escalate long-open transient groups once; finish interrupted notices; retry failed cards.

        `recheck(finding) -> still failing?` lets the caller confirm against ARM before escalating;
        a group it reports fixed is resolved quietly (row only). Without it an open group counts as
        still failing (no success event has closed it).
        """
        now = self.clock.now()
        out = EscalateOutcome()
        try:
            groups = await self._call(self.state.query(P_GROUP))
        except StateDown as err:
            log.error("escalation run skipped: state store unavailable: %s", err)
            out.errors.append(f"state store unavailable: {err}")
            return out
        for g in groups:
            gk = self._gk(g)
            label = f"{g.get('cluster_name')}/{g.get('error_code')}"
            try:
                if g.get("notice"):
                    if await self._complete_notice(gk, g, now):
                        out.notices_completed += 1
                    continue
                if g.get("card_pending") and g.get("status") in OPEN and await self._retry_card(gk, g):
                    out.cards_retried += 1
                if not escalation_due(g, now=now, after=self.escalate_after, transient=self.escalate_transient):
                    continue
                finding = self._unpack(g)
                if recheck is not None and finding is not None and not await recheck(finding):
                    kind, status = "quiet_resolve", "resolved"
                else:
                    kind, status = "escalation", "escalated"

                def claim(x: dict[str, Any], kind: str = kind, status: str = status) -> dict[str, Any] | None:
                    if x.get("status") != "open" or x.get("escalated_at") or x.get("notice"):
                        return None
                    stamp = {"escalated_at": iso_z(now)} if status == "escalated" else {"resolved_at": iso_z(now)}
                    return {**x, "status": status, **stamp, "notice": kind, "notice_card": kind == "quiet_resolve",
                            "notice_row": False, "prev_status": x.get("status")}

                claimed, changed = await self._mutate_group(gk, claim)
                if claimed is None or not changed:
                    continue  # another timer run (or a resolution) got there first
                await self._complete_notice(gk, claimed, now)
                (out.escalated if kind == "escalation" else out.resolved).append(label)
            except StateDown as err:
                out.errors.append(f"{label}: state store: {err}")
                log.warning("escalation of %s: state store: %s", label, err)
            except SinkError as err:
                out.errors.append(f"{label}: sink: {err}")
                log.warning("escalation of %s: findings sink failed, next run finishes it: %s", label, err)
        return out

    async def _retry_card(self, gk: str, g: dict[str, Any]) -> bool:
        f = self._unpack(g)
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
        await self._mutate_group(gk, lambda x: {**x, "card_pending": False} if x.get("card_pending") else None)
        return True

    async def _complete_notice(self, gk: str, g: dict[str, Any], now: datetime) -> bool:
        """Send the card and write the row of a claimed notice (escalation / quiet resolve); resumable."""
        kind = str(g.get("notice"))
        f = self._unpack(g)
        total = int(g.get("total_count", 1))
        alert_sent = bool(g.get("notice_card")) and kind == "escalation"
        if f is None:
            await self._mutate_group(gk, lambda x: {**x, "notice": ""})
            return False
        if kind == "escalation" and not g.get("notice_card"):
            first = parse_time(g.get("first_seen")) or now
            notice = self._finding_notice(
                "escalated", f"{gk}|{g.get('escalated_at') or ''}",
                f.model_copy(update={"status": "escalated", "occurrence_count": total}),
                first_seen=first, total=total, now=now)
            alert_sent = await self._notify(notice, what=f"escalation of {g.get('cluster_name')}")
            if alert_sent:
                await self._mutate_group(gk, lambda x: {**x, "notice_card": True})
        if not g.get("notice_row"):
            status = "escalated" if kind == "escalation" else "resolved"
            row = finding_to_row(f.model_copy(update={"status": status, "occurrence_count": total}),
                                 alert_sent=alert_sent, time_generated=now)
            await self._write([row])  # SinkError: the notice stays open; the next run finishes it
            await self._mutate_group(gk, lambda x: {**x, "notice_row": True})
        done, _ = await self._mutate_group(
            gk, lambda x: {**x, "notice": ""} if x.get("notice_row") and x.get("notice_card") else None)
        return bool(done is not None and not done.get("notice"))
