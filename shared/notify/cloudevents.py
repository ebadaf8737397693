"""A notice as a CloudEvents 1.0 event (structured JSON), without any SDK.

Types: AksTriage.Finding.Opened / .Updated / .Escalated / .Resolved. `id` is the notice id, so a
redelivered or retried notice carries the same id and subscribers dedupe on (source, id) as the
spec allows. `source` names the app, `subject` the cluster; `data` is `FindingEventData`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.notify.notice import Notice

SOURCE = "/aks-triage/findings"
TYPES = {"opened": "AksTriage.Finding.Opened", "updated": "AksTriage.Finding.Updated",
         "escalated": "AksTriage.Finding.Escalated", "resolved": "AksTriage.Finding.Resolved"}
DATA_SCHEMA_VERSION = 1


class FindingEventItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    finding_id: str | None
    code: str
    top_cause: str | None
    severity: str | None
    summary: str | None
    remediation: str | None
    links: tuple[str, ...]
    first_seen: datetime
    occurrences: int
    total: int


class FindingEventData(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = DATA_SCHEMA_VERSION
    notice: str
    cluster_id: str
    cluster_name: str
    operation: str | None
    correlation_id: str | None
    findings: tuple[FindingEventItem, ...]


def event_data(notice: Notice) -> FindingEventData:
    items = []
    for i in notice.items:
        f = i.finding
        items.append(FindingEventItem(
            finding_id=f.finding_id if f else None, code=i.error_code,
            top_cause=(f.root_causes[0] if f and f.root_causes else None), severity=f.severity if f else None,
            summary=f.summary if f else None, remediation=f.remediation if f else None,
            links=tuple(f.docs[:10]) if f else (), first_seen=i.first_seen, occurrences=i.occurrences,
            total=i.total))
    f0 = notice.finding
    return FindingEventData(notice=notice.kind, cluster_id=notice.cluster_id, cluster_name=notice.cluster_name,
                            operation=f0.operation.verb if f0 else None,
                            correlation_id=f0.operation.correlation_id if f0 else None, findings=tuple(items))


def event_fields(notice: Notice) -> dict[str, Any]:
    """The CloudEvents attributes and JSON data of a notice (what the SDK's CloudEvent takes)."""
    return {"id": notice.notice_id, "source": SOURCE, "type": TYPES[notice.kind], "subject": notice.cluster_id,
            "time": notice.at, "datacontenttype": "application/json",
            "data": event_data(notice).model_dump(mode="json")}
