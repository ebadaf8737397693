"""identity_role_assignments: node subnet / kubenet route table / custom private DNS zone roles."""

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
    make_ctx,
    role_assignment,
    run,
)

RT_ID = f"/subscriptions/{SUB}/resourceGroups/rg-network/providers/Microsoft.Network/routeTables/rt-aks-egress"
ZONE_ID = (f"/subscriptions/{SUB}/resourceGroups/rg-dns/providers/Microsoft.Network/privateDnsZones/"
           "privatelink.westeurope.azmk8s.io")


def kubenet_cluster() -> dict[str, Any]:
    """The spec ManagedClustersGet body (kubenet) moved onto a BYO subnet with the fixture's UAI."""
    c = body("cluster.spec-kubenet-sp")
    uai = body("cluster.vnetint-uai")
    c["id"] = CLUSTER_ID
    c["identity"] = uai["identity"]
    c["properties"]["servicePrincipalProfile"] = {"clientId": "msi"}
    c["properties"]["agentPoolProfiles"][0]["vnetSubnetID"] = NODE_SUBNET
    return c


def zone_cluster(zone: str = ZONE_ID) -> dict[str, Any]:
    c = body("cluster.vnetint-uai")
    c["properties"]["apiServerAccessProfile"]["privateDNSZone"] = zone
    return c


def at(scope: str, role: str) -> dict[str, Any]:
    return role_assignment(PRINCIPAL, role, scope)


def world(cluster: dict[str, Any], lists: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    res: dict[str, Any] = {CLUSTER_ID: cluster, NODE_SUBNET: body("subnet.nodes")}
    for scope, items in lists.items():
        res[assignments_path(scope)] = {"value": items}
    return res


NC, PDZ = az.NETWORK_CONTRIBUTOR, az.PRIVATE_DNS_ZONE_CONTRIBUTOR
CASES = [
    ("kubenet-all-granted", kubenet_cluster,
     {NODE_SUBNET: [at(VNET_ID, NC)], RT_ID: [at(RT_ID, NC)]}, CheckStatus.PASS, None),
    ("kubenet-route-table-missing", kubenet_cluster,
     {NODE_SUBNET: [at(VNET_ID, NC)], RT_ID: []}, CheckStatus.FAIL, RT_ID),
    ("kubenet-subnet-missing", kubenet_cluster,
     {NODE_SUBNET: [], RT_ID: [at(RT_ID, NC)]}, CheckStatus.FAIL, NODE_SUBNET),
    ("custom-zone-granted", zone_cluster,
     {NODE_SUBNET: [at(VNET_ID, NC)], ZONE_ID: [at(ZONE_ID, PDZ)]}, CheckStatus.PASS, None),
    ("custom-zone-missing", zone_cluster,
     {NODE_SUBNET: [at(VNET_ID, NC)], ZONE_ID: [at(VNET_ID, NC)]}, CheckStatus.FAIL, ZONE_ID),
    ("custom-zone-rg-contributor", zone_cluster,
     {NODE_SUBNET: [at(VNET_ID, NC)], ZONE_ID: [at(f"/subscriptions/{SUB}/resourceGroups/rg-dns", az.CONTRIBUTOR)]},
     CheckStatus.PASS, None),
]


@pytest.mark.parametrize(("make", "lists", "status", "scope"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_table(make: Any, lists: dict[str, list[dict[str, Any]]], status: CheckStatus, scope: str | None) -> None:
    res = await run(SPEC, make_ctx(world(make(), lists)))
    assert res.status is status, res
    if scope:
        assert res.remediation is not None
        assert f"--scope {scope}" in res.remediation
        assert f"--assignee-object-id {PRINCIPAL}" in res.remediation


async def test_zone_remediation_uses_private_dns_zone_contributor() -> None:
    res = await run(SPEC, make_ctx(world(zone_cluster(), {NODE_SUBNET: [at(VNET_ID, NC)], ZONE_ID: []})))
    assert res.status is CheckStatus.FAIL
    assert '--role "Private DNS Zone Contributor"' in (res.remediation or "")
    assert "private DNS zone privatelink.westeurope.azmk8s.io" in res.summary


async def test_system_zone_is_not_a_target() -> None:
    res = await run(SPEC, make_ctx(world(zone_cluster("system"), {NODE_SUBNET: [at(VNET_ID, NC)]})))
    assert res.status is CheckStatus.PASS
    assert all("privateDnsZones" not in (e.resource_id or "") for e in res.evidence)


async def test_overlay_cluster_does_not_need_route_table_role() -> None:
    res = await run(SPEC, make_ctx(world(body("cluster.vnetint-uai"), {NODE_SUBNET: [at(VNET_ID, NC)]})))
    assert res.status is CheckStatus.PASS
    assert res.summary.endswith("(node subnet)")


async def test_aks_managed_network_is_not_applicable() -> None:
    c = body("cluster.spec-kubenet-sp")
    res = await run(SPEC, make_ctx({CLUSTER_ID: c}))
    assert res.status is CheckStatus.NOT_APPLICABLE


DDOS = f"/subscriptions/{SUB}/resourceGroups/rg-network/providers/Microsoft.Network/ddosProtectionPlans/ddos-hub"
LINKED = (f"The client '22222222-2222-2222-2222-222222222222' with object id '{PRINCIPAL}' has permission to perform "
          f"action 'Microsoft.Network/virtualNetworks/write' on scope '{VNET_ID}'; however, it does not have "
          "permission to perform action(s) 'Microsoft.Network/ddosProtectionPlans/join/action' on the linked "
          f"scope(s) '{DDOS}' (respectively) or the linked scope(s) are invalid.")


async def test_linked_scope_from_the_error_is_checked_with_its_action() -> None:
    lists = {NODE_SUBNET: [at(VNET_ID, NC)], DDOS: [at(VNET_ID, NC)]}  # NC on the VNet does not cover the plan
    res = await run(SPEC, make_ctx(world(body("cluster.vnetint-uai"), lists), code="LinkedAuthorizationFailed",
                                   message=LINKED))
    assert res.status is CheckStatus.FAIL
    assert f'--role "Network Contributor" --scope {DDOS}' in (res.remediation or "")
    assert "scope named in the error ddos-hub" in res.summary


async def test_linked_scope_granted_passes() -> None:
    lists = {NODE_SUBNET: [at(VNET_ID, NC)], DDOS: [at(f"/subscriptions/{SUB}/resourceGroups/rg-network", NC)]}
    res = await run(SPEC, make_ctx(world(body("cluster.vnetint-uai"), lists), code="LinkedAuthorizationFailed",
                                   message=LINKED))
    assert res.status is CheckStatus.PASS


async def test_refusal_of_another_principal_is_not_attributed_to_the_cluster() -> None:
    other = LINKED.replace(PRINCIPAL, "55555555-5555-5555-5555-555555555555")
    res = await run(SPEC, make_ctx(world(body("cluster.vnetint-uai"), {NODE_SUBNET: [at(VNET_ID, NC)]}),
                                   code="LinkedAuthorizationFailed", message=other))
    assert res.status is CheckStatus.PASS
    assert all(e.resource_id != DDOS for e in res.evidence)
