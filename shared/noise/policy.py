"""The noise rules as pure functions: which group an event joins, what a new occurrence means
(card or count), when a group is due for escalation, which groups a success event resolves.

Decisions are data (`Decision`); this module does no I/O and imports nothing that does, so every
rule is tested with plain values (tests/sinks/test_noise_policy.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

OPEN = ("open", "escalated")
RECENT_MAX = 50  # event decisions remembered per group (retry idempotency)


def group_key(cluster_id: str, error_code: str) -> str:
    return hashlib.sha256(f"{cluster_id.strip().lower()}|{error_code.strip().lower()}".encode()).hexdigest()[:32]


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Decision:
    send_card: bool
    count: int  # occurrences in the window, including this one
    total: int
    status: str
    first_seen: datetime
    twin_of: str | None = None  # event key of an earlier event with the same FindingId


# What an event's decision is stored as (on the event entity, and in its decision row).
DECISION_FIELDS = ("count", "send_card", "total", "group_status", "first_seen", "card_slot", "twin_of")


def decision_fields(d: Decision) -> dict[str, Any]:
    """The decision as stored values (`card_slot` is added by whoever takes the slot)."""
    return {"count": d.count, "send_card": d.send_card, "total": d.total, "group_status": d.status,
            "first_seen": d.first_seen.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.")
            + f"{d.first_seen.microsecond // 1000:03d}Z"}


def stored_decision(ev: dict[str, Any], now: datetime) -> Decision | None:
    """The decision a previous delivery of this event took and recorded, replayed exactly."""
    if "count" not in ev or "send_card" not in ev:
        return None
    count = int(ev.get("count") or 1)
    return Decision(bool(ev["send_card"]), count, int(ev.get("total") or count),
                    str(ev.get("group_status") or "open"), parse_time(ev.get("first_seen")) or now,
                    twin_of=str(ev["twin_of"]) if ev.get("twin_of") else None)


def occurrence(group: dict[str, Any] | None, recent: list[list[Any]], *, event_key: str, finding_id: str,
               now: datetime, window: timedelta) -> tuple[Decision, datetime]:
    """What one more occurrence means for its group -> (decision, start of the window it counts in).

    A group that is absent or closed starts fresh (card, count 1). An open group posts again when
    its window has passed, else counts. An event already counted replays its decision; a twin
    (same FindingId, another event) is a duplicate.
    """
    for ek, _fid, send, count, status in recent:
        if ek == event_key:  # this event was counted before a crash/retry: same decision
            total = int(group.get("total_count", count)) if group else int(count)
            first = parse_time(group.get("first_seen") if group else None) or now
            return Decision(bool(send), int(count), total, str(status), first), now
    if group is not None and group.get("status") in OPEN:
        for ek, fid, *_ in recent:
            if fid == finding_id:
                return Decision(False, int(group.get("window_count", 1)), int(group.get("total_count", 1)),
                                str(group["status"]), parse_time(group.get("first_seen")) or now,
                                twin_of=str(ek)), now
    if group is None or group.get("status") not in OPEN:
        return Decision(True, 1, 1, "open", now), now
    first = parse_time(group.get("first_seen")) or now
    status = str(group["status"])
    start = parse_time(group.get("window_start"))
    total = int(group.get("total_count", 0)) + 1
    if start is None or now - start >= window:
        return Decision(True, 1, total, status, first), now
    return Decision(False, int(group.get("window_count", 0)) + 1, total, status, first), start


def escalation_due(group: dict[str, Any], *, now: datetime, after: timedelta,
                   transient: tuple[str, ...]) -> bool:
    """An open group of a (maybe) transient error, never escalated, open for `after` or longer."""
    first = parse_time(group.get("first_seen"))
    return (group.get("status") == "open" and not group.get("escalated_at") and first is not None
            and str(group.get("transient", "")) in transient and now - first >= after)


def resolved_by(groups: list[dict[str, Any]], *, cluster_id: str, agent_pool: str | None) -> list[dict[str, Any]]:
    """The groups a successful write on the cluster (or on one of its pools) closes."""
    mine = [g for g in groups if str(g.get("cluster_id", "")).lower() == cluster_id.lower()]
    if agent_pool:  # an agent-pool write fixes that pool's failures, not the cluster's
        mine = [g for g in mine if str(g.get("agent_pool", "")).lower() == agent_pool.lower()]
    return mine
