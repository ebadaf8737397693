"""The pipeline: intake -> work item -> error -> classification -> checks -> Finding -> publish.

Owns the failure semantics, decided once here:
- not an AKS failure: ignored with a reason (no retry);
- malformed payload: dead-lettered to the poison queue with the reason (nothing lost, no retry loop);
- error not in any source yet: the work item is re-queued with a delay until the deadline, then
  the finding is written with code `Unknown` and the reason (never dropped);
- ARM unavailable/throttled while fetching the error: raise, the queue retries the work item;
- a check failing: data (an ERROR result), never an exception;
- sink failures: the publisher decides (rows raise for a retry, Teams failures are recorded).
No SDK imports: everything external comes in through `Deps` (shared.ports interfaces).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.events import EventError, Ignored, iter_payload, parse_event
from shared.models import (
    CheckResult,
    CheckStatus,
    Classification,
    FailedOperation,
    Finding,
    OperationError,
    OperationKind,
    fingerprint,
)
from shared.ports import ArmError, ArmNotFound, ArmReader, ErrorNotYetAvailable, ErrorSource, SinkError, WorkQueue
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.noise.outcomes import EscalateOutcome, PublishOutcome, ResolveOutcome

log = logging.getLogger(__name__)

WORK_ITEM_VERSION = 1
MAX_DEAD_LETTER_CHARS = 24_000  # Storage queue messages are capped at 64 KB; JSON escaping can double


class WorkItem(BaseModel):
    """The queue message between intake and diagnosis (our own format: extra fields forbidden)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1
    op: FailedOperation
    attempt: int = 0
    enqueued_at: datetime
    error_text: str | None = None  # an error known up front (CLI --error-text), skips retrieval


class Publisher(Protocol):
    """What the pipeline hands findings to (noise control in front of the sinks). Every call says
    what it did; the outcome belongs to the call, never to shared state."""

    async def publish(self, finding: Finding) -> PublishOutcome:
        ...

    async def resolve(self, op: FailedOperation) -> ResolveOutcome:
        ...

    async def escalate_due(self, recheck: Callable[[Finding], Awaitable[bool]] | None = None) -> EscalateOutcome:
        """`recheck(finding) -> still failing?`: confirm against ARM before escalating."""
        ...


@dataclass
class Deps:
    settings: Settings
    arm: ArmReader
    errors: ErrorSource
    publisher: Publisher
    queue: WorkQueue | None = None
    dead_letters: WorkQueue | None = None
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    # Optional provider of failure history for the capacity check (findings table / state store).
    history: Callable[[FailedOperation], Awaitable[list[dict[str, Any]]]] | None = None
    extras: dict[str, Any] = field(default_factory=dict)


class IntakeEdges(Protocol):
    """What intake needs: the work queue, the dead-letter queue and the clock (Deps has them)."""

    @property
    def queue(self) -> WorkQueue | None: ...

    @property
    def dead_letters(self) -> WorkQueue | None: ...

    @property
    def now(self) -> Callable[[], datetime]: ...


@dataclass
class IntakeDeps:
    """Intake's own wiring: an Event Grid delivery needs two queue clients, not the diagnosis."""

    settings: Settings
    queue: WorkQueue | None
    dead_letters: WorkQueue | None
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    credential: Any = None  # shared with the full wiring when the same process builds it later


@dataclass(frozen=True)
class IntakeResult:
    enqueued: tuple[str, ...] = ()
    ignored: tuple[Ignored, ...] = ()
    rejected: tuple[str, ...] = ()  # reasons of malformed events (dead-lettered)


@dataclass(frozen=True)
class Outcome:
    status: Literal["published", "deferred", "resolved", "ignored"]
    finding: Finding | None = None
    detail: str = ""
    publish_result: PublishOutcome | ResolveOutcome | None = None


# --- intake ---------------------------------------------------------------------------------


async def _dead_letter(deps: IntakeEdges, reason: str, payload: Any) -> None:
    text = payload if isinstance(payload, str) else repr(payload)
    message = {"reason": reason[:2000], "payload": text[:MAX_DEAD_LETTER_CHARS]}
    if deps.dead_letters is None:
        log.error("rejected event (no dead-letter queue configured): %s", reason)
        return
    await deps.dead_letters.enqueue(message)


