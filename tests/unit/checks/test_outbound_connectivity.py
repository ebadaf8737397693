"""outbound_connectivity: outboundType vs LB IPs / NAT gateway / UDR, and NSG outbound Internet deny."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checks.outbound_connectivity import SPEC
from shared.models import CheckStatus
from tests.unit.checks.net_support import (
    CLUSTER_ID,
    NODE_NSG,
    NODE_SUBNET,
    RT_ID,
    SUB,
    cluster,
    load,
    make_ctx,
    nsg,
    route_table,
    rule,
    run,
    subnet,
    world,
)

NAT = f"/subscriptions/{SUB}/resourceGroups/rg-network/providers/Microsoft.Network/natGateways/ng-aks"


def lb_cluster(profile: dict[str, Any] | None) -> dict[str, Any]:
    c = cluster(private=False, vnet_integration=False, outbound="loadBalancer")
    if profile is None:
        c["properties"]["networkProfile"].pop("loadBalancerProfile", None)
    else:
        c["properties"]["networkProfile"]["loadBalancerProfile"] = profile
    return c


SPEC_LB = load("aks/ManagedClustersGet.2025-05-01.spec-example.json")["properties"]["networkProfile"][
    "loadBalancerProfile"]


@pytest.mark.parametrize(("profile", "status"), [
    (SPEC_LB, CheckStatus.PASS),
    (None, CheckStatus.PASS),                              # default: one managed outbound IP
    ({"managedOutboundIPs": {"count": 2}}, CheckStatus.PASS),
    ({"managedOutboundIPs": {"count": 0}}, CheckStatus.FAIL),
])
async def test_load_balancer(profile: dict[str, Any] | None, status: CheckStatus) -> None:
    res = world(c=lb_cluster(profile), node_subnet=subnet(NODE_SUBNET, "10.224.0.0/16", nsg=NODE_NSG))
    r = await run(SPEC, make_ctx(res, code="VMExtensionError_OutboundConnFail", subcategory="blocked-egress"))
    assert r.status is status, r.summary


@pytest.mark.parametrize(("routes", "status", "needle"), [
    ([("0.0.0.0/0", "VirtualAppliance", "10.0.1.4")], CheckStatus.PASS, "egress path"),
    ([("10.0.0.0/8", "VirtualAppliance", "10.0.1.4")], CheckStatus.FAIL, "no 0.0.0.0/0 route"),
    ([("0.0.0.0/0", "None", None)], CheckStatus.FAIL, "blackholes"),
])
async def test_udr(routes: list[tuple[str, str, str | None]], status: CheckStatus, needle: str) -> None:
    r = await run(SPEC, make_ctx(world(rt=route_table(RT_ID, routes))))
    assert r.status is status and needle in r.summary, r.summary


async def test_user_assigned_nat_gateway() -> None:
    c = cluster(private=False, vnet_integration=False, outbound="userAssignedNATGateway")
    res = world(c=c, node_subnet=subnet(NODE_SUBNET, "10.224.0.0/16", nsg=NODE_NSG))
    r = await run(SPEC, make_ctx(res))
    assert r.status is CheckStatus.FAIL and "has no NAT gateway" in r.summary
    res[NODE_SUBNET] = subnet(NODE_SUBNET, "10.224.0.0/16", nsg=NODE_NSG, nat=NAT)
    res[NAT] = {"id": NAT, "properties": {"provisioningState": "Succeeded", "publicIpAddresses": []}}
    r = await run(SPEC, make_ctx(res))
    assert r.status is CheckStatus.FAIL and "0 public IP" in r.summary
    res[NAT]["properties"]["publicIpAddresses"] = [{"id": NAT + "-pip"}]
    assert (await run(SPEC, make_ctx(res))).status is CheckStatus.PASS


@pytest.mark.parametrize(("rules", "status"), [
    ([rule("deny-internet", 4000, "Outbound", "Deny", dst="Internet")], CheckStatus.FAIL),
    ([rule("allow-443", 100, "Outbound", "Allow", dst="Internet", ports="443"),
      rule("deny-internet", 4000, "Outbound", "Deny", dst="Internet")], CheckStatus.PASS),
    ([rule("deny-80", 4000, "Outbound", "Deny", dst="Internet", ports=["80", "8080"])], CheckStatus.PASS),
])
async def test_nsg_internet_deny(rules: list[dict[str, Any]], status: CheckStatus) -> None:
    res = world(c=lb_cluster(None), node_subnet=subnet(NODE_SUBNET, "10.224.0.0/16", nsg=NODE_NSG),
                node_nsg=nsg(NODE_NSG, rules))
    r = await run(SPEC, make_ctx(res))
    assert r.status is status, r.summary
    if status is CheckStatus.FAIL:
        assert "--destination-address-prefixes Internet --destination-port-ranges 443" in (r.remediation or "")


@pytest.mark.parametrize(("source", "status"), [("Cache", CheckStatus.PASS), ("Direct", CheckStatus.FAIL)])
async def test_outbound_none(source: str, status: CheckStatus) -> None:
    c = cluster(private=True, vnet_integration=False, outbound="none", node_subnet=None)
    c["properties"]["bootstrapProfile"] = {"artifactSource": source}
    assert (await run(SPEC, make_ctx({CLUSTER_ID: c}))).status is status


async def test_managed_vnet_lb_passes_with_note() -> None:
    r = await run(SPEC, make_ctx({CLUSTER_ID: cluster(private=False, vnet_integration=False,
                                                      outbound="loadBalancer", node_subnet=None)}))
    assert r.status is CheckStatus.PASS and "AKS-managed VNet" in r.summary
