"""identity_role_assignments: the cluster's control-plane identity holds the roles AKS needs on the
bring-your-own resources besides subnets (those are identity_subnet_permissions'):

- with kubenet, the route table on each BYO node subnet (subnet properties.routeTable.id, network
  2024-05-01) or the one a CustomRouteTableMissingPermission error names: routeTables read/write and
  routes read/write (Network Contributor);
- a custom private DNS zone (apiServerAccessProfile.privateDNSZone is a resource id, not
  "system"/"none"), often in another subscription: Private DNS Zone Contributor
  (b12aa53e-6015-4669-85d0-8515ebb3ae7f);
- a pre-created kubelet identity (identityProfile.kubeletidentity.resourceId outside the node resource
  group): userAssignedIdentities/assign/action (Managed Identity Operator) on it;
- BYO load balancer outbound IPs / IP prefixes (networkProfile.loadBalancerProfile.outboundIPs /
  outboundIPPrefixes): publicIPAddresses/join/action + read, publicIPPrefixes/join/action + read;
- every scope an AuthorizationFailed / LinkedAuthorizationFailed error refused to the control-plane
  identity (object id in the error == its principalId), with the actions the error names.
Assignments: GET {target}/providers/Microsoft.Authorization/roleAssignments (2022-04-01) for the
identity's principalId at the target and every parent scope; role definitions (custom included) read
by id and evaluated by actions / notActions (shared.checklib.grants).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from shared import armid
from shared.armid import ResourceKind
from shared.checklib import azrefs as az
from shared.checklib.base import API, CheckContext, CheckSpec, NotApplicable
from shared.checklib.grants import (
    DOCS_PERMISSIONS,
    GrantOutcome,
    Grants,
    Target,
    control_plane_principal,
    gather_grants,
)
from shared.models import CheckResult, Family
from shared.ports import ArmForbidden

DOCS = (
    DOCS_PERMISSIONS,
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/customprivatednszonemissingpermissions-error",
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/create-upgrade-delete/error-code-linkedauthorizationfailed",
    "https://learn.microsoft.com/azure/aks/configure-kubenet#bring-your-own-subnet-and-route-table-with-kubenet",
    "https://learn.microsoft.com/azure/aks/pre-created-kubelet-managed-identity",
)


@dataclass(frozen=True)
class Facts:
    cluster_id: str
    grants: Grants


async def _subnet_route_table(ctx: CheckContext, subnet: str) -> str | None:
    try:
        body = await ctx.get_or_none(subnet, API["network"])
    except ArmForbidden:
        return None  # the subnet check reports what it cannot read; the error may still name the table
    return az.as_str(az.dig(body, "properties.routeTable.id"))


async def gather(ctx: CheckContext) -> Facts:
    view = await ctx.view()
    facts = ctx.facts
    targets: list[Target] = []

    def add(rid: str | None, label: str, actions: tuple[str, ...], role: str) -> None:
        if rid and az.is_resource_id(rid) and not any(
                armid.same(rid, t.resource_id) and set(actions) <= set(t.actions) for t in targets):
            targets.append(Target(rid, label, actions, role))

    if view.network_plugin.casefold() == "kubenet":
        if view.node_subnet_ids:
            tables = await asyncio.gather(*(_subnet_route_table(ctx, s) for s in view.node_subnet_ids))
            for rt in tables:
                add(rt, "route table", az.ROUTE_TABLE_ACTIONS, "Network Contributor")
        for rt in facts.ids(str(ResourceKind.ROUTE_TABLE)):
            add(rt, "route table", az.ROUTE_TABLE_ACTIONS, "Network Contributor")
    zone = view.private_dns_zone
    if zone and armid.is_kind(zone, ResourceKind.PRIVATE_DNS_ZONE):
        add(zone, "private DNS zone", az.PRIVATE_DNS_ZONE_ACTIONS, "Private DNS Zone Contributor")
    kubelet = view.identity.kubelet_resource_id
    if view.identity.kind == "UserAssigned" and kubelet and not az.same(
            armid.resource_group_of(kubelet), view.node_resource_group or None):
        add(kubelet, "kubelet identity", az.KUBELET_IDENTITY_ACTIONS, "Managed Identity Operator")
    if view.outbound_type.casefold() == "loadbalancer":
        for ip in view.lb_outbound_ip_ids:
            add(ip, "outbound public IP", az.PUBLIC_IP_ACTIONS, "Network Contributor")
        for prefix in view.lb_outbound_prefix_ids:
            add(prefix, "outbound public IP prefix", az.PUBLIC_IP_PREFIX_ACTIONS, "Network Contributor")
    principal = control_plane_principal(view, facts) if targets or facts.scopes else None
    # (Linked)AuthorizationFailed names the exact actions and scopes the identity was refused; a
    # refusal of another caller (e.g. the user running az) is not the cluster identity's problem.
    if principal is not None and facts.principal_id and facts.actions and facts.scopes \
            and az.same(facts.principal_id, principal.principal_id):
        subnets = view.subnet_ids()
        for scope in facts.scopes:
            if any(armid.same(scope, s) for s in subnets):
                continue  # identity_subnet_permissions evaluates the cluster's subnets
            add(scope, "scope named in the error", facts.actions, az.role_for_actions(facts.actions))
    if not targets or principal is None:
        raise NotApplicable("no bring-your-own route table, private DNS zone or outbound IP, and no refused scope "
                            "in the error: AKS manages these itself")
    return Facts(view.id, await gather_grants(ctx, principal, targets))


def evaluate(facts: Facts) -> CheckResult:
    return GrantOutcome.of(facts.grants).report(SPEC, "holds the roles AKS needs on its bring-your-own resources")


SPEC: CheckSpec[Facts] = CheckSpec(
    id="identity_role_assignments",
    title="Cluster identity roles on the route table, private DNS zone, kubelet identity and outbound IPs",
    docs=DOCS,
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.PERMISSIONS, Family.IDENTITY, Family.POLICY, Family.DNS}),
    relevance={"permissions": 95, "identity": 80, "policy": 30, "dns": 30},
    targets=("apiServerAccessProfile.privateDNSZone", "loadBalancerProfile.outboundIPs",
             "loadBalancerProfile.outboundIPPrefixes", "identityProfile.kubeletidentity"),
    # CustomRouteTableMissingPermission names the route table: the check runs for it whatever its family
    resource_kinds=frozenset({ResourceKind.ROLE_ASSIGNMENT, ResourceKind.ROUTE_TABLE}),
    predicts={"default": "LinkedAuthorizationFailed"},
)
