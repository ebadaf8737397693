"""State mechanics for noise control over the StateStore port: per-event claims with a lease,
etag-guarded read-modify-write of groups, and a deadline on every store call.

A store failure of any kind surfaces as StateDown (the SDK has already retried); a claim that meets
another delivery's live lease answers "busy" for the controller to raise LeaseHeld.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from shared.noise.outcomes import StateDown
from shared.noise.policy import parse_time
from shared.ports import StateStore
from shared.render.rows import iso_z

log = logging.getLogger(__name__)

P_EVENT = "event"
P_GROUP = "group"
ETAG = "_etag"


class ConditionalStateStore(StateStore, Protocol):
    async def replace_if_match(self, partition: str, row: str, entity: dict[str, Any], etag: str) -> bool:
        ...


class StateTable:
    """Claims, leases and etags on one StateStore; `call_deadline_s` bounds every call."""

    def __init__(self, state: StateStore, *, lease_s: float) -> None:
        self.state = state
        self.lease = timedelta(seconds=lease_s)
        # One sink or store call may take a third of the lease: the work is finished (or abandoned
        # and the lease released) before a redelivery can resume it.
        self.call_deadline_s = lease_s / 3

    # --- state helpers ---------------------------------------------------------------------

    async def _call(self, coro: Awaitable[Any]) -> Any:
        try:
            async with asyncio.timeout(self.call_deadline_s):
                return await coro
        except Exception as err:  # any failure of the store, whatever its SDK
            raise StateDown(f"{type(err).__name__}: {str(err)[:300]}") from err

    async def _replace(self, partition: str, row: str, entity: dict[str, Any], etag: str | None) -> bool:
        body = {k: v for k, v in entity.items() if k != ETAG}
        replace = getattr(self.state, "replace_if_match", None)
        if replace is not None and etag:
            return bool(await self._call(replace(partition, row, body, etag)))
        await self._call(self.state.upsert(partition, row, body))
        return True

    async def _claim_event(self, key: str, now: datetime, extra: dict[str, Any]
                           ) -> tuple[Literal["new", "resume", "done", "busy"], dict[str, Any]]:
        entity = {"status": "claimed", "row_written": False, "card_sent": False,
                  "lease_until": iso_z(now + self.lease), "claimed_at": iso_z(now), **extra}
        if await self._call(self.state.create(P_EVENT, key, entity)):
            return "new", entity
        ev = await self._call(self.state.get(P_EVENT, key))
        if ev is None:  # deleted in between: take it
            await self._call(self.state.upsert(P_EVENT, key, entity))
            return "new", entity
        if ev.get("status") == "done":
            return "done", ev
        lease = parse_time(ev.get("lease_until"))
        if lease is not None and lease > now:
            return "busy", ev
        taken = {**ev, "lease_until": iso_z(now + self.lease)}
        if await self._replace(P_EVENT, key, taken, ev.get(ETAG)):
            return "resume", taken
        return "busy", ev

    async def _save_event(self, key: str, ev: dict[str, Any], **changes: Any) -> None:
        ev.update(changes)
        await self._call(self.state.upsert(P_EVENT, key, {k: v for k, v in ev.items() if k != ETAG}))

    async def _save_event_quietly(self, key: str, ev: dict[str, Any], **changes: Any) -> None:
        try:
            await self._save_event(key, ev, **changes)
        except StateDown as err:
            log.warning("state store: could not record event %s step %s: %s", key, changes, err)

    async def _mutate_group(self, gk: str, mutate: Callable[[dict[str, Any]], dict[str, Any] | None],
                            attempts: int = 8) -> tuple[dict[str, Any] | None, bool]:
        """Read-modify-write of one group under its etag -> (entity now, changed by this call).

        `mutate` returns None for "no change"; it is re-applied to a fresh read after a conflict.
        """
        for _ in range(attempts):
            g = await self._call(self.state.get(P_GROUP, gk))
            if g is None:
                return None, False
            new = mutate(dict(g))
            if new is None:
                return g, False
            if await self._replace(P_GROUP, gk, new, g.get(ETAG)):
                return new, True
        raise StateDown(f"group {gk}: too much contention")
