"""apiserver_subnet over the constructed delegated API-server subnet (from the real az capture)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checklib.ranking import select
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


def api(
    prefix: str | list[str] = "10.225.0.0/28",
    delegations: list[str] | None = None,
    ip_configs: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
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


@pytest.mark.parametrize(
    ("body", "status", "needles"),
    [
        (api(), CheckStatus.PASS, ["delegated"]),
        (api(["10.225.0.0/27"]), CheckStatus.PASS, ["/27"]),  # addressPrefixes form
        (
            api("10.225.0.0/29", delegations=[]),
            CheckStatus.FAIL,
            ["10.225.0.0/29 is smaller than the required /28", "not delegated"],
        ),
        (api(delegations=[]), CheckStatus.FAIL, ["not delegated"]),
        (api(delegations=["Microsoft.Web/serverFarms"]), CheckStatus.FAIL, ["Microsoft.Web/serverFarms"]),
        (
            api(
                privateEndpoints=[
                    {"id": "/subscriptions/x/resourceGroups/y/providers/Microsoft.Network/privateEndpoints/pe-kv"}
                ]
            ),
            CheckStatus.FAIL,
            ["used by other", "pe-kv"],
        ),
        (api(ip_configs=[]), CheckStatus.PASS, ["delegated"]),  # first create: 11 free >= 9
        (
            api(ip_configs=[f"{VNET_ID}/x/loadBalancers/other/frontendIPConfigurations/f{i}" for i in range(3)]),
            CheckStatus.FAIL,
            ["used by other"],
        ),
    ],
)
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
    assert lines[0] == (
        "az network vnet subnet create -g rg-network --vnet-name vnet-spoke-aks -n "
        "snet-aks-apiserver-28 --address-prefixes 10.225.0.16/28 --delegations "
        "Microsoft.ContainerService/managedClusters"
    )
    assert lines[1].startswith(
        "az aks create -g rg-aks-prod -n aks-prod-01 --enable-apiserver-vnet-integration "
        f"--vnet-subnet-id {NODE_SUBNET} --apiserver-subnet-id {VNET_ID}/subnets/"
        "snet-aks-apiserver-28"
    )


async def test_delegation_only_remediation() -> None:
    r = await run(SPEC, make_ctx(world(api_subnet=api(delegations=[]))))
    assert r.remediation == (
        "az network vnet subnet update -g rg-network --vnet-name vnet-spoke-aks -n "
        f"snet-aks-apiserver --delegations {AKS}"
    )


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


@pytest.mark.parametrize(
    ("kw", "status"),
    [
        ({"vnet_integration": False}, CheckStatus.NOT_APPLICABLE),
        ({"apiserver_subnet": ""}, CheckStatus.NOT_APPLICABLE),
    ],
)
async def test_not_applicable(kw: dict[str, Any], status: CheckStatus) -> None:
    assert (await run(SPEC, make_ctx(world(c=cluster(**kw))))).status is status


async def test_cluster_missing_uses_the_subnet_of_an_apiserver_target() -> None:
    res = world(api_subnet=api("10.225.0.0/29", delegations=[]))
    del res[CLUSTER_ID]
    assert (await run(SPEC, make_ctx(res))).status is CheckStatus.SKIPPED
    r = await run(
        SPEC,
        make_ctx(
            res,
            code="InvalidParameter",
            subcategory="network_invalid",
            facts={"resource_ids": [API_SUBNET], "target": "properties.apiServerAccessProfile.subnetId"},
        ),
    )
    assert r.status is CheckStatus.FAIL and "not delegated" in r.summary
    assert any(e.resource_id == API_SUBNET for e in r.evidence)


async def test_node_subnet_named_by_insufficient_subnet_size_is_not_judged_as_apiserver_subnet() -> None:
    """Decoy: a create rejected for the node subnet's size names the node subnet (not delegated to
    AKS, of course); without an apiServerAccessProfile target it is not this check's subnet."""
    res = world()
    del res[CLUSTER_ID]
    r = await run(
        SPEC, make_ctx(res, code="InsufficientSubnetSize", subcategory=None, facts={"resource_ids": [NODE_SUBNET]})
    )
    assert r.status is CheckStatus.SKIPPED, r.summary


