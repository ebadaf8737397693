"""Intake: Event Grid / CloudEvents payloads -> FailedOperation.

Owns boundary 1 (the inbound event models). Matches on event *type*, never on `data.status`
(public samples of failure events say "Succeeded"). Anything that is not an AKS failure (or a
success that can resolve one) is ignored with a reason; malformed payloads raise EventError naming
the field. Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.models import FailedOperation, OperationKind
from shared.textsafe import INVISIBLE, strip_invisible

RESOURCE_FAILURE_TYPES = {
    "microsoft.resources.resourcewritefailure": OperationKind.WRITE_FAILURE,
    "microsoft.resources.resourceactionfailure": OperationKind.ACTION_FAILURE,
    "microsoft.resources.resourcedeletefailure": OperationKind.DELETE_FAILURE,
    "microsoft.resources.resourcewritesuccess": OperationKind.WRITE_SUCCESS,
}
AKS_SYSTEM_TYPES = {
    "microsoft.containerservice.nodepoolrollingfailed": OperationKind.NODEPOOL_ROLLING_FAILED,
}
# The event types the Event Grid subscription in infra/ must include; tests compare the two, and
# compare these names with azure-eventgrid's SystemEventNames. The SDK is not imported here: only
# shared/azure/ imports Azure SDKs, and importing azure.eventgrid costs ~120 ms of intake's cold start.
ACCEPTED_EVENT_TYPES: tuple[str, ...] = (
    "Microsoft.Resources.ResourceWriteFailure",
    "Microsoft.Resources.ResourceActionFailure",
    "Microsoft.Resources.ResourceDeleteFailure",
    "Microsoft.Resources.ResourceWriteSuccess",
    "Microsoft.ContainerService.NodePoolRollingFailed",
)
# Prefixes of data.operationName the subscription filters on (advanced filter StringBeginsWith).
ACCEPTED_OPERATION_PREFIXES: tuple[str, ...] = (
    "Microsoft.ContainerService/managedClusters/",
)

MAX_EVENT_BYTES = 1_048_576  # Event Grid's own limit per event is 1 MB

# AKS's own naming rules (Microsoft.ContainerService resource name rules): a cluster name is 1-63
# ASCII alphanumerics, underscores and hyphens, starting and ending with an alphanumeric; an agent
# pool name is 1-12 lowercase letters and digits starting with a letter (Windows pools: 1-6, a
# subset). ARM ids are case-insensitive, so the pool is matched without regard to case. A resource
# group is 1-90 letters/digits (Unicode), underscores, hyphens, periods and parentheses, not ending
# in a period. Anything else is not an AKS id and never reaches a query, a queue or a card.
_CLUSTER_ID = re.compile(
    r"^/subscriptions/(?P<sub>[0-9a-fA-F-]{36})/resourcegroups/(?P<rg>[-\w.()]{1,90})/providers/"
    r"microsoft\.containerservice/managedclusters/(?P<name>[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)"
    r"(?:/agentpools/(?P<pool>[A-Za-z][A-Za-z0-9]{0,11}))?/?$",
    re.IGNORECASE,
)
CLUSTER_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?", re.ASCII)
POOL_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{0,11}", re.ASCII)
_API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(?:-[A-Za-z0-9]{1,20})?")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_OID_CLAIM = "http://schemas.microsoft.com/identity/claims/objectidentifier"
_UPN_CLAIMS = (
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
    "name",
    "upn",
)


class EventError(ValueError):
    """A payload that claims to be an event but cannot be read. Names the offending field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"invalid event: {field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class Ignored:
    """Not an AKS failure we handle; `reason` is logged at info, no retry."""

    event_id: str
    event_type: str
    reason: str


# --- boundary models (inbound, tolerant) ---------------------------------------------------


