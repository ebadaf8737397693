"""The monitor-health alert matches what the app really logs when it dead-letters a work item."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from shared import handlers
from tests.infra.conftest import INFRA

HEALTH_QUERY = INFRA / "queries" / "monitor-health.kql"


class _RecordingQueue:
    """Stands in for the poison queue (an Azure Storage queue in production): keeps what it got."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def enqueue(self, message: dict[str, Any], **_: Any) -> None:
        self.messages.append(message)


class _Deps:
    def __init__(self) -> None:
        self.dead_letters = _RecordingQueue()


def test_query_matches_the_stable_event_name():
    text = HEALTH_QUERY.read_text()
    (name,) = re.findall(r'let deadLetterEvent = "([^"]+)";', text)
    assert name == handlers.DEAD_LETTER_EVENT
    assert "MaxDequeueCount" not in text.split("let appInsightsId")[1], "the host's poison trace never fires"


def test_dead_lettering_logs_one_structured_trace_starting_with_the_name(caplog):
    deps = _Deps()
    with caplog.at_level(logging.ERROR, logger=handlers.__name__):
        asyncio.run(handlers._dead_letter_work_item(deps, b"{not json", "unreadable work item"))  # type: ignore[arg-type]
    (record,) = [r for r in caplog.records if getattr(r, "event", None) == handlers.DEAD_LETTER_EVENT]
    assert record.getMessage().startswith(handlers.DEAD_LETTER_EVENT)
    assert record.dead_letter_reason == "unreadable work item"  # type: ignore[attr-defined]
    assert deps.dead_letters.messages == [{"reason": "unreadable work item", "payload": "{not json"}]