@pytest.mark.parametrize(
    ("code", "message", "target"),
    [
        ("InsufficientSubnetSize", "Pre-allocated IPs 9 exceeds IPs available 3 in Subnet Cidr 10.225.0.0/29.", None),
        ("SubnetIsDelegated", "Subnet snet-aks-apiserver is delegated to Microsoft.Web/serverFarms.", None),
        ("VMExtensionError_K8SAPIServerConnFail", "vmssCSE exit status=51 curl: (28) Connection timed out", None),
        (
            "InvalidParameter",
            "The value of parameter apiServerAccessProfile.subnetId is invalid.",
            "properties.apiServerAccessProfile.subnetId",
        ),
    ],
)
def test_every_code_that_can_mean_it_selects_the_check(code: str, message: str, target: str | None) -> None:
    """Through the real classifier; a versions check beside it proves selection is not 'everything'."""
    from shared.checks import kubernetes_version
    from shared.classify import classify_error
    from shared.models import OperationError

    c = classify_error(OperationError(code=code, message=message, target=target, source="cluster_status"))
    assert select([SPEC, kubernetes_version.SPEC], c) == [SPEC]


async def test_rejected_update_enabling_vnet_integration_evaluates_the_requested_subnet() -> None:
    """A synchronous 400 leaves the cluster as it was (no VNet integration): the subnet the request
    asked for is the one the error names."""
    res = world(c=cluster(vnet_integration=False), api_subnet=api(delegations=["Microsoft.Web/serverFarms"]))
    r = await run(
        SPEC,
        make_ctx(
            res,
            code="InvalidParameter",
            subcategory="network_invalid",
            verb="update",
            facts={"resource_ids": [API_SUBNET], "target": "properties.apiServerAccessProfile.subnetId"},
        ),
    )
    assert r.status is CheckStatus.FAIL and "Microsoft.Web/serverFarms" in r.summary
    assert (
        "az network vnet subnet update -g rg-network --vnet-name vnet-spoke-aks -n snet-aks-apiserver "
        "--delegations Microsoft.ContainerService/managedClusters" in (r.remediation or "")
    )
    # without the target the same cluster is simply not VNet-integrated
    r = await run(SPEC, make_ctx(res, facts={"resource_ids": [API_SUBNET]}))
    assert r.status is CheckStatus.NOT_APPLICABLE


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (
            {
                "serviceAssociationLinks": [
                    {"name": "appsvc", "properties": {"linkedResourceType": "Microsoft.Web/serverFarms"}}
                ]
            },
            "Microsoft.Web/serverFarms",
        ),
        (
            {
                "resourceNavigationLinks": [
                    {"name": "redis", "properties": {"linkedResourceType": "Microsoft.Cache/redis"}}
                ]
            },
            "Microsoft.Cache/redis",
        ),
    ],
)
async def test_used_by_other_services(extra: dict[str, Any], needle: str) -> None:
    r = await run(SPEC, make_ctx(world(api_subnet=api(**extra)), code="SubnetIsDelegated", subcategory=None))
    assert r.status is CheckStatus.FAIL and "used by other resources" in r.summary and needle in r.summary


async def test_vm_nic_in_the_subnet_is_another_user() -> None:
    nic = VNET_ID.replace("virtualNetworks/vnet-spoke-aks", "networkInterfaces/vm-jump-nic") + "/ipConfigurations/ip1"
    r = await run(SPEC, make_ctx(world(api_subnet=api(ip_configs=[APISERVER_FRONTEND, nic]))))
    assert r.status is CheckStatus.FAIL and "networkInterfaces/vm-jump-nic" in r.summary


async def test_small_node_subnet_decoy_with_a_good_apiserver_subnet_passes() -> None:
    res = world(node_subnet=subnet(NODE_SUBNET, "10.224.0.0/29"))
    r = await run(
        SPEC, make_ctx(res, code="InsufficientSubnetSize", subcategory=None, facts={"resource_ids": [NODE_SUBNET]})
    )
    assert r.status is CheckStatus.PASS, r.summary
