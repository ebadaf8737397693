"""Small builders for the core models, so tests state only what they care about.

    op = make_operation(cluster="aks-a", event_id="e1")
    f = make_finding(op=op, code="SubnetIsFull", transient="false")
    ok = make_success(cluster="aks-a")
All ids are realistic ARM ids; every argument has a sensible default (a fresh event id and
correlation id per call unless given; pass correlation_id=None for an event without one).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from shared.models import (
    CheckResult,
    CheckStatus,
    Classification,
    Evidence,
    FailedOperation,
    Finding,
    OperationError,
    OperationKind,
    fingerprint,
)

SUB = "00000000-0000-0000-0000-000000000000"
T0 = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)


def cluster_id(cluster: str = "aks-prod-01", rg: str = "rg-aks-prod", sub: str = SUB) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ContainerService/managedClusters/{cluster}"


def make_operation(
    *, cluster: str = "aks-prod-01", rg: str = "rg-aks-prod", sub: str = SUB, event_id: str | None = None,
    correlation_id: str | None = "auto", kind: OperationKind = OperationKind.WRITE_FAILURE,
    agent_pool: str | None = None, event_time: datetime = T0, verb: str = "update", **extra: Any,
) -> FailedOperation:
    cid = cluster_id(cluster, rg, sub)
    event_type = {
        OperationKind.WRITE_FAILURE: "Microsoft.Resources.ResourceWriteFailure",
        OperationKind.ACTION_FAILURE: "Microsoft.Resources.ResourceActionFailure",
        OperationKind.DELETE_FAILURE: "Microsoft.Resources.ResourceDeleteFailure",
        OperationKind.WRITE_SUCCESS: "Microsoft.Resources.ResourceWriteSuccess",
        OperationKind.NODEPOOL_ROLLING_FAILED: "Microsoft.ContainerService.NodePoolRollingFailed",
        OperationKind.ON_DEMAND: "aks-triage.OnDemand",
    }[kind]
    fields: dict[str, Any] = dict(
        event_id=event_id or str(uuid.uuid4()),
        event_type=event_type,
        event_time=event_time,
        kind=kind,
        cluster_id=cid,
        subscription_id=sub,
        resource_group=rg,
        cluster_name=cluster,
        agent_pool=agent_pool,
        resource_id=f"{cid}/agentPools/{agent_pool}" if agent_pool else cid,
        operation_name="Microsoft.ContainerService/managedClusters/write",
        verb=verb,
        correlation_id=str(uuid.uuid4()) if correlation_id == "auto" else correlation_id,
        caller="ops@contoso.example",
    )
    fields.update(extra)
    return FailedOperation(**fields)


def make_success(*, cluster: str = "aks-prod-01", rg: str = "rg-aks-prod", event_id: str | None = None,
                 agent_pool: str | None = None, event_time: datetime = T0) -> FailedOperation:
    return make_operation(cluster=cluster, rg=rg, event_id=event_id, kind=OperationKind.WRITE_SUCCESS,
                          agent_pool=agent_pool, event_time=event_time)


def make_check(
    check_id: str = "subnet_capacity", *, status: CheckStatus = CheckStatus.FAIL, summary: str | None = None,
    evidence: list[tuple[str, Any]] | None = None, remediation: str | None = None, docs: tuple[str, ...] = (),
) -> CheckResult:
    ev = evidence if evidence is not None else [("properties.addressPrefix", "10.240.0.0/24"),
                                                 ("ipConfigurations.count", 251)]
    return CheckResult(
        id=check_id,
        title=check_id.replace("_", " ").capitalize(),
        status=status,
        summary=summary or f"{check_id} {status.value}",
        evidence=tuple(Evidence(resource_id=cluster_id() + "/x", property=p, value=v) for p, v in ev),
        remediation=remediation,
        docs=docs,
    )


def make_finding(
    *, op: FailedOperation | None = None, code: str = "SubnetIsFull", message: str | None = None,
    category: str = "networking", subcategory: str | None = "ip_exhaustion", transient: str = "false",
    severity: str = "error", checks: tuple[CheckResult, ...] | None = None, summary: str | None = None,
    remediation: str | None = None, docs: tuple[str, ...] | None = None, region: str | None = "westeurope",
    diagnosed_at: datetime = T0, **extra: Any,
) -> Finding:
    op = op or make_operation()
    if checks is None:
        checks = (
            make_check("subnet_capacity", summary="Subnet aks-subnet has 0 free IPs of 251",
                       remediation="az network vnet subnet update -g rg-net --vnet-name vnet -n aks-subnet "
                                   "--address-prefixes 10.240.0.0/22"),
            make_check("max_pods", status=CheckStatus.PASS, summary="maxPods 30 fits"),
        )
    failing = tuple(c.id for c in checks if c.status is CheckStatus.FAIL)
    docs = docs if docs is not None else (
        "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/subnetisfull-upgrade-error",
        "https://learn.microsoft.com/azure/aks/configure-azure-cni",
    )
    classification = Classification(
        code=code, entry_id=code, title=code, category=category, subcategory=subcategory,
        severity=severity,
        transient=transient,
        docs=docs, confidence="high", matched_on="code",
    )
    error = OperationError(code=code, message=message or f"{code}: the operation failed.", source="cluster_status")
    first = next((c for c in checks if c.status is CheckStatus.FAIL), None)
    fields: dict[str, Any] = dict(
        finding_id=fingerprint(op.cluster_id, op.correlation_id, code, op.event_id),
        operation=op,
        error=error,
        classification=classification,
        checks=checks,
        root_causes=failing,
        summary=summary or (f"{code}: {first.summary}" if first else code),
        remediation=remediation if remediation is not None else (first.remediation if first else None),
        docs=docs,
        severity=severity,
        region=region,
        diagnosed_at=diagnosed_at,
    )
    fields.update(extra)
    return Finding(**fields)
