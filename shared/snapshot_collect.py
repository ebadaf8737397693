"""Collect a snapshot of exactly what the diagnosis reads (`aks-triage snapshot --cluster ID --out FILE`).

Owns: `RecordingArmReader` (an ArmReader decorator that writes every successful GET body and every
Activity Log answer into a Snapshot; a 404 is recorded as absent, which the snapshot format
expresses by leaving the id out) and `collect_snapshot` (cluster, agent pools, the last 24 h of the
cluster's Activity Log, the entries and deployment operations of its recent failures, then every
registered check through the caller's `run_all_checks`). No SDK imports: the inner reader is any
ArmReader (the Azure one in the CLI, the emulator-backed one in tests).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.errors import CLUSTER_API, DEPLOYMENTS_API, deployment_ids, is_failed_event
from shared.local.snapshot import Snapshot, normalize_id
from shared.ports import ArmError, ArmNotFound, ArmReader

log = logging.getLogger(__name__)

ACTIVITY_LOOKBACK = timedelta(hours=24)
MAX_FAILED_CORRELATIONS = 5


def _subscription_of(resource_id: str) -> str:
    parts = resource_id.strip("/").split("/")
    if len(parts) >= 2 and parts[0].lower() == "subscriptions":
        return parts[1]
    raise ValueError(f"not a subscription-scoped ARM id: {resource_id[:200]}")


class RecordingArmReader:
    """Passes reads through to `inner` and records what came back."""

    def __init__(self, inner: ArmReader) -> None:
        self.inner = inner
        self._resources: dict[str, dict[str, Any]] = {}
        self._original_ids: dict[str, str] = {}
        self._api_versions: dict[str, str] = {}
        self._events: dict[str, dict[str, Any]] = {}
        self.absent: set[str] = set()
        self.errors: dict[str, str] = {}  # id -> "403 AuthorizationFailed" etc. (not in the snapshot)

    @property
    def reads_made(self) -> int:
        return self.inner.reads_made

    def for_run(self) -> RecordingArmReader:
        return self  # records one run

    async def get(self, resource_id: str, api_version: str) -> dict[str, Any]:
        key = normalize_id(resource_id)
        try:
            body = await self.inner.get(resource_id, api_version)
        except ArmNotFound:
            if key not in self._resources:
                self.absent.add(key)
            raise
        except ArmError as err:
            self.errors.setdefault(key, f"{err.status} {err.code}")
            raise
        # The same id read at two api-versions: keep the body of the newest one.
        if key not in self._resources or api_version >= self._api_versions.get(key, ""):
            self._resources[key] = body
            self._original_ids.setdefault(key, resource_id.strip().rstrip("/"))
            self._api_versions[key] = api_version
        self.absent.discard(key)
        return body

    async def activity_log(
        self, subscription_id: str, *, correlation_id: str | None = None, resource_id: str | None = None,
        start: datetime | None = None, end: datetime | None = None,
    ) -> list[dict[str, Any]]:
        events = await self.inner.activity_log(subscription_id, correlation_id=correlation_id,
                                               resource_id=resource_id, start=start, end=end)
        for e in events:
            key = str(e.get("eventDataId") or e.get("id") or "") or repr(sorted(e.items()))[:500]
            self._events.setdefault(key, e)
        return events

    def snapshot(self) -> Snapshot:
        resources = {self._original_ids[k]: v for k, v in self._resources.items()}
        events = sorted(self._events.values(), key=lambda e: str(e.get("eventTimestamp", "")))
        return Snapshot(resources, events)


async def collect_snapshot(
    cluster_id: str,
    arm: ArmReader,
    run_all_checks: Callable[[ArmReader], Awaitable[None]],
    *,
    now: datetime | None = None,
) -> Snapshot:
    """Read what a diagnosis of `cluster_id` reads, through a recorder, and return the Snapshot.

    The cluster must exist (ArmNotFound propagates: there is nothing to snapshot). Missing or
    forbidden side resources are simply left out; checks reading them offline get the 404 they
    would have seen or an honest 'not in the snapshot'.
    """
    rec = RecordingArmReader(arm)
    sub = _subscription_of(cluster_id)
    end = now or datetime.now(UTC)
    await rec.get(cluster_id, CLUSTER_API)
    try:
        await rec.get(f"{cluster_id.rstrip('/')}/agentPools", CLUSTER_API)
    except ArmError as err:
        log.warning("snapshot: agent pools not readable: %s", err)
    recent: list[dict[str, Any]] = []
    try:
        recent = await rec.activity_log(sub, resource_id=cluster_id, start=end - ACTIVITY_LOOKBACK, end=end)
    except ArmError as err:
        log.warning("snapshot: Activity Log not readable: %s", err)
    # Failures of the last day: the whole correlation (deployment callers included), so offline
    # error retrieval finds what it would have found online.
    correlations: list[str] = []
    for e in reversed(recent):
        corr = str(e.get("correlationId") or "")
        if is_failed_event(e) and corr and corr not in correlations:
            correlations.append(corr)
    for corr in correlations[:MAX_FAILED_CORRELATIONS]:
        try:
            related = await rec.activity_log(sub, correlation_id=corr, start=end - ACTIVITY_LOOKBACK, end=end)
        except ArmError as err:
            log.warning("snapshot: Activity Log for %s not readable: %s", corr, err)
            continue
        for dep in deployment_ids(related):
            try:
                await rec.get(f"{dep}/operations", DEPLOYMENTS_API)
            except ArmError as err:
                log.warning("snapshot: deployment operations of %s not readable: %s", dep, err)
    await run_all_checks(rec)
    return rec.snapshot()

