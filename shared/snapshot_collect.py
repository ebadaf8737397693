"""Collect a snapshot of exactly what the diagnosis reads (`aks-triage snapshot --cluster ID --out FILE`).

Owns: `RecordingArmReader` (an ArmReader decorator that writes every successful GET body and every
Activity Log answer into a Snapshot; a 404 is recorded as absent, which the snapshot format
expresses by leaving the id out; any other failed read, 403, 429, 5xx or a timeout, is recorded
in `failed_reads` so the offline run meets the same error), `redact` (consistent replacement of
subscription ids, identity ids, resource names and public IPs, for a support ticket) and
`collect_snapshot` (cluster, agent pools, the last 24 h of the
cluster's Activity Log, the entries and deployment operations of its recent failures, then every
registered check through the caller's `run_all_checks`). No SDK imports: the inner reader is any
ArmReader (the Azure one in the CLI, the emulator-backed one in tests).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.errors import CLUSTER_API, DEPLOYMENTS_API, deployment_ids, is_failed_event
from shared.local.snapshot import FailedRead, Snapshot, normalize_id
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
        self.failed: dict[str, FailedRead] = {}  # id -> the 403 / 429 / 5xx / timeout it answered
        self._failed_ids: dict[str, str] = {}
        self.activity_log_error: FailedRead | None = None

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
            if key not in self._resources:
                self.failed.setdefault(key, FailedRead.of(err))
                self._failed_ids.setdefault(key, resource_id.strip().rstrip("/"))
            raise
        # The same id read at two api-versions: keep the body of the newest one.
        if key not in self._resources or api_version >= self._api_versions.get(key, ""):
            self._resources[key] = body
            self._original_ids.setdefault(key, resource_id.strip().rstrip("/"))
            self._api_versions[key] = api_version
        self.absent.discard(key)
        self.failed.pop(key, None)  # a later read succeeded (a retry): the body is what counts
        return body

    async def activity_log(
        self, subscription_id: str, *, correlation_id: str | None = None, resource_id: str | None = None,
        start: datetime | None = None, end: datetime | None = None,
    ) -> list[dict[str, Any]]:
        try:
            events = await self.inner.activity_log(subscription_id, correlation_id=correlation_id,
                                                   resource_id=resource_id, start=start, end=end)
        except ArmError as err:
            if self.activity_log_error is None:
                self.activity_log_error = FailedRead.of(err)
            raise
        for e in events:
            key = str(e.get("eventDataId") or e.get("id") or "") or repr(sorted(e.items()))[:500]
            self._events.setdefault(key, e)
        return events

    def snapshot(self, captured_at: datetime | None = None) -> Snapshot:
        resources = {self._original_ids[k]: v for k, v in self._resources.items()}
        failed = {self._failed_ids[k]: v for k, v in self.failed.items()}
        events = sorted(self._events.values(), key=lambda e: str(e.get("eventTimestamp", "")))
        return Snapshot(resources, events, failed_reads=failed,
                        activity_log_error=None if events else self.activity_log_error, captured_at=captured_at)


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
    return rec.snapshot(captured_at=end)


# --- redaction ------------------------------------------------------------------------------

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_SUBSCRIPTION = re.compile(rf"(/subscriptions/)({_GUID})", re.IGNORECASE)
_IDENTITY_KEYS = {"principalid", "clientid", "tenantid", "objectid", "applicationid", "appid", "subscriptionid"}
# Plain-valued properties that hold a resource group's name (not inside an id).
_GROUP_NAME_KEYS = {"noderesourcegroup", "resourcegroup", "resourcegroupname"}
_ID_IN_TEXT = re.compile(r"/subscriptions/[^\s\"'<>,;]+", re.IGNORECASE)
MAX_REDACT_STRINGS = 200_000  # strings scanned for ids to learn: bounded work on a huge snapshot
_IPV4 = re.compile(r"(?<![\d.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![\d.])")
# Segments of an ARM id that are names: after resourceGroups, and every second segment after the
# provider namespace (type/name/type/name...).
_MIN_NAME_CHARS = 3
_KEEP_NAMES = {"default", "agentpools", "system", "user"}


def _is_private(a: int, b: int) -> bool:
    return a == 10 or a == 127 or (a == 172 and 16 <= b <= 31) or (a == 192 and b == 168) or \
        (a == 100 and 64 <= b <= 127) or (a == 169 and b == 254) or a == 0


class Redactor:
    """Consistent replacements: the same input always becomes the same placeholder within one file.

    Subscription ids and identity ids become numbered GUIDs, resource group and resource names
    become `<kind>-N`, public IPv4 addresses keep their last two octets and get their first two
    from the reserved 240.0.0.0/4 block per distinct /16, so containment of ranges of /16 and
    narrower still holds (authorized IP ranges vs a NAT gateway IP). Private addresses stay: they
    identify nothing outside the VNet and the diagnosis depends on them.
    """

    def __init__(self) -> None:
        self.guids: dict[str, str] = {}
        self.names: dict[str, str] = {}
        self.prefixes: dict[tuple[int, int], tuple[int, int]] = {}
        self._name_pattern: re.Pattern[str] | None = None

    def _guid(self, value: str) -> str:
        key = value.lower()
        if key not in self.guids:
            self.guids[key] = f"00000000-0000-4000-8000-{len(self.guids) + 1:012d}"
        return self.guids[key]

    def learn_ids(self, resource_ids: list[str]) -> None:
        for rid in resource_ids:
            parts = rid.strip("/").split("/")
            for i, part in enumerate(parts):
                if i >= 1 and parts[i - 1].lower() == "subscriptions":
                    self._guid(part)
                elif i >= 1 and parts[i - 1].lower() == "resourcegroups":
                    self._name(part, "rg")
            if "providers" in [p.lower() for p in parts]:
                start = max(i for i, p in enumerate(parts) if p.lower() == "providers") + 2
                for i in range(start + 1, len(parts), 2):
                    self._name(parts[i], parts[i - 1].rstrip("s").lower()[:24] or "name")
        names = sorted(self.names, key=len, reverse=True)
        self._name_pattern = re.compile(
            r"(?<![A-Za-z0-9_-])(" + "|".join(re.escape(n) for n in names) + r")(?![A-Za-z0-9_])",
            re.IGNORECASE) if names else None

    def learn_values(self, objs: list[Any]) -> list[str]:
        """Ids that appear inside values (identity ids, ids quoted in messages) and group names in
        plain properties (nodeResourceGroup), so they are replaced wherever they appear."""
        ids: list[str] = []
        stack: list[tuple[Any, str]] = [(o, "") for o in objs]
        seen = 0
        while stack and seen < MAX_REDACT_STRINGS:
            obj, key = stack.pop()
            if isinstance(obj, dict):
                stack.extend((v, k) for k, v in obj.items())
                ids.extend(k for k in obj if k.lower().startswith("/subscriptions/"))
            elif isinstance(obj, list):
                stack.extend((v, key) for v in obj)
            elif isinstance(obj, str):
                seen += 1
                if key.lower() in _GROUP_NAME_KEYS and "/" not in obj:
                    self._name(obj, "rg")
                elif key.lower() == "hierarchy":  # Activity Log authorization evidence: tenant/MG.../subscription
                    for part in obj.split("/"):
                        if not re.fullmatch(_GUID, part):
                            self._name(part, "mg")
                ids.extend(m.group(0) for m in _ID_IN_TEXT.finditer(obj))
        return ids

    def _name(self, name: str, kind: str) -> None:
        if len(name) < _MIN_NAME_CHARS or name.lower() in _KEEP_NAMES or re.fullmatch(_GUID, name):
            return
        key = name.lower()
        if key not in self.names:
            self.names[key] = f"{kind}-{sum(1 for v in self.names.values() if v.startswith(kind + '-')) + 1}"

    def _ip(self, m: re.Match[str]) -> str:
        octets = [int(g) for g in m.groups()]
        if any(o > 255 for o in octets) or _is_private(octets[0], octets[1]):
            return m.group(0)
        key = (octets[0], octets[1])
        if key not in self.prefixes:
            n = len(self.prefixes)
            self.prefixes[key] = (240 + n // 256, n % 256)
        a, b = self.prefixes[key]
        return f"{a}.{b}.{octets[2]}.{octets[3]}"

    def text(self, value: str) -> str:
        value = _SUBSCRIPTION.sub(lambda m: m.group(1) + self._guid(m.group(2)), value)
        if self._name_pattern is not None:
            value = self._name_pattern.sub(lambda m: self.names.get(m.group(1).lower(), m.group(1)), value)
        return _IPV4.sub(self._ip, value)

    def value(self, obj: Any, key: str = "") -> Any:
        if isinstance(obj, str):
            if key.lower() in _IDENTITY_KEYS and re.fullmatch(_GUID, obj):
                return self._guid(obj)
            if key.lower() == "hierarchy":
                obj = re.sub(_GUID, lambda m: self._guid(m.group(0)), obj)
            return self.text(obj)
        if isinstance(obj, list):
            return [self.value(v, key) for v in obj]
        if isinstance(obj, dict):
            return {self.text(k) if k.startswith("/") else k: self.value(v, k) for k, v in obj.items()}
        return obj


def redact(snap: Snapshot) -> Snapshot:
    """The snapshot with ids, names and public IPs replaced consistently (see Redactor)."""
    r = Redactor()
    found = r.learn_values([*snap.resources.values(), *snap.activity_log])
    r.learn_ids([*snap.resources, *snap.failed_reads, *found])
    resources = {r.text(k): r.value(v) for k, v in snap.resources.items()}
    failed = {r.text(k): FailedRead(v.status, v.code, r.text(v.message)) for k, v in snap.failed_reads.items()}
    log_error = snap.activity_log_error
    if log_error is not None:
        log_error = FailedRead(log_error.status, log_error.code, r.text(log_error.message))
    return Snapshot(resources, [r.value(e) for e in snap.activity_log], failed_reads=failed,
                    activity_log_error=log_error, captured_at=snap.captured_at, redacted=True)