async def intake(raw: Any, deps: IntakeEdges) -> IntakeResult:
    """Event Grid trigger body: parse, filter, enqueue. Fast: no ARM, no classification."""
    enqueued: list[str] = []
    ignored: list[Ignored] = []
    rejected: list[str] = []
    try:
        events = list(iter_payload(raw))
    except EventError as err:
        await _dead_letter(deps, str(err), raw if isinstance(raw, str) else str(raw)[:MAX_DEAD_LETTER_CHARS])
        return IntakeResult(rejected=(str(err),))
    for event in events:
        try:
            parsed = parse_event(event)
        except EventError as err:
            log.warning("rejected event %s: %s", str(event.get("id", "?"))[:64], err)
            await _dead_letter(deps, str(err), _safe_json(event))
            rejected.append(str(err))
            continue
        if isinstance(parsed, Ignored):
            log.info("ignored event %s (%s): %s", parsed.event_id[:64], parsed.event_type[:80], parsed.reason)
            ignored.append(parsed)
            continue
        item = WorkItem(op=parsed, enqueued_at=deps.now())
        if deps.queue is None:
            raise RuntimeError("intake needs a work queue")
        try:
            await deps.queue.enqueue(item.model_dump(mode="json"))
        except SinkError as err:
            if err.retryable:
                raise  # storage trouble: let Event Grid redeliver the batch
            await _dead_letter(deps, f"cannot enqueue: {err}", _safe_json(event))
            rejected.append(str(err))
            continue
        enqueued.append(parsed.idempotency_key)
    return IntakeResult(tuple(enqueued), tuple(ignored), tuple(rejected))


def _safe_json(obj: Any) -> str:
    import json

    try:
        return json.dumps(obj, default=str)[:MAX_DEAD_LETTER_CHARS]
    except (TypeError, ValueError):
        return repr(obj)[:MAX_DEAD_LETTER_CHARS]


def parse_work_item(body: bytes | str) -> WorkItem:
    """Queue message -> WorkItem, or ValueError naming the problem (the host then poisons it)."""
    try:
        return WorkItem.model_validate_json(body)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "$"
        raise ValueError(f"invalid work item: {loc}: {first['msg']}") from err


# --- diagnosis ------------------------------------------------------------------------------


async def _region(arm: ArmReader, op: FailedOperation) -> str | None:
    from shared.checklib.base import API

    try:
        body = await arm.get(op.cluster_id, API["managedClusters"])
    except ArmError:
        return None
    loc = body.get("location")
    return loc if isinstance(loc, str) else None


def _first_failing(results: tuple[CheckResult, ...], ranked: tuple[str, ...]) -> CheckResult | None:
    by_id = {r.id: r for r in results}
    for cid in ranked:
        if cid in by_id:
            return by_id[cid]
    return None


def _summary(classification: Classification, error: OperationError, top: CheckResult | None) -> str:
    if top is not None:
        return f"{classification.code}: {top.summary}"
    if classification.causes:
        return f"{classification.code}: {classification.causes[0]}"
    head = (error.message or classification.title or "").strip().splitlines()
    return f"{classification.code}: {head[0][:300]}" if head else classification.code


