"""identity_subnet_permissions: with API Server VNet Integration, the cluster identity must be able to
join (and read) both the API-server subnet and the node subnets.

Reads: cluster (2025-05-01: identity, apiServerAccessProfile.{enableVnetIntegration,subnetId},
agentPoolProfiles[].vnetSubnetID); per subnet GET {subnet}/providers/Microsoft.Authorization/
roleAssignments (2022-04-01; the list-for-scope answer includes assignments inherited from the VNet,
resource group, subscription and management groups); custom role definitions by id.
Decides: an assignment for the identity's principalId whose role grants
Microsoft.Network/virtualNetworks/subnets/join/action and .../subnets/read (Network Contributor,
Contributor, Owner, or a custom role with those actions and no notActions removing them).

Uses the RBAC core in shared.checklib.grants.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.checklib import azrefs as az
from shared.checklib.base import CheckContext, CheckSpec, NotApplicable, result
from shared.checklib.grants import GrantOutcome, Grants, Target, gather_grants, principal_or_skip
from shared.models import CheckResult, CheckStatus, Family

DOCS = (
    "https://learn.microsoft.com/azure/aks/api-server-vnet-integration",
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/create-upgrade-delete/error-code-linkedauthorizationfailed",
)


# --- the check ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    cluster_id: str
    grants: Grants


async def gather(ctx: CheckContext) -> Facts:
    cluster = await ctx.cluster()
    aap = az.dig(cluster, "properties.apiServerAccessProfile") or {}
    if aap.get("enableVnetIntegration") is not True:
        raise NotApplicable("API Server VNet Integration is not enabled "
                            "(properties.apiServerAccessProfile.enableVnetIntegration)")
    targets: list[Target] = []
    api_subnet = az.as_str(aap.get("subnetId"))
    if api_subnet:
        targets.append(Target(api_subnet, "API server subnet", az.SUBNET_JOIN_ACTIONS, "Network Contributor"))
    for pool in az.as_list(az.dig(cluster, "properties.agentPoolProfiles")):
        sid = az.as_str(pool.get("vnetSubnetID")) if isinstance(pool, dict) else None
        if sid and not any(az.same(sid, t.resource_id) for t in targets):
            targets.append(Target(sid, "node subnet", az.SUBNET_JOIN_ACTIONS, "Network Contributor"))
    if not targets:
        raise NotApplicable("AKS manages the VNet and the API server subnet (no subnetId / vnetSubnetID set)")
    principal = principal_or_skip(cluster)
    return Facts(ctx.operation.cluster_id, await gather_grants(ctx, principal, targets))


def evaluate(facts: Facts) -> CheckResult:
    out = GrantOutcome.of(facts.grants)
    pid = facts.grants.principal.principal_id or ""
    who = f"{facts.grants.principal.kind} identity {pid}"
    if out.missing:
        names = ", ".join(f"{v.target.label} {az.name_of(v.target.resource_id)}" for v in out.missing)
        return result(SPEC, CheckStatus.FAIL,
                      f"{who} cannot join the {names}: no Network Contributor (or subnets/join/action + read)",
                      evidence=out.evidence, remediation=out.grant_commands(pid))
    if out.unknown:
        return out.undetermined(SPEC)
    return result(SPEC, CheckStatus.PASS,
                  f"{who} can join all {len(out.verdicts)} subnet(s) (API server and node subnets)",
                  evidence=out.evidence)


SPEC: CheckSpec[Facts] = CheckSpec(
    id="identity_subnet_permissions",
    title="Cluster identity can join the API server and node subnets",
    docs=DOCS,
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.PERMISSIONS, Family.IDENTITY, Family.SUBNET_IPS}),
    relevance={"permissions": 100, "identity": 85, "subnet_ips": 80},
    targets=("agentPoolProfiles.vnetSubnetID",),
)
