"""Glue between Functions binding objects and the pipeline.

function_app.py imports only azure.functions and calls these; binding objects are read by duck
typing (get_json/get_body) so this module needs no azure.functions import either. Deps are built
once per worker process by the composition root (shared.compose), lazily, inside the running
event loop, and reused across invocations (one credential, one ARM client, one shared read cache).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.pipeline import Deps, IntakeDeps, IntakeEdges, IntakeResult, Outcome, intake, parse_work_item, process
from shared.settings import Settings, get_settings

if TYPE_CHECKING:
    from shared.noise.outcomes import EscalateOutcome

log = logging.getLogger(__name__)

_deps: Deps | None = None
_intake_deps: IntakeDeps | None = None
_lock: asyncio.Lock | None = None


def set_deps(deps: Deps | None) -> None:
    """Tests and the local runner inject their own composition (intake uses it too)."""
    global _deps, _intake_deps
    _deps = deps
    _intake_deps = None


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def event_to_dict(event: Any) -> dict[str, Any]:
    """func.EventGridEvent / func.CloudEvent -> the wire-shaped dict the parser reads."""
    try:
        data = event.get_json()
    except Exception:  # a binding with undecodable data still gets parsed and rejected clearly
        data = getattr(event, "data", None)
    if getattr(event, "specversion", None) is not None or (hasattr(event, "source") and not hasattr(event, "topic")):
        return {
            "specversion": getattr(event, "specversion", "1.0"),
            "id": getattr(event, "id", None),
            "source": getattr(event, "source", None),
            "type": getattr(event, "type", None),
            "time": _iso(getattr(event, "time", None)),
            "subject": getattr(event, "subject", None),
            "data": data,
        }
    return {
        "id": getattr(event, "id", None),
        "topic": getattr(event, "topic", None),
        "subject": getattr(event, "subject", None),
        "eventType": getattr(event, "event_type", None),
        "eventTime": _iso(getattr(event, "event_time", None)),
        "dataVersion": getattr(event, "data_version", None),
        "data": data,
    }


def build_azure_deps(settings: Settings, intake_deps: IntakeDeps | None = None) -> Deps:
    """Production composition (managed identity everywhere, no keys): the composition root with
    nothing handed in but what intake already built (its queues and credential), so every edge
    comes from the app settings."""
    from shared.compose import Parts, build_deps

    parts = Parts()
    if intake_deps is not None:
        parts = Parts(credential=intake_deps.credential, queue=intake_deps.queue,
                      dead_letters=intake_deps.dead_letters)
    return build_deps(settings, parts)


def _settings_with_logging() -> Settings:
    """The settings, with this process's log redaction and SDK log level applied."""
    from shared.redact import install_redaction

    settings = get_settings()
    # Always installed: bearer tokens and SAS signatures are redacted even with no webhook.
    hook = settings.teams_webhook_url
    install_redaction(*([hook.get_secret_value()] if hook is not None else []))
    # The worker's root logger is at INFO; the SDKs' request logs stay out unless asked for.
    logging.getLogger("azure").setLevel(settings.sdk_log_level)
    return settings


def _the_lock() -> asyncio.Lock:
    global _lock
    if _lock is None:
        _lock = asyncio.Lock()
    return _lock


async def get_deps() -> Deps:
    global _deps
    if _deps is not None:
        return _deps
    async with _the_lock():
        if _deps is None:
            _deps = build_azure_deps(_settings_with_logging(), _intake_deps)
    return _deps


async def get_intake_deps() -> IntakeEdges:
    """What intake needs; the full wiring when this process already has it."""
    global _intake_deps
    if _deps is not None:
        return _deps
    if _intake_deps is not None:
        return _intake_deps
    async with _the_lock():
        if _deps is not None:
            return _deps
        if _intake_deps is None:
            from shared.compose import build_intake_deps

            _intake_deps = build_intake_deps(_settings_with_logging())
    return _intake_deps


def _log_intake(result: IntakeResult) -> IntakeResult:
    log.info("intake: %d enqueued, %d ignored, %d rejected", len(result.enqueued), len(result.ignored),
             len(result.rejected))
    return result


async def on_event(event: Any) -> IntakeResult:
    """Intake through Storage queue clients (the composition's queues, or injected ones)."""
    deps = await get_intake_deps()
    return _log_intake(await intake(event_to_dict(event), deps))


