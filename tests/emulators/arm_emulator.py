"""A local HTTPS Azure Resource Manager (and Log Analytics query API) that serves a Snapshot.

Real TLS (trustme CA, passed to clients as `connection_verify=`), real HTTP, real SDK on the other
side. Serves:
  * GET <any ARM id>?api-version=...      -> the snapshot body (ids case-insensitive; api-version is
    recorded, not checked); missing -> 404 with ARM's error body.
  * GET <collection id> (e.g. {cluster}/agentPools) -> the stored body, or {"value": [children]}
    built from the snapshot; paged with nextLink when `page_size` is set.
  * GET /subscriptions/{s}/providers/Microsoft.Insights/eventtypes/management/values
    with $filter on eventTimestamp ge/le, correlationId eq, resourceUri/resourceId eq, and $select
    (paged too).
  * POST /v1/workspaces/{ws}/query        -> LogsQuery tables from `workspace_tables[ws]`
    (+ `workspace_partial_error` for the 200-with-error PartialError shape).
Fault injection per id (prefix match, case-insensitive) or globally: 403 AuthorizationFailed,
429 with Retry-After N times, 500, 404, latency. Every request is logged with its arrival time and
the concurrency seen (`max_in_flight`). Optional per-subscription read throttling like ARM's
(`rate_limit = SubscriptionRateLimit(...)`: token bucket, 429 + Retry-After), off by default.

Runs on `tests.emulators.https_server.KeepAliveHTTPSServer` (keep-alive, like ARM; the `arm_server`
fixture) or on a pytest-httpserver `HTTPServer(threaded=True)` (werkzeug closes every connection,
so each request pays a TCP + TLS handshake).
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from shared.local.snapshot import Snapshot, normalize_id
from tests.emulators.https_server import KeepAliveHTTPSServer

ACTIVITY_SUFFIX = "/providers/microsoft.insights/eventtypes/management/values"
_FILTER_EQ = re.compile(r"(\w+)\s+eq\s+'([^']*)'", re.IGNORECASE)
_FILTER_TS = re.compile(r"eventTimestamp\s+(ge|le)\s+'([^']*)'", re.IGNORECASE)
_WS_QUERY = re.compile(r"^/v1/workspaces/([^/]+)/query$", re.IGNORECASE)
_TS = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?$")


def parse_ts(value: Any) -> datetime | None:
    """ARM timestamps: 7-digit fractions, 'Z' or an offset; naive values are UTC."""
    m = _TS.match(value.strip()) if isinstance(value, str) else None
    if not m:
        return None
    frac = (m.group(2) or "0")[:6].ljust(6, "0")
    tz = m.group(3) or "Z"
    return datetime.fromisoformat(f"{m.group(1)}.{frac}{'+00:00' if tz == 'Z' else tz}")


@dataclass
class Fault:
    match: str | None  # normalized id prefix; None = every request
    status: int
    times: int  # how many requests it hits; -1 = forever
    retry_after: str | None = None
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class SubscriptionRateLimit:
    """ARM's per-subscription read throttling as a token bucket (off unless set on the emulator).

    ARM gives each subscription (per caller and region) a bucket of `capacity` read tokens that
    refills at `refill_per_s`; a GET with no token left gets 429 with `Retry-After` (whole seconds
    until the next token) and every answer carries `x-ms-ratelimit-remaining-subscription-reads`.
    Documented defaults: 250 tokens, 25 per second. `clock` lets a benchmark run it on its own time.
    """

    capacity: float = 250.0
    refill_per_s: float = 25.0
    clock: Any = time.monotonic
    throttled: int = 0  # 429s answered so far
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # sub -> (tokens, at)

    def take(self, subscription: str) -> tuple[bool, float, float]:
        """(allowed, tokens left, seconds until the next token) for one read of `subscription`."""
        now = self.clock()
        tokens, at = self._buckets.get(subscription, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.refill_per_s)
        if tokens >= 1.0:
            self._buckets[subscription] = (tokens - 1.0, now)
            return True, tokens - 1.0, 0.0
        self._buckets[subscription] = (tokens, now)
        self.throttled += 1
        return False, tokens, (1.0 - tokens) / self.refill_per_s


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    started: float  # time.monotonic() at arrival
    finished: float
    status: int

    @property
    def api_version(self) -> str | None:
        return self.query.get("api-version")


class ArmEmulator:
    """State of the fake ARM; one HTTPS server per session, `reset()` between tests."""

    def __init__(self, server: HTTPServer | KeepAliveHTTPSServer, ca_file: str) -> None:
        self.server = server
        self.ca_file = ca_file
        self.base_url = f"https://127.0.0.1:{server.port}"
        self._lock = threading.Lock()
        self.reset()
        if isinstance(server, KeepAliveHTTPSServer):
            server.set_handler(self._handle)
        else:  # pytest-httpserver (werkzeug; closes every connection)
            server.expect_request(re.compile(".*")).respond_with_handler(self._handle)

    # -- configuration -------------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.snapshot = Snapshot({}, [])
            self.faults: list[Fault] = []
            self.latency_s = 0.0
            self.latency_by_id: dict[str, float] = {}
            self.page_size: int | None = None
            self.log: list[LoggedRequest] = []
            self.in_flight = 0
            self.max_in_flight = 0
            self.workspace_tables: dict[str, list[dict[str, Any]]] = {}
            self.workspace_partial_error: dict[str, Any] | None = None
            self.workspace_queries: list[dict[str, Any]] = []
            self.authorization_headers: list[str] = []
            self.rate_limit: SubscriptionRateLimit | None = None

    def serve(self, snapshot: Snapshot | dict[str, Any]) -> ArmEmulator:
        self.snapshot = snapshot if isinstance(snapshot, Snapshot) else Snapshot.from_obj(snapshot)
        return self

    def put(self, resource_id: str, body: dict[str, Any]) -> None:
        self.snapshot.resources[normalize_id(resource_id)] = body

    def add_fault(self, status: int, *, resource_id: str | None = None, times: int = -1,
                  retry_after: str | None = None, body: dict[str, Any] | None = None) -> Fault:
        fault = Fault(normalize_id(resource_id) if resource_id else None, status, times, retry_after, body)
        with self._lock:
            self.faults.append(fault)
        return fault

    def forbid(self, resource_id: str | None = None, *, times: int = -1,
               action: str = "Microsoft.Network/virtualNetworks/subnets/read") -> Fault:
        scope = resource_id or "/subscriptions/00000000-0000-0000-0000-000000000000"
        body = {"error": {"code": "AuthorizationFailed", "message": (
            "The client '33333333-3333-3333-3333-333333333333' with object id "
            "'33333333-3333-3333-3333-333333333333' does not have authorization to perform action "
            f"'{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, "
            "please refresh your credentials.")}}
        return self.add_fault(403, resource_id=resource_id, times=times, body=body)

    def throttle(self, resource_id: str | None = None, *, times: int = 1, retry_after: str = "1") -> Fault:
        body = {"error": {"code": "TooManyRequests", "message": "The request is being throttled."}}
        return self.add_fault(429, resource_id=resource_id, times=times, retry_after=retry_after, body=body)

    def fail(self, status: int = 500, resource_id: str | None = None, *, times: int = -1) -> Fault:
        body = {"error": {"code": "InternalServerError", "message": "Encountered internal server error."}}
        return self.add_fault(status, resource_id=resource_id, times=times, body=body)

    # -- observations --------------------------------------------------------------------------

    def requests_for(self, resource_id: str) -> list[LoggedRequest]:
        nid = normalize_id(resource_id)
        return [r for r in self.log if normalize_id(r.path) == nid]

    @property
    def gets(self) -> int:
        return sum(1 for r in self.log if r.method == "GET")

    # -- HTTP ----------------------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        started = time.monotonic()
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.authorization_headers.append(request.headers.get("Authorization", ""))
        status = 500
        try:
            response = self._dispatch(request)
            status = response.status_code
            return response
        finally:
            with self._lock:
                self.in_flight -= 1
                self.log.append(LoggedRequest(request.method, request.path, dict(request.args.items()),
                                              started, time.monotonic(), status))

    def _delay(self, nid: str) -> None:
        delay = self.latency_s
        for prefix, d in self.latency_by_id.items():
            if nid.startswith(normalize_id(prefix)):
                delay = max(delay, d)
        if delay > 0:
            time.sleep(delay)

    def _take_fault(self, nid: str) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.times == 0:
                    continue
                if f.match is None or nid == f.match or nid.startswith(f.match + "/"):
                    if f.times > 0:
                        f.times -= 1
                    return f
        return None

    def _dispatch(self, request: Request) -> Response:
        path = request.path
        ws = _WS_QUERY.match(path)
        if ws and request.method == "POST":
            return self._workspace_query(ws.group(1), request)
        nid = normalize_id(path)
        self._delay(nid)
        limited = self._rate_limited(nid, request.method)
        if limited is not None:
            return limited
        fault = self._take_fault(nid)
        if fault is not None:
            headers = dict(fault.headers)
            if fault.retry_after is not None:
                headers["Retry-After"] = fault.retry_after
            body = fault.body or {"error": {"code": f"HTTP{fault.status}", "message": "injected fault"}}
            return _json(body, fault.status, headers)
        if request.method != "GET":
            return _json({"error": {"code": "MethodNotAllowed", "message": "read-only emulator"}}, 405)
        if nid.endswith(ACTIVITY_SUFFIX):
            return self._activity(nid, request)
        found = self.snapshot.resources.get(nid)
        if found is None:
            found = self._collection(nid)
        if found is None:
            return _json({"error": {"code": "ResourceNotFound", "message": (
                f"The Resource '{path}' was not found. For more details please go to "
                "https://aka.ms/ARMResourceNotFoundFix")}}, 404)
        if isinstance(found.get("value"), list):
            return self._paged(request, found, found["value"])
        return _json(found)

    def _rate_limited(self, nid: str, method: str) -> Response | None:
        limit = self.rate_limit
        if limit is None or method != "GET" or not nid.startswith("/subscriptions/"):
            return None
        subscription = nid.split("/")[2]
        with self._lock:
            allowed, left, wait_s = limit.take(subscription)
        if allowed:
            return None
        body = {"error": {"code": "TooManyRequests", "message": (
            "The request is being throttled as the limit has been reached for operation type - "
            "Read_ObservationWindow.")}}
        return _json(body, 429, {"Retry-After": str(max(1, math.ceil(wait_s))),
                                 "x-ms-ratelimit-remaining-subscription-reads": str(int(left))})

    def _collection(self, nid: str) -> dict[str, Any] | None:
        """{parent}/{childType} -> children stored in the snapshot, like ARM's list."""
        prefix = nid + "/"
        kids = [b for k, b in self.snapshot.resources.items()
                if k.startswith(prefix) and "/" not in k[len(prefix):]]
        if not kids:
            return None
        return {"value": kids}

    def _paged(self, request: Request, body: dict[str, Any], items: list[Any]) -> Response:
        if not self.page_size:
            return _json(body)
        skip = int(request.args.get("$skiptoken", "0") or 0)
        page = items[skip: skip + self.page_size]
        out = {k: v for k, v in body.items() if k not in ("value", "nextLink")}
        out["value"] = page
        if skip + self.page_size < len(items):
            args = {k: v for k, v in request.args.items() if k != "$skiptoken"}
            args["$skiptoken"] = str(skip + self.page_size)
            out["nextLink"] = f"{self.base_url}{request.path}?{urlencode(args)}"
        return _json(out)

    def _activity(self, nid: str, request: Request) -> Response:
        sub = nid.split("/")[2] if nid.startswith("/subscriptions/") else ""
        flt = request.args.get("$filter", "")
        eq = {k.lower(): v for k, v in _FILTER_EQ.findall(flt)}
        ts = {op.lower(): parse_ts(v) for op, v in _FILTER_TS.findall(flt)}
        start, end = ts.get("ge"), ts.get("le")
        if start is None or end is None:
            return _json({"error": {"code": "BadRequest", "message": (
                "The $filter must contain eventTimestamp ge and le.")}}, 400)
        events = self.snapshot.find_activity(
            correlation_id=eq.get("correlationid"),
            resource_id=eq.get("resourceuri") or eq.get("resourceid"))
        events = [e for e in events if (t := parse_ts(e.get("eventTimestamp"))) is None or start <= t <= end]
        events = [e for e in events
                  if not sub or str(e.get("subscriptionId") or sub).lower() == sub
                  or str(e.get("resourceId", "")).lower().startswith(f"/subscriptions/{sub}")]
        select = [f.strip() for f in request.args.get("$select", "").split(",") if f.strip()]
        if select:  # like the service: only the named top-level properties come back
            events = [{k: v for k, v in e.items() if k in select} for e in events]
        return self._paged(request, {"value": events}, events)

    def _workspace_query(self, workspace: str, request: Request) -> Response:
        fault = self._take_fault(normalize_id(request.path))
        if fault is not None:
            return _json(fault.body or {"error": {"code": "Error", "message": "injected"}}, fault.status)
        try:
            payload = json.loads(request.get_data(as_text=True) or "{}")
        except ValueError:
            payload = {}
        with self._lock:
            self.workspace_queries.append({"workspace": workspace, **payload})
        rows = self.workspace_tables.get(workspace)
        if rows is None:
            return _json({"error": {"code": "PathNotFoundError", "message": (
                f"The requested path does not exist: workspace {workspace}")}}, 404)
        query = str(payload.get("query", ""))
        corr = re.search(r"CorrelationId\s*(?:==|=~)\s*'([^']*)'", query)
        if corr:
            rows = [r for r in rows if str(r.get("CorrelationId", "")).lower() == corr.group(1).lower()]
        out: dict[str, Any] = {"tables": [_table(rows)]}
        if self.workspace_partial_error is not None:
            out["error"] = self.workspace_partial_error
        return _json(out)


AZURE_ACTIVITY_TYPES = {
    "TimeGenerated": "datetime", "Properties_d": "dynamic", "Authorization_d": "dynamic", "Claims_d": "dynamic",
}


def _table(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Rows -> a LogsQuery table; dynamic columns are sent as JSON strings, as the service does."""
    columns: list[str] = []
    for r in rows:
        for k in r:
            if k not in columns and not k.startswith("_note"):
                columns.append(k)
    out_rows = []
    for r in rows:
        row = []
        for c in columns:
            v = r.get(c)
            if AZURE_ACTIVITY_TYPES.get(c) == "dynamic" and not isinstance(v, str) and v is not None:
                v = json.dumps(v)
            row.append(v)
        out_rows.append(row)
    return {"name": "PrimaryResult",
            "columns": [{"name": c, "type": AZURE_ACTIVITY_TYPES.get(c, "string")} for c in columns],
            "rows": out_rows}


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")
