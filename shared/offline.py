"""The embedded default: the pipeline with local parts, for the CLI and the demo.

Owns: choosing the local parts (a snapshot or Azure ARM reader, the SQLite findings and state
stores, card files) for the composition root (shared.compose), then running the pipeline's
`process` on events, clusters or the bundled scenarios. A finding that cannot be stored now
(another run holds the event, or the state store is down) raises RunDeferred: the CLI says so and
exits non-zero; nothing is lost and a rerun finishes it.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shared.compose import Parts, SystemClock, build_arm_reader, build_deps
from shared.events import EventError, Ignored, iter_payload, parse_cluster_id, parse_event, parse_time
from shared.models import FailedOperation, Finding, OperationKind
from shared.pipeline import Deps, WorkItem, process
from shared.ports import ArmError, ArmReader
from shared.render.rows import iso_z
from shared.settings import Settings, get_settings


class OfflineInputError(ValueError):
    """Input for an offline run that cannot be used (message is user-facing)."""


class RunDeferred(Exception):
    """The finding could not be stored now; nothing was lost, run the same input again later.

    `until` is when another run's hold on the event ends (None when the state store is down).
    """

    def __init__(self, message: str, until: datetime | None = None) -> None:
        super().__init__(message)
        self.until = until


def resolve_home(home: str | Path | None, settings: Settings | None = None) -> Path:
    if home:
        return Path(home)
    if os.environ.get("AKS_TRIAGE_HOME"):
        return Path(os.environ["AKS_TRIAGE_HOME"])
    return (settings or get_settings()).home


def _parts(snapshot: str | Path | None, home: Path | None, *, now: datetime | None = None,
           cards_dir: Path | None = None) -> Parts:
    arm: ArmReader | None = None
    if snapshot is not None:
        from shared.local.snapshot import SnapshotArmReader, SnapshotError

        try:
            arm = SnapshotArmReader.from_file(snapshot)
        except SnapshotError as err:
            raise OfflineInputError(str(err)) from err
    # One run at a time per home (runlock): a lease found in the store was left by a run that died.
    return Parts(arm=arm, home=home, cards_dir=cards_dir, clock=SystemClock(now), queues=False,
                 noise_options={"sole_writer": home is not None})


def build_local_deps(snapshot: str | Path | None, home: Path, *, now: datetime | None = None,
                     cards_dir: Path | None = None, settings: Settings | None = None) -> Deps:
    """The composition root with the local edges: snapshot (or Azure) ARM, SQLite, card files.
    Holds the home's run lock for the rest of the process (RunDeferred while another run has it)."""
    from shared.local.runlock import HomeBusy, hold_home

    try:
        hold_home(home)
    except HomeBusy as err:
        raise RunDeferred(f"deferred: {err}; run the same command again when it ends") from err
    except OSError as err:
        raise OfflineInputError(f"cannot use the home folder {home}: {err.strerror or err}") from err
    return build_deps(settings or get_settings(), _parts(snapshot, home, now=now, cards_dir=cards_dir))


async def _run(op: FailedOperation, deps: Deps, error_text: str | None) -> Finding:
    """One operation through the same pipeline the queue trigger runs (no queue: no deferral)."""
    from shared.noise import LeaseHeld, StateDown

    item = WorkItem(op=op, enqueued_at=deps.now(), error_text=error_text)
    try:
        outcome = await process(item, deps)
    except LeaseHeld as err:
        raise RunDeferred(f"deferred: another run holds it until {iso_z(err.until)}", err.until) from err
    except StateDown as err:
        raise RunDeferred(f"deferred: the local state store is unavailable ({err})") from err
    assert outcome.finding is not None  # without a queue a failed operation always publishes
    return outcome.finding


async def diagnose_payload(payload: Any, *, snapshot: str | Path | None, error_text: str | None,
                           home: str | Path | None, now: datetime | None = None,
                           cards_dir: Path | None = None) -> list[Finding]:
    try:
        events = list(iter_payload(payload))
        parsed = [parse_event(e) for e in events]
    except EventError as err:
        raise OfflineInputError(str(err)) from err
    ops = [p for p in parsed if isinstance(p, FailedOperation) and p.kind is not OperationKind.WRITE_SUCCESS]
    if not ops:
        reasons = "; ".join(p.reason for p in parsed if isinstance(p, Ignored)) or "no events"
        raise OfflineInputError(f"no failed AKS operation in the input ({reasons})")
    deps = build_local_deps(snapshot, resolve_home(home), now=now, cards_dir=cards_dir)
    return [await _run(op, deps, error_text) for op in ops]


