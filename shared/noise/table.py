"""State mechanics for noise control over the StateStore port: the table layout, per-event claims
with a lease, etag-guarded read-modify-write of groups, the due index, and a deadline on every call.

Layout (one table; every read names its partition, so no call reads the whole table):

  partition            row                      what
  e-<YYYYMMDD>         <idempotency key>        an event's claim, lease, steps and stored decision; the
                                                day is the event's own time, so redeliveries find it and
                                                a whole day is pruned after the dedup window
  c-<cluster key>      g|<group key>            a (cluster, error code) group: status, window, counts, and
                                                the id of its latest finding (a reference, not a copy)
  c-<cluster key>      f|<finding id>           a finding, packed once (30K characters at most)
  c-<cluster key>      w|cards                  the cluster's finding cards in the current window (cap)
  c-<cluster key>      d|<idempotency key>      an event's decision (count, card or not, its card slot),
                                                created (once) in the transaction that counts the event
                                                in its group: the first decision is the only one
  due                  <ISO time>|<kind>|...    the timer's index: what to look at, when. Kinds:
                                                `e` an event claim to finish if its worker died,
                                                `g` a group (escalation, a card to retry, an interrupted
                                                notice, expiry of a closed group)

A new finding's group, finding, card window and decision rows share the cluster's partition and
are written in one entity-group transaction (`StateStore.transact`): one round trip, all or none.
Independent calls in other partitions (the claim, the due index) run beside it (`concurrently`).

A success event names its cluster, so resolution reads one cluster partition (its groups only);
the timer reads the due index up to now, never the groups themselves. A store failure of any kind
surfaces as StateDown (the SDK has already retried); a claim that meets another delivery's live
lease answers "busy" for the controller to raise LeaseHeld.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from shared.noise.outcomes import StateDown
from shared.noise.policy import parse_time
from shared.ports import StateStore
from shared.render.rows import iso_z

log = logging.getLogger(__name__)

ETAG = "_etag"
PK = "_pk"  # the keys of an entity returned by query_range
RK = "_rk"
P_DUE = "due"
EVENT_PREFIX = "e-"
CLUSTER_PREFIX = "c-"
GROUP_ROW = "g|"
FINDING_ROW = "f|"
DECISION_ROW = "d|"
WINDOW_ROW = "w|cards"  # the cluster's card counter for the current window
# The due index is read at most this many entries per timer run (the rest waits for the next run).
MAX_DUE_PER_RUN = 500
MAX_PRUNED_PER_RUN = 2000


def cluster_key(cluster_id: str) -> str:
    return hashlib.sha256(cluster_id.strip().lower().encode()).hexdigest()[:24]


def cluster_partition(cluster_id: str) -> str:
    return CLUSTER_PREFIX + cluster_key(cluster_id)


def event_partition(event_time: datetime) -> str:
    return EVENT_PREFIX + event_time.strftime("%Y%m%d")


def group_row(gk: str) -> str:
    return GROUP_ROW + gk


def finding_row(finding_id: str) -> str:
    return FINDING_ROW + finding_id


def decision_row(event_key: str) -> str:
    return DECISION_ROW + event_key


async def concurrently(*calls: Awaitable[Any]) -> list[Any]:
    """Await independent calls at once (their latency is one round trip, not their sum) -> each
    one's result, or the Exception it raised, in order.

    Every call runs to its end: a failing call never cuts another short mid-flight (a post cut
    half-way is one whose outcome nobody knows). Anything else than an Exception a call raises
    (a worker being killed) propagates once all have ended; cancelling this call cancels them all.
    """
    tasks = [asyncio.ensure_future(c) for c in calls]
    try:
        if tasks:
            await asyncio.wait(tasks)
    finally:
        left = [t for t in tasks if not t.done()]
        for t in left:
            t.cancel()
        if left:
            await asyncio.gather(*left, return_exceptions=True)
    for t in tasks:
        if t.cancelled():
            raise asyncio.CancelledError
        err = t.exception()
        if err is not None and not isinstance(err, Exception):
            raise err
    return [t.exception() or t.result() for t in tasks]


def due_row(at: datetime, kind: Literal["e", "g"], partition: str, row: str) -> str:
    # iso_z sorts as text in time order; "|" (0x7C) sorts after every character of the time.
    return f"{iso_z(at)}|{kind}|{partition}|{row}"


def parse_due_row(row: str) -> tuple[datetime | None, str, str, str]:
    at, kind, partition, key = [*row.split("|", 3), "", "", ""][:4]
    return parse_time(at), kind, partition, key


class StateTable:
    """Claims, leases and etags on one StateStore; `call_deadline_s` bounds every call."""

    def __init__(self, state: StateStore, *, lease_s: float, sole_writer: bool = False) -> None:
        missing = [m for m in ("replace_if_match", "query_range", "delete", "transact") if not hasattr(state, m)]
        if missing:  # a store written against an older port
            raise TypeError(f"{type(state).__name__} lacks {', '.join(missing)}: noise control needs the "
                            "whole StateStore port (shared.ports)")
        self.state = state
        self.lease = timedelta(seconds=lease_s)
        # The caller guarantees no other live process writes this store (a local run holding its
        # home's lock): a lease it finds was left by a run that died, and is taken over at once.
        self.sole_writer = sole_writer
        # One sink or store call may take a third of the lease: the work is finished (or abandoned
        # and the lease released) before a redelivery can resume it.
        self.call_deadline_s = lease_s / 3

    def _forget(self, cpk: str, gk: str | None = None) -> None:
        """Drop what a subclass remembers of this group (and the cluster's card window)."""

    # --- state helpers ---------------------------------------------------------------------

    async def _call(self, coro: Awaitable[Any]) -> Any:
        try:
            async with asyncio.timeout(self.call_deadline_s):
                return await coro
        except Exception as err:  # any failure of the store, whatever its SDK
            raise StateDown(f"{type(err).__name__}: {str(err)[:300]}") from err

    async def _replace(self, partition: str, row: str, entity: dict[str, Any], etag: str | None) -> bool:
        body = {k: v for k, v in entity.items() if k not in (ETAG, PK, RK)}
        if etag:
            return bool(await self._call(self.state.replace_if_match(partition, row, body, etag)))
        await self._call(self.state.upsert(partition, row, body))
        return True

    async def _claim_event(self, pk: str, key: str, now: datetime, extra: dict[str, Any]
                           ) -> tuple[Literal["new", "resume", "done", "busy"], dict[str, Any]]:
        entity = {"status": "claimed", "row_written": False, "card_sent": False,
                  "lease_until": iso_z(now + self.lease), "claimed_at": iso_z(now), **extra}
        # The timer finishes the claim if no delivery does (a worker killed for good, a CLI run never
        # repeated): one index entry, looked at once the lease has run out. Written beside the claim
        # (one round trip); for a claim that turns out taken it is a look the timer finds nothing for.
        created, indexed = await concurrently(self._call(self.state.create(pk, key, entity)),
                                              self._due(now + self.lease, "e", pk, key))
        for step in (created, indexed):
            if isinstance(step, BaseException):
                raise step
        if created:
            return "new", entity
        ev = await self._call(self.state.get(pk, key))
        if ev is None:  # deleted in between: take it
            await self._call(self.state.upsert(pk, key, entity))
            await self._due(now + self.lease, "e", pk, key)
            return "new", entity
        if ev.get("status") == "done":
            return "done", ev
        lease = parse_time(ev.get("lease_until"))
        if lease is not None and lease > now and not self.sole_writer:
            return "busy", ev
        taken = {**ev, "lease_until": iso_z(now + self.lease)}
        if await self._replace(pk, key, taken, ev.get(ETAG)):
            return "resume", taken
        return "busy", ev

    async def _save_event(self, pk: str, key: str, ev: dict[str, Any], **changes: Any) -> None:
        ev.update(changes)
        await self._call(self.state.upsert(pk, key, {k: v for k, v in ev.items() if k != ETAG}))

    async def _save_event_quietly(self, pk: str, key: str, ev: dict[str, Any], **changes: Any) -> None:
        try:
            await self._save_event(pk, key, ev, **changes)
        except StateDown as err:
            log.warning("state store: could not record event %s step %s: %s", key, changes, err)

    async def _due(self, at: datetime, kind: Literal["e", "g"], partition: str, row: str) -> None:
        await self._call(self.state.upsert(P_DUE, due_row(at, kind, partition, row), {"at": iso_z(at)}))

    async def _due_quietly(self, at: datetime, kind: Literal["e", "g"], partition: str, row: str) -> None:
        try:
            await self._due(at, kind, partition, row)
        except StateDown as err:
            log.warning("state store: could not index %s %s for the timer: %s", partition, row, err)

    async def _get_group(self, cpk: str, gk: str) -> dict[str, Any] | None:
        return await self._call(self.state.get(cpk, group_row(gk)))  # type: ignore[no-any-return]

    async def _mutate_group(self, cpk: str, gk: str, mutate: Callable[[dict[str, Any]], dict[str, Any] | None],
                            attempts: int = 8) -> tuple[dict[str, Any] | None, bool]:
        """Read-modify-write of one group under its etag -> (entity now, changed by this call).

        `mutate` returns None for "no change"; it is re-applied to a fresh read after a conflict.
        """
        self._forget(cpk, gk)
        for _ in range(attempts):
            g = await self._get_group(cpk, gk)
            if g is None:
                return None, False
            new = mutate(dict(g))
            if new is None:
                return g, False
            if await self._replace(cpk, group_row(gk), new, g.get(ETAG)):
                return new, True
        raise StateDown(f"group {gk}: too much contention")
