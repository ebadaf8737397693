"""egress_bootstrap: the node -> required endpoints path (NIC + subnet NSG, route, next hop), on spec
example bodies with one planted fault and decoys that must not be blamed."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checklib import egress
from shared.checks.egress_bootstrap import SPEC
from shared.models import CheckStatus
from tests.unit.checks.egress_support import (
    AKS_NSG,
    TAGS_ID,
    aks_nsg,
    scale_set,
    scale_sets,
    service_tags,
)
from tests.unit.checks.net_support import (
    CLUSTER_ID,
    FW_ID,
    HUB_VNET,
    NODE_NSG,
    NODE_RG,
    NODE_SUBNET,
    RT_ID,
    cluster,
    hub,
    make_ctx,
    nsg,
    route_table,
    rule,
    run,
    subnet,
    world,
)

EXIT50: dict[str, Any] = {"code": "VMExtensionError_OutboundConnFail", "subcategory": "timeout"}


def lb_world(**kw: Any) -> dict[str, Any]:
    """A public cluster with outboundType loadBalancer: no UDR, subnet NSG + the AKS NIC NSG."""
    extra = {**scale_sets(scale_set()), AKS_NSG: aks_nsg(), **kw.pop("extra", {})}
    res = world(c=cluster(private=False, vnet_integration=False, outbound="loadBalancer"), extra=extra, **kw)
    if "node_subnet" not in kw:
        res[NODE_SUBNET] = subnet(NODE_SUBNET, "10.224.0.0/16", nsg=NODE_NSG)
    return res


def test_endpoint_table() -> None:
    egress.self_test()
    assert egress.for_host("eastus.data.mcr.microsoft.com") is egress.REQUIRED[1]
    assert egress.for_host("example.com") is None


async def test_healthy_paths_pass() -> None:
    for res in (lb_world(), world()):  # LB egress; UDR to the hub firewall (its rules: the firewall check)
        r = await run(SPEC, make_ctx(res, **EXIT50))
        assert r.status is CheckStatus.PASS, r.summary


@pytest.mark.parametrize(("where", "rules", "needle"), [
    ("nic", [rule("deny-internet-out", 200, "Outbound", "Deny", dst="Internet")], "NIC NSG aks-agentpool"),
    ("subnet", [rule("deny-443-out", 300, "Outbound", "Deny", dst="*", ports=["80", "443"])],
     "subnet NSG nsg-aks-nodes"),
    ("subnet", [rule("deny-mcr", 300, "Outbound", "Deny", dst="MicrosoftContainerRegistry", ports="443")],
     "likely denies"),
])
async def test_nsg_deny_at_either_level(where: str, rules: list[dict[str, Any]], needle: str) -> None:
    res = lb_world(node_nsg=nsg(NODE_NSG, rules)) if where == "subnet" else lb_world(extra={AKS_NSG: aks_nsg(rules)})
    r = await run(SPEC, make_ctx(res, **EXIT50, facts={"fqdn": "mcr.microsoft.com"}))
    assert r.status is CheckStatus.FAIL and needle in r.summary, r.summary
    assert "mcr.microsoft.com" in r.summary
    assert any(e.property == "required endpoints" and "mcr.microsoft.com" in e.value for e in r.evidence)
    if "likely" in needle:  # a tag deny: by the tag's meaning, mcr is in MicrosoftContainerRegistry
        assert r.confidence == "likely" and "list-service-tags" in (r.confirm_by or "")
        assert "packages.microsoft.com" not in r.summary  # no tag: not blamed
    else:
        assert r.confidence == "confirmed"


async def test_allow_before_deny_and_decoys_are_not_blamed() -> None:
    rules = [rule("allow-443", 100, "Outbound", "Allow", dst="Internet", ports="443"),
             rule("deny-internet", 4000, "Outbound", "Deny", dst="Internet"),
             rule("deny-udp", 200, "Outbound", "Deny", protocol="Udp"),          # other protocol
             rule("deny-80", 210, "Outbound", "Deny", dst="Internet", ports="80-89"),  # other port
             rule("deny-in", 220, "Inbound", "Deny")]                             # other direction
    r = await run(SPEC, make_ctx(lb_world(node_nsg=nsg(NODE_NSG, rules)), **EXIT50))
    assert r.status is CheckStatus.PASS, r.summary


async def test_nic_nsg_fix_deletes_the_custom_rule_in_the_node_resource_group() -> None:
    res = lb_world(extra={AKS_NSG: aks_nsg([rule("block-out", 150, "Outbound", "Deny")])})
    r = await run(SPEC, make_ctx(res, **EXIT50))
    assert r.status is CheckStatus.FAIL
    assert r.remediation and r.remediation.startswith(
        f"az network nsg rule delete -g {NODE_RG} --nsg-name aks-agentpool-12345678-nsg -n block-out")


async def test_udr_to_a_deleted_appliance() -> None:
    res = world(rt=route_table(RT_ID, [("0.0.0.0/0", "VirtualAppliance", "10.0.1.9")]))  # the firewall is .4
    r = await run(SPEC, make_ctx(res, **EXIT50))
    assert r.status is CheckStatus.FAIL and r.confidence == "confirmed", r.summary
    assert "nothing answers at 10.0.1.9" in r.summary
    assert r.remediation == ("az network route-table route update -g rg-network --route-table-name rt-aks-egress "
                             "-n r0 --next-hop-ip-address <private-ip-of-the-existing-firewall>")
    assert "fw-hub" not in r.summary  # the firewall that exists is not blamed


async def test_blackhole_unread_route_table_and_partial_routes() -> None:
    r = await run(SPEC, make_ctx(world(rt=route_table(RT_ID, [("0.0.0.0/0", "None", None)])), **EXIT50))
    assert r.status is CheckStatus.FAIL and "next hop None" in r.summary
    res = world()
    del res[RT_ID]  # Azure refuses to delete a route table in use: an unread table is not a cause
    r = await run(SPEC, make_ctx(res, **EXIT50))
    assert r.status is CheckStatus.SKIPPED and "could not be read" in (r.reason or ""), r.summary
    # a public-prefix UDR that may cover the endpoints' (unknown) addresses: cannot tell
    res = world(rt=route_table(RT_ID, [("0.0.0.0/0", "VirtualAppliance", "10.0.1.4"), ("20.0.0.0/8", "None", None)]))
    r = await run(SPEC, make_ctx(res, **EXIT50))
    assert r.status is CheckStatus.SKIPPED and "may cover" in (r.reason or ""), r.summary


async def test_nva_whose_rules_cannot_be_seen_is_likely() -> None:
    nic_id = HUB_VNET.replace("virtualNetworks/vnet-hub", "networkInterfaces/nva-nic")
    res = world(rt=route_table(RT_ID, [("0.0.0.0/0", "VirtualAppliance", "10.0.1.10")]))
    res[HUB_VNET] = hub()
    res[HUB_VNET]["properties"]["subnets"][0]["properties"]["ipConfigurations"].append(
        {"id": f"{nic_id}/ipConfigurations/ipconfig1"})
    res[nic_id] = {"id": nic_id, "name": "nva-nic", "properties": {
        "provisioningState": "Succeeded", "enableIPForwarding": True,
        "ipConfigurations": [{"name": "ipconfig1", "properties": {"privateIPAddress": "10.0.1.10"}}]}}
    r = await run(SPEC, make_ctx(res, **EXIT50))
    assert r.status is CheckStatus.FAIL and r.confidence == "likely", r.summary
    assert "nva-nic" in r.summary and "test-connectivity" in (r.confirm_by or "")


async def test_confirmed_nsg_deny_outranks_a_likely_nva_in_the_same_result() -> None:
    res = world(rt=route_table(RT_ID, [("0.0.0.0/0", "VirtualNetworkGateway", None)]),
                node_nsg=nsg(NODE_NSG, [rule("deny-all", 100, "Outbound", "Deny")]))
    r = await run(SPEC, make_ctx(res, **EXIT50))
    assert r.status is CheckStatus.FAIL and r.confidence == "confirmed" and "deny-all" in r.summary


async def test_service_tag_rule_with_readable_list_but_unknown_address_stays_likely() -> None:
    res = lb_world(node_nsg=nsg(NODE_NSG, [rule("deny-aad", 300, "Outbound", "Deny", dst="AzureActiveDirectory")]))
    res[TAGS_ID] = service_tags()
    r = await run(SPEC, make_ctx(res, **EXIT50))
    assert r.status is CheckStatus.FAIL and r.confidence == "likely"
    assert "login.microsoftonline.com" in r.summary and "mcr.microsoft.com" not in r.summary


async def test_unreadable_nic_nsg_is_not_a_pass() -> None:
    res = lb_world()
    del res[AKS_NSG]  # the scale set references an NSG that is gone
    r = await run(SPEC, make_ctx(res, **EXIT50))
    assert r.status is CheckStatus.SKIPPED and "does not exist" in (r.reason or ""), r.summary


async def test_managed_vnet_subnet_found_through_the_scale_set() -> None:
    managed = f"/subscriptions/{CLUSTER_ID.split('/')[2]}/resourceGroups/{NODE_RG}/providers/Microsoft.Network/" \
              "virtualNetworks/aks-vnet-12345678/subnets/aks-subnet"
    c = cluster(private=False, vnet_integration=False, outbound="loadBalancer", node_subnet=None)
    res = {CLUSTER_ID: c, **scale_sets(scale_set(subnet=managed)),
           AKS_NSG: aks_nsg([rule("deny-internet-out", 200, "Outbound", "Deny", dst="Internet")]),
           managed: subnet(managed, "10.224.0.0/16", nsg=AKS_NSG)}
    r = await run(SPEC, make_ctx(res, **EXIT50))
    assert r.status is CheckStatus.FAIL and "deny-internet-out" in r.summary, r.summary


async def test_network_isolated_cluster_not_applicable() -> None:
    c = cluster(private=True, vnet_integration=False, outbound="none")
    c["properties"]["bootstrapProfile"] = {"artifactSource": "Cache"}
    r = await run(SPEC, make_ctx({CLUSTER_ID: c}, **EXIT50))
    assert r.status is CheckStatus.NOT_APPLICABLE


async def test_firewall_hop_is_left_to_the_firewall_check() -> None:
    r = await run(SPEC, make_ctx(world(), **EXIT50))
    assert r.status is CheckStatus.PASS
    assert any(e.resource_id == FW_ID and "firewall check" in (e.note or "") for e in r.evidence)


@pytest.mark.parametrize(("ip", "status", "confidence"), [
    ("20.61.99.200", CheckStatus.FAIL, "confirmed"),  # in MicrosoftContainerRegistry by the list's prefixes
    ("13.107.1.1", CheckStatus.FAIL, "likely"),       # mcr's address is outside the tag; *.data.mcr likely inside
])
async def test_address_quoted_with_the_host_is_matched_against_the_tag_list(ip: str, status: CheckStatus,
                                                                           confidence: str) -> None:
    res = lb_world(node_nsg=nsg(NODE_NSG, [rule("deny-mcr", 300, "Outbound", "Deny", dst="MicrosoftContainerRegistry",
                                                 ports="443")]))
    res[TAGS_ID] = service_tags()
    r = await run(SPEC, make_ctx(res, **EXIT50, facts={"fqdns": ["mcr.microsoft.com"], "ips": [ip]}))
    assert r.status is status, r.summary
    assert r.confidence == confidence, r.summary
    if confidence == "confirmed":
        assert "to mcr.microsoft.com:" in r.summary and any("is in service tag MicrosoftContainerRegistry"
                                                             in (e.note or "") for e in r.evidence)
    else:
        assert "to *.data.mcr.microsoft.com:" in r.summary  # mcr.microsoft.com itself is proven outside


async def test_aks_nsg_found_in_the_node_resource_group_when_no_scale_set_is_listed() -> None:
    """The NSG says which NICs it is on (`properties.networkInterfaces`): the node NICs of the scale set."""
    from tests.unit.checks.egress_support import NODE_RG_ID, VMSS_ID, VMSS_LIST

    body = aks_nsg([rule("deny-internet-out", 200, "Outbound", "Deny", dst="Internet")])
    body["properties"]["networkInterfaces"] = [
        {"id": f"{VMSS_ID}/virtualMachines/0/networkInterfaces/aks-system-12345678-vmss"}]
    res = lb_world()
    del res[VMSS_LIST]
    res[f"{NODE_RG_ID}/providers/Microsoft.Network/networkSecurityGroups"] = {"value": [body]}
    res[AKS_NSG] = body
    r = await run(SPEC, make_ctx(res, **EXIT50))
    assert r.status is CheckStatus.FAIL and "NIC NSG aks-agentpool-12345678-nsg" in r.summary, r.summary
    body["properties"]["networkInterfaces"] = []  # on no NIC: not on the path
    assert (await run(SPEC, make_ctx(res, **EXIT50))).status is CheckStatus.PASS
