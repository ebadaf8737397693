"""What noise control reports: per-call outcomes and the two reasons to retry a work item later.

Plain data, no I/O: the pipeline and the handlers import these without loading noise control.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from shared.render.rows import iso_z


class StateDown(Exception):
    """The state store failed; the cause is chained. Retry the work item later."""


class LeaseHeld(Exception):
    """Another delivery of this event holds its lease until `until`: retry later, never complete."""

    def __init__(self, key: str, until: datetime) -> None:
        super().__init__(f"another run holds event {key[:64]} until {iso_z(until)}")
        self.key = key
        self.until = until


@dataclass(frozen=True)
class PublishOutcome:
    action: Literal["new", "grouped", "duplicate", "in_progress", "fallback"]
    finding_id: str
    group_key: str
    occurrence_count: int = 0
    row_written: bool = False  # by this call
    card_sent: bool = False  # by this call
    alert_failed: bool = False
    detail: str = ""


@dataclass(frozen=True)
class ResolveOutcome:
    resolved: tuple[str, ...] = ()  # error codes of the groups this event resolved
    card_sent: bool = False
    rows_written: int = 0
    duplicate: bool = False
    detail: str = ""


@dataclass
class EscalateOutcome:
    escalated: list[str] = field(default_factory=list)  # "<cluster name>/<error code>"
    resolved: list[str] = field(default_factory=list)  # closed because the recheck says fixed
    cards_retried: int = 0
    notices_completed: int = 0
    claims_finished: int = 0  # events whose worker died after claiming them, finished by the timer
    pruned: int = 0  # expired events and closed groups deleted
    errors: list[str] = field(default_factory=list)
