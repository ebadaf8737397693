"""ArmReader over the real Azure SDK (azure-mgmt-resource's async client pipeline: token, retries, hooks).

Owns: every HTTP read of ARM the app makes.
  * `AzureArmReader` - one per process (see `get_arm_reader`): one credential, one
    ResourceManagementClient (aiohttp session), a bounded number of concurrent requests
    (settings.arm_concurrency), a short-lived cache shared by all work items
    (settings.arm_cache_ttl_s; successes and 404s only) and in-flight coalescing (concurrent reads
    of one (id, api-version) share one request, also across work items).
  * `ArmRunReader` - the per-work-item view (`AzureArmReader.for_run()`): each (id, api-version) is
    read at most once for the whole run whatever the TTL, every outcome (errors included) is
    remembered for the run, and each run gets its own copy of the bodies.
  * `CappedRetryPolicy` - azure-core's retry policy, except that ARM's Retry-After is capped at
    settings.arm_retry_after_cap_s (azure-core sleeps for whatever the server says).
  * error mapping: 404 -> ArmNotFound, 401/403 -> ArmForbidden ("needs role ... on scope ..."),
    429 after retries -> ArmThrottled, 5xx / timeouts / connection errors -> ArmUnavailable.

Request URLs are built only from validated values: resource ids must look like ARM ids
(`validate_resource_id`), the Activity Log filter accepts GUIDs, parsed ids and datetimes only,
and `nextLink`s must point at the configured ARM host (the bearer token never leaves it).

azure.* is imported lazily (inside the constructor), so importing this module is cheap.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import logging
import re
import sys
import time
import zlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import urlsplit

from shared import armid
from shared.errors import error_from_event, is_failed_event
from shared.errortree import error_from_obj, specificity
from shared.ports import ArmError, ArmForbidden, ArmNotFound, ArmThrottled, ArmUnavailable
from shared.settings import Settings

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.mgmt.resource.resources.aio import ResourceManagementClient

log = logging.getLogger(__name__)

ACTIVITY_LOG_API = "2015-04-01"
MAX_PAGES = 200  # a collection or Activity Log query never follows more nextLinks than this
# Activity Log reads: one correlation id can hold tens of thousands of entries (measured: 50,000
# entries, 102 MB). Only the fields the app reads are asked for, pages are read one at a time and
# the read stops at the page holding a failure entry of the correlation, or at these caps.
ACTIVITY_MAX_PAGES = 10
ACTIVITY_MAX_ENTRIES = 2000
ACTIVITY_SELECT = ",".join((
    "correlationId", "eventDataId", "eventTimestamp", "submissionTimestamp", "operationName", "resourceId",
    "status", "subStatus", "subscriptionId", "properties",
))
# A correlation's failure entry never changes once written: a read that found it is reused by later
# work items of the process (redeliveries and deferrals of the same event) for this long.
ACTIVITY_REUSE_TTL_S = 45 * 60
ACTIVITY_REUSE_MAX_KEYS = 128
ACTIVITY_REUSE_MAX_CHARS = 512 * 1024  # larger results are not kept
ACTIVITY_DEFAULT_WINDOW = timedelta(days=7)
ACTIVITY_MAX_WINDOW = timedelta(days=89)  # the Activity Log keeps 90 days

GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# ARM ids: /subscriptions/<guid>/... or tenant-level /providers/...; segments of safe characters.
_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._\-()@+,=~!$]*"
RESOURCE_ID_RE = re.compile(rf"^(?:/subscriptions/[0-9a-fA-F-]{{36}}|/providers/{_SEGMENT})(?:/{_SEGMENT}){{0,40}}$")
API_VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:-[A-Za-z0-9]+)?$")

Key: TypeAlias = tuple[str, str]
# (subscription, correlation id or "", resource id or "", window start) of an Activity Log query
ActivityKey: TypeAlias = tuple[str, str, str, str]

# The run whose reads an HTTP request counts towards (set inside the fetch task).
_RUN_COUNTER: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("aks_triage_run_reads",
                                                                                  default=None)


# --- validation ------------------------------------------------------------------------------


normalize_id = armid.path_key  # one normaliser for request paths: shared/armid.py
CACHE_TTL_JITTER = 0.2  # a cached read lives between 80 % and 100 % of the TTL
# What checks call the region's SKU list (see AzureArmReader._region_skus).
_REGION_SKUS = re.compile(r"^(/subscriptions/[0-9a-fA-F-]{36}/providers/Microsoft\.Compute)/locations/"
                          r"([A-Za-z0-9]{2,40})/skus$", re.IGNORECASE)


def validate_resource_id(resource_id: str) -> str:
    """The id, stripped of surrounding whitespace and a trailing '/', or ArmError 400 InvalidResourceId."""
    rid = resource_id.strip().rstrip("/") if isinstance(resource_id, str) else ""
    if not rid or len(rid) > 2048 or not RESOURCE_ID_RE.match(rid) or "/../" in f"{rid}/":
        raise ArmError(str(resource_id)[:200], 400, "InvalidResourceId",
                       "not a well-formed ARM resource id; refusing to build a request from it")
    return rid


def validate_api_version(api_version: str) -> str:
    if not isinstance(api_version, str) or not API_VERSION_RE.match(api_version):
        raise ArmError("", 400, "InvalidApiVersion", f"not an api-version: {str(api_version)[:40]!r}")
    return api_version


def validate_guid(value: str, what: str = "id") -> str:
    if not isinstance(value, str) or not GUID_RE.match(value.strip()):
        raise ArmError("", 400, "InvalidGuid", f"{what} is not a GUID: {str(value)[:60]!r}")
    return value.strip().lower()


def _odata_time(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def activity_log_filter(*, correlation_id: str | None, resource_id: str | None, start: datetime,
                        end: datetime) -> str:
    """The OData $filter for eventtypes/management/values, built only from validated values.

    The API accepts one of correlationId / resourceUri besides the time range; with both, the
    correlation id goes to the server and the resource is filtered locally by the caller.
    """
    parts = [f"eventTimestamp ge '{_odata_time(start)}'", f"eventTimestamp le '{_odata_time(end)}'"]
    if correlation_id:
        parts.append(f"correlationId eq '{validate_guid(correlation_id, 'correlation id')}'")
    elif resource_id:
        parts.append(f"resourceUri eq '{validate_resource_id(resource_id)}'")
    return " and ".join(parts)


def names_the_failure(event: dict[str, Any]) -> bool:
    """A failed entry whose error names a cause (not only a wrapper such as DeploymentFailed): what
    error retrieval settles on, so a correlation query needs nothing after the page holding it."""
    if not is_failed_event(event):
        return False
    err = error_from_event(event, "activity_log")
    return err is not None and specificity(err)[0] == 1


# --- error mapping ---------------------------------------------------------------------------

_AUTHZ_ACTION = re.compile(r"perform action '([^']{1,300})'")
_AUTHZ_SCOPE = re.compile(r"over scope '([^']{1,1000})'")


def _error_code_message(body: Any, fallback_code: str) -> tuple[str, str]:
    err = error_from_obj(body, "arm")
    if err is None:
        return fallback_code, body[:500] if isinstance(body, str) else ""
    return err.code, err.message


def forbidden_message(resource_id: str, code: str, message: str) -> str:
    """'needs role X on scope Y' from ARM's AuthorizationFailed text where it says which action/scope."""
    action = _AUTHZ_ACTION.search(message or "")
    scope = _AUTHZ_SCOPE.search(message or "")
    where = scope.group(1) if scope else resource_id
    if action:
        verb = action.group(1)
        role = "Reader" if verb.lower().endswith("/read") else f"a role allowing '{verb}'"
        return f"needs role {role} (action '{verb}') on scope {where} [{code}]"
    return f"needs role Reader on scope {where} [{code}: {message[:200]}]"


