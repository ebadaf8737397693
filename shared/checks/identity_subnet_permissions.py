"""identity_subnet_permissions: the cluster's control-plane identity can join (and read) every subnet
the cluster brings: node subnets, pod subnets and, with API Server VNet Integration, the API-server
subnet.

Reads: the cluster through ClusterView (identity, agentPoolProfiles[].vnetSubnetID / podSubnetID,
apiServerAccessProfile.subnetId); per subnet GET {subnet}/providers/Microsoft.Authorization/
roleAssignments (2022-04-01; the list-for-scope answer includes assignments inherited from the
VNet, resource group, subscription and management groups); role definitions by id.
Decides: an assignment for the control-plane identity's principalId (not the kubelet identity)
whose roles allow Microsoft.Network/virtualNetworks/subnets/join/action and .../subnets/read
(Network Contributor, Contributor, Owner, or custom roles with those actions and no notActions
removing them). See shared.checklib.grants for the evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared import armid
from shared.armid import ResourceKind
from shared.checklib import azrefs as az
from shared.checklib.base import CheckContext, CheckSpec, NotApplicable
from shared.checklib.grants import (
    DOCS_PERMISSIONS,
    GrantOutcome,
    Grants,
    Target,
    control_plane_principal,
    gather_grants,
)
from shared.models import CheckResult, Family

DOCS = (
    DOCS_PERMISSIONS,
    "https://learn.microsoft.com/azure/aks/api-server-vnet-integration",
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/create-upgrade-delete/error-code-linkedauthorizationfailed",
)


@dataclass(frozen=True)
class Facts:
    cluster_id: str
    grants: Grants


async def gather(ctx: CheckContext) -> Facts:
    view = await ctx.view()
    targets: list[Target] = []

    def add(subnet: str | None, label: str) -> None:
        if subnet and not any(armid.same(subnet, t.resource_id) for t in targets):
            targets.append(Target(subnet, label, az.SUBNET_JOIN_ACTIONS, "Network Contributor"))

    if view.vnet_integration:
        add(view.apiserver_subnet_id, "API server subnet")
    for s in view.node_subnet_ids:
        add(s, "node subnet")
    for p in view.pools:
        add(p.pod_subnet_id, "pod subnet")
    if not targets:
        raise NotApplicable("AKS manages the VNet and its subnets (no vnetSubnetID / podSubnetID / "
                            "apiServerAccessProfile.subnetId set)")
    principal = control_plane_principal(view, ctx.facts)
    return Facts(view.id, await gather_grants(ctx, principal, targets))


def evaluate(facts: Facts) -> CheckResult:
    out = GrantOutcome.of(facts.grants)
    return out.report(SPEC, f"can join and read all {len(out.verdicts)} subnet(s)")


SPEC: CheckSpec[Facts] = CheckSpec(
    id="identity_subnet_permissions",
    title="Cluster identity can join the node, pod and API server subnets",
    docs=DOCS,
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.PERMISSIONS, Family.IDENTITY, Family.SUBNET_IPS}),
    relevance={"permissions": 100, "identity": 85, "subnet_ips": 40},
    targets=("agentPoolProfiles.vnetSubnetID", "agentPoolProfiles.podSubnetID"),
    resource_kinds=frozenset({ResourceKind.ROLE_ASSIGNMENT}),
    predicts={"default": "LinkedAuthorizationFailed"},
)
