"""api_authorized_ranges: which source the API server sees, and whether the ranges include it."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checks.api_authorized_ranges import SPEC, Facts, Source, evaluate
from shared.models import CheckStatus
from tests.unit.checks.net_support import (
    CLUSTER_ID,
    FW_PIP,
    NODE_SUBNET,
    SUB,
    cluster,
    make_ctx,
    public_ip,
    run,
    subnet,
    world,
)

NAT = f"/subscriptions/{SUB}/resourceGroups/rg-network/providers/Microsoft.Network/natGateways/ng-aks"
NAT_PIP = f"/subscriptions/{SUB}/resourceGroups/rg-network/providers/Microsoft.Network/publicIPAddresses/pip-ng"


def nat_gateway() -> dict[str, Any]:
    return {"id": NAT, "name": "ng-aks", "type": "Microsoft.Network/natGateways", "location": "westeurope",
            "sku": {"name": "Standard"},
            "properties": {"provisioningState": "Succeeded", "publicIpAddresses": [{"id": NAT_PIP}],
                           "subnets": [{"id": NODE_SUBNET}]}}


@pytest.mark.parametrize(("ranges", "status"), [
    (["203.0.113.0/24"], CheckStatus.FAIL),                      # office only: node subnet excluded
    (["203.0.113.0/24", "10.224.0.0/16"], CheckStatus.PASS),     # exact node subnet
    (["203.0.113.0/24", "10.224.0.0/17", "10.224.128.0/17"], CheckStatus.PASS),  # two halves merge
    (["10.224.0.0/12"], CheckStatus.PASS),                       # a supernet
    (["10.224.0.0/17"], CheckStatus.FAIL),                       # only half of the subnet
])
async def test_vnet_integration_needs_the_node_subnet(ranges: list[str], status: CheckStatus) -> None:
    res = world(c=cluster(private=False, ranges=ranges))
    r = await run(SPEC, make_ctx(res))
    assert r.status is status, r.summary
    if status is CheckStatus.FAIL:
        assert "10.224.0.0/16" in r.summary
        assert r.remediation == ("az aks update -g rg-aks-prod -n aks-prod-01 --api-server-authorized-ip-ranges "
                                 + ",".join([*ranges, "10.224.0.0/16"]))


async def test_udr_through_firewall_needs_the_firewall_public_ip() -> None:
    res = world(c=cluster(private=False, vnet_integration=False, ranges=["203.0.113.0/24"]))
    r = await run(SPEC, make_ctx(res))
    assert r.status is CheckStatus.FAIL and "20.50.60.70/32" in r.summary
    assert any(e.resource_id == FW_PIP for e in r.evidence)
    res[CLUSTER_ID] = cluster(private=False, vnet_integration=False, ranges=["203.0.113.0/24", "20.50.60.70/32"])
    assert (await run(SPEC, make_ctx(res))).status is CheckStatus.PASS


async def test_nat_gateway_on_subnet_overrides_load_balancer() -> None:
    res = world(c=cluster(private=False, vnet_integration=False, outbound="loadBalancer",
                          ranges=["203.0.113.0/24"]),
                node_subnet=subnet(NODE_SUBNET, "10.224.0.0/16", nat=NAT),
                extra={NAT: nat_gateway(), NAT_PIP: public_ip(NAT_PIP, "51.1.2.3")})
    r = await run(SPEC, make_ctx(res))
    assert r.status is CheckStatus.FAIL and "51.1.2.3/32" in r.summary


async def test_load_balancer_outbound_ip_is_implicit() -> None:
    res = world(c=cluster(private=False, vnet_integration=False, outbound="loadBalancer", ranges=["203.0.113.0/24"]),
                node_subnet=subnet(NODE_SUBNET, "10.224.0.0/16"))
    r = await run(SPEC, make_ctx(res))
    assert r.status is CheckStatus.PASS and "implicit" in r.summary


@pytest.mark.parametrize(("kw", "why"), [
    ({"private": True, "ranges": ["1.2.3.4/32"]}, "private cluster"),
    ({"private": False, "ranges": []}, "no authorized IP ranges"),
])
async def test_not_applicable(kw: dict[str, Any], why: str) -> None:
    r = await run(SPEC, make_ctx(world(c=cluster(**kw))))
    assert r.status is CheckStatus.NOT_APPLICABLE and why in r.summary


async def test_nva_next_hop_egress_unknown_is_a_likely_cause() -> None:
    res = world(c=cluster(private=False, vnet_integration=False, ranges=["203.0.113.0/24"]))
    del res[FW_PIP]
    res[CLUSTER_ID]["properties"]["networkProfile"]["outboundType"] = "userDefinedRouting"
    from tests.unit.checks.net_support import HUB_VNET, hub
    res[HUB_VNET] = hub(fw_ip_config=False)  # nothing in the hub holds 10.0.1.4
    r = await run(SPEC, make_ctx(res))
    assert r.status is CheckStatus.FAIL and r.confidence == "likely" and "10.0.1.4" in (r.reason or "")
    assert r.confirm_by and "authorizedIpRanges" in r.confirm_by
    assert r.remediation and r.remediation.endswith("<egress-ip>/32")


def test_evaluate_table_ipv6_and_single_ip() -> None:
    base = Facts(CLUSTER_ID, "rg", "aks", ("2001:db8::/32", "198.51.100.7"), "managedNATGateway", False,
                 (Source("NAT", "198.51.100.7/32", "pip", "properties.ipAddress"),))
    assert evaluate(base).status is CheckStatus.PASS
    miss = Facts(CLUSTER_ID, "rg", "aks", ("2001:db8::/32",), "managedNATGateway", False,
                 (Source("NAT", "198.51.100.7/32", "pip", "properties.ipAddress"),))
    assert evaluate(miss).status is CheckStatus.FAIL


async def test_cluster_missing_is_skipped() -> None:
    r = await run(SPEC, make_ctx({}))
    assert r.status is CheckStatus.SKIPPED
