"""identity_role_assignments: kubenet BYO route table, custom private DNS zone (also in another
subscription), BYO outbound IPs, scopes a (Linked)AuthorizationFailed names; role definitions by
actions / notActions, assignments at every inherited scope, planted faults and decoys."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checklib import azrefs as az
from shared.checks.identity_role_assignments import SPEC
from shared.models import CheckStatus
from tests.unit.checks.platform_support import (
    CLUSTER_ID,
    NODE_SUBNET,
    PRINCIPAL,
    SUB,
    VNET_ID,
    assignments_path,
    body,
    deny,
    make_ctx,
    role_assignment,
    run,
)

RT_ID = f"/subscriptions/{SUB}/resourceGroups/rg-network/providers/Microsoft.Network/routeTables/rt-aks-egress"
RG_NET = f"/subscriptions/{SUB}/resourceGroups/rg-network"
DNS_SUB = "11111111-0000-0000-0000-000000000000"
ZONE_ID = (f"/subscriptions/{SUB}/resourceGroups/rg-dns/providers/Microsoft.Network/privateDnsZones/"
           "privatelink.westeurope.azmk8s.io")
ZONE_OTHER_SUB = ZONE_ID.replace(SUB, DNS_SUB)
IP1 = f"/subscriptions/{SUB}/resourcegroups/rg1/providers/Microsoft.Network/publicIPAddresses/customeroutboundip1"
IP2 = f"/subscriptions/{SUB}/resourcegroups/rg1/providers/Microsoft.Network/publicIPAddresses/customeroutboundip2"
KUBELET = "77777777-7777-7777-7777-777777777777"
CUSTOM = "11111111-2222-3333-4444-555555555555"
CUSTOM2 = "66666666-2222-3333-4444-555555555555"
NC, PDZ = az.NETWORK_CONTRIBUTOR, az.PRIVATE_DNS_ZONE_CONTRIBUTOR


def kubenet_cluster(outbound_ips: bool = False) -> dict[str, Any]:
    """The spec ManagedClustersGet body (kubenet) moved onto a BYO subnet with the fixture's UAI and a
    kubelet identity (whose grants must not count for the control plane)."""
    c = body("cluster.spec-kubenet-sp")
    uai = body("cluster.vnetint-uai")
    c["id"] = CLUSTER_ID
    c["identity"] = uai["identity"]
    c["properties"]["servicePrincipalProfile"] = {"clientId": "msi"}
    c["properties"]["identityProfile"] = {"kubeletidentity": {
        "objectId": KUBELET, "clientId": "88888888-8888-8888-8888-888888888888",
        "resourceId": f"/subscriptions/{SUB}/resourceGroups/MC_rg1_clustername1_location1/providers/"
                      "Microsoft.ManagedIdentity/"
                      "userAssignedIdentities/aks-prod-01-agentpool"}}
    c["properties"]["agentPoolProfiles"][0]["vnetSubnetID"] = NODE_SUBNET
    if not outbound_ips:
        del c["properties"]["networkProfile"]["loadBalancerProfile"]["outboundIPs"]
    return c


def zone_cluster(zone: str = ZONE_ID) -> dict[str, Any]:
    c = body("cluster.vnetint-uai")
    c["properties"]["apiServerAccessProfile"]["privateDNSZone"] = zone
    return c


def at(scope: str, role: str, principal: str = PRINCIPAL, principal_type: str = "ServicePrincipal") -> dict[str, Any]:
    return role_assignment(principal, role, scope, principal_type=principal_type)


def role_def(guid: str, name: str, actions: list[str], not_actions: list[str] | None = None) -> dict[str, Any]:
    b = body("roledefinition.custom")
    b["id"] = f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{guid}"
    b["name"] = guid
    b["properties"]["roleName"] = name
    b["properties"]["permissions"][0]["actions"] = actions
    b["properties"]["permissions"][0]["notActions"] = not_actions or []
    return b


def world(cluster: dict[str, Any], lists: dict[str, list[dict[str, Any]]],
          roles: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    res: dict[str, Any] = {CLUSTER_ID: cluster, NODE_SUBNET: body("subnet.nodes")}
    for scope, items in lists.items():
        res[assignments_path(scope)] = {"value": items}
    for r in roles:
        res[r["id"]] = r
    return res


NET_NO_RT_WRITE = role_def(CUSTOM, "Net without route writes", ["Microsoft.Network/*"],
                           ["Microsoft.Network/routeTables/*/write", "Microsoft.Network/routeTables/write"])
RT_READ = role_def(CUSTOM, "Route table reader", ["Microsoft.Network/routeTables/read",
                                                  "Microsoft.Network/routeTables/routes/read"])
RT_WRITE = role_def(CUSTOM2, "Route table writer", ["Microsoft.Network/routeTables/write",
                                                    "Microsoft.Network/routeTables/routes/write"])

CASES = [
    ("kubenet-route-table-granted-on-rg", lambda: kubenet_cluster(), {RT_ID: [at(RG_NET, NC)]}, (),
     CheckStatus.PASS, None),
    ("kubenet-route-table-missing", lambda: kubenet_cluster(), {RT_ID: [at(VNET_ID, NC)]}, (),
     CheckStatus.FAIL, RT_ID),
    ("kubenet-route-table-subscription-owner", lambda: kubenet_cluster(), {RT_ID: [at(f"/subscriptions/{SUB}",
                                                                                      az.OWNER)]}, (),
     CheckStatus.PASS, None),
    ("custom-role-notactions-remove-write", lambda: kubenet_cluster(), {RT_ID: [at(RT_ID, CUSTOM)]},
     (NET_NO_RT_WRITE,), CheckStatus.FAIL, RT_ID),
    ("actions-split-across-two-custom-roles", lambda: kubenet_cluster(),
     {RT_ID: [at(RT_ID, CUSTOM), at(RG_NET, CUSTOM2)]}, (RT_READ, RT_WRITE), CheckStatus.PASS, None),
    ("only-the-kubelet-identity-has-it", lambda: kubenet_cluster(), {RT_ID: [at(RT_ID, NC, principal=KUBELET)]}, (),
     CheckStatus.FAIL, RT_ID),
    ("custom-zone-granted", zone_cluster, {ZONE_ID: [at(ZONE_ID, PDZ)]}, (), CheckStatus.PASS, None),
    ("custom-zone-network-contributor-elsewhere", zone_cluster, {ZONE_ID: [at(VNET_ID, NC)]}, (),
     CheckStatus.FAIL, ZONE_ID),
    ("custom-zone-rg-contributor", zone_cluster,
     {ZONE_ID: [at(f"/subscriptions/{SUB}/resourceGroups/rg-dns", az.CONTRIBUTOR)]}, (), CheckStatus.PASS, None),
    ("zone-in-other-subscription-mg-scope", lambda: zone_cluster(ZONE_OTHER_SUB),
     {ZONE_OTHER_SUB: [at("/providers/Microsoft.Management/managementGroups/mg-dns", PDZ)]}, (),
     CheckStatus.PASS, None),
    ("zone-in-other-subscription-granted-in-cluster-subscription-only", lambda: zone_cluster(ZONE_OTHER_SUB),
     {ZONE_OTHER_SUB: [at(f"/subscriptions/{SUB}", PDZ)]}, (), CheckStatus.FAIL, ZONE_OTHER_SUB),
    ("outbound-ips-granted", lambda: kubenet_cluster(outbound_ips=True),
     {RT_ID: [at(RG_NET, NC)], IP1: [at(f"/subscriptions/{SUB}/resourcegroups/rg1", NC)],
      IP2: [at(f"/subscriptions/{SUB}/resourcegroups/rg1", NC)]}, (), CheckStatus.PASS, None),
    ("outbound-ip-missing", lambda: kubenet_cluster(outbound_ips=True),
     {RT_ID: [at(RG_NET, NC)], IP1: [at(IP1, NC)], IP2: []}, (), CheckStatus.FAIL, IP2),
]


@pytest.mark.parametrize(("make", "lists", "roles", "status", "scope"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
async def test_table(make: Any, lists: dict[str, list[dict[str, Any]]], roles: tuple[dict[str, Any], ...],
                     status: CheckStatus, scope: str | None) -> None:
    res = await run(SPEC, make_ctx(world(make(), lists, roles)))
    assert res.status is status, res
    if scope:
        assert res.confidence == "confirmed"
        assert res.remediation is not None
        assert f"--scope {scope}" in res.remediation
        assert f"--assignee-object-id {PRINCIPAL}" in res.remediation
        assert any(e.resource_id == scope for e in res.evidence)
        # only the faulty target is in the fix
        assert res.remediation.count("az role assignment create") == 1


async def test_notactions_fail_names_the_removed_actions() -> None:
    res = await run(SPEC, make_ctx(world(kubenet_cluster(), {RT_ID: [at(RT_ID, CUSTOM)]}, (NET_NO_RT_WRITE,))))
    assert "Microsoft.Network/routeTables/write" in res.summary
    assert "Microsoft.Network/routeTables/read" not in res.summary.split("(", 1)[1]


async def test_zone_remediation_uses_private_dns_zone_contributor() -> None:
    res = await run(SPEC, make_ctx(world(zone_cluster(), {ZONE_ID: []})))
    assert res.status is CheckStatus.FAIL
    assert '--role "Private DNS Zone Contributor"' in (res.remediation or "")
    assert "private DNS zone privatelink.westeurope.azmk8s.io" in res.summary


async def test_unreadable_assignments_in_other_subscription_is_not_a_pass() -> None:
    ctx = deny(make_ctx(world(zone_cluster(ZONE_OTHER_SUB), {})), f"/subscriptions/{DNS_SUB}/")
    res = await run(SPEC, ctx)
    assert res.status is CheckStatus.ERROR
    assert "Reader" in (res.reason or "")
    assert f"/subscriptions/{DNS_SUB}/resourceGroups/rg-dns" in (res.reason or "")


ZONE_MSG = (f"CustomPrivateDNSZoneMissingPermissionError: Service principal or user-assigned identity must be given "
            f"permission to read and write to custom private dns zone {ZONE_OTHER_SUB}. Check access result not "
            "allowed for action Microsoft.Network/privateDnsZones/read.")


async def test_unreadable_but_named_by_the_error_is_a_likely_cause() -> None:
    ctx = deny(make_ctx(world(zone_cluster(ZONE_OTHER_SUB), {}), code="CustomPrivateDNSZoneMissingPermissionError",
                        message=ZONE_MSG), f"/subscriptions/{DNS_SUB}/")
    res = await run(SPEC, ctx)
    assert res.status is CheckStatus.FAIL
    assert res.confidence == "likely"
    assert f"az role assignment list --assignee {PRINCIPAL} --scope {ZONE_OTHER_SUB}" in (res.confirm_by or "")
    assert f'--role "Private DNS Zone Contributor" --scope {ZONE_OTHER_SUB}' in (res.remediation or "")


async def test_group_assignment_makes_it_likely_not_confirmed() -> None:
    group = at(RG_NET, NC, principal="99999999-1111-1111-1111-111111111111", principal_type="Group")
    res = await run(SPEC, make_ctx(world(kubenet_cluster(), {RT_ID: [group]})))
    assert res.status is CheckStatus.FAIL
    assert res.confidence == "likely"
    assert "az ad group member check" in (res.confirm_by or "")


ROUTE_MSG = ("CustomRouteTableMissingPermission: The cluster using user-assigned managed identity must be granted "
             "'Network Contributor' role or Microsoft.Network/routeTables/read and Microsoft.Network/routeTables/write "
             f"permissions on custom route table {RT_ID.replace('rt-aks-egress', 'rt-aks-other')}.")


async def test_route_table_named_by_the_error_is_evaluated_even_when_not_on_the_subnet() -> None:
    other = RT_ID.replace("rt-aks-egress", "rt-aks-other")
    res = await run(SPEC, make_ctx(world(kubenet_cluster(), {RT_ID: [at(RT_ID, NC)], other: []}),
                                   code="CustomRouteTableMissingPermission", message=ROUTE_MSG))
    assert res.status is CheckStatus.FAIL
    assert f"--scope {other}" in (res.remediation or "")
    assert f"--scope {RT_ID} " not in (res.remediation or "") + " "


async def test_system_zone_and_overlay_without_byo_is_not_applicable() -> None:
    res = await run(SPEC, make_ctx(world(zone_cluster("system"), {})))
    assert res.status is CheckStatus.NOT_APPLICABLE


DDOS = f"/subscriptions/{SUB}/resourceGroups/rg-network/providers/Microsoft.Network/ddosProtectionPlans/ddos-hub"
LINKED = (f"The client '22222222-2222-2222-2222-222222222222' with object id '{PRINCIPAL}' has permission to perform "
          f"action 'Microsoft.Network/virtualNetworks/write' on scope '{VNET_ID}'; however, it does not have "
          "permission to perform action(s) 'Microsoft.Network/ddosProtectionPlans/join/action' on the linked "
          f"scope(s) '{DDOS}' (respectively) or the linked scope(s) are invalid.")


async def test_linked_scope_from_the_error_is_checked_with_its_action() -> None:
    lists = {DDOS: [at(VNET_ID, NC)]}  # NC on the VNet does not cover the plan
    res = await run(SPEC, make_ctx(world(body("cluster.vnetint-uai"), lists), code="LinkedAuthorizationFailed",
                                   message=LINKED))
    assert res.status is CheckStatus.FAIL
    assert f'--role "Network Contributor" --scope {DDOS}' in (res.remediation or "")
    assert "scope named in the error ddos-hub" in res.summary


async def test_linked_scope_granted_passes() -> None:
    lists = {DDOS: [at(f"/subscriptions/{SUB}/resourceGroups/rg-network", NC)]}
    res = await run(SPEC, make_ctx(world(body("cluster.vnetint-uai"), lists), code="LinkedAuthorizationFailed",
                                   message=LINKED))
    assert res.status is CheckStatus.PASS


async def test_refusal_of_another_principal_is_not_attributed_to_the_cluster() -> None:
    other = LINKED.replace(PRINCIPAL, "55555555-5555-5555-5555-555555555555")
    res = await run(SPEC, make_ctx(world(zone_cluster(), {ZONE_ID: [at(ZONE_ID, PDZ)]}),
                                   code="LinkedAuthorizationFailed", message=other))
    assert res.status is CheckStatus.PASS
    assert all(e.resource_id != DDOS for e in res.evidence)


async def test_service_principal_object_id_from_the_error() -> None:
    c = kubenet_cluster()
    del c["identity"]
    c["properties"]["servicePrincipalProfile"] = {"clientId": "22222222-2222-2222-2222-222222222222"}
    msg = (f"The client '22222222-2222-2222-2222-222222222222' with object id '{PRINCIPAL}' does not have "
           f"authorization to perform action 'Microsoft.Network/routeTables/write' over scope '{RT_ID}' or the "
           "scope is invalid.")
    res = await run(SPEC, make_ctx(world(c, {RT_ID: [at(VNET_ID, NC)]}), code="AuthorizationFailed", message=msg))
    assert res.status is CheckStatus.FAIL, res
    assert "object id taken from the error" in res.summary


BYO_KUBELET = (f"/subscriptions/{SUB}/resourceGroups/rg-identities/providers/Microsoft.ManagedIdentity/"
               "userAssignedIdentities/id-aks-kubelet")


def byo_kubelet_cluster() -> dict[str, Any]:
    c = zone_cluster("system")
    c["properties"]["identityProfile"] = {"kubeletidentity": {
        "objectId": KUBELET, "clientId": "88888888-8888-8888-8888-888888888888", "resourceId": BYO_KUBELET}}
    return c


@pytest.mark.parametrize(("items", "status"), [
    ([at(BYO_KUBELET, az.MANAGED_IDENTITY_OPERATOR)], CheckStatus.PASS),
    ([at(f"/subscriptions/{SUB}/resourceGroups/rg-identities", az.MANAGED_IDENTITY_OPERATOR)], CheckStatus.PASS),
    ([at(BYO_KUBELET, az.READER)], CheckStatus.FAIL),
    ([at(BYO_KUBELET, az.MANAGED_IDENTITY_OPERATOR, principal=KUBELET)], CheckStatus.FAIL),  # wrong identity
])
async def test_pre_created_kubelet_identity_needs_managed_identity_operator(
        items: list[dict[str, Any]], status: CheckStatus) -> None:
    res = await run(SPEC, make_ctx(world(byo_kubelet_cluster(), {BYO_KUBELET: items})))
    assert res.status is status, res
    if status is CheckStatus.FAIL:
        assert f'--role "Managed Identity Operator" --scope {BYO_KUBELET}' in (res.remediation or "")


async def test_aks_created_kubelet_identity_in_the_node_resource_group_is_not_a_target() -> None:
    c = byo_kubelet_cluster()
    c["properties"]["identityProfile"]["kubeletidentity"]["resourceId"] = (
        f"/subscriptions/{SUB}/resourceGroups/{c['properties']['nodeResourceGroup']}/providers/"
        "Microsoft.ManagedIdentity/userAssignedIdentities/aks-prod-01-agentpool")
    res = await run(SPEC, make_ctx(world(c, {})))
    assert res.status is CheckStatus.NOT_APPLICABLE
