"""Failure history from the app's own findings table (`AKSTriageFindings_CL`) through the Logs Query API.

The capacity check (`shared/checks/capacity_history.py`) wants `[{time, cluster_id, region, code}]`:
this cluster's earlier failures (to tell "failing for more than 24 h" from a first blip) and other
clusters' failures with the same family of codes in the last 24 h (regional pressure). The table
holds one row per notice (open, updated, escalated, resolved), so the query folds them to one row per
FindingId with the first time seen. The KQL is built only from a validated cluster id and validated
codes (tests/infra/test_kql.py type-checks it against the schema file).

The identity reads this one table: Reader on the table plus a query-only role on the workspace
(infra/app/workspace-reader.bicep). azure-monitor-query is imported lazily.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.azure.arm import quiet_transport, validate_guid
from shared.azure.credentials import LOGS_AUDIENCE
from shared.ports import ArmError

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

    from shared.models import FailedOperation

TABLE = "AKSTriageFindings_CL"
LOOKBACK = timedelta(days=7)  # this cluster's rows: long enough to see "failing for more than 24 h"
REGIONAL = timedelta(hours=24)  # other clusters' rows
MAX_ROWS = 2000
_CLUSTER_ID = re.compile(
    r"^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[-\w.()]{1,90}"
    r"/providers/Microsoft\.ContainerService/managedClusters/[-\w]{1,63}$",
    re.IGNORECASE,
)
_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_.]{0,99}$")


def history_query(cluster_id: str, codes: Sequence[str]) -> str:
    """KQL for one cluster's findings (whole lookback) and every cluster's `codes` findings (24 h)."""
    if not _CLUSTER_ID.match(cluster_id or ""):
        raise ArmError(cluster_id, 400, "InvalidClusterId", f"not a managed cluster id: {cluster_id[:120]!r}")
    bad = [c for c in codes if not _CODE.match(c)]
    if bad or not codes:
        raise ArmError(cluster_id, 400, "InvalidCode", f"error codes must be identifiers: {bad[:3]!r}")
    code_list = ", ".join(f"'{c}'" for c in sorted(set(codes)))
    return (
        f"{TABLE}\n"
        f"| where ClusterId =~ '{cluster_id}'"
        f" or (TimeGenerated > ago({int(REGIONAL.total_seconds() // 3600)}h) and ErrorCode in~ ({code_list}))\n"
        "| extend FirstTime = iff(isnull(EventTime), TimeGenerated, EventTime)\n"
        # `time` is a Kusto keyword: bracketed as a column name.
        "| summarize ['time'] = min(FirstTime)"
        " by FindingId, cluster_id = ClusterId, region = Region, code = ErrorCode\n"
        f"| top {MAX_ROWS} by ['time'] desc"
    )


def _aware(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class FindingsHistory:
    """`await history(op)` -> the rows the capacity check reads (async, one query per call)."""

    def __init__(
        self,
        workspace_id: str,
        codes: Sequence[str],
        *,
        credential: AsyncTokenCredential,
        endpoint: str = "https://api.loganalytics.io",
        audience: str = LOGS_AUDIENCE,
        connection_verify: bool | str = True,
        server_timeout_s: int = 30,
        now: Any = None,
        **client_kwargs: Any,
    ) -> None:
        from azure.monitor.query.aio import LogsQueryClient

        self.workspace_id = validate_guid(workspace_id, "findings workspace id")
        self.codes = tuple(codes)
        self._now = now or (lambda: datetime.now(UTC))
        self._server_timeout_s = server_timeout_s
        client_kwargs.setdefault("retry_total", 2)
        if "transport" not in client_kwargs:
            for key, value in quiet_transport(endpoint, connection_verify).items():
                client_kwargs.setdefault(key, value)
        self._client = LogsQueryClient(credential, endpoint=endpoint.rstrip("/"), audience=audience,
                                       connection_verify=connection_verify, **client_kwargs)
        self.queries_made = 0

    async def __call__(self, op: FailedOperation) -> list[dict[str, Any]]:
        from azure.monitor.query import LogsQueryPartialResult

        from shared.azure.activity_workspace import query_table

        end = self._now()
        self.queries_made += 1
        result = await query_table(self._client, self.workspace_id, history_query(op.cluster_id, self.codes),
                                   timespan=(end - LOOKBACK, end), server_timeout_s=self._server_timeout_s,
                                   table=TABLE)
        tables = (result.partial_data or []) if isinstance(result, LogsQueryPartialResult) else (result.tables or [])
        rows: list[dict[str, Any]] = []
        for table in tables:
            columns = list(table.columns)
            for row in table.rows:
                record = dict(zip(columns, list(row), strict=False))
                rows.append({"time": _aware(record.get("time")), "cluster_id": str(record.get("cluster_id") or ""),
                             "region": str(record.get("region") or ""), "code": str(record.get("code") or ""),
                             "finding_id": str(record.get("FindingId") or "")})
        return rows

    async def aclose(self) -> None:
        await self._client.close()