def map_status(resource_id: str, status: int, body: Any) -> ArmError:
    code, message = _error_code_message(body, f"HTTP{status}")
    if status == 404:
        return ArmNotFound(resource_id, 404, code if code != "HTTP404" else "ResourceNotFound",
                           message or "not found")
    if status in (401, 403):
        return ArmForbidden(resource_id, status, code, forbidden_message(resource_id, code, message))
    if status == 429:
        return ArmThrottled(resource_id, 429, code, message or "throttled after capped retries")
    if status >= 500 or status == 408:
        return ArmUnavailable(resource_id, status, code, message or f"ARM answered {status}")
    return ArmError(resource_id, status, code, message)


def map_exception(resource_id: str, err: BaseException) -> ArmError:
    """azure-core exceptions -> port errors (called only from inside this adapter)."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    if isinstance(err, ArmError):
        return err
    if isinstance(err, HttpResponseError) and err.response is not None:
        status = int(err.status_code or 0)
        return map_status(resource_id, status, response_body(err.response, str(err)))
    if isinstance(err, ClientAuthenticationError):
        # No HTTP response: the credential itself could not get a token.
        return ArmForbidden(resource_id, 401, "CredentialUnavailable",
                            f"the app identity could not get a token for ARM: {str(err)[:300]}")
    if isinstance(err, (ServiceRequestError, ServiceResponseError)):
        code = "Timeout" if "timeout" in type(err).__name__.lower() else "ConnectionError"
        return ArmUnavailable(resource_id, 0, code, f"{type(err).__name__}: {str(err)[:300]}")
    if isinstance(err, TimeoutError):
        return ArmUnavailable(resource_id, 0, "Timeout", "ARM read timed out")
    return ArmUnavailable(resource_id, 0, type(err).__name__, str(err)[:300])


def response_body(response: Any, fallback: str = "") -> Any:
    """The JSON (or text) of an error response, whatever the transport's response type."""
    try:
        text = response.text()
    except Exception:
        return fallback
    try:
        return json.loads(text)
    except ValueError:
        return text or fallback