class _Inbound(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _HttpRequest(_Inbound):
    method: str | None = None
    url: str | None = None


class ResourceEventData(_Inbound):
    tenant_id: str | None = Field(None, alias="tenantId")
    subscription_id: str | None = Field(None, alias="subscriptionId")
    resource_group: str | None = Field(None, alias="resourceGroup")
    resource_provider: str | None = Field(None, alias="resourceProvider")
    resource_uri: str | None = Field(None, alias="resourceUri")
    operation_name: str | None = Field(None, alias="operationName")
    status: str | None = None
    correlation_id: str | None = Field(None, alias="correlationId")
    # Old SDK fixtures carry these as strings; keep whatever came and read defensively.
    claims: Any = None
    http_request: Any = Field(None, alias="httpRequest")


class NodePoolEventData(_Inbound):
    node_pool_name: str | None = Field(None, alias="nodePoolName")


# --- parsing --------------------------------------------------------------------------------


def iter_payload(raw: Any) -> Iterator[dict[str, Any]]:
    """Yield event objects from a payload that is an object, an array, bytes or a JSON string."""
    if isinstance(raw, bytes | bytearray):
        if len(raw) > MAX_EVENT_BYTES * 64:
            raise EventError("$", f"payload of {len(raw)} bytes exceeds the batch limit")
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise EventError("$", f"not UTF-8 ({err.reason} at byte {err.start})") from err
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as err:
            raise EventError("$", f"not JSON ({err.msg} at line {err.lineno} column {err.colno})") from err
        except RecursionError as err:
            raise EventError("$", "JSON nested too deeply") from err
    if isinstance(raw, list):
        for i, item in enumerate(raw):
            if not isinstance(item, dict):
                raise EventError(f"$[{i}]", f"expected an object, got {type(item).__name__}")
            yield item
    elif isinstance(raw, dict):
        yield raw
    else:
        raise EventError("$", f"expected an object or an array of events, got {type(raw).__name__}")


def parse_events(raw: Any) -> list[FailedOperation | Ignored]:
    return [parse_event(e) for e in iter_payload(raw)]


def _required_str(obj: dict[str, Any], *names: str) -> str:
    for name in names:
        value = obj.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise EventError(name, f"expected a non-empty string, got {type(value).__name__}")
        return value
    raise EventError(names[0], "missing")


def parse_time(value: Any, field: str) -> datetime:
    if value is None:
        raise EventError(field, "missing")
    if not isinstance(value, str):
        raise EventError(field, f"expected an ISO 8601 string, got {type(value).__name__}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Event Grid sends 7 fractional digits; Python accepts at most 6.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        parsed = datetime.fromisoformat(text[:64])
        # Normalised to UTC here: an offset that overflows on conversion is not a usable time.
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError) as err:
        raise EventError(field, f"not a usable ISO 8601 time: {value[:64]!r}") from err


def parse_cluster_id(resource_id: str) -> tuple[str, str, str, str | None]:
    """(subscription, resource group, cluster name, agent pool) or EventError."""
    text = resource_id.strip() if len(resource_id) <= 1024 else ""
    shown = strip_invisible(resource_id[:200])
    if any(seg in (".", "..") for seg in text.split("/")):
        raise EventError("resourceUri", f"'.' or '..' path segment in {shown!r}")
    if INVISIBLE.search(text):
        raise EventError("resourceUri", f"invisible or bidi control characters in {shown!r}")
    m = _CLUSTER_ID.match(text)
    if not m or not is_guid(m["sub"]) or m["rg"].endswith("."):
        raise EventError("resourceUri", f"not an AKS cluster or agent pool id (AKS naming rules): {shown!r}")
    return m["sub"], m["rg"], m["name"], m["pool"]


def cluster_id_of(sub: str, rg: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ContainerService/managedClusters/{name}"


def is_guid(value: str | None) -> bool:
    return bool(value) and bool(_GUID.match(value or ""))


def _caller(claims: Any) -> str | None:
    if not isinstance(claims, dict):
        return None
    for key in _UPN_CLAIMS:
        v = claims.get(key)
        if isinstance(v, str) and (v := strip_invisible(v, single_line=True)):
            return v[:256]
    for key in (_OID_CLAIM, "oid", "appid"):
        v = claims.get(key)
        if isinstance(v, str) and (v := strip_invisible(v, single_line=True)):
            return v[:256]
    return None


def _verb(kind: OperationKind, operation_name: str | None, method: str | None, agent_pool: str | None) -> str:
    op = (operation_name or "").lower()
    if kind is OperationKind.DELETE_FAILURE or op.endswith("/delete"):
        return "delete"
    if kind is OperationKind.NODEPOOL_ROLLING_FAILED:
        return "upgrade"
    if kind is OperationKind.ACTION_FAILURE or op.endswith("/action"):
        action = op.rsplit("/", 2)[-2] if op.count("/") >= 2 else ""
        for needle, verb in (("upgrade", "upgrade"), ("start", "start"), ("stop", "stop"),
                             ("rotate", "update"), ("reset", "update"), ("abort", "update")):
            if needle in action:
                return verb
        return "action"
    if (method or "").upper() == "PUT" or (method or "").upper() == "PATCH":
        return "update"
    # Creates carry no httpRequest (documented); a write without one is most likely a create.
    return "create" if method is None else "update"


def parse_event(event: dict[str, Any]) -> FailedOperation | Ignored:
    """One event object (either schema) -> FailedOperation, Ignored, or EventError."""
    is_cloud = "specversion" in event
    event_id = strip_invisible(_required_str(event, "id"), single_line=True)
    if not event_id:
        raise EventError("id", "only invisible characters")
    event_type = _required_str(event, "type" if is_cloud else "eventType")
    event_time = parse_time(event.get("time" if is_cloud else "eventTime"), "time" if is_cloud else "eventTime")
    topic = event.get("source" if is_cloud else "topic")
    data = event.get("data")
    lowered = event_type.lower()

    if lowered in RESOURCE_FAILURE_TYPES:
        kind = RESOURCE_FAILURE_TYPES[lowered]
        if not isinstance(data, dict):
            raise EventError("data", f"expected an object, got {type(data).__name__}")
        try:
            d = ResourceEventData.model_validate(data)
        except ValidationError as err:
            first = err.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise EventError(f"data.{loc}", first["msg"]) from err
        uri = d.resource_uri or event.get("subject")
        if not isinstance(uri, str) or not uri:
            raise EventError("data.resourceUri", "missing")
        if "/providers/microsoft.containerservice/managedclusters/" not in uri.lower():
            return Ignored(event_id, event_type, f"not an AKS resource: {strip_invisible(uri[:200])}")
        if re.search(r"/managedclusters/[^/]+/(?!agentpools/)[^/]+", uri, re.IGNORECASE) and not re.search(
                r"/agentpools/[^/]+/?$", uri, re.IGNORECASE):
            # A child we do not diagnose (e.g. maintenanceConfigurations) is not an error.
            return Ignored(event_id, event_type, f"AKS child resource not handled: {strip_invisible(uri[:200])}")
        sub, rg, name, pool = parse_cluster_id(uri)
        method = url = None
        if isinstance(d.http_request, dict):
            method = d.http_request.get("method") if isinstance(d.http_request.get("method"), str) else None
            url = d.http_request.get("url") if isinstance(d.http_request.get("url"), str) else None
        api_version = None
        if url and "api-version=" in url:
            candidate = url.split("api-version=", 1)[1].split("&", 1)[0]
            api_version = candidate if _API_VERSION.fullmatch(candidate) else None
        correlation = d.correlation_id if is_guid(d.correlation_id) else None
        return FailedOperation(
            event_id=event_id[:128],
            event_type=event_type,
            event_time=event_time,
            kind=kind,
            cluster_id=cluster_id_of(sub, rg, name),
            subscription_id=sub,
            resource_group=rg,
            cluster_name=name,
            agent_pool=pool,
            resource_id=uri.strip(),
            operation_name=strip_invisible(d.operation_name, single_line=True)[:256] or None
            if d.operation_name else None,
            verb=_verb(kind, d.operation_name, method, pool),
            correlation_id=correlation,
            tenant_id=d.tenant_id if is_guid(d.tenant_id) else None,
            caller=_caller(d.claims),
            http_method=method,
            api_version=api_version,
            event_schema="cloudevents" if is_cloud else "eventgrid",
        )

    if lowered in AKS_SYSTEM_TYPES:
        if not isinstance(topic, str) or not topic:
            raise EventError("source" if is_cloud else "topic", "missing (the cluster id lives there)")
        try:
            sub, rg, name, _ = parse_cluster_id(topic)
        except EventError as err:
            raise EventError("source" if is_cloud else "topic", err.problem) from err
        if not isinstance(data, dict):
            raise EventError("data", f"expected an object, got {type(data).__name__}")
        try:
            pool_name = NodePoolEventData.model_validate(data).node_pool_name
        except ValidationError as err:
            raise EventError("data.nodePoolName", err.errors()[0]["msg"]) from err
        if pool_name is not None and not POOL_NAME.fullmatch(pool_name):
            raise EventError("data.nodePoolName",
                             f"not an agent pool name (AKS naming rules): {strip_invisible(pool_name[:80])!r}")
        cluster = cluster_id_of(sub, rg, name)
        return FailedOperation(
            event_id=event_id[:128],
            event_type=event_type,
            event_time=event_time,
            kind=AKS_SYSTEM_TYPES[lowered],
            cluster_id=cluster,
            subscription_id=sub,
            resource_group=rg,
            cluster_name=name,
            agent_pool=pool_name,
            resource_id=f"{cluster}/agentPools/{pool_name}" if pool_name else cluster,
            operation_name="Microsoft.ContainerService/managedClusters/agentPools/write",
            verb="upgrade",
            event_schema="cloudevents" if is_cloud else "eventgrid",
        )

    return Ignored(event_id, event_type, f"event type not handled: {strip_invisible(event_type[:120])}")
