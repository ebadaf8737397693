"""Internal, frozen data passed between the pipeline stages.

Owns: the types every stage agrees on (FailedOperation -> OperationError -> Classification ->
CheckResult -> Finding). Inbound wire models (Event Grid envelopes, ARM error bodies) live next to
their parsers and are converted into these right away; nothing here knows about Azure SDK objects.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OperationKind(StrEnum):
    WRITE_FAILURE = "write_failure"
    ACTION_FAILURE = "action_failure"
    DELETE_FAILURE = "delete_failure"
    NODEPOOL_ROLLING_FAILED = "nodepool_rolling_failed"
    # Successes close open findings (resolution notices); they never produce a diagnosis.
    WRITE_SUCCESS = "write_success"
    # `aks-triage diagnose --cluster ID`: no event, the user asks about the latest failure.
    ON_DEMAND = "on_demand"


class FailedOperation(Frozen):
    """One AKS operation that failed (or, for WRITE_SUCCESS, succeeded), as read from an event."""

    event_id: str
    event_type: str
    event_time: datetime
    kind: OperationKind
    cluster_id: str  # canonical ARM id of the managed cluster (original casing kept)
    subscription_id: str
    resource_group: str
    cluster_name: str
    agent_pool: str | None = None
    resource_id: str  # the event's target: cluster or agent pool id
    operation_name: str | None = None  # RBAC action, e.g. Microsoft.ContainerService/managedClusters/write
    verb: str = "unknown"  # create / update / upgrade / scale / start / stop / delete / action / unknown
    correlation_id: str | None = None
    tenant_id: str | None = None
    caller: str | None = None
    http_method: str | None = None
    api_version: str | None = None
    event_schema: Literal["eventgrid", "cloudevents", "cli"] = "eventgrid"

    @property
    def idempotency_key(self) -> str:
        """Same event redelivered -> same key (Event Grid keeps the id across retries)."""
        return hashlib.sha256(f"{self.event_id}|{self.resource_id.lower()}".encode()).hexdigest()[:32]


class OperationError(Frozen):
    """An ARM error tree, normalised. `source` says where it was found."""

    code: str
    message: str = ""
    target: str | None = None
    details: tuple[OperationError, ...] = ()
    # cluster_status | agentpool_status | activity_log | azure_activity | deployment | text | none
    source: str = "unknown"

    def walk(self) -> list[OperationError]:
        out: list[OperationError] = [self]
        for d in self.details:
            out.extend(d.walk())
        return out


Transient = Literal["true", "false", "depends"]
Confidence = Literal["high", "medium", "low"]


class Classification(Frozen):
    """What the catalog says about an error. Field names are the `classify --json` contract."""

    code: str  # most specific canonical code
    entry_id: str  # catalog entry id (a code can have several entries, e.g. OperationNotAllowed.*)
    title: str = ""
    category: str
    subcategory: str | None = None
    severity: Literal["critical", "error", "warning", "info"] = "error"
    transient: Transient = "depends"
    exit_status: int | None = None
    docs: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    facts: dict[str, Any] = Field(default_factory=dict)
    confidence: Confidence = "low"
    matched_on: str = "fallback"
    causes: tuple[str, ...] = ()
    guidance: str = ""
    wrapper_codes: tuple[str, ...] = ()  # containers walked through on the way to `code`


class CheckStatus(StrEnum):
    PASS = "pass"  # noqa: S105 - a check status, not a password
    FAIL = "fail"
    ERROR = "error"
    SKIPPED = "skipped"
    NOT_APPLICABLE = "not_applicable"


class Evidence(Frozen):
    """One fact that decided a check: which property of which resource had which value."""

    resource_id: str | None = None
    property: str
    value: Any = None
    note: str | None = None


class CheckResult(Frozen):
    id: str
    title: str = ""
    status: CheckStatus
    summary: str
    evidence: tuple[Evidence, ...] = ()
    remediation: str | None = None
    docs: tuple[str, ...] = ()
    # For error / skipped: why the check could not decide (e.g. "needs Reader on /subscriptions/x").
    reason: str | None = None


class Finding(Frozen):
    """Everything known about one failed operation; the sink-agnostic unit every output renders."""

    finding_id: str  # fingerprint, stable across redeliveries of the same failure
    operation: FailedOperation
    error: OperationError
    classification: Classification
    checks: tuple[CheckResult, ...] = ()
    root_causes: tuple[str, ...] = ()  # failing check ids, most likely first
    summary: str
    remediation: str | None = None
    docs: tuple[str, ...] = ()
    severity: Literal["critical", "error", "warning", "info"] = "error"
    region: str | None = None
    diagnosed_at: datetime
    status: Literal["open", "escalated", "resolved"] = "open"
    occurrence_count: int = 1
    notes: tuple[str, ...] = ()  # degraded-mode remarks, e.g. "error not found before deadline"


def fingerprint(cluster_id: str, correlation_id: str | None, code: str, event_id: str) -> str:
    """Stable id for one failure: redeliveries and the cluster/agent-pool twin events collapse.

    Without a correlation id, fall back to the event id so distinct failures stay distinct.
    """
    anchor = (correlation_id or f"event:{event_id}").lower()
    raw = f"{cluster_id.lower()}|{anchor}|{code.lower()}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]
