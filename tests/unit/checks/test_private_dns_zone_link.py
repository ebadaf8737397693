"""private_dns_zone_link over the VirtualNetworkLinkGet spec example re-pointed at the cluster's zone."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checks.private_dns_zone_link import SPEC
from shared.models import CheckStatus
from tests.unit.checks.net_support import CLUSTER_ID, NODE_RG, SUB, VNET_ID, cluster, load, make_ctx, run, world

ZONES = f"/subscriptions/{SUB}/resourceGroups/{NODE_RG}/providers/Microsoft.Network/privateDnsZones"
ZONE_NAME = "privatelink.westeurope.azmk8s.io"
ZONE = f"{ZONES}/{ZONE_NAME}"
CUSTOM = f"/subscriptions/{SUB}/resourceGroups/rg-dns/providers/Microsoft.Network/privateDnsZones/{ZONE_NAME}"


def link(zone: str, vnet: str, state: str = "Completed") -> dict[str, Any]:
    b = load("network/VirtualNetworkLinkGet.2024-06-01.spec-example.json")
    b["id"] = f"{zone}/virtualNetworkLinks/{vnet.rsplit('/', 1)[-1]}"
    b["properties"]["virtualNetwork"]["id"] = vnet
    b["properties"]["virtualNetworkLinkState"] = state
    return b


def res(links: list[dict[str, Any]] | None, *, zone_setting: str | None = None) -> dict[str, Any]:
    r = world(c=cluster(vnet_integration=False))
    if zone_setting:
        r[CLUSTER_ID]["properties"]["apiServerAccessProfile"]["privateDNSZone"] = zone_setting
    zone_id = zone_setting if zone_setting and zone_setting.startswith("/") else ZONE
    if links is not None:
        r[ZONES] = {"value": [{"id": ZONE, "name": ZONE_NAME, "location": "global", "properties": {}}]}
        if zone_setting and zone_setting.startswith("/"):
            r[zone_id] = {"id": zone_id, "name": ZONE_NAME, "properties": {}}
        r[f"{zone_id}/virtualNetworkLinks"] = {"value": links}
    else:
        r[ZONES] = {"value": []}
    return r


@pytest.mark.parametrize(
    ("links", "status", "needle"),
    [
        ([link(ZONE, VNET_ID)], CheckStatus.PASS, "is linked"),
        # ARM returns ids in other casings: still the same VNet
        ([link(ZONE, VNET_ID.upper().replace("/SUBSCRIPTIONS/", "/subscriptions/"))], CheckStatus.PASS, "is linked"),
        ([link(ZONE, VNET_ID.replace("vnet-spoke-aks", "vnet-hub"))], CheckStatus.FAIL, "not linked"),
        ([], CheckStatus.FAIL, "not linked"),
        ([link(ZONE, VNET_ID, state="InProgress")], CheckStatus.FAIL, "InProgress"),
        (None, CheckStatus.FAIL, "no private DNS zone"),
    ],
)
async def test_links(links: list[dict[str, Any]] | None, status: CheckStatus, needle: str) -> None:
    r = await run(SPEC, make_ctx(res(links), code="VMExtensionError_K8SAPIServerDNSLookupFail", subcategory="nxdomain"))
    assert r.status is status and needle in r.summary, r.summary
    if needle == "not linked":
        assert r.remediation == (
            f"az network private-dns link vnet create -g {NODE_RG} -z {ZONE_NAME} "
            f"-n vnet-spoke-aks-link -v {VNET_ID} -e false"
        )


async def test_custom_zone_id() -> None:
    r = await run(SPEC, make_ctx(res([link(CUSTOM, VNET_ID)], zone_setting=CUSTOM)))
    assert r.status is CheckStatus.PASS
    missing = res([link(CUSTOM, VNET_ID)], zone_setting=CUSTOM)
    del missing[CUSTOM]
    assert (await run(SPEC, make_ctx(missing))).status is CheckStatus.FAIL


@pytest.mark.parametrize(
    ("kw", "zone"), [({"private": False, "vnet_integration": False}, None), ({"vnet_integration": False}, "none")]
)
async def test_not_applicable(kw: dict[str, Any], zone: str | None) -> None:
    c = cluster(**kw)
    if zone:
        c["properties"]["apiServerAccessProfile"]["privateDNSZone"] = zone
    r = await run(SPEC, make_ctx({CLUSTER_ID: c}))
    assert r.status is CheckStatus.NOT_APPLICABLE


async def test_spec_example_cluster_with_custom_zone_id() -> None:
    """ManagedClustersCreate_PrivateClusterFQDNSubdomain: privateDNSZone is a zone id (lower-case
    `resourcegroups`), privateFQDN domain1.privatelink.location1.azmk8s.io."""
    c = load("network/ManagedClustersCreate_PrivateClusterFQDNSubdomain.2025-05-01.spec-example.json")
    c["id"] = CLUSTER_ID
    c["properties"]["agentPoolProfiles"][0]["vnetSubnetID"] = f"{VNET_ID}/subnets/snet-aks-nodes"
    zone = c["properties"]["apiServerAccessProfile"]["privateDNSZone"]
    resources = {
        CLUSTER_ID: c,
        zone.replace("resourcegroups", "resourceGroups"): {"id": zone, "name": "z"},
        f"{zone}/virtualNetworkLinks": {"value": [link(zone, VNET_ID.lower())]},
    }
    r = await run(SPEC, make_ctx(resources))
    assert r.status is CheckStatus.PASS, r.summary
    resources[f"{zone}/virtualNetworkLinks"] = {"value": []}
    r = await run(SPEC, make_ctx(resources))
    assert r.status is CheckStatus.FAIL and "-g rg1 -z privatelink.location1.azmk8s.io" in (r.remediation or "")


async def test_deleted_custom_zone_is_a_fail_not_an_error() -> None:
    """The zone id setting points at a zone that is gone (its links listing 404s too)."""
    r = await run(SPEC, make_ctx(res(None, zone_setting=CUSTOM)))
    assert r.status is CheckStatus.FAIL and f"looked in {CUSTOM}" in r.summary, r.summary
