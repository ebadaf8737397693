"""nsg_apiserver_egress: priority walk over the NSG spec example with planted outbound rules."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checks.nsg_apiserver_egress import SPEC
from shared.models import CheckStatus
from tests.unit.checks.net_support import (
    CLUSTER_ID,
    NODE_NSG,
    NODE_SUBNET,
    RT_ID,
    cluster,
    make_ctx,
    nsg,
    route_table,
    rule,
    run,
    subnet,
    world,
)

VI = {}  # default world: VNet integration, API server ILB in 10.225.0.0/28
PUBLIC = {"private": False, "vnet_integration": False, "outbound": "loadBalancer"}


@pytest.mark.parametrize(("kind", "rules", "status", "deny"), [
    (VI, [], CheckStatus.PASS, None),  # defaults: AllowVnetOutBound
    (VI, [rule("deny-all-out", 4000, "Outbound", "Deny")], CheckStatus.FAIL, "deny-all-out"),
    (VI, [rule("deny-api", 200, "Outbound", "Deny", dst=["10.225.0.0/28", "10.226.0.0/24"], ports=["80", "400-500"])],
     CheckStatus.FAIL, "deny-api"),
    (VI, [rule("deny-udp", 200, "Outbound", "Deny", protocol="Udp")], CheckStatus.PASS, None),
    (VI, [rule("deny-other", 200, "Outbound", "Deny", dst="10.230.0.0/16")], CheckStatus.PASS, None),
    (VI, [rule("allow-api", 100, "Outbound", "Allow", dst="VirtualNetwork", ports="443"),
          rule("deny-all-out", 4000, "Outbound", "Deny")], CheckStatus.PASS, None),
    (VI, [rule("deny-in", 100, "Inbound", "Deny")], CheckStatus.PASS, None),
    (VI, [rule("deny-vnet", 300, "Outbound", "Deny", dst="VirtualNetwork", ports=["443", "4443"])],
     CheckStatus.FAIL, "deny-vnet"),
    (PUBLIC, [rule("deny-internet", 300, "Outbound", "Deny", dst="Internet")], CheckStatus.FAIL, "deny-internet"),
    (PUBLIC, [rule("deny-azurecloud", 300, "Outbound", "Deny", dst="AzureCloud.westeurope")],
     CheckStatus.FAIL, "deny-azurecloud"),
    (PUBLIC, [rule("deny-eastus", 300, "Outbound", "Deny", dst="AzureCloud.eastus")], CheckStatus.PASS, None),
    (PUBLIC, [rule("deny-vnet", 300, "Outbound", "Deny", dst="VirtualNetwork")], CheckStatus.PASS, None),
    # a public CIDR deny while the API server IP is unknown: cannot decide
    (PUBLIC, [rule("deny-20", 300, "Outbound", "Deny", dst="20.0.0.0/8")], CheckStatus.SKIPPED, None),
    # a deny on a service tag we cannot expand
    (PUBLIC, [rule("deny-storage", 300, "Outbound", "Deny", dst="Storage")], CheckStatus.SKIPPED, None),
])
async def test_walk(kind: dict[str, Any], rules: list[dict[str, Any]], status: CheckStatus, deny: str | None) -> None:
    res = world(c=cluster(**kind), node_nsg=nsg(NODE_NSG, rules))
    if kind is PUBLIC:  # plain public cluster: no UDR on the node subnet
        res[NODE_SUBNET] = subnet(NODE_SUBNET, "10.224.0.0/16", nsg=NODE_NSG)
    r = await run(SPEC, make_ctx(res))
    assert r.status is status, r.summary
    if deny:
        assert deny in r.summary
        assert r.remediation and r.remediation.startswith(
            "az network nsg rule create -g rg-network --nsg-name nsg-aks-nodes -n AllowAksApiServer443")
        assert "--direction Outbound --access Allow --protocol Tcp" in r.remediation
        assert "--source-address-prefixes 10.224.0.0/16" in r.remediation


async def test_known_apiserver_ip_decides_a_cidr_rule() -> None:
    res = world(c=cluster(**PUBLIC), node_nsg=nsg(NODE_NSG, [rule("deny-20", 300, "Outbound", "Deny",
                                                                   dst="20.0.0.0/8")]))
    res[NODE_SUBNET] = subnet(NODE_SUBNET, "10.224.0.0/16", nsg=NODE_NSG)
    hit = await run(SPEC, make_ctx(res, facts={"api_server_ip": "20.61.1.2"}))
    assert hit.status is CheckStatus.FAIL and "--destination-address-prefixes 20.61.1.2/32" in (hit.remediation or "")
    miss = await run(SPEC, make_ctx(res, facts={"api_server_ip": "52.1.1.1"}))
    assert miss.status is CheckStatus.PASS


async def test_udr_default_route_puts_internet_in_virtualnetwork_tag() -> None:
    # DenyInternet at 4000 is still hit first; with only the defaults AllowVnetOutBound matches via the UDR.
    res = world(c=cluster(private=False, vnet_integration=False))
    res[RT_ID] = route_table(RT_ID, [("0.0.0.0/0", "VirtualAppliance", "10.0.1.4")])
    r = await run(SPEC, make_ctx(res))
    assert r.status is CheckStatus.PASS and any(
        isinstance(e.value, dict) and e.value.get("name") == "AllowVnetOutBound" for e in r.evidence)


async def test_no_nsg_on_subnet_passes_with_evidence() -> None:
    res = world(node_subnet=subnet(NODE_SUBNET, "10.224.0.0/16"))
    r = await run(SPEC, make_ctx(res))
    assert r.status is CheckStatus.PASS and any(e.note == "no NSG on the node subnet" for e in r.evidence)


async def test_aks_managed_vnet_is_skipped_with_why() -> None:
    r = await run(SPEC, make_ctx({CLUSTER_ID: cluster(node_subnet=None)}))
    assert r.status is CheckStatus.SKIPPED and "no vnetSubnetID" in (r.reason or "")


async def test_unreadable_nsg_is_an_error_not_a_pass() -> None:
    res = world()
    del res[NODE_NSG]
    r = await run(SPEC, make_ctx(res))
    assert r.status is CheckStatus.ERROR and "not found" in r.summary
