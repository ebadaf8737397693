"""cidr_overlap over the constructed cluster (2025-05-01) and the VirtualNetworkGet spec example with
subnets and peerings: one planted overlap per case, decoy ranges that must not be blamed."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checklib.base import CheckContext
from shared.checklib.clusterview import ClusterView
from shared.checks.cidr_overlap import SPEC
from shared.models import CheckStatus
from tests.unit.checks.net_support import (
    API_SUBNET,
    CLUSTER_ID,
    HUB_VNET,
    NODE_SUBNET,
    VNET_ID,
    cluster,
    make_ctx,
    run,
    subnet,
    vnet,
)
from tests.unit.checks.platform_support import deny

OTHER_PEER = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-onprem/providers/"
    "Microsoft.Network/virtualNetworks/vnet-onprem-gw"
)


def world(
    *, net: dict[str, Any] | None = None, hub_space: str = "10.100.0.0/16", vnet_space: str = "10.224.0.0/12"
) -> dict[str, dict[str, Any]]:
    c = cluster()
    c["properties"]["networkProfile"].update(net or {})
    ns = subnet(NODE_SUBNET, "10.224.0.0/16")
    api = subnet(API_SUBNET, "10.225.0.0/28")
    v = vnet(
        VNET_ID, (vnet_space,), subnets=[ns, api], peerings=[(HUB_VNET, [hub_space]), (OTHER_PEER, ["192.168.50.0/24"])]
    )
    return {CLUSTER_ID: c, VNET_ID: v, NODE_SUBNET: ns, API_SUBNET: api}


def _service(cidr: str, dns: str) -> dict[str, Any]:
    return {"serviceCidr": cidr, "serviceCidrs": [cidr], "dnsServiceIP": dns}


CASES = [
    ("healthy", {}, "10.100.0.0/16", CheckStatus.PASS, "collide with none", None),
    (
        "service-overlaps-node-subnet",
        _service("10.224.0.0/16", "10.224.0.10"),
        "10.100.0.0/16",
        CheckStatus.FAIL,
        "service CIDR 10.224.0.0/16 overlaps subnet snet-aks-nodes (10.224.0.0/16)",
        "--service-cidr 10.0.0.0/16",
    ),
    (
        "service-overlaps-peered-hub",
        {},
        "10.0.0.0/16",
        CheckStatus.FAIL,
        "service CIDR 10.0.0.0/16 overlaps peered vnet vnet-hub (10.0.0.0/16)",
        "--service-cidr 10.1.0.0/16",
    ),
    (
        "dns-outside-service-cidr",
        _service("10.0.0.0/16", "10.1.0.10"),
        "10.100.0.0/16",
        CheckStatus.FAIL,
        "dnsServiceIP 10.1.0.10 is outside the service CIDR 10.0.0.0/16",
        "--dns-service-ip 10.0.0.10",
    ),
    (
        "dns-first-address",
        _service("10.0.0.0/16", "10.0.0.1"),
        "10.100.0.0/16",
        CheckStatus.FAIL,
        "dnsServiceIP 10.0.0.1 is the first address of 10.0.0.0/16",
        "--dns-service-ip 10.0.0.10",
    ),
    (
        "overlay-pod-cidr-overlaps-vnet",
        {"podCidr": "10.230.0.0/16", "podCidrs": ["10.230.0.0/16"]},
        "10.100.0.0/16",
        CheckStatus.FAIL,
        "pod CIDR 10.230.0.0/16 overlaps vnet vnet-spoke-aks (10.224.0.0/12)",
        "--pod-cidr 10.1.0.0/16",
    ),
    (
        "flat-cni-pod-cidr-is-not-used",
        {"networkPluginMode": None, "podCidr": "10.230.0.0/16", "podCidrs": ["10.230.0.0/16"]},
        "10.100.0.0/16",
        CheckStatus.PASS,
        "collide with none",
        None,
    ),
    (
        "service-in-reserved-range",
        _service("172.30.0.0/16", "172.30.0.10"),
        "10.100.0.0/16",
        CheckStatus.FAIL,
        "service CIDR 172.30.0.0/16 overlaps the range 172.30.0.0/16, which AKS reserves",
        "--service-cidr",
    ),
]


@pytest.mark.parametrize(("net", "hub", "status", "text", "fix"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_table(net: dict[str, Any], hub: str, status: CheckStatus, text: str, fix: str | None) -> None:
    res = await run(SPEC, make_ctx(world(net=net, hub_space=hub), code="ServiceCidrOverlapExistingSubnetsCidr"))
    assert res.status is status, res
    assert text in res.summary
    if status is CheckStatus.FAIL:
        assert res.blocks_request
        assert fix and fix in (res.remediation or "")
        # the decoy peering (192.168.50.0/24) is never blamed
        assert "vnet-onprem-gw" not in res.summary
        assert all(e.resource_id != OTHER_PEER for e in res.evidence)


async def test_evidence_names_the_overlapping_subnet() -> None:
    res = await run(
        SPEC,
        make_ctx(world(net=_service("10.225.0.0/24", "10.225.0.10")), code="ServiceCidrOverlapExistingSubnetsCidr"),
    )
    assert res.status is CheckStatus.FAIL
    blamed = {e.resource_id for e in res.evidence if e.note and "overlaps" in e.note}
    assert API_SUBNET in blamed and NODE_SUBNET not in blamed
    assert "overlaps subnet snet-aks-apiserver (10.225.0.0/28)" in res.summary


async def test_planned_body_uses_aks_defaults() -> None:
    """Pre-flight: the template leaves serviceCidr unset, so AKS would use 10.0.0.0/16 inside a 10/8 VNet."""
    res_world = world(vnet_space="10.0.0.0/8")
    body = res_world[CLUSTER_ID]
    for k in ("serviceCidr", "serviceCidrs", "dnsServiceIP"):
        body["properties"]["networkProfile"].pop(k)
    ctx: CheckContext = make_ctx(res_world, code="InvalidParameter", verb="create")
    ctx.planned = ClusterView.from_body(body, CLUSTER_ID, planned=True)
    res = await run(SPEC, ctx)
    assert res.status is CheckStatus.FAIL, res
    assert "service CIDR 10.0.0.0/16 overlaps vnet vnet-spoke-aks (10.0.0.0/8)" in res.summary
    assert any(e.note == "AKS default" for e in res.evidence)
    assert "when you create the cluster" in (res.remediation or "")


async def test_unreadable_vnet_is_an_error_not_a_pass() -> None:
    res = await run(SPEC, deny(make_ctx(world(), code="ServiceCidrOverlapExistingSubnetsCidr"), "virtualnetworks/"))
    assert res.status is CheckStatus.ERROR
    assert "Reader" in res.summary


async def test_error_target_selects_the_check() -> None:
    assert SPEC.names_target("properties.networkProfile.serviceCidr")
    assert SPEC.names_target("networkProfile.dnsServiceIP")
    assert not SPEC.names_target("properties.agentPoolProfiles[0].vnetSubnetID")


async def test_requested_cidr_from_a_synchronous_rejection() -> None:
    """`az aks update` asked for a service range the body never got: the error names it, the body does not."""
    msg = ("The specified service CIDR 10.225.0.0/16 overlaps with subnet 10.225.0.0/28 of the cluster virtual "
           "network; dns service IP 10.0.0.10 is fine.")
    from tests.unit.checks.platform_support import make_ctx as ctx_with_message

    res = await run(SPEC, ctx_with_message(world(), code="ServiceCidrOverlapExistingSubnetsCidr", verb="update",
                                           message=msg))
    assert res.status is CheckStatus.FAIL, res
    assert "requested CIDR 10.225.0.0/16 overlaps subnet snet-aks-apiserver (10.225.0.0/28)" in res.summary
    assert "service CIDR 10.0.0.0/16" not in res.summary  # the cluster's own range is fine
    assert any(e.property == "requested CIDR (named by the error)" and e.value == "10.225.0.0/16"
               for e in res.evidence)


async def test_cluster_missing_is_skipped() -> None:
    w = world()
    del w[CLUSTER_ID]
    res = await run(SPEC, make_ctx(w, code="ServiceCidrOverlapExistingSubnetsCidr"))
    assert res.status is CheckStatus.SKIPPED


@pytest.mark.parametrize(("code", "target"), [("ServiceCidrOverlapExistingSubnetsCidr", None),
                                              ("DnsServiceIpOutOfServiceCidr", None),
                                              ("InvalidParameter", "properties.networkProfile.podCidr")])
def test_selected_for_the_errors_it_explains(code: str, target: str | None) -> None:
    from shared.checklib.ranking import select
    from shared.checks import kubernetes_version
    from shared.classify import classify_error
    from shared.models import OperationError

    c = classify_error(OperationError(code=code, message="", target=target))
    # with a check that does not apply beside it (select falls back to all checks when none applies)
    assert select([SPEC, kubernetes_version.SPEC], c) == [SPEC]
    assert SPEC.relevance_for(c.families[0]) >= 50 or SPEC.names_target(c.facts.target)