class OutputBindingQueue:
    """WorkQueue over a Functions queue output binding: enqueue collects the message text (the same
    encoding and 64 KB rule as the Storage queue client); the host writes the messages after the
    function returns, and none if it raises. A binding cannot delay a message: intake never does."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.messages: list[str] = []

    async def enqueue(self, message: dict[str, Any], *, delay_s: int = 0) -> None:
        from shared.azure.queue import encode_message

        if delay_s:
            raise ValueError("a queue output binding cannot delay a message")
        self.messages.append(encode_message(message))


@dataclass(frozen=True)
class _BindingEdges:
    queue: OutputBindingQueue
    dead_letters: OutputBindingQueue
    now: Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def on_event_to_bindings(event: Any, work: Any, poison: Any) -> IntakeResult:
    """The Event Grid entry point: intake into the `work` and `poison` queue output bindings
    (`func.Out[str]`: one event per invocation, so at most one message each). Nothing is built: no
    credential, no storage client. A retryable failure raises before any `set`, so the host writes
    nothing and Event Grid redelivers. Settings are read only for the log redaction every entry
    point installs."""
    if _deps is None:
        _settings_with_logging()  # the log redaction, as every entry point installs it
    edges = _BindingEdges(OutputBindingQueue("work"), OutputBindingQueue("poison"),
                          _deps.now if _deps is not None else _utc_now)
    result = await intake(event_to_dict(event), edges)
    pairs = ((edges.queue, work), (edges.dead_letters, poison))
    if any(len(queue.messages) > 1 for queue, _ in pairs):  # one event in: one work item or dead letter
        raise RuntimeError("intake produced more than one message per output for one event")
    for queue, out in pairs:
        if queue.messages:
            out.set(queue.messages[0])
    return _log_intake(result)


# host.json extensions.queues.maxDequeueCount (a test keeps the two equal).
MAX_DEQUEUE_COUNT = 5
# A whole work item (error retrieval, checks, publish) must end inside host.json's functionTimeout
# (10 min; a test keeps this below it): cut here, it fails like any other attempt and is retried
# (dead-lettered at the last dequeue) instead of being killed by the host mid-publish.
WORK_ITEM_DEADLINE_S = 420.0


# Stable name of the trace written for every dead-lettered work item: the monitor-health alert
# (infra/queries/monitor-health.kql) and the workbook count it, so it must not change.
DEAD_LETTER_EVENT = "AksTriageDeadLettered"


async def _dead_letter_work_item(deps: Deps, body: bytes | str, reason: str) -> None:
    from shared.redact import redact

    text = body.decode("utf-8", "replace") if isinstance(body, bytes | bytearray) else str(body)
    assert deps.dead_letters is not None
    safe_reason = redact(reason)[:2000]
    await deps.dead_letters.enqueue({"reason": safe_reason, "payload": text[:24_000]})
    # Logged after the enqueue succeeded, so the alert counts only items that really were moved.
    log.error(
        "%s: work item moved to the dead-letter queue: %s", DEAD_LETTER_EVENT, safe_reason,
        extra={"event": DEAD_LETTER_EVENT, "dead_letter_reason": safe_reason, "payload_chars": len(text)},
    )


async def on_work_item(message: Any) -> Outcome:
    """Queue trigger body. The host moves a message that keeps failing to the poison queue without
    saying why, so on the last attempt (and for unreadable messages at once) we dead-letter it
    ourselves with the reason and let the host delete it."""
    body = message.get_body() if hasattr(message, "get_body") else message
    deps = await get_deps()
    try:
        item = parse_work_item(body)
    except ValueError as err:
        if deps.dead_letters is None:
            raise
        await _dead_letter_work_item(deps, body, str(err))
        return Outcome("ignored", detail=f"dead-lettered: {err}")
    attempt = int(getattr(message, "dequeue_count", None) or 1)
    try:
        try:
            async with asyncio.timeout(WORK_ITEM_DEADLINE_S):
                outcome = await process(item, deps)
        except TimeoutError as err:
            raise TimeoutError(f"work item exceeded its {WORK_ITEM_DEADLINE_S:.0f} s deadline") from err
    except Exception as err:
        if attempt < MAX_DEQUEUE_COUNT or deps.dead_letters is None:
            raise
        reason = f"failed {attempt} times, last: {type(err).__name__}: {str(err)[:1000]}"
        log.error("work item %s dead-lettered: %s", item.op.event_id[:64], reason)
        await _dead_letter_work_item(deps, body, reason)
        return Outcome("ignored", detail=f"dead-lettered: {reason}")
    fid = outcome.finding.finding_id if outcome.finding else "-"
    log.info("work item %s: %s %s finding=%s", item.op.event_id[:64], outcome.status, outcome.detail[:200], fid)
    return outcome


async def on_timer() -> EscalateOutcome:
    """Escalate long-open groups, after re-reading the cluster: one fixed by a later operation whose
    success event never reached us is resolved instead of paging anyone."""
    from shared.compose import build_recheck

    deps = await get_deps()
    return await deps.publisher.escalate_due(recheck=build_recheck(deps.arm))
