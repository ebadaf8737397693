"""apiserver_subnet over the constructed delegated API-server subnet (from the real az capture)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checks.apiserver_subnet import SPEC
from shared.models import CheckStatus
from tests.unit.checks.net_support import (
    API_SUBNET,
    APISERVER_FRONTEND,
    CLUSTER_ID,
    NODE_SUBNET,
    VNET_ID,
    cluster,
    load,
    make_ctx,
    run,
    subnet,
    vnet,
    world,
)

AKS = "Microsoft.ContainerService/managedClusters"


def api(prefix: str | list[str] = "10.225.0.0/28", delegations: list[str] | None = None,
        ip_configs: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """The constructed delegated subnet with its values replaced."""
    s = load("network/Subnet.get.aks-apiserver-delegated.constructed.json")
    p = s["properties"]
    if isinstance(prefix, list):
        p.pop("addressPrefix")
        p["addressPrefixes"] = prefix
    else:
        p["addressPrefix"] = prefix
    if delegations is not None:
        p["delegations"] = [{"name": "d", "properties": {"serviceName": d}} for d in delegations]
    p["ipConfigurations"] = [{"id": i} for i in (ip_configs if ip_configs is not None else [APISERVER_FRONTEND])]
    p.update(extra)
    return s


@pytest.mark.parametrize(("body", "status", "needles"), [
    (api(), CheckStatus.PASS, ["delegated"]),
    (api(["10.225.0.0/27"]), CheckStatus.PASS, ["/27"]),                        # addressPrefixes form
    (api("10.225.0.0/29", delegations=[]), CheckStatus.FAIL,
     ["10.225.0.0/29 is smaller than the required /28", "not delegated"]),
    (api(delegations=[]), CheckStatus.FAIL, ["not delegated"]),
    (api(delegations=["Microsoft.Web/serverFarms"]), CheckStatus.FAIL, ["Microsoft.Web/serverFarms"]),
    (api(privateEndpoints=[{"id": "/subscriptions/x/resourceGroups/y/providers/Microsoft.Network/"
                                  "privateEndpoints/pe-kv"}]), CheckStatus.FAIL, ["used by other", "pe-kv"]),
    (api(ip_configs=[]), CheckStatus.PASS, ["delegated"]),                      # first create: 11 free >= 9
    (api(ip_configs=[f"{VNET_ID}/x/loadBalancers/other/frontendIPConfigurations/f{i}" for i in range(3)]),
     CheckStatus.FAIL, ["used by other"]),
])
async def test_subnet(body: dict[str, Any], status: CheckStatus, needles: list[str]) -> None:
    r = await run(SPEC, make_ctx(world(api_subnet=body), code="InvalidParameter", subcategory="network-invalid"))
    assert r.status is status, r.summary
    for n in needles:
        assert n in r.summary, r.summary


async def test_small_undelegated_subnet_remediation_uses_a_free_28() -> None:
    r = await run(SPEC, make_ctx(world(api_subnet=api("10.225.0.0/29", delegations=[])), verb="create"))
    assert r.status is CheckStatus.FAIL
    lines = (r.remediation or "").splitlines()
    # 10.224.0.0/16 (nodes) and 10.225.0.0/29 are taken in 10.224.0.0/12 -> first free /28 is 10.225.0.16/28
    assert lines[0] == ("az network vnet subnet create -g rg-network --vnet-name vnet-spoke-aks -n "
                        "snet-aks-apiserver-28 --address-prefixes 10.225.0.16/28 --delegations "
                        "Microsoft.ContainerService/managedClusters")
    assert lines[1].startswith("az aks create -g rg-aks-prod -n aks-prod-01 --enable-apiserver-vnet-integration "
                               f"--vnet-subnet-id {NODE_SUBNET} --apiserver-subnet-id {VNET_ID}/subnets/"
                               "snet-aks-apiserver-28")


async def test_delegation_only_remediation() -> None:
    r = await run(SPEC, make_ctx(world(api_subnet=api(delegations=[]))))
    assert r.remediation == ("az network vnet subnet update -g rg-network --vnet-name vnet-spoke-aks -n "
                             f"snet-aks-apiserver --delegations {AKS}")


async def test_full_subnet_on_first_create() -> None:
    used = [f"{VNET_ID}/x/loadBalancers/kube-apiserver/frontendIPConfigurations/f{i}" for i in range(5)]
    r = await run(SPEC, make_ctx(world(api_subnet=api(ip_configs=used))))
    assert r.status is CheckStatus.FAIL and "only 6 free IPs (AKS needs 9)" in r.summary


async def test_other_vnet_and_region_and_node_subnet_reuse() -> None:
    other_vnet = VNET_ID.replace("vnet-spoke-aks", "vnet-other")
    other = f"{other_vnet}/subnets/snet-api"
    res = world(c=cluster(apiserver_subnet=other))
    res[other] = subnet(other, "10.99.0.0/28", delegations=[AKS])
    res[other_vnet] = vnet(other_vnet, ("10.99.0.0/16",), location="northeurope")
    r = await run(SPEC, make_ctx(res))
    assert r.status is CheckStatus.FAIL and "not in the node VNet vnet-spoke-aks" in r.summary
    assert "northeurope" in r.summary
    same = world(c=cluster(apiserver_subnet=NODE_SUBNET))
    r = await run(SPEC, make_ctx(same))
    assert "also a node subnet" in r.summary


async def test_missing_subnet() -> None:
    res = world()
    del res[API_SUBNET]
    r = await run(SPEC, make_ctx(res))
    assert r.status is CheckStatus.FAIL and "does not exist" in r.summary
    assert "az network vnet subnet create" in (r.remediation or "")


@pytest.mark.parametrize(("kw", "status"), [
    ({"vnet_integration": False}, CheckStatus.NOT_APPLICABLE),
    ({"apiserver_subnet": ""}, CheckStatus.NOT_APPLICABLE),
])
async def test_not_applicable(kw: dict[str, Any], status: CheckStatus) -> None:
    assert (await run(SPEC, make_ctx(world(c=cluster(**kw))))).status is status


async def test_cluster_missing_uses_the_classifier_fact() -> None:
    res = world(api_subnet=api("10.225.0.0/29", delegations=[]))
    del res[CLUSTER_ID]
    assert (await run(SPEC, make_ctx(res))).status is CheckStatus.SKIPPED
    r = await run(SPEC, make_ctx(res, facts={"resource_ids": [API_SUBNET]}))
    assert r.status is CheckStatus.FAIL and "not delegated" in r.summary
