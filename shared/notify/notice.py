"""Notices: what noise control tells the notifiers, sink-agnostic.

A notice is one of four things that happened to a finding group (opened, updated in a new window,
escalated, resolved) plus the findings it concerns. Each sink renders it its own way (the Teams
sink builds cards, the file sink card files, the log sink lines, the Event Grid sink CloudEvents),
so adding a sink changes no noise-control code. `notice_id` is stable for the same notice across
redeliveries and retries: sinks use it as their idempotency key (the CloudEvents `id`).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.models import Finding

NoticeKind = Literal["opened", "updated", "escalated", "resolved"]


class NoticeItem(BaseModel):
    """One finding group a notice concerns; `finding` is None when its stored copy is unreadable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    error_code: str
    finding: Finding | None
    first_seen: datetime
    occurrences: int  # in the current window
    total: int  # since the group opened
    prev_status: str = "open"  # for a resolution: what the group was before


class Notice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: NoticeKind
    notice_id: str
    at: datetime
    cluster_id: str
    cluster_name: str
    items: tuple[NoticeItem, ...]
    window_min: int
    event_type: str = ""  # the event that caused it (a resolution's success event type)

    @property
    def finding(self) -> Finding | None:
        return self.items[0].finding if self.items else None


def notice_id(kind: NoticeKind, key: str) -> str:
    """Stable id of the notice `kind` caused by `key` (an event key, or a group key and stamp)."""
    return hashlib.sha256(f"{kind}|{key}".encode()).hexdigest()[:32]
