"""route_apiserver: longest-prefix choice over the constructed UDR table + system routes, and the
device behind a VirtualAppliance next hop (firewall in a peered hub)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checks.route_apiserver import SPEC
from shared.models import CheckStatus
from tests.unit.checks.net_support import (
    CLUSTER_ID,
    FW_ID,
    HUB_VNET,
    NODE_NSG,
    NODE_SUBNET,
    RT_ID,
    cluster,
    hub,
    make_ctx,
    route_table,
    run,
    subnet,
    world,
)

PUBLIC: dict[str, Any] = {"private": False, "vnet_integration": False}


@pytest.mark.parametrize(("kw", "routes", "status", "needle"), [
    # VNet integration: the API server subnet is in the VNet -> VnetLocal beats 0.0.0.0/0
    ({}, [("0.0.0.0/0", "VirtualAppliance", "10.0.1.4")], CheckStatus.PASS, "VnetLocal"),
    # a more specific UDR sends it to a blackhole
    ({}, [("0.0.0.0/0", "VirtualAppliance", "10.0.1.4"), ("10.225.0.0/24", "None", None)],
     CheckStatus.FAIL, "blackhole"),
    # same length as the VNet route: the UDR wins the tie
    ({}, [("10.224.0.0/12", "None", None)], CheckStatus.FAIL, "blackhole"),
    # public API server: 0.0.0.0/0 to the firewall, which exists
    (PUBLIC, [("0.0.0.0/0", "VirtualAppliance", "10.0.1.4")], CheckStatus.PASS, "VirtualAppliance 10.0.1.4"),
    (PUBLIC, [("0.0.0.0/0", "None", None)], CheckStatus.FAIL, "blackhole"),
    # next hop inside the hub's firewall subnet but nothing holds that IP
    (PUBLIC, [("0.0.0.0/0", "VirtualAppliance", "10.0.1.5")], CheckStatus.FAIL, "nothing at 10.0.1.5"),
    # next hop outside every VNet we can see (on-premises / vWAN): its rules can't be seen -> likely
    (PUBLIC, [("0.0.0.0/0", "VirtualAppliance", "172.16.0.4")], CheckStatus.FAIL, "whose rules ARM cannot show"),
    # forced tunnelling of the public API server's traffic to on-premises: likely
    (PUBLIC, [("0.0.0.0/0", "VirtualNetworkGateway", None)], CheckStatus.FAIL, "forced tunnelling"),
    # the private (VNet integration) path never leaves the VNet: the gateway default route is irrelevant
    ({}, [("0.0.0.0/0", "VirtualNetworkGateway", None)], CheckStatus.PASS, "VnetLocal"),
    # a public /8 UDR may or may not cover the (unknown) API server IP
    (PUBLIC, [("0.0.0.0/0", "Internet", None), ("20.0.0.0/8", "None", None)], CheckStatus.SKIPPED, "may apply"),
])
async def test_routes(kw: dict[str, Any], routes: list[tuple[str, str, str | None]], status: CheckStatus,
                      needle: str) -> None:
    res = world(c=cluster(**kw), rt=route_table(RT_ID, routes))
    r = await run(SPEC, make_ctx(res))
    assert r.status is status, r.summary
    assert needle in (r.summary + (r.reason or "")), r.summary
    if status is CheckStatus.FAIL:
        opaque = "cannot show" in r.summary
        assert r.confidence == ("likely" if opaque else "confirmed")
        assert bool(r.confirm_by) is opaque
        if opaque:
            assert "az network watcher test-connectivity" in (r.confirm_by or "")


async def test_blackhole_remediation_names_the_route() -> None:
    res = world(rt=route_table(RT_ID, [("10.225.0.0/24", "None", None)]))
    r = await run(SPEC, make_ctx(res))
    assert r.remediation is not None and r.remediation.startswith(
        "az network route-table route delete -g rg-network --route-table-name rt-aks-egress -n r0")


async def test_udr_outbound_without_default_route_fails() -> None:
    res = world(rt=route_table(RT_ID, [("10.0.0.0/8", "VirtualAppliance", "10.0.1.4")]))
    r = await run(SPEC, make_ctx(res))
    assert r.status is CheckStatus.FAIL and "no 0.0.0.0/0 route" in r.summary
    res = world(node_subnet=subnet(NODE_SUBNET, "10.224.0.0/16", nsg=NODE_NSG))  # no route table at all
    r = await run(SPEC, make_ctx(res))
    assert r.status is CheckStatus.FAIL and "az network vnet subnet update --ids" in (r.remediation or "")


async def test_failed_firewall_is_reported() -> None:
    res = world(c=cluster(**PUBLIC))
    res[FW_ID]["properties"]["provisioningState"] = "Failed"
    r = await run(SPEC, make_ctx(res))
    assert r.status is CheckStatus.FAIL and "provisioningState Failed" in r.summary


async def test_unreadable_hub_is_not_verified() -> None:
    res = world(c=cluster(**PUBLIC))
    del res[HUB_VNET]
    r = await run(SPEC, make_ctx(res))
    assert r.status is CheckStatus.SKIPPED


async def test_nic_appliance_without_ip_forwarding() -> None:
    nic_id = HUB_VNET.replace("virtualNetworks/vnet-hub", "networkInterfaces/nva-nic")
    res = world(c=cluster(**PUBLIC), rt=route_table(RT_ID, [("0.0.0.0/0", "VirtualAppliance", "10.0.1.10")]))
    res[HUB_VNET] = hub()
    res[HUB_VNET]["properties"]["subnets"][0]["properties"]["ipConfigurations"].append(
        {"id": f"{nic_id}/ipConfigurations/ipconfig1"})
    res[nic_id] = {"id": nic_id, "name": "nva-nic", "properties": {
        "provisioningState": "Succeeded", "enableIPForwarding": False,
        "ipConfigurations": [{"name": "ipconfig1", "properties": {"privateIPAddress": "10.0.1.10"}}]}}
    r = await run(SPEC, make_ctx(res))
    assert r.status is CheckStatus.FAIL and "--ip-forwarding true" in (r.remediation or "")
    assert r.confidence == "confirmed"
    # forwarding on: an NVA whose rule base ARM cannot show -> a likely cause, with how to confirm it
    res[nic_id]["properties"]["enableIPForwarding"] = True
    r = await run(SPEC, make_ctx(res))
    assert r.status is CheckStatus.FAIL and r.confidence == "likely", r.summary
    assert "network virtual appliance nva-nic" in r.summary and "10.0.1.10" in (r.confirm_by or "")


async def test_aks_managed_vnet_skipped() -> None:
    r = await run(SPEC, make_ctx({CLUSTER_ID: cluster(node_subnet=None)}))
    assert r.status is CheckStatus.SKIPPED


@pytest.mark.parametrize(("tags", "ip", "status", "needle"), [
    # the service-tag UDR holds the API server address: it goes to the Internet, the dead appliance is not used
    (True, "20.61.1.10", CheckStatus.PASS, "(AzureCloud.westeurope) 20.61.0.0/16 -> Internet"),
    # the address is outside the tag: the 0.0.0.0/0 route to the missing appliance carries it
    (True, "52.1.1.1", CheckStatus.FAIL, "nothing at 10.0.1.9"),
    # no list: the tag route may or may not hold it - not a cause
    (False, "20.61.1.10", CheckStatus.SKIPPED, "may apply"),
])
async def test_service_tag_udr_resolved_from_the_list(tags: bool, ip: str, status: CheckStatus, needle: str) -> None:
    from tests.unit.checks.egress_support import TAGS_ID, service_tags

    res = world(c=cluster(**PUBLIC), rt=route_table(RT_ID, [("0.0.0.0/0", "VirtualAppliance", "10.0.1.9"),
                                                            ("AzureCloud.westeurope", "Internet", None)]))
    if tags:
        res[TAGS_ID] = service_tags()
    r = await run(SPEC, make_ctx(res, facts={"api_server_ip": ip}))
    assert r.status is status, r.summary
    assert needle in (r.summary + (r.reason or "")), r.summary