async def diagnose_cluster(cluster_id: str, *, snapshot: str | Path | None, error_text: str | None,
                           home: str | Path | None) -> list[Finding]:
    """No event: find the cluster's latest failed operation in the Activity Log, then diagnose it."""
    try:
        sub, rg, name, pool = parse_cluster_id(cluster_id)
    except EventError as err:
        raise OfflineInputError(str(err)) from err
    deps = build_local_deps(snapshot, resolve_home(home))
    now = deps.now()
    correlation: str | None = None
    when = now
    try:
        entries = await deps.arm.activity_log(sub, resource_id=cluster_id, start=now - timedelta(days=14), end=now)
    except ArmError:
        entries = []
    failed = [e for e in entries if str((e.get("status") or {}).get("value", "")).lower() == "failed"]
    failed.sort(key=lambda e: str(e.get("eventTimestamp", "")), reverse=True)
    if failed:
        correlation = str(failed[0].get("correlationId") or "") or None
        try:
            when = parse_time(failed[0].get("eventTimestamp"), "eventTimestamp")
        except EventError:
            when = now
    from shared.events import cluster_id_of, is_guid

    cid = cluster_id_of(sub, rg, name)
    op = FailedOperation(
        event_id=f"cli-{uuid.uuid4()}", event_type="aks-triage.OnDemand", event_time=when,
        kind=OperationKind.ON_DEMAND, cluster_id=cid, subscription_id=sub, resource_group=rg,
        cluster_name=name, agent_pool=pool, resource_id=cluster_id.strip(),
        correlation_id=correlation if is_guid(correlation) else None, event_schema="cli",
    )
    return [await _run(op, deps, error_text)]


async def snapshot_cluster(cluster_id: str, out: Path, *, arm: ArmReader | None = None,
                           now: datetime | None = None) -> int:
    from shared.checklib.base import CheckContext, run_checks
    from shared.checks.registry import REGISTRY
    from shared.models import Classification, OperationError
    from shared.snapshot_collect import collect_snapshot

    try:
        sub, rg, name, _ = parse_cluster_id(cluster_id)
    except EventError as err:
        raise OfflineInputError(str(err)) from err
    settings = get_settings()
    if arm is None:
        arm = build_arm_reader(settings, Parts())
    from shared.events import cluster_id_of

    cid = cluster_id_of(sub, rg, name)
    when = now or datetime.now(UTC)
    op = FailedOperation(event_id="snapshot", event_type="aks-triage.Snapshot", event_time=when,
                         kind=OperationKind.ON_DEMAND, cluster_id=cid, subscription_id=sub, resource_group=rg,
                         cluster_name=name, resource_id=cid, event_schema="cli")
    error = OperationError(code="Unknown", source="none")
    # An unknown error selects every check (shared.checklib.ranking.select), so the snapshot holds
    # every read any check makes.
    classification = Classification(code="Unknown", entry_id="Unknown", category="unknown")

    async def run_all(reader: ArmReader) -> None:
        ctx = CheckContext(operation=op, error=error, classification=classification, arm=reader,
                           now=datetime.now(UTC))
        await run_checks(list(REGISTRY.values()), ctx, concurrency=settings.arm_concurrency,
                         timeout_s=settings.check_timeout_s)
        # Some reads depend on what the error names (a preview feature by its name, a scope an
        # AuthorizationFailed names): run the checks again for each recent failure, with its error.
        for failed in await _recent_failures(reader, op):
            await _run_for_failure(reader, failed, settings)

    snap = await collect_snapshot(cid, arm, run_all, now=when)
    out.write_text(json.dumps(snap.to_obj(), indent=2), encoding="utf-8")
    return len(snap.resources)


MAX_SNAPSHOT_FAILURES = 3  # recent failures whose own error the snapshot re-runs the checks for


async def _recent_failures(reader: ArmReader, op: FailedOperation) -> list[FailedOperation]:
    """The cluster's failed operations of the last day (newest first, distinct correlation ids)."""
    from shared.errors import is_failed_event
    from shared.snapshot_collect import ACTIVITY_LOOKBACK

    end = op.event_time
    try:
        events = await reader.activity_log(op.subscription_id, resource_id=op.cluster_id,
                                           start=end - ACTIVITY_LOOKBACK, end=end)
    except ArmError:
        return []
    out: list[FailedOperation] = []
    seen: set[str] = set()
    for event in reversed(events):
        corr = str(event.get("correlationId") or "")
        if not is_failed_event(event) or not corr or corr in seen:
            continue
        seen.add(corr)
        try:
            when = parse_time(event.get("eventTimestamp"), "eventTimestamp")
        except EventError:
            continue
        out.append(op.model_copy(update={"event_id": f"snapshot-{corr}", "correlation_id": corr,
                                         "event_time": when}))
        if len(out) >= MAX_SNAPSHOT_FAILURES:
            break
    return out


async def _run_for_failure(reader: ArmReader, failed: FailedOperation, settings: Settings) -> None:
    from shared.checklib.base import CheckContext, run_checks
    from shared.checklib.ranking import select
    from shared.checks.registry import REGISTRY
    from shared.classify import classify_error
    from shared.errors import ArmErrorSource
    from shared.ports import ErrorNotYetAvailable

    try:
        error = await ArmErrorSource(reader).fetch(failed)
    except (ArmError, ErrorNotYetAvailable):
        return
    classification = classify_error(error)
    ctx = CheckContext(operation=failed, error=error, classification=classification, arm=reader,
                       now=datetime.now(UTC))
    await run_checks(list(select(tuple(REGISTRY.values()), classification)), ctx,
                     concurrency=settings.arm_concurrency, timeout_s=settings.check_timeout_s)