def _copy_error(err: ArmError) -> ArmError:
    return type(err)(err.resource_id, err.status, err.code, err.message)


# --- retry policy ----------------------------------------------------------------------------


def make_retry_policy(*, total: int, retry_after_cap_s: float, budget_s: float | None = None,
                      backoff_factor: float = 0.8, backoff_max: float = 10.0) -> Any:
    """An AsyncRetryPolicy that honours Retry-After but never sleeps longer than the cap, and gives
    up (returning the last 429/5xx, or raising the last connection error) rather than start a wait
    that would end after `budget_s` from the first attempt.
    """
    from azure.core.pipeline import PipelineResponse
    from azure.core.pipeline.policies import AsyncRetryPolicy

    class CappedRetryPolicy(AsyncRetryPolicy[Any, Any]):
        """azure-core sleeps for the full Retry-After (measured: 60 s for `Retry-After: 60`). Cap it."""

        def __init__(self, cap: float, budget: float | None, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.retry_after_cap_s = cap
            self.budget_s = budget

        def get_retry_after(self, response: Any) -> float | None:
            try:
                value = super().get_retry_after(response)
            except (ValueError, TypeError, OverflowError):
                return None  # not seconds and not an HTTP date: the exponential backoff applies
            if value is None:
                return None
            # 0 means "no header" to azure-core and falls back to the exponential backoff.
            return min(float(value), self.retry_after_cap_s)

        def configure_retries(self, options: dict[str, Any]) -> dict[str, Any]:
            settings = super().configure_retries(options)
            settings["aks_triage_started"] = time.monotonic()
            return settings

        def increment(self, settings: dict[str, Any], response: Any = None, error: Exception | None = None) -> bool:
            active = super().increment(settings, response=response, error=error)
            if not active or self.budget_s is None:
                return active
            wait = None
            if isinstance(response, PipelineResponse):
                wait = self.get_retry_after(response)
            if not wait:
                wait = self.get_backoff_time(settings)
            spent = time.monotonic() - settings.get("aks_triage_started", time.monotonic())
            return bool(spent + wait <= self.budget_s)

    return CappedRetryPolicy(retry_after_cap_s, budget_s, retry_total=total, retry_backoff_factor=backoff_factor,
                             retry_backoff_max=backoff_max)


def make_transport(connection_verify: bool | str, **kwargs: Any) -> Any:
    """azure-core's aiohttp transport, reusing one SSLContext when `connection_verify` is a CA path.

    azure-core builds a new SSLContext per request for a CA path (`ssl.create_default_context(
    cafile=...)`), and aiohttp pools connections per SSL context, so every request paid a new
    TCP + TLS handshake plus a CA-file load (measured ~10 ms per GET). With True/False nothing changes.
    """
    from azure.core.pipeline.transport import AioHttpTransport

    class ReusableSslTransport(AioHttpTransport):  # type: ignore[misc]  # the transport module is untyped (Any)
        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self._ssl_contexts: dict[str, Any] = {}

        def _build_ssl_config(self, cert: Any, verify: Any) -> Any:
            if cert or not isinstance(verify, str):
                return super()._build_ssl_config(cert, verify)
            ctx = self._ssl_contexts.get(verify)
            if ctx is None:
                ctx = self._ssl_contexts[verify] = super()._build_ssl_config(cert, verify)
            return ctx

    return ReusableSslTransport(connection_verify=connection_verify, **kwargs)


def env_proxy_for(url: str) -> str | None:
    """The proxy HTTP(S)_PROXY / NO_PROXY name for `url` (as aiohttp's trust_env reads them), or None."""
    import urllib.request

    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxy


def quiet_transport(endpoint: str | None, connection_verify: bool | str = True, **timeouts: Any) -> dict[str, Any]:
    """Client keyword arguments for any azure-core client: a transport that reads no environment per
    request (aiohttp's trust_env costs two thread-pool hops per request, for ~/.netrc and the proxy
    variables, and a ~/.netrc entry for the host breaks the SDK's Authorization header), plus the
    proxy the environment names for `endpoint`, resolved once. `timeouts`: connection_timeout /
    read_timeout, which a given transport takes instead of the client."""
    out: dict[str, Any] = {"transport": make_transport(connection_verify, use_env_settings=False, **timeouts)}
    proxy = env_proxy_for(endpoint) if endpoint else None
    if proxy is not None:
        out["proxies"] = {urlsplit(endpoint or "").scheme: proxy}
    return out


# --- caches ----------------------------------------------------------------------------------


class _TtlCache:
    """(id, api-version) -> JSON text or ArmNotFound, expiring after ttl seconds. SDK-free."""

    def __init__(self, ttl_s: float, clock: Callable[[], float], max_entries: int = 4096) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._max = max_entries
        self._data: OrderedDict[Key, tuple[float, str | ArmNotFound]] = OrderedDict()

    def get(self, key: Key) -> str | ArmNotFound | None:
        item = self._data.get(key)
        if item is None:
            return None
        expires, value = item
        if self._clock() >= expires:
            del self._data[key]
            return None
        return value

    def lifetime(self, key: Key) -> float:
        """80-100 % of the TTL, fixed per key: entries read together in a burst expire spread over a
        fifth of the TTL instead of refreshing at once against the subscription's read bucket."""
        spread = zlib.crc32(repr(key).encode()) / 0xFFFFFFFF
        return self.ttl_s * (1.0 - CACHE_TTL_JITTER * spread)

    def put(self, key: Key, value: str | ArmNotFound) -> None:
        if self.ttl_s <= 0:
            return
        self._data[key] = (self._clock() + self.lifetime(key), value)
        self._data.move_to_end(key)
        while len(self._data) > self._max:
            self._data.popitem(last=False)

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)


