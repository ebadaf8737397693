"""Test doubles for the sinks suite: a settable clock and recording sink/notifier that can fail."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.notify.cards import teams_message
from shared.notify.notice import Notice
from shared.ports import SinkError
from tests.factories import T0


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self.moment = start

    def now(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


class RecordingSink:
    """FindingsSink keeping rows; `fail_next` makes the next N writes raise SinkError."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.fail_next = 0

    async def write(self, rows: Sequence[dict[str, Any]]) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise SinkError("injected sink failure", retryable=True)
        self.rows.extend(rows)


class RecordingNotifier:
    """Keeps each notice and the Teams card the Teams sink would render for it."""

    def __init__(self) -> None:
        self.notices: list[Notice] = []
        self.cards: list[dict[str, Any]] = []
        self.fail_next = 0

    name = "recording"

    async def notify(self, notice: Notice) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise SinkError("injected Teams failure", retryable=True)
        self.notices.append(notice)
        self.cards.append(teams_message(notice))

    def headlines(self) -> list[str]:
        return [c["attachments"][0]["content"]["body"][0]["items"][0]["text"] for c in self.cards]


@dataclass(frozen=True)
class NoiseTestSettings:
    group_window_min: int = 60
    escalate_after_h: float = 24.0
    workbook_url: str | None = "https://portal.azure.com/#blade/AppInsightsExtension/WorkbookViewerBlade/id/wb"
    extra: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()
