"""Error retrieval: find the error of a failed AKS operation. No SDK imports; reads via the ports.

Owns: `ArmErrorSource`, the ErrorSource the pipeline uses. Event Grid failure events carry no
error, so it is looked up, in this order:
  (a) the resource itself: agent pool (when the event is about one) then cluster, GET at
      api-version 2025-05-01, `properties.status.provisioningError` - only while the resource's
      provisioningState is Failed, so an old error of a since-succeeded operation is never reused;
  (b) the Activity Log entries of the operation's correlation id (status Failed/Failure), from the
      REST API (ArmReader.activity_log) and/or the AzureActivity table (an ActivityEventsSource),
      per `activity_log_source`; `properties.statusMessage` is a JSON string nested up to 3 levels;
  (c) when the caller was a deployment (an entry of the same correlation id on a
      Microsoft.Resources/deployments id): that deployment's failed operations targeting the cluster.
The most specific candidate wins (a non-generic leaf code, then the operation's own resource, then
depth). None found -> ErrorNotYetAvailable(tried) (the pipeline retries later, then gives up with
code Unknown). Every source failed hard -> the first ArmError.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, TypeAlias

from shared import armid
from shared.errortree import error_from_obj, error_from_status_message, specificity
from shared.models import FailedOperation, OperationError
from shared.ports import ArmError, ArmNotFound, ArmReader, ErrorNotYetAvailable

log = logging.getLogger(__name__)

CLUSTER_API = "2025-05-01"  # older stable versions have no status.provisioningError
DEPLOYMENTS_API = "2021-04-01"
ACTIVITY_BEFORE = timedelta(hours=6)  # an LRO may have started hours before its failure event
ACTIVITY_AFTER = timedelta(minutes=30)
MAX_DEPLOYMENTS = 3
MAX_NESTED_DEPLOYMENTS = 2

# A node-bootstrap failure whose cluster-level error lost the CSE detail (exit status, vmssCSE
# output): the same correlation id's VMSS write in the node resource group still carries it.
_NODE_PROVISIONING = re.compile(r"vmss|virtual ?machine ?scale|extension|\bcse\b|agent ?pool|node ?pool", re.I)
# AKS's own messages for a known sub-cause link its troubleshooting article (error-code-...): as
# specific as an exit status.
_CSE_DETAIL = re.compile(
    r"exit ?status\W{0,3}\d{1,3}|exit ?code\W{0,3}\d{1,3}|\bERR_[A-Z_]{3,}|/azure-kubernetes/error-code-", re.I)
MAX_ENRICH_TEXT = 64 * 1024  # how much of an error tree's text the CSE-detail test reads
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# An Activity Log read started beside the status GETs: (events with their source tag, answered?).
_ActivityRead: TypeAlias = "asyncio.Task[tuple[list[tuple[dict[str, Any], str]], bool]]"
_DEPLOYMENT_ID = re.compile(
    r"^(/subscriptions/[0-9a-fA-F-]{36}(?:/resourceGroups/[A-Za-z0-9._\-()]{1,90})?"
    r"/providers/Microsoft\.Resources/deployments/[A-Za-z0-9._\-()]{1,64})$",
    re.IGNORECASE,
)

ActivitySourceName = Literal["rest", "workspace", "both"]


class ActivityEventsSource(Protocol):
    """Failed Activity Log events for a correlation id, REST-shaped (WorkspaceActivitySource)."""

    async def events(self, correlation_id: str, *, start: datetime, end: datetime) -> list[dict[str, Any]]:
        ...


@dataclass(frozen=True)
class _Candidate:
    error: OperationError
    on_target: bool

    def key(self) -> tuple[int, int, int, int]:
        specific, depth, nodes = specificity(self.error)
        return (specific, 1 if self.on_target else 0, depth, nodes)


_norm = armid.path_key


def _value(obj: Any) -> str:
    if isinstance(obj, dict):
        obj = obj.get("value")
    return obj if isinstance(obj, str) else ""


def is_failed_event(event: dict[str, Any]) -> bool:
    return _value(event.get("status")).lower() in ("failed", "failure")


def error_from_event(event: dict[str, Any], source: str) -> OperationError | None:
    """statusMessage (JSON string, nested), then responseBody, then statusCode of one event."""
    props = event.get("properties")
    if not isinstance(props, dict):
        return None
    err = error_from_obj(props.get("statusMessage"), source)
    if err is None:
        err = error_from_obj(props.get("responseBody"), source)
    if err is None:
        err = error_from_status_message(None, props.get("statusCode") or _value(event.get("subStatus")),
                                        source)
    return err


def deployment_ids(events: list[dict[str, Any]]) -> list[str]:
    """Distinct, validated Microsoft.Resources/deployments ids among the events (the callers)."""
    out: list[str] = []
    for e in events:
        m = _DEPLOYMENT_ID.match(str(e.get("resourceId", "")).strip().rstrip("/"))
        if m and _norm(m.group(1)) not in {_norm(x) for x in out}:
            out.append(m.group(1))
    return out


def _targets(op: FailedOperation) -> set[str]:
    return {_norm(op.cluster_id), _norm(op.resource_id)}


def _on_target(resource_id: str, op: FailedOperation) -> bool:
    rid = _norm(resource_id)
    return any(rid == t or rid.startswith(t + "/") for t in _targets(op))


class ArmErrorSource:
    """ErrorSource over an ArmReader (+ optionally the AzureActivity table)."""

    def __init__(
        self,
        arm: ArmReader,
        *,
        workspace_query: ActivityEventsSource | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        activity_log_source: ActivitySourceName = "rest",
    ) -> None:
        self.arm = arm
        self.workspace_query = workspace_query
        self.now = now
        self.activity_log_source = activity_log_source

    async def fetch(self, op: FailedOperation, arm: ArmReader | None = None, *, attempt: int = 0) -> OperationError:
        if arm is not None and arm is not self.arm:  # the work item's own view of ARM
            return await ArmErrorSource(arm, workspace_query=self.workspace_query, now=self.now,
                                        activity_log_source=self.activity_log_source).fetch(op, attempt=attempt)
        corr = (op.correlation_id or "").strip()
        # On a retry an earlier attempt found no error in the status, so the Activity Log is read
        # beside the status GETs (one ARM round instead of two); the first attempt reads it only
        # when the status holds no error (no Activity Log query for an error in the status).
        early: _ActivityRead | None = None
        early_tried: list[str] = []
        early_hard: list[ArmError] = []
        if attempt >= 1 and _GUID.match(corr):
            early = asyncio.ensure_future(self._activity_events(op, corr, early_tried, early_hard))
        try:
            return await self._fetch(op, corr, early, early_tried, early_hard)
        finally:
            if early is not None:
                if not early.done():
                    early.cancel()  # the status had the error: the Activity Log is not needed
                elif not early.cancelled():
                    early.exception()  # retrieved, whether or not the answer was used

    async def _fetch(self, op: FailedOperation, corr: str,
                     early: _ActivityRead | None,
                     early_tried: list[str], early_hard: list[ArmError]) -> OperationError:
        tried: list[str] = []
        hard: list[ArmError] = []
        answered = False

        # (a) the resource's own status.provisioningError
        for rid, tag in self._status_targets(op):
            tried.append(tag)
            try:
                body = await self.arm.get(rid, CLUSTER_API)
            except ArmNotFound:
                answered = True
                continue
            except ArmError as err:
                hard.append(err)
                continue
            answered = True
            err_a = self._provisioning_error(body, tag)
            if err_a is not None:
                return await self._with_vmss_detail(err_a, body, op, early)

        if not _GUID.match(corr):
            tried.append("activity_log (no correlation id)" if not corr else "activity_log (invalid correlation id)")
            return self._give_up(tried, hard, answered)

        # (b) Activity Log entries of the correlation id (read already on a retry)
        if early is not None:
            events, ok = await early
            tried.extend(early_tried)
            hard.extend(early_hard)
        else:
            events, ok = await self._activity_events(op, corr, tried, hard)
        answered = answered or ok
        candidates = [
            _Candidate(err, _on_target(str(e.get("resourceId", "")), op))
            for e, src in events if is_failed_event(e)
            for err in [error_from_event(e, src)] if err is not None
        ]
        best = max(candidates, key=_Candidate.key, default=None)
        if best is not None and best.key()[0] == 1:
            return best.error

        # (c) failed deployment operations, when a deployment was the caller
        deps = deployment_ids([e for e, _ in events])[:MAX_DEPLOYMENTS]
        if deps:
            tried.append("deployment")
            for dep in deps:
                try:
                    found = await self._deployment_errors(dep, op, 0)
                except ArmNotFound:
                    answered = True
                    continue
                except ArmError as err:
                    hard.append(err)
                    continue
                answered = True
                candidates.extend(_Candidate(e, True) for e in found)
            best = max(candidates, key=_Candidate.key, default=None)
        if best is not None:
            return best.error
        return self._give_up(tried, hard, answered)

    # -- helpers ----------------------------------------------------------------------------

    async def _with_vmss_detail(
        self, err: OperationError, body: dict[str, Any], op: FailedOperation,
        early: _ActivityRead | None = None,
    ) -> OperationError:
        """`err`, plus the node resource group's failed VMSS write of the same correlation id as a
        detail when `err` is a node-provisioning failure without the CSE exit status. Best effort:
        an Activity Log that can't be read or holds nothing better leaves `err` as it is. `early`:
        the Activity Log read a retry started beside the status GETs (used when it read REST)."""
        text = " ".join(f"{e.code} {e.message}" for e in err.walk())[:MAX_ENRICH_TEXT]
        corr = (op.correlation_id or "").strip()
        if _CSE_DETAIL.search(text) or not _NODE_PROVISIONING.search(text) or not _GUID.match(corr):
            return err
        props = body.get("properties")
        node_rg = str(props.get("nodeResourceGroup") or "").strip().lower() if isinstance(props, dict) else ""
        if not node_rg:
            return err
        events: list[dict[str, Any]]
        if early is not None and self.activity_log_source in ("rest", "both"):
            events = [e for e, _ in (await early)[0]]  # its ArmErrors were noted, not raised
        else:
            start, end = self._window(op)
            try:
                events = await self.arm.activity_log(op.subscription_id, correlation_id=corr, start=start, end=end)
            except ArmError:
                return err
        scope = f"/subscriptions/{op.subscription_id}/resourcegroups/{node_rg}/providers/microsoft.compute/"
        for event in events:
            if not isinstance(event, dict) or not is_failed_event(event):
                continue
            if not _norm(str(event.get("resourceId", ""))).startswith(scope.lower()):
                continue
            vmss_err = error_from_event(event, "activity_log")
            if vmss_err is None:
                continue
            detail_text = " ".join(f"{e.code} {e.message}" for e in vmss_err.walk())[:MAX_ENRICH_TEXT]
            if _CSE_DETAIL.search(detail_text):
                return err.model_copy(update={"details": (*err.details, vmss_err)})
        return err

    @staticmethod
    def _status_targets(op: FailedOperation) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if op.agent_pool:
            out.append((f"{op.cluster_id.rstrip('/')}/agentPools/{op.agent_pool}", "agentpool_status"))
        out.append((op.cluster_id, "cluster_status"))
        return out

    @staticmethod
    def _provisioning_error(body: dict[str, Any], tag: str) -> OperationError | None:
        props = body.get("properties")
        if not isinstance(props, dict):
            return None
        if str(props.get("provisioningState", "")).lower() != "failed":
            return None  # an error left from an operation that has since succeeded is stale
        status = props.get("status")
        if not isinstance(status, dict):
            return None
        return error_from_obj(status.get("provisioningError"), tag)

    def _window(self, op: FailedOperation) -> tuple[datetime, datetime]:
        t = op.event_time if op.event_time.tzinfo else op.event_time.replace(tzinfo=UTC)
        end = t + ACTIVITY_AFTER
        now = self.now()
        if now < end:  # never ask for the future; a skewed clock still gets a 5-minute window
            end = max(now, t + timedelta(minutes=5))
        return t - ACTIVITY_BEFORE, end

    async def _activity_events(
        self, op: FailedOperation, corr: str, tried: list[str], hard: list[ArmError],
    ) -> tuple[list[tuple[dict[str, Any], str]], bool]:
        start, end = self._window(op)
        use_rest = self.activity_log_source in ("rest", "both")
        use_ws = self.activity_log_source in ("workspace", "both")
        calls: list[tuple[str, Any]] = []
        if use_rest:
            tried.append("activity_log")
            calls.append(("activity_log", self.arm.activity_log(op.subscription_id, correlation_id=corr,
                                                                start=start, end=end)))
        if use_ws:
            if self.workspace_query is None:
                tried.append("azure_activity (not configured)")
            else:
                tried.append("azure_activity")
                calls.append(("azure_activity", self.workspace_query.events(corr, start=start, end=end)))
        results = await asyncio.gather(*(c for _, c in calls), return_exceptions=True)
        out: list[tuple[dict[str, Any], str]] = []
        ok = False
        seen: set[str] = set()
        for (src, _), res in zip(calls, results, strict=True):
            if isinstance(res, ArmError):
                hard.append(res)
                continue
            if isinstance(res, BaseException):
                raise res
            ok = True
            for e in res:
                if not isinstance(e, dict):
                    continue
                key = str(e.get("eventDataId") or "") or f"{e.get('resourceId')}|{e.get('eventTimestamp')}|{src}"
                if key in seen:
                    continue
                seen.add(key)
                out.append((e, src))
        return out, ok

    async def _deployment_errors(self, deployment_id: str, op: FailedOperation,
                                 level: int) -> list[OperationError]:
        body = await self.arm.get(f"{deployment_id}/operations", DEPLOYMENTS_API)
        found: list[OperationError] = []
        for item in body.get("value") or []:
            props = item.get("properties") if isinstance(item, dict) else None
            if not isinstance(props, dict) or str(props.get("provisioningState", "")).lower() != "failed":
                continue
            target = props.get("targetResource") if isinstance(props.get("targetResource"), dict) else {}
            target_id = str((target or {}).get("id") or "")
            nested = _DEPLOYMENT_ID.match(target_id.strip().rstrip("/"))
            if nested and level < MAX_NESTED_DEPLOYMENTS:
                with contextlib.suppress(ArmNotFound):
                    found.extend(await self._deployment_errors(nested.group(1), op, level + 1))
                continue
            if not _on_target(target_id, op):
                continue
            err = error_from_status_message(props.get("statusMessage"), props.get("statusCode"), "deployment")
            if err is not None:
                found.append(err)
        return found

    @staticmethod
    def _give_up(tried: list[str], hard: list[ArmError], answered: bool) -> OperationError:
        if hard and not answered:
            raise hard[0]
        raise ErrorNotYetAvailable(tried)