# --- the reader ------------------------------------------------------------------------------


class AzureArmReader:
    """Process-wide ARM reader. Implements ArmReader; use `for_run()` per work item."""

    def __init__(
        self,
        settings: Settings,
        *,
        credential: AsyncTokenCredential | None = None,
        base_url: str | None = None,
        connection_verify: bool | str = True,
        retry_backoff_factor: float = 0.8,
        clock: Callable[[], float] = time.monotonic,
        **client_kwargs: Any,
    ) -> None:
        from azure.mgmt.resource.resources.aio import ResourceManagementClient

        self.settings = settings
        self.base_url = (base_url or settings.arm_endpoint).rstrip("/")
        self._host = urlsplit(self.base_url).netloc.lower()
        self._own_credential = credential is None
        if credential is None:
            from shared.azure.credentials import make_async_credential

            credential = make_async_credential()
        self._credential: AsyncTokenCredential = credential
        # Retries of one read may take about half a check's time budget (but always allow one
        # capped Retry-After wait).
        retry_budget_s = max(settings.check_timeout_s / 2, settings.arm_retry_after_cap_s + 1)
        retry = make_retry_policy(total=settings.arm_retry_total,
                                  retry_after_cap_s=settings.arm_retry_after_cap_s,
                                  budget_s=retry_budget_s, backoff_factor=retry_backoff_factor)
        # The whole read, retries included: the check's time, or the retry budget plus one attempt.
        self.read_deadline_s = max(float(settings.check_timeout_s), retry_budget_s + 1.0)
        timeouts = {"connection_timeout": client_kwargs.pop("connection_timeout", 10),
                    "read_timeout": client_kwargs.pop("read_timeout", max(5.0, settings.check_timeout_s))}
        if "transport" not in client_kwargs:
            # No per-request reads of the environment (measured 0.35 ms CPU and 0.9 ms wall at p50,
            # 1.6 ms at p90, per GET); the proxy for the ARM host goes through the ProxyPolicy.
            for key, value in quiet_transport(self.base_url, connection_verify, **timeouts).items():
                client_kwargs.setdefault(key, value)
        # Redirects are not followed: ARM never redirects a read, and a followed redirect would
        # carry the bearer token to whatever host the Location names. A 3xx is an ArmError.
        from azure.core.pipeline.policies import AsyncRedirectPolicy

        client_kwargs.setdefault("redirect_policy", AsyncRedirectPolicy(permit_redirects=False))
        # The client needs a subscription id but generic reads and send_request never use it.
        self._client: ResourceManagementClient = ResourceManagementClient(
            credential, "00000000-0000-0000-0000-000000000000", base_url=self.base_url,
            connection_verify=connection_verify, retry_policy=retry, raw_response_hook=self._on_response,
            **client_kwargs,
        )
        self._cache = _TtlCache(settings.arm_cache_ttl_s, clock)
        self._clock = clock
        # ActivityKey -> (expires, window end, JSON text of the events)
        self._activity_found: OrderedDict[ActivityKey, tuple[float, datetime, str]] = OrderedDict()
        self._inflight: dict[Key, asyncio.Task[str]] = {}
        self._gate: asyncio.Semaphore | None = None
        self._reads = 0
        self.cache_hits = 0
        self.coalesced = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._closed = False

    # -- ArmReader ------------------------------------------------------------------------

    @property
    def reads_made(self) -> int:
        return self._reads

    @property
    def credential(self) -> AsyncTokenCredential:
        """The process's credential (share it with the other Azure clients; the reader closes it)."""
        return self._credential

    async def get(self, resource_id: str, api_version: str) -> dict[str, Any]:
        text = await self.get_text(resource_id, api_version)
        body: dict[str, Any] = json.loads(text)
        return body

    async def activity_log(
        self, subscription_id: str, *, correlation_id: str | None = None, resource_id: str | None = None,
        start: datetime | None = None, end: datetime | None = None,
    ) -> list[dict[str, Any]]:
        return await self._activity_log(subscription_id, correlation_id=correlation_id,
                                        resource_id=resource_id, start=start, end=end, counter=None)

    # -- per run ----------------------------------------------------------------------------

    def for_run(self) -> ArmRunReader:
        return ArmRunReader(self)

    # -- lifecycle --------------------------------------------------------------------------

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in list(self._inflight.values()):
            task.cancel()
        await self._client.close()
        if self._own_credential:
            close = getattr(self._credential, "close", None)
            if close is not None:
                await close()

    async def __aenter__(self) -> AzureArmReader:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def clear_cache(self) -> None:
        self._cache.clear()

    # -- internals --------------------------------------------------------------------------

    def _on_response(self, pipeline_response: Any) -> None:
        """raw_response_hook: runs once per HTTP attempt that got a response (retries included)."""
        if pipeline_response.http_request.method.upper() != "GET":
            return
        self._reads += 1
        counter = _RUN_COUNTER.get()
        if counter is not None:
            counter[0] += 1

    def _semaphore(self) -> asyncio.Semaphore:
        if self._gate is None:
            self._gate = asyncio.Semaphore(self.settings.arm_concurrency)
        return self._gate

    async def _limited(self, call: Callable[[], Awaitable[Any]]) -> Any:
        async with self._semaphore():
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                # A total deadline per read (retries included): the transport's read timeout
                # restarts with every chunk, so a trickling answer could otherwise hold a read.
                # asyncio.timeout, not wait_for: no task per read (3.11's wait_for wraps the call in one).
                async with asyncio.timeout(self.read_deadline_s):
                    return await call()
            finally:
                self.in_flight -= 1

    async def get_text(self, resource_id: str, api_version: str, counter: list[int] | None = None) -> str:
        """The body as JSON text (shared cache, then in-flight coalescing, then one fetch)."""
        rid = validate_resource_id(resource_id)
        validate_api_version(api_version)
        key: Key = (normalize_id(rid), api_version)
        cached = self._cache.get(key)
        if cached is not None:
            self.cache_hits += 1
            if isinstance(cached, ArmNotFound):
                raise _copy_error(cached)
            return cached
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._fetch_task(rid, api_version, key, counter))
            self._inflight[key] = task
            task.add_done_callback(functools.partial(self._task_done, key))
        else:
            self.coalesced += 1
        try:
            # shield: a caller that times out must not cancel the read others are waiting for.
            return await asyncio.shield(task)
        except ArmError as err:
            raise _copy_error(err) from None

    def _task_done(self, key: Key, task: asyncio.Task[str]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # mark retrieved: every waiter may have gone away

    async def _fetch_task(self, rid: str, api_version: str, key: Key, counter: list[int] | None) -> str:
        _RUN_COUNTER.set(counter)
        try:
            body = await self._fetch(rid, api_version)
        except ArmNotFound as err:
            self._cache.put(key, err)
            raise
        text = json.dumps(body, separators=(",", ":"))
        self._cache.put(key, text)
        return text

    async def _fetch(self, rid: str, api_version: str) -> dict[str, Any]:
        from azure.core.rest import HttpRequest

        skus = _REGION_SKUS.match(rid)
        if skus:
            first = await self._region_skus(rid, skus.group(1), skus.group(2), api_version)
        else:
            # The request `resources.get_by_id` builds (GET {rid}?api-version=..., the id unquoted), sent
            # through the same client pipeline (token, retries, hooks), without the operation's
            # GenericResource deserialisation, which the app never used: 0.3 of 1.5 ms CPU per GET.
            request = HttpRequest("GET", rid, params={"api-version": api_version},
                                  headers={"Accept": "application/json"})
            first = await self._send(rid, request)
        if not isinstance(first, dict):
            raise ArmUnavailable(rid, 200, "InvalidBody", "ARM answered with a non-object JSON body")
        if "value" in first and isinstance(first.get("value"), list) and first.get("nextLink"):
            values = list(first["value"])
            next_link = first.get("nextLink")
            pages = 1
            while next_link:
                pages += 1
                if pages > MAX_PAGES:
                    raise ArmUnavailable(rid, 200, "TooManyPages", f"more than {MAX_PAGES} pages")
                page = await self._get_page(rid, str(next_link))
                values.extend(page.get("value") or [])
                next_link = page.get("nextLink")
            first = {k: v for k, v in first.items() if k != "nextLink"}
            first["value"] = values
        return first

    async def _region_skus(self, rid: str, provider: str, region: str, api_version: str) -> dict[str, Any]:
        """The region's Compute SKU list: ResourceSkus_List with `$filter=location eq '<region>'`.
        Checks and snapshots name it by the id `.../Microsoft.Compute/locations/<region>/skus`, which
        is not an ARM route; the region comes from the validated id."""
        from azure.core.rest import HttpRequest

        request = HttpRequest("GET", f"{provider}/skus", headers={"Accept": "application/json"},
                              params={"api-version": api_version, "$filter": f"location eq '{region.lower()}'"})
        return await self._send(rid, request)

    def _check_next_link(self, rid: str, link: str) -> str:
        parts = urlsplit(link)
        if parts.scheme != "https" or parts.netloc.lower() != self._host:
            raise ArmUnavailable(rid, 200, "UntrustedNextLink",
                                 f"nextLink points outside {self._host}; not following it")
        return link

    async def _get_page(self, rid: str, link: str) -> dict[str, Any]:
        from azure.core.rest import HttpRequest

        request = HttpRequest("GET", self._check_next_link(rid, link), headers={"Accept": "application/json"})
        return await self._send(rid, request)

    async def _send(self, rid: str, request: Any) -> dict[str, Any]:
        try:
            response = await self._limited(lambda: self._client.send_request(request))
            await response.read()
        except Exception as err:
            raise map_exception(rid, err) from None
        body: Any
        try:
            body = response.json()
        except Exception:
            body = response.text() if response.status_code >= 400 else None
        if response.status_code != 200:
            raise map_status(rid, response.status_code, body)
        if not isinstance(body, dict):
            raise ArmUnavailable(rid, 200, "InvalidBody", "ARM answered with a non-object JSON body")
        return body

    async def _activity_log(
        self, subscription_id: str, *, correlation_id: str | None, resource_id: str | None,
        start: datetime | None, end: datetime | None, counter: list[int] | None,
    ) -> list[dict[str, Any]]:
        sub = validate_guid(subscription_id, "subscription id")
        corr = validate_guid(correlation_id, "correlation id") if correlation_id else None
        rid = validate_resource_id(resource_id) if resource_id else None
        end_t = end or datetime.now(UTC)
        start_t = start or (end_t - ACTIVITY_DEFAULT_WINDOW)
        if end_t - start_t > ACTIVITY_MAX_WINDOW:
            start_t = end_t - ACTIVITY_MAX_WINDOW
        key: ActivityKey = (sub, corr or "", normalize_id(rid) if rid else "", _odata_time(start_t))
        reused = self._reuse_activity(key, end_t)
        if reused is not None:
            return reused
        events = await self._read_activity(sub, corr, rid, start_t, end_t, counter)
        if corr and any(names_the_failure(e) for e in events):
            self._keep_activity(key, end_t, events)
        return events

    def _reuse_activity(self, key: ActivityKey, end: datetime) -> list[dict[str, Any]] | None:
        item = self._activity_found.get(key)
        if item is None:
            return None
        expires, kept_end, text = item
        if self._clock() >= expires:
            del self._activity_found[key]
            return None
        if end < kept_end:  # a narrower window than the one read: read it for itself
            return None
        self.cache_hits += 1
        events: list[dict[str, Any]] = json.loads(text)
        return events

    def _keep_activity(self, key: ActivityKey, end: datetime, events: list[dict[str, Any]]) -> None:
        text = json.dumps(events, separators=(",", ":"))
        if len(text) > ACTIVITY_REUSE_MAX_CHARS:
            return
        self._activity_found[key] = (self._clock() + ACTIVITY_REUSE_TTL_S, end, text)
        self._activity_found.move_to_end(key)
        while len(self._activity_found) > ACTIVITY_REUSE_MAX_KEYS:
            self._activity_found.popitem(last=False)

    async def _read_activity(self, sub: str, corr: str | None, rid: str | None, start: datetime, end: datetime,
                             counter: list[int] | None) -> list[dict[str, Any]]:
        """The query's entries, page by page, until the failure entry (correlation queries) or a cap.

        The $filter takes one of correlationId / resourceUri besides the time range (the documented
        patterns); with both, the correlation goes to the server and the resource is matched here.
        """
        from azure.core.rest import HttpRequest

        flt = activity_log_filter(correlation_id=corr, resource_id=rid, start=start, end=end)
        scope = f"/subscriptions/{sub}/providers/Microsoft.Insights/eventtypes/management/values"
        prefix = normalize_id(rid) if rid and corr else None
        events: list[dict[str, Any]] = []
        pages = 0
        next_link: str | None = None
        token = _RUN_COUNTER.set(counter)
        try:
            while True:
                if next_link is None:
                    request = HttpRequest("GET", scope, params={"api-version": ACTIVITY_LOG_API, "$filter": flt,
                                                                "$select": ACTIVITY_SELECT},
                                          headers={"Accept": "application/json"})
                    page = await self._send(scope, request)
                else:
                    page = await self._get_page(scope, next_link)
                pages += 1
                page_events = [e for e in page.get("value") or [] if isinstance(e, dict)]
                events.extend(e for e in page_events if prefix is None
                              or normalize_id(str(e.get("resourceId", ""))).startswith(prefix))
                link = page.get("nextLink")
                next_link = str(link) if link else None
                if next_link is None:
                    break
                if corr and any(names_the_failure(e) for e in page_events):
                    break  # the operation's failure is in hand; later pages are older progress entries
                if pages >= ACTIVITY_MAX_PAGES or len(events) >= ACTIVITY_MAX_ENTRIES:
                    log.warning("Activity Log read stopped after %d pages and %d entries (caps %d / %d) for %s",
                                pages, len(events), ACTIVITY_MAX_PAGES, ACTIVITY_MAX_ENTRIES, flt)
                    break
        finally:
            _RUN_COUNTER.reset(token)
        return events[:ACTIVITY_MAX_ENTRIES]


class _InitiatorGone(Exception):
    """The run's first reader of a key was cancelled; the others must read for themselves."""


class ArmRunReader:
    """One work item's view: read-once per (id, api-version) for the run, own body copies."""

    def __init__(self, shared: AzureArmReader) -> None:
        self._shared = shared
        self._results: dict[Key, dict[str, Any] | ArmError] = {}
        self._pending: dict[Key, asyncio.Future[dict[str, Any]]] = {}
        self._activity: dict[tuple[str, str, str, str, str], str] = {}
        self._counter = [0]

    @property
    def reads_made(self) -> int:
        """HTTP GETs this run caused (reads served from the shared cache or coalesced cost nothing)."""
        return self._counter[0]

    def for_run(self) -> ArmRunReader:
        return self  # already one work item's view

    async def get(self, resource_id: str, api_version: str) -> dict[str, Any]:
        key: Key = (normalize_id(str(resource_id)), str(api_version))
        done = self._results.get(key)
        if done is not None:
            if isinstance(done, ArmError):
                raise _copy_error(done)
            return done
        fut = self._pending.get(key)
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
            self._pending[key] = fut
            try:
                text = await self._shared.get_text(resource_id, api_version, self._counter)
                body: dict[str, Any] = json.loads(text)
                self._results[key] = body
                fut.set_result(body)
            except ArmError as err:
                self._results[key] = err
                fut.set_exception(_copy_error(err))
                fut.exception()
                raise
            except BaseException:  # cancelled / unexpected: not remembered; waiters read for themselves
                fut.set_exception(_InitiatorGone())
                fut.exception()
                raise
            finally:
                self._pending.pop(key, None)
            return body
        try:
            return await asyncio.shield(fut)
        except _InitiatorGone:
            return await self.get(resource_id, api_version)

    async def activity_log(
        self, subscription_id: str, *, correlation_id: str | None = None, resource_id: str | None = None,
        start: datetime | None = None, end: datetime | None = None,
    ) -> list[dict[str, Any]]:
        # Read once per run for the same query (error retrieval, checks and the snapshot recorder
        # may each ask); each caller gets its own copy.
        key = (str(subscription_id).lower(), str(correlation_id or "").lower(), normalize_id(resource_id or ""),
               _odata_time(start) if start else "", _odata_time(end) if end else "")
        text = self._activity.get(key)
        if text is None:
            events = await self._shared._activity_log(subscription_id, correlation_id=correlation_id,
                                                      resource_id=resource_id, start=start, end=end,
                                                      counter=self._counter)
            text = self._activity[key] = json.dumps(events, separators=(",", ":"))
        copy: list[dict[str, Any]] = json.loads(text)
        return copy


# --- process-wide factory --------------------------------------------------------------------

_READER: AzureArmReader | None = None
_READER_LOOP: asyncio.AbstractEventLoop | None = None


def get_arm_reader(settings: Settings, **kwargs: Any) -> AzureArmReader:
    """The process's reader, built on first use and reused across invocations.

    The aiohttp session is tied to an event loop; if called from a different loop (a test, or a
    worker restart of its loop) a new reader is built. kwargs (credential, base_url,
    connection_verify, ...) are used only when building.
    """
    global _READER, _READER_LOOP
    try:
        loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if _READER is None or _READER._closed or (loop is not None and _READER_LOOP is not loop):
        _READER = AzureArmReader(settings, **kwargs)
        _READER_LOOP = loop
    return _READER


async def aclose() -> None:
    """Close the process-wide reader, and the workspace source sharing its credential (shutdown, tests)."""
    global _READER, _READER_LOOP
    workspace = sys.modules.get("shared.azure.activity_workspace")
    if workspace is not None:
        await workspace.aclose_workspace_source()
    reader, _READER, _READER_LOOP = _READER, None, None
    if reader is not None:
        await reader.aclose()
