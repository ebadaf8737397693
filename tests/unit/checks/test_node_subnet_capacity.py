"""node_subnet_capacity over the 2025-05-01 cluster / agent pool bodies and the SubnetGet spec body."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checks.node_subnet_capacity import SPEC
from shared.models import CheckStatus
from tests.unit.checks.platform_support import CLUSTER_ID, NODE_SUBNET, body, make_ctx, run


def ipconfigs(n: int) -> list[dict[str, str]]:
    return [{"id": f"{NODE_SUBNET}/../nic{i}/ipConfigurations/ipconfig{i}"} for i in range(n)]


def world(*, plugin_mode: str | None = "overlay", prefix: str | None = "10.226.1.0/24", used: int = 3,
          pool: dict[str, Any] | None = None, extra_pools: list[dict[str, Any]] | None = None,
          prefixes: list[str] | None = None) -> dict[str, Any]:
    c = body("cluster.vnetint-uai")
    net = c["properties"]["networkProfile"]
    if plugin_mode is None:
        net.pop("networkPluginMode", None)
    elif plugin_mode == "kubenet":
        net["networkPlugin"] = "kubenet"
        net.pop("networkPluginMode", None)
    c["properties"]["agentPoolProfiles"][0].update(pool or {})
    c["properties"]["agentPoolProfiles"].extend(extra_pools or [])
    s = body("subnet.nodes")
    if prefix is None:
        s["properties"].pop("addressPrefix")
    else:
        s["properties"]["addressPrefix"] = prefix
    if prefixes is not None:
        s["properties"]["addressPrefixes"] = prefixes
    s["properties"]["ipConfigurations"] = ipconfigs(used)
    return {CLUSTER_ID: c, NODE_SUBNET: s}


CNI = None  # Azure CNI (flat): networkPlugin azure without networkPluginMode
CASES = [
    ("overlay-roomy", dict(), "update", CheckStatus.PASS, None),
    ("cni-flat-roomy", dict(plugin_mode=CNI, used=93), "update", CheckStatus.PASS, None),
    ("cni-flat-upgrade-surge-does-not-fit", dict(plugin_mode=CNI, prefix="10.226.1.0/25", used=93), "upgrade",
     CheckStatus.FAIL, "has 30 free IPs, the next upgrade step needs 31"),
    ("cni-flat-autoscale-max-too-big", dict(plugin_mode=CNI, used=93,
                                            pool={"enableAutoScaling": True, "minCount": 3, "maxCount": 10}),
     "scale", CheckStatus.FAIL, "holds 251 usable IPs but its pools need 434"),
    ("kubenet-full", dict(plugin_mode="kubenet", prefix="10.226.1.0/28", used=11), "scale", CheckStatus.FAIL,
     "has 0 free IPs, the next scale step needs 1"),
    ("cni-with-pod-subnet-uses-one-ip", dict(plugin_mode=CNI, prefix="10.226.1.0/28", used=3,
                                             pool={"podSubnetID": NODE_SUBNET.replace("nodes", "pods")}),
     "upgrade", CheckStatus.PASS, None),
    ("surge-as-count", dict(plugin_mode="kubenet", prefix="10.226.1.0/28", used=3,
                            pool={"upgradeSettings": {"maxSurge": "9"}}),
     "upgrade", CheckStatus.FAIL, "has 8 free IPs, the next upgrade step needs 9"),
    ("address-prefixes-array", dict(prefix=None, prefixes=["10.226.1.0/27", "10.226.2.0/27"], used=3), "update",
     CheckStatus.PASS, None),
    ("two-pools-share-the-subnet", dict(plugin_mode=CNI, used=93, extra_pools=[
        {"name": "user1", "count": 4, "maxPods": 30, "vnetSubnetID": NODE_SUBNET.upper(), "mode": "User"}]),
     "update", CheckStatus.FAIL, "need 279"),
]


@pytest.mark.parametrize(("kw", "verb", "status", "text"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_table(kw: dict[str, Any], verb: str, status: CheckStatus, text: str | None) -> None:
    res = await run(SPEC, make_ctx(world(**kw), verb=verb, agent_pool="system"))
    assert res.status is status, res
    if text:
        assert text in res.summary
    if status is CheckStatus.FAIL:
        rem = res.remediation or ""
        assert "az network vnet subnet create -g rg-network --vnet-name vnet-spoke-aks -n snet-aks-nodes-2" in rem
        assert f"--vnet-subnet-id {NODE_SUBNET}-2" in rem


async def test_evidence_shows_the_ip_math() -> None:
    res = await run(SPEC, make_ctx(world(plugin_mode=CNI, prefix="10.226.1.0/25", used=93), verb="upgrade",
                                   agent_pool="system"))
    math = next(e for e in res.evidence if e.property == "properties.addressPrefix / ipConfigurations")
    assert math.resource_id == NODE_SUBNET
    assert math.value == {"prefixes": ["10.226.1.0/25"], "usable": 123, "used": 93, "free": 30}


async def test_pool_missing_from_profiles_is_read_from_the_agent_pool() -> None:
    res_map = world(plugin_mode=CNI, prefix="10.226.1.0/26", used=0)
    ap = body("agentpool.user1")  # user1: count 3, maxPods 30, maxSurge 33%, on the node subnet
    res_map[f"{CLUSTER_ID}/agentPools/user1"] = ap
    res = await run(SPEC, make_ctx(res_map, verb="upgrade", agent_pool="user1"))
    assert res.status is CheckStatus.FAIL  # 59 usable < (3 system + 1) * 31 + (3 user1 + 1) * 31
    assert "user1" in (next(e.note for e in res.evidence if e.property.startswith("agentPoolProfiles")) or "")


async def test_aks_managed_vnet_is_not_applicable() -> None:
    res = await run(SPEC, make_ctx({CLUSTER_ID: body("cluster.spec-kubenet-sp")}))
    assert res.status is CheckStatus.NOT_APPLICABLE


async def test_ipv6_only_subnet_is_skipped() -> None:
    res = await run(SPEC, make_ctx(world(prefix="fd00:db8:deca::/64"), agent_pool="system"))
    assert res.status is CheckStatus.SKIPPED


# --- item 11: surge nodes x IPs per node against the free addresses ----------------------------

def upgrade_world(*, plugin_mode: str | None, prefix: str, used: int, pool: dict[str, Any],
                  vnet_space: str | None = None) -> dict[str, Any]:
    w = world(plugin_mode=plugin_mode, prefix=prefix, used=used, pool=pool)
    if vnet_space:
        from tests.unit.checks.net_support import vnet
        from tests.unit.checks.platform_support import VNET_ID

        w[VNET_ID] = vnet(VNET_ID, (vnet_space,), subnets=[w[NODE_SUBNET]])
    return w


SURGE_CASES = [
    # Azure CNI (flat): 31 IPs per node; 5 nodes use 155 + 3 other = 158 of 251
    ("cni-default-surge-fits", CNI, "10.226.1.0/24", 158, {"count": 5, "upgradeSettings": {}}, CheckStatus.PASS,
     None),
    ("cni-100pct-surge-does-not-fit", CNI, "10.226.1.0/24", 158, {"count": 5, "upgradeSettings": {"maxSurge": "100%"}},
     CheckStatus.FAIL, "has 93 free IPs, the next upgrade step needs 155"),
    # the same surge on CNI Overlay takes one IP per node: the pod IPs are not the subnet's (decoy)
    ("overlay-100pct-surge-fits", "overlay", "10.226.1.0/24", 8, {"count": 5, "upgradeSettings": {"maxSurge": "100%"}},
     CheckStatus.PASS, None),
    # maxSurge unset: 1 node before 1.28, 10% (rounded up) from 1.28
    ("kubenet-default-surge-1.27", "kubenet", "10.226.1.0/26", 57,
     {"count": 30, "orchestratorVersion": "1.27.9", "currentOrchestratorVersion": "1.27.9", "upgradeSettings": {}},
     CheckStatus.PASS, None),
    ("kubenet-default-surge-1.30", "kubenet", "10.226.1.0/26", 57, {"count": 30, "upgradeSettings": {}},
     CheckStatus.FAIL, "has 2 free IPs, the next upgrade step needs 3"),
    ("max-unavailable-instead-of-surge", "kubenet", "10.226.1.0/26", 59,
     {"count": 30, "upgradeSettings": {"maxSurge": "0", "maxUnavailable": "1"}}, CheckStatus.PASS, None),
]


@pytest.mark.parametrize(("mode", "prefix", "used", "pool", "status", "text"), [c[1:] for c in SURGE_CASES],
                         ids=[c[0] for c in SURGE_CASES])
async def test_upgrade_surge(mode: str | None, prefix: str, used: int, pool: dict[str, Any], status: CheckStatus,
                             text: str | None) -> None:
    res = await run(SPEC, make_ctx(upgrade_world(plugin_mode=mode, prefix=prefix, used=used, pool=pool),
                                   verb="upgrade", agent_pool="system"))
    assert res.status is status, res
    if text:
        assert text in res.summary
        assert res.blocks_request


async def test_surge_remediation_has_the_count_that_fits_and_a_free_range() -> None:
    w = upgrade_world(plugin_mode=CNI, prefix="10.226.1.0/24", used=158,
                      pool={"count": 5, "upgradeSettings": {"maxSurge": "100%"}}, vnet_space="10.226.0.0/16")
    res = await run(SPEC, make_ctx(w, verb="upgrade", agent_pool="system"))
    rem = res.remediation or ""
    assert "az aks nodepool update -g rg-aks-prod --cluster-name aks-prod-01 -n system --max-surge 3" in rem
    # (5 + 5 surge) x 31 = 310 IPs -> a /23; 10.226.0.0/23 overlaps the node subnet, 10.226.2.0/23 is free
    assert "--address-prefixes 10.226.2.0/23" in rem


async def test_error_ip_count_is_the_need() -> None:
    msg = ("Subnet snet-aks-nodes with address prefix 10.226.1.0/24 does not have enough capacity for 100 IP "
           "addresses.")
    res = await run(SPEC, make_ctx(world(plugin_mode=CNI, used=158, pool={"count": 5}), code="InsufficientSubnetSize",
                                   message=msg, verb="scale", agent_pool="system"))
    assert res.status is CheckStatus.FAIL, res
    assert "has 93 free IPs, the next scale step needs 100" in res.summary
    assert "the error asked for 100 IPs" in " ".join(e.note or "" for e in res.evidence)


async def test_rejected_pool_add_checks_the_subnet_the_error_names_only() -> None:
    """`nodepool add` on a new subnet, rejected: the body lacks the pool; the error names the subnet and the IPs."""
    other = NODE_SUBNET.replace("snet-aks-nodes", "snet-aks-batch")
    w = world(plugin_mode=CNI, used=158, pool={"count": 5})
    s = body("subnet.nodes")
    s["id"], s["name"] = other, "snet-aks-batch"
    s["properties"]["addressPrefix"] = "10.226.8.0/27"
    s["properties"]["ipConfigurations"] = []
    w[other] = s
    msg = (f"Subnet '{other}' with address prefix 10.226.8.0/27 does not have enough capacity for 93 IP addresses.")
    res = await run(SPEC, make_ctx(w, code="InsufficientSubnetSize", message=msg, verb="create", agent_pool="batch"))
    assert res.status is CheckStatus.FAIL, res
    assert res.summary == "subnet snet-aks-batch has 27 free IPs, the next create step needs 93"
    assert "snet-aks-nodes" not in res.summary  # the existing pool's subnet is not blamed
    assert "-n batch --vnet-subnet-id" in (res.remediation or "")


async def test_rejected_pool_add_without_a_subnet_in_the_error_is_skipped() -> None:
    res = await run(SPEC, make_ctx(world(plugin_mode=CNI, used=158), code="InsufficientSubnetSize", verb="create",
                                   agent_pool="batch"))
    assert res.status is CheckStatus.SKIPPED
