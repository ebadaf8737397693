"""Shared plumbing for the platform check tests: real ARM bodies from tests/fixtures/arm/platform,
a CheckContext over SnapshotArmReader, and the ids of the fixture cluster."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.checklib.base import CheckContext, CheckSpec, run_one
from shared.local.snapshot import Snapshot, SnapshotArmReader
from shared.models import CheckResult, Classification, FailedOperation, OperationError, OperationKind
from tests.unit.checks.facts_support import typed_facts

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "arm" / "platform"

SUB = "00000000-0000-0000-0000-000000000000"
RG = "rg-aks-prod"
CLUSTER = "aks-prod-01"
CLUSTER_ID = f"/subscriptions/{SUB}/resourcegroups/{RG}/providers/Microsoft.ContainerService/managedClusters/{CLUSTER}"
NODE_RG = "MC_rg-aks-prod_aks-prod-01_westeurope"
NODE_RG_ID = f"/subscriptions/{SUB}/resourceGroups/{NODE_RG}"
VNET_ID = f"/subscriptions/{SUB}/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/vnet-spoke-aks"
API_SUBNET = f"{VNET_ID}/subnets/snet-aks-apiserver"
NODE_SUBNET = f"{VNET_ID}/subnets/snet-aks-nodes"
UAI_ID = (f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.ManagedIdentity/"
          "userAssignedIdentities/id-aks-prod-01")
PRINCIPAL = "33333333-3333-3333-3333-333333333333"
NOW = datetime(2024, 11, 21, 13, 0, 0, tzinfo=UTC)


def body(name: str) -> dict[str, Any]:
    """A fresh deep copy of the ARM body stored in tests/fixtures/arm/platform/<name>.json."""
    obj = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return copy.deepcopy(obj.get("body", obj))


def role_assignment(principal: str, role_guid: str, scope: str, name: str = "b0f43c54-e787-4862-89b1-a653fa9cf747",
                    principal_type: str = "ServicePrincipal") -> dict[str, Any]:
    """value[0] of the RoleAssignments_ListForScope spec example, re-pointed."""
    item: dict[str, Any] = body("roleassignments.listforscope")["value"][0]
    item["properties"].update(principalId=principal, principalType=principal_type, scope=scope,
                              roleDefinitionId=f"/subscriptions/{SUB}/providers/Microsoft.Authorization/"
                                               f"roleDefinitions/{role_guid}")
    item["id"] = f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"
    return item


def assignments_path(scope: str) -> str:
    return f"{scope}/providers/Microsoft.Authorization/roleAssignments"




def make_ctx(
    resources: dict[str, dict[str, Any]], *, code: str = "InternalOperationError", message: str = "",
    facts: dict[str, Any] | None = None, entry_id: str | None = None, verb: str = "update",
    agent_pool: str | None = None, api_version: str | None = None, extras: dict[str, Any] | None = None,
    activity: list[dict[str, Any]] | None = None, details: tuple[OperationError, ...] = (),
    correlation_id: str = "99999999-9999-9999-9999-999999999999", now: datetime = NOW,
) -> CheckContext:
    op = FailedOperation(
        event_id="e1", event_type="Microsoft.Resources.ResourceWriteFailure", event_time=now,
        kind=OperationKind.WRITE_FAILURE, cluster_id=CLUSTER_ID, subscription_id=SUB, resource_group=RG,
        cluster_name=CLUSTER, agent_pool=agent_pool,
        resource_id=f"{CLUSTER_ID}/agentPools/{agent_pool}" if agent_pool else CLUSTER_ID,
        operation_name="Microsoft.ContainerService/managedClusters/write", verb=verb,
        correlation_id=correlation_id, api_version=api_version)
    err = OperationError(code=code, message=message, details=details, source="cluster_status")
    cls = Classification(code=code, entry_id=entry_id or code, category="test", facts=typed_facts(err, facts))
    reader = SnapshotArmReader(Snapshot(resources, activity or []))
    return CheckContext(operation=op, error=err, classification=cls, arm=reader, now=now, extras=extras or {})


async def run(spec: CheckSpec[Any], ctx: CheckContext) -> CheckResult:
    return await run_one(spec, ctx, timeout_s=5)


class DenyingReader:
    """Wraps a reader; GETs whose id contains `needle` fail like ARM's 403 AuthorizationFailed."""

    def __init__(self, inner: Any, needle: str) -> None:
        self.inner = inner
        self.needle = needle.lower()

    @property
    def reads_made(self) -> int:
        return int(self.inner.reads_made)

    async def get(self, resource_id: str, api_version: str) -> dict[str, Any]:
        from shared.ports import ArmForbidden

        if self.needle in resource_id.lower():
            raise ArmForbidden(resource_id, 403, "AuthorizationFailed", "The client does not have authorization")
        result: dict[str, Any] = await self.inner.get(resource_id, api_version)
        return result

    async def activity_log(self, subscription_id: str, **kw: Any) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = await self.inner.activity_log(subscription_id, **kw)
        return events


def deny(ctx: CheckContext, needle: str) -> CheckContext:
    ctx.arm = DenyingReader(ctx.arm, needle)
    return ctx
