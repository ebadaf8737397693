"""vnet_custom_dns: dhcpOptions.dnsServers of the node VNet vs the private zone's VNet links."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checks.vnet_custom_dns import SPEC
from shared.models import CheckStatus
from tests.unit.checks.net_support import (
    CLUSTER_ID,
    HUB_VNET,
    NODE_RG,
    SUB,
    VNET_ID,
    cluster,
    make_ctx,
    run,
    world,
)

ZONES = f"/subscriptions/{SUB}/resourceGroups/{NODE_RG}/providers/Microsoft.Network/privateDnsZones"
ZONE = f"{ZONES}/privatelink.westeurope.azmk8s.io"


def res(dns: list[str] | None, linked: list[str], **kw: Any) -> dict[str, Any]:
    r = world(c=cluster(**({"vnet_integration": False} | kw)), dns=dns)
    r[ZONES] = {"value": [{"id": ZONE, "name": "privatelink.westeurope.azmk8s.io"}]}
    r[f"{ZONE}/virtualNetworkLinks"] = {"value": [
        {"id": f"{ZONE}/virtualNetworkLinks/l{i}", "properties": {"virtualNetwork": {"id": v},
                                                                  "virtualNetworkLinkState": "Completed"}}
        for i, v in enumerate(linked)]}
    return r


@pytest.mark.parametrize(("dns", "linked", "status", "needle"), [
    (None, [VNET_ID], CheckStatus.PASS, "Azure-provided"),
    ([], [VNET_ID], CheckStatus.PASS, "Azure-provided"),
    (["168.63.129.16"], [VNET_ID], CheckStatus.PASS, "Azure-provided"),
    (["10.0.2.4"], [VNET_ID, HUB_VNET], CheckStatus.PASS, "linked"),        # resolver in the linked hub
    (["10.0.2.4"], [VNET_ID], CheckStatus.FAIL, "not linked"),              # hub not linked
    (["10.224.5.5"], [], CheckStatus.FAIL, "vnet-spoke-aks, not linked"),   # in the node VNet, no link
    (["192.168.10.10"], [VNET_ID], CheckStatus.FAIL, "on-premises"),        # outside every VNet
])
async def test_servers(dns: list[str] | None, linked: list[str], status: CheckStatus, needle: str) -> None:
    r = await run(SPEC, make_ctx(res(dns, linked), code="VMExtensionError_K8SAPIServerDNSLookupFail",
                                 subcategory="nxdomain"))
    assert r.status is status and needle in r.summary, r.summary


async def test_fail_remediation_links_the_dns_vnet() -> None:
    r = await run(SPEC, make_ctx(res(["10.0.2.4"], [VNET_ID])))
    assert r.remediation == (f"az network private-dns link vnet create -g {NODE_RG} "
                             f"-z privatelink.westeurope.azmk8s.io -n vnet-hub-dns-link -v {HUB_VNET} -e false")


@pytest.mark.parametrize("kw", [{"private": False}, {"vnet_integration": True}])
async def test_custom_dns_not_applicable_without_privatelink_lookup(kw: dict[str, Any]) -> None:
    r = await run(SPEC, make_ctx(res(["192.168.10.10"], [], **kw)))
    assert r.status is CheckStatus.NOT_APPLICABLE and "192.168.10.10" in r.summary


async def test_aks_managed_vnet() -> None:
    r = await run(SPEC, make_ctx({CLUSTER_ID: cluster(node_subnet=None)}))
    assert r.status is CheckStatus.NOT_APPLICABLE
