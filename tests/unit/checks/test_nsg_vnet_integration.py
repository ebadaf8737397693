"""nsg_vnet_integration: 443/4443 node subnet <-> API-server subnet, 9988 from AzureLoadBalancer."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checks.nsg_vnet_integration import SPEC
from shared.models import CheckStatus
from tests.unit.checks.net_support import API_NSG, CLUSTER_ID, NODE_NSG, cluster, make_ctx, nsg, rule, run, world


@pytest.mark.parametrize(("node_rules", "api_rules", "status", "needle"), [
    ([], [], CheckStatus.PASS, "allow"),
    ([], [rule("deny-vnet-in", 1000, "Inbound", "Deny", src="VirtualNetwork")], CheckStatus.FAIL, "inbound TCP 443"),
    ([], [rule("deny-4443", 1000, "Inbound", "Deny", src="10.224.0.0/16", ports=["4443"])],
     CheckStatus.FAIL, "inbound TCP 4443"),
    ([], [rule("deny-lb", 1000, "Inbound", "Deny", src="AzureLoadBalancer", ports="9000-9999")],
     CheckStatus.FAIL, "inbound TCP 9988"),
    ([], [rule("allow-lb", 900, "Inbound", "Allow", src="AzureLoadBalancer", ports="9988"),
          rule("deny-all-in", 1000, "Inbound", "Deny")], CheckStatus.FAIL, "inbound TCP 443"),
    ([], [rule("allow-nodes", 800, "Inbound", "Allow", src="10.224.0.0/16", ports=["443", "4443"]),
          rule("allow-lb", 900, "Inbound", "Allow", src="AzureLoadBalancer", ports="9988"),
          rule("deny-all-in", 1000, "Inbound", "Deny")], CheckStatus.PASS, "allow"),
    ([rule("deny-4443-out", 500, "Outbound", "Deny", dst="10.225.0.0/24", ports="4443")], [],
     CheckStatus.FAIL, "outbound TCP 4443"),
    ([], [rule("deny-internet-in", 1000, "Inbound", "Deny", src="Internet")], CheckStatus.PASS, "allow"),
])
async def test_flows(node_rules: list[dict[str, Any]], api_rules: list[dict[str, Any]], status: CheckStatus,
                     needle: str) -> None:
    res = world(node_nsg=nsg(NODE_NSG, node_rules), api_nsg=nsg(API_NSG, api_rules))
    r = await run(SPEC, make_ctx(res))
    assert r.status is status, r.summary
    assert needle in r.summary
    if status is CheckStatus.FAIL:
        assert r.remediation and "az network nsg rule create -g rg-network" in r.remediation


async def test_remediation_allows_lb_probe_on_9988_before_the_deny() -> None:
    res = world(api_nsg=nsg(API_NSG, [rule("deny-lb", 150, "Inbound", "Deny", src="AzureLoadBalancer")]))
    r = await run(SPEC, make_ctx(res))
    assert r.remediation == ("az network nsg rule create -g rg-network --nsg-name nsg-aks-apiserver "
                             "-n AllowAksApiServer9988In --priority 149 --direction Inbound --access Allow "
                             "--protocol Tcp --source-address-prefixes AzureLoadBalancer --source-port-ranges '*' "
                             "--destination-address-prefixes 10.225.0.0/28 --destination-port-ranges 9988")


@pytest.mark.parametrize(("kw", "status"), [
    ({"vnet_integration": False}, CheckStatus.NOT_APPLICABLE),
    ({"apiserver_subnet": ""}, CheckStatus.NOT_APPLICABLE),  # AKS-managed subnet: subnetId ""
])
async def test_not_applicable(kw: dict[str, Any], status: CheckStatus) -> None:
    r = await run(SPEC, make_ctx(world(c=cluster(**kw))))
    assert r.status is status


async def test_missing_apiserver_subnet_is_skipped() -> None:
    res = world()
    res[CLUSTER_ID]["properties"]["apiServerAccessProfile"]["subnetId"] += "-gone"
    r = await run(SPEC, make_ctx(res))
    assert r.status is CheckStatus.SKIPPED and "apiserver_subnet" in (r.reason or "")


async def test_node_nic_nsg_blocks_4443_to_the_apiserver_subnet() -> None:
    """The AKS-managed NIC NSG (through the scale set) is on the nodes' outbound path first."""
    from tests.unit.checks.egress_support import AKS_NSG, aks_nsg, scale_set, scale_sets

    res = world(extra={**scale_sets(scale_set()),
                       AKS_NSG: aks_nsg([rule("deny-4443", 300, "Outbound", "Deny", dst="VirtualNetwork",
                                              ports="4443")])})
    r = await run(SPEC, make_ctx(res))
    assert r.status is CheckStatus.FAIL and "NIC NSG aks-agentpool-12345678-nsg" in r.summary, r.summary
    assert "outbound TCP 4443" in r.summary and "nsg-aks-apiserver" not in r.summary
    assert "az network nsg rule delete" in (r.remediation or "") and "-n deny-4443" in (r.remediation or "")


async def test_asg_rule_on_the_apiserver_subnet_is_not_guessed() -> None:
    asg = rule("deny-asg-in", 1000, "Inbound", "Deny", ports="443")
    asg["properties"].pop("sourceAddressPrefix")
    asg["properties"]["sourceApplicationSecurityGroups"] = [{"id": API_NSG.replace(
        "networkSecurityGroups/nsg-aks-apiserver", "applicationSecurityGroups/asg-nodes")}]
    r = await run(SPEC, make_ctx(world(api_nsg=nsg(API_NSG, [asg]))))
    assert r.status is CheckStatus.SKIPPED and "ASG membership" in (r.reason or ""), r.summary
