"""identity_role_assignments: the cluster identity holds the roles AKS needs on customer resources.

Targets (from the cluster, api 2025-05-01, and the node subnet, network 2024-05-01):
- each custom node subnet (agentPoolProfiles[].vnetSubnetID): subnets/join/action + read
  (Network Contributor on the subnet or its VNet);
- with kubenet, the route table on the node subnet (subnet properties.routeTable.id): Network
  Contributor (routeTables read/write, routes read/write);
- a custom private DNS zone (apiServerAccessProfile.privateDNSZone is a resource id, not
  "system"/"none"): Private DNS Zone Contributor (b12aa53e-6015-4669-85d0-8515ebb3ae7f).
- every scope an AuthorizationFailed / LinkedAuthorizationFailed message refused to the cluster
  identity (object id in the message == the identity's principalId), with the actions it names.
Assignments: GET {target}/providers/Microsoft.Authorization/roleAssignments (2022-04-01), filtered on the
identity's principalId; custom role definitions are read and their actions/notActions evaluated.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from shared.armid import ResourceKind
from shared.checklib import azrefs as az
from shared.checklib.base import API, CheckContext, CheckSpec, NotApplicable, result
from shared.checklib.grants import (
    GrantOutcome,
    Grants,
    Target,
    gather_grants,
    principal_or_skip,
)
from shared.models import CheckResult, CheckStatus, Family

DOCS = (
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/customprivatednszonemissingpermissions-error",
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/create-upgrade-delete/error-code-linkedauthorizationfailed",
)


@dataclass(frozen=True)
class Facts:
    cluster_id: str
    grants: Grants


def _node_subnets(cluster: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for pool in az.as_list(az.dig(cluster, "properties.agentPoolProfiles")):
        sid = az.as_str(pool.get("vnetSubnetID")) if isinstance(pool, dict) else None
        if sid and not any(az.same(sid, o) for o in out):
            out.append(sid)
    return out


async def gather(ctx: CheckContext) -> Facts:
    cluster = await ctx.cluster()
    subnets = _node_subnets(cluster)
    targets = [Target(s, "node subnet", az.SUBNET_JOIN_ACTIONS, "Network Contributor") for s in subnets]
    plugin = str(az.dig(cluster, "properties.networkProfile.networkPlugin") or "").casefold()
    if plugin == "kubenet" and subnets:
        bodies = await asyncio.gather(*(ctx.get_or_none(s, API["network"]) for s in subnets))
        for body in bodies:
            rt = az.as_str(az.dig(body, "properties.routeTable.id"))
            if rt and not any(az.same(rt, t.resource_id) for t in targets):
                targets.append(Target(rt, "route table", az.ROUTE_TABLE_ACTIONS, "Network Contributor"))
    zone = az.as_str(az.dig(cluster, "properties.apiServerAccessProfile.privateDNSZone"))
    if zone and az.is_resource_id(zone):
        targets.append(Target(zone, "private DNS zone", az.PRIVATE_DNS_ZONE_ACTIONS, "Private DNS Zone Contributor"))
    principal = az.cluster_principal(cluster)
    # (Linked)AuthorizationFailed names the exact actions and scopes the identity was refused.
    facts = ctx.facts
    refused = facts.principal_id is not None and bool(facts.actions) and bool(facts.scopes)
    # another caller (e.g. the user running az) refused is not the cluster identity's problem
    if refused and not (principal.principal_id and not az.same(facts.principal_id, principal.principal_id)):
        for scope in facts.scopes:
            if not any(az.same(scope, t.resource_id) and set(facts.actions) <= set(t.actions) for t in targets):
                targets.append(Target(scope, "scope named in the error", facts.actions,
                                      az.role_for_actions(facts.actions)))
    if not targets:
        raise NotApplicable("no customer-owned VNet, route table or private DNS zone: AKS manages them itself")
    principal = principal_or_skip(cluster)
    return Facts(ctx.operation.cluster_id, await gather_grants(ctx, principal, targets))


def evaluate(facts: Facts) -> CheckResult:
    out = GrantOutcome.of(facts.grants)
    pid = facts.grants.principal.principal_id or ""
    if out.missing:
        what = ", ".join(f"{v.target.role} on {v.target.label} {az.name_of(v.target.resource_id)}"
                         for v in out.missing)
        return result(SPEC, CheckStatus.FAIL, f"cluster identity {pid} is missing {what}", evidence=out.evidence,
                      remediation=out.grant_commands(pid))
    if out.unknown:
        return out.undetermined(SPEC)
    labels = ", ".join(sorted({v.target.label for v in out.verdicts}))
    return result(SPEC, CheckStatus.PASS, f"cluster identity {pid} holds the required roles ({labels})",
                  evidence=out.evidence)


SPEC: CheckSpec[Facts] = CheckSpec(
    id="identity_role_assignments",
    title="Cluster identity roles on VNet, route table and private DNS zone",
    docs=DOCS,
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.PERMISSIONS, Family.IDENTITY, Family.POLICY, Family.DNS}),
    relevance={"permissions": 95, "identity": 90, "policy": 40, "dns": 30},
    resource_kinds=frozenset({ResourceKind.ROLE_ASSIGNMENT}),
)