def _docs(classification: Classification, results: tuple[CheckResult, ...], ranked: tuple[str, ...]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for url in classification.docs:
        seen.setdefault(url, None)
    by_id = {r.id: r for r in results}
    for cid in ranked:
        for url in by_id[cid].docs if cid in by_id else ():
            seen.setdefault(url, None)
    return tuple(seen)


async def diagnose(op: FailedOperation, error: OperationError, deps: Deps,
                   notes: tuple[str, ...] = ()) -> Finding:
    """Classify the error, run the checks it calls for, rank, and build the Finding."""
    # Imported here so the intake path (Event Grid trigger) never pays for catalog and checks.
    from shared.checklib.base import CheckContext, run_checks
    from shared.checklib.ranking import rank
    from shared.checks.registry import selected
    from shared.classify import classify_error

    now = deps.now()
    classification = classify_error(error)
    specs = selected(classification)  # imports only the checks this failure calls for
    extras = dict(deps.extras)
    ctx = CheckContext(operation=op, error=error, classification=classification, arm=deps.arm,
                       now=now, extras=extras)
    # Every selected check starts now, so every read whose id is known is in flight at once: HTTP
    # concurrency is the reader's bound (settings.arm_concurrency per process), and the run's view
    # reads each resource once however many checks ask. Checks that need the failure history start
    # when it is in; the others do not wait for it.
    historic = [s for s in specs if "failure_history" in s.inputs] if deps.history is not None else []
    others = [s for s in specs if s not in historic]

    async def checks(batch: list[Any]) -> tuple[CheckResult, ...]:
        if not batch:
            return ()
        return await run_checks(batch, ctx, concurrency=len(batch), timeout_s=deps.settings.check_timeout_s)

    async def with_history(batch: list[Any]) -> tuple[CheckResult, ...]:
        if not batch:
            return ()
        assert deps.history is not None
        try:
            extras["failure_history"] = await deps.history(op)
        except Exception as err:  # history is a hint; its absence must not stop the diagnosis
            log.warning("failure history unavailable: %s", err)
        return await checks(batch)

    plain, historic_results = await asyncio.gather(checks(others), with_history(historic))
    by_spec = dict(zip([s.id for s in others], plain, strict=True))
    by_spec.update(zip([s.id for s in historic], historic_results, strict=True))
    results = tuple(by_spec[s.id] for s in specs)
    ranked = rank(classification, results, {s.id: s for s in specs})
    top = _first_failing(results, ranked)
    remediation = top.remediation if top is not None and top.remediation else (classification.guidance or None)
    return Finding(
        finding_id=fingerprint(op.cluster_id, op.correlation_id, classification.code, op.event_id),
        operation=op,
        error=error,
        classification=classification,
        checks=results,
        root_causes=ranked,
        summary=_summary(classification, error, top),
        remediation=remediation,
        docs=_docs(classification, results, ranked),
        severity=classification.severity,
        region=await _region(deps.arm, op),
        diagnosed_at=now,
        notes=notes + tuple(
            f"{r.id}: {r.reason}" for r in results if r.status is CheckStatus.ERROR and r.reason
        ),
    )


async def fetch_error(item: WorkItem, deps: Deps) -> tuple[OperationError | None, tuple[str, ...]]:
    """The error, or (None, why) when it is not available yet and the deadline has not passed."""
    op = item.op
    if item.error_text is not None:
        from shared.classify import parse_error_text

        return parse_error_text(item.error_text), ()
    try:
        # On a retry the sources may be read side by side (ErrorSource.fetch).
        return await deps.errors.fetch(op, deps.arm, attempt=item.attempt), ()
    except ErrorNotYetAvailable as err:
        age = deps.now() - op.event_time
        deadline = timedelta(minutes=deps.settings.error_deadline_min)
        if age < deadline and deps.queue is not None:
            return None, err.tried
        why = (f"error not found in {', '.join(err.tried) or 'any source'} "
               f"{int(age.total_seconds() // 60)} min after the event")
        return OperationError(code="Unknown", message=why, source="none"), (why,)
    except ArmNotFound as err:
        # A create that failed early can leave no cluster; the Activity Log path said nothing yet.
        why = f"error sources unavailable: {err}"
        return OperationError(code="Unknown", message=why[:1000], source="none"), (why[:500],)


def clean_error(error: OperationError) -> OperationError:
    """The error tree without invisible/bidi characters: its messages quote resource,
    tag and policy names anyone with write access chose, and they reach cards, rows and logs."""
    from shared.textsafe import INVISIBLE, strip_invisible

    def clean(e: OperationError) -> OperationError:
        changes: dict[str, Any] = {}
        for name in ("code", "message", "target"):
            value = getattr(e, name)
            if isinstance(value, str) and INVISIBLE.search(value):
                changes[name] = strip_invisible(value)
        if e.details:
            details = tuple(clean(d) for d in e.details)
            if any(a is not b for a, b in zip(details, e.details, strict=True)):
                changes["details"] = details
        return e.model_copy(update=changes) if changes else e

    return clean(error)


async def process(item: WorkItem, deps: Deps) -> Outcome:
    """Queue trigger body. Idempotent: safe to run again for the same item after a crash.

    The item gets its own view of ARM (each resource read once for the item, errors included) on
    top of the process-wide cache that coalesces bursts across items."""
    op = item.op
    if op.kind is OperationKind.WRITE_SUCCESS:
        resolved = await deps.publisher.resolve(op)
        return Outcome("resolved", detail=op.cluster_id, publish_result=resolved)
    run = replace(deps, arm=deps.arm.for_run())
    error, notes = await fetch_error(item, run)
    if error is None:
        assert deps.queue is not None  # fetch_error only defers when a queue exists
        delay = deps.settings.error_retry_delay_s(item.attempt)
        await deps.queue.enqueue(
            item.model_copy(update={"attempt": item.attempt + 1}).model_dump(mode="json"), delay_s=delay)
        return Outcome("deferred", detail=f"retry in {delay}s (attempt {item.attempt + 1}): {', '.join(notes)}")
    finding = await diagnose(op, clean_error(error), run, notes)
    published = await deps.publisher.publish(finding)
    return Outcome("published", finding=finding, publish_result=published)
