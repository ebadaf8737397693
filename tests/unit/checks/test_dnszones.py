"""shared.checklib.dnszones: which zone holds the private API server record, and its links (the
VirtualNetworkLinkGet spec example re-pointed), for both DNS checks."""

from __future__ import annotations

from typing import Any

from shared.checklib import dnszones
from shared.checklib.clusterview import ClusterView
from tests.unit.checks.net_support import CLUSTER_ID, NODE_RG, SUB, VNET_ID, cluster, load, make_ctx, world

ZONES = f"/subscriptions/{SUB}/resourceGroups/{NODE_RG}/providers/Microsoft.Network/privateDnsZones"
ZONE = f"{ZONES}/privatelink.westeurope.azmk8s.io"
SUBZONE = f"{ZONES}/dns-1234.privatelink.westeurope.azmk8s.io"
FQDN = "aks-prod-01-abcd.dns-1234.privatelink.westeurope.azmk8s.io"


def link(zone: str, vnet: str, state: str = "Completed") -> dict[str, Any]:
    body = load("network/VirtualNetworkLinkGet.2024-06-01.spec-example.json")
    body["id"] = f"{zone}/virtualNetworkLinks/{vnet.rsplit('/', 1)[-1]}"
    body["properties"]["virtualNetwork"] = {"id": vnet}
    body["properties"]["virtualNetworkLinkState"] = state
    return body


def test_zone_for_takes_the_longest_suffix() -> None:
    zones = [
        {"id": ZONE, "name": "privatelink.westeurope.azmk8s.io"},
        {"id": SUBZONE, "name": "dns-1234.privatelink.westeurope.azmk8s.io"},
        {"id": f"{ZONES}/contoso.com", "name": "contoso.com"},
    ]
    best = dnszones.zone_for(FQDN, zones)
    assert best is not None and best["id"] == SUBZONE
    assert dnszones.zone_for("aks.privatelink.eastus.azmk8s.io", zones) is None
    assert dnszones.zone_for(None, zones) is None


async def test_system_zone_in_the_node_resource_group_and_its_links() -> None:
    c = cluster(vnet_integration=False)
    c["properties"]["privateFQDN"] = FQDN
    res = world(c=c)
    res[ZONES] = {"value": [{"id": SUBZONE, "name": "dns-1234.privatelink.westeurope.azmk8s.io"}]}
    res[f"{SUBZONE}/virtualNetworkLinks"] = {"value": [link(SUBZONE, VNET_ID, "InProgress")]}
    ctx = make_ctx(res)
    found = await dnszones.cluster_zone(ctx, await ctx.view())
    assert found.zone_id == SUBZONE and found.listing_found and found.setting == "system"
    assert [(ln.vnet_id, ln.healthy) for ln in found.links] == [(VNET_ID, False)]


async def test_custom_zone_id_missing_and_node_rg_missing() -> None:
    custom = (
        f"/subscriptions/{SUB}/resourceGroups/rg-dns/providers/Microsoft.Network/privateDnsZones/"
        "privatelink.westeurope.azmk8s.io"
    )
    c = cluster(vnet_integration=False)
    c["properties"]["apiServerAccessProfile"]["privateDNSZone"] = custom
    ctx = make_ctx(world(c=c))
    found = await dnszones.cluster_zone(ctx, await ctx.view())
    assert found.zone_id is None and found.searched == custom and found.listing_found
    view = ClusterView.from_body(cluster(vnet_integration=False), CLUSTER_ID)
    found = await dnszones.cluster_zone(make_ctx(world()), view)
    assert found.zone_id is None and not found.listing_found  # no zone listing in the node resource group
