"""Reads issued ahead of need: a captured read's error passes through `in_order` and surfaces only
where `unwrap` opens it (a node VNet that answers 403 must not fail a check that never uses it)."""

from __future__ import annotations

import pytest

from shared.checklib import netread
from shared.ports import ArmForbidden


async def _ok() -> str:
    return "subnets"


async def _forbidden() -> list[str]:
    raise ArmForbidden("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v", 403,
                       "AuthorizationFailed", "no read")


async def test_in_order_passes_a_captured_error_through() -> None:
    first, ahead = await netread.in_order(_ok(), netread.captured(_forbidden()))
    assert first == "subnets"
    with pytest.raises(ArmForbidden):
        netread.unwrap(ahead)


async def test_in_order_still_raises_an_uncaptured_error() -> None:
    with pytest.raises(ArmForbidden):
        await netread.in_order(_ok(), _forbidden())


async def test_unwrap_of_a_captured_value() -> None:
    assert netread.unwrap(await netread.captured(_ok())) == "subnets"


async def test_a_next_hop_in_a_vnet_space_but_in_no_subnet_is_missing() -> None:
    """Nothing can hold an address that no subnet contains: `missing`, not 'could not read'."""
    from tests.unit.checks.net_support import HUB_VNET, NODE_SUBNET, VNET_ID, make_ctx, subnet, vnet

    hub = vnet(HUB_VNET, ("10.0.0.0/16",), subnets=[subnet(f"{HUB_VNET}/subnets/AzureFirewallSubnet", "10.0.1.0/26")])
    node_vnet = vnet(VNET_ID, ("10.224.0.0/12",), subnets=[subnet(NODE_SUBNET, "10.224.0.0/16")],
                     peerings=[(HUB_VNET, ["10.0.0.0/16"])])
    ctx = make_ctx({HUB_VNET: hub, VNET_ID: node_vnet})
    hop = await netread.locate_next_hop(ctx, node_vnet, "10.0.2.4")
    assert hop.kind == "missing" and "none of its subnets" in (hop.note or ""), hop
    inside = await netread.locate_next_hop(ctx, node_vnet, "10.0.1.4")  # in the firewall subnet, no device there
    assert inside.kind == "missing" and inside.subnet_id and inside.subnet_id.endswith("AzureFirewallSubnet")
