"""Failed Activity Log entries from the `AzureActivity` table of a Log Analytics workspace.

Owns: the one KQL query the error source runs (built only from a validated GUID) and mapping its
rows back to the REST Activity Log event shape, so `shared.errors` treats both sources alike.
Accepts both status vocabularies (REST `Failed` / table `Failure`). `Properties_d` is a dynamic
column, which the query API returns as a JSON string; it is parsed here.

azure-monitor-query is imported lazily (inside the constructor).
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.azure.arm import get_arm_reader, map_status, quiet_transport, response_body, validate_guid
from shared.azure.credentials import LOGS_AUDIENCE
from shared.ports import ArmForbidden, ArmUnavailable
from shared.settings import Settings

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

log = logging.getLogger(__name__)

MAX_ROWS = 200


async def query_table(client: Any, workspace_id: str, query: str, *, timespan: tuple[datetime, datetime],
                      server_timeout_s: int, table: str) -> Any:
    """One Logs query against `table` of a workspace; a refusal names the table-scoped read the app
    needs, a connection failure is ArmUnavailable (the callers' retry rules are the ARM reader's)."""
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    scope = f"workspace {workspace_id} table {table}"
    try:
        return await client.query_workspace(workspace_id, query, timespan=timespan, server_timeout=server_timeout_s)
    except HttpResponseError as err:
        body = response_body(err.response) if err.response is not None else None
        mapped = map_status(scope, int(err.status_code or 0), body)
        if isinstance(mapped, ArmForbidden):
            mapped = ArmForbidden(scope, mapped.status, mapped.code,
                                  f"needs Reader on table {table} and query access to workspace {workspace_id} "
                                  f"[{mapped.code}]")
        raise mapped from None
    except (ServiceRequestError, ServiceResponseError) as err:
        raise ArmUnavailable(scope, 0, "ConnectionError", f"{type(err).__name__}: {str(err)[:300]}") from None


def azure_activity_query(correlation_id: str) -> str:
    """The KQL for one correlation id. Only a validated GUID goes into the text."""
    guid = validate_guid(correlation_id, "correlation id")
    return (
        "AzureActivity\n"
        f"| where CorrelationId =~ '{guid}'\n"
        "| where ActivityStatusValue in~ ('Failure', 'Failed')\n"
        "| project TimeGenerated, CorrelationId, OperationNameValue, ActivityStatusValue,"
        " ActivitySubstatusValue, ResourceIdLower = _ResourceId, SubscriptionId, ResourceGroup, Level,"
        " Properties_d, Properties\n"
        "| order by TimeGenerated asc\n"
        f"| take {MAX_ROWS}"
    )


def _json_obj(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip().startswith("{") and len(value) < 1_000_000:
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def row_to_event(row: dict[str, Any]) -> dict[str, Any]:
    """One AzureActivity row -> an event in the REST eventtypes/management/values shape."""
    props = _json_obj(row.get("Properties_d")) or _json_obj(row.get("Properties")) or {}
    status = str(row.get("ActivityStatusValue") or "")
    ts = row.get("TimeGenerated")
    if isinstance(ts, datetime):
        ts = (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z")
    resource_id = row.get("ResourceIdLower") or row.get("_ResourceId") or row.get("ResourceId") or ""
    return {
        "correlationId": str(row.get("CorrelationId") or ""),
        "eventTimestamp": ts if isinstance(ts, str) else None,
        "resourceId": str(resource_id),
        "subscriptionId": str(row.get("SubscriptionId") or ""),
        "resourceGroupName": str(row.get("ResourceGroup") or ""),
        "level": str(row.get("Level") or ""),
        "operationName": {"value": str(row.get("OperationNameValue") or "")},
        # Table vocabulary (Failure) -> REST vocabulary (Failed).
        "status": {"value": "Failed" if status.lower() in ("failure", "failed") else status},
        "subStatus": {"value": str(row.get("ActivitySubstatusValue") or "")},
        "properties": props,
    }


class WorkspaceActivitySource:
    """Reads failed AzureActivity rows for one correlation id (azure-monitor-query, async)."""

    def __init__(
        self,
        workspace_id: str,
        *,
        credential: AsyncTokenCredential | None = None,
        endpoint: str = "https://api.loganalytics.io",
        audience: str = LOGS_AUDIENCE,
        connection_verify: bool | str = True,
        server_timeout_s: int = 60,
        **client_kwargs: Any,
    ) -> None:
        from azure.monitor.query.aio import LogsQueryClient

        self.workspace_id = validate_guid(workspace_id, "workspace id")
        self._own_credential = credential is None
        if credential is None:
            from shared.azure.credentials import make_async_credential

            credential = make_async_credential()
        self._credential = credential
        self._server_timeout_s = server_timeout_s
        client_kwargs.setdefault("retry_total", 2)
        if "transport" not in client_kwargs:
            for key, value in quiet_transport(endpoint, connection_verify).items():
                client_kwargs.setdefault(key, value)
        self._client = LogsQueryClient(credential, endpoint=endpoint.rstrip("/"), audience=audience,
                                       connection_verify=connection_verify, **client_kwargs)
        self.queries_made = 0
        self.last_partial_error: str | None = None

    async def events(self, correlation_id: str, *, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Failed entries for the correlation id between start and end, REST-shaped."""
        from azure.monitor.query import LogsQueryPartialResult

        self.queries_made += 1
        result = await query_table(self._client, self.workspace_id, azure_activity_query(correlation_id),
                                   timespan=(start, end), server_timeout_s=self._server_timeout_s,
                                   table="AzureActivity")
        if isinstance(result, LogsQueryPartialResult):
            perr = result.partial_error
            self.last_partial_error = f"{getattr(perr, 'code', '')}: {getattr(perr, 'message', '')}"[:500]
            log.warning("AzureActivity query returned a partial result: %s", self.last_partial_error)
            tables = result.partial_data or []
        else:
            self.last_partial_error = None
            tables = result.tables or []
        out: list[dict[str, Any]] = []
        for table in tables:
            columns = list(table.columns)
            for row in table.rows:
                out.append(row_to_event(dict(zip(columns, list(row), strict=False))))
        return out

    async def aclose(self) -> None:
        await self._client.close()
        if self._own_credential:
            close = getattr(self._credential, "close", None)
            if close is not None:
                await close()

    async def __aenter__(self) -> WorkspaceActivitySource:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()



_SOURCE: WorkspaceActivitySource | None = None
_SOURCE_LOOP: asyncio.AbstractEventLoop | None = None


def get_workspace_source(settings: Settings, **kwargs: Any) -> WorkspaceActivitySource | None:
    """The process's AzureActivity source, or None when settings do not ask for one.

    Built on first use with the ARM reader's credential (one credential per process); rebuilt when
    called from another event loop. kwargs (endpoint, connection_verify, credential...) apply when
    building.
    """
    global _SOURCE, _SOURCE_LOOP
    if settings.activity_log_source == "rest" or not settings.activity_workspace_id:
        return None
    try:
        loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if _SOURCE is None or (loop is not None and _SOURCE_LOOP is not loop):
        if "credential" not in kwargs:
            kwargs["credential"] = get_arm_reader(settings).credential
        _SOURCE = WorkspaceActivitySource(settings.activity_workspace_id, **kwargs)
        _SOURCE_LOOP = loop
    return _SOURCE


async def aclose_workspace_source() -> None:
    global _SOURCE, _SOURCE_LOOP
    source, _SOURCE, _SOURCE_LOOP = _SOURCE, None, None
    if source is not None:
        await source.aclose()
