"""outbound_connectivity: outboundType vs what exists: LB outbound IPs / prefixes and the `kubernetes` LB's
outbound rule, the NAT gateway on every node subnet, the UDR default route, network isolation."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checks.outbound_connectivity import SPEC
from shared.models import CheckStatus
from tests.unit.checks.egress_support import (
    LB_ID,
    LB_PIP,
    NAT_ID,
    NAT_PIP,
    kubernetes_lb,
    nat_gateway,
    scale_set,
    scale_sets,
)
from tests.unit.checks.net_support import (
    CLUSTER_ID,
    NODE_NSG,
    NODE_RG,
    NODE_SUBNET,
    RT_ID,
    SUB,
    cluster,
    load,
    make_ctx,
    public_ip,
    route_table,
    run,
    subnet,
    world,
)

EXIT50: dict[str, Any] = {"code": "VMExtensionError_OutboundConnFail", "subcategory": "timeout"}
OTHER_PIP = f"/subscriptions/{SUB}/resourceGroups/rg-network/providers/Microsoft.Network/publicIPAddresses/pip-egress"


def lb_cluster(profile: dict[str, Any] | None) -> dict[str, Any]:
    c = cluster(private=False, vnet_integration=False, outbound="loadBalancer")
    if profile is None:
        c["properties"]["networkProfile"].pop("loadBalancerProfile", None)
    else:
        c["properties"]["networkProfile"]["loadBalancerProfile"] = profile
    return c


def lb_world(profile: dict[str, Any] | None = None, *, lb: dict[str, Any] | None = None,
             pips: tuple[str, ...] = (LB_PIP,)) -> dict[str, Any]:
    res = world(c=lb_cluster(profile), node_subnet=subnet(NODE_SUBNET, "10.224.0.0/16", nsg=NODE_NSG))
    res[LB_ID] = lb if lb is not None else kubernetes_lb()
    for p in pips:
        res[p] = public_ip(p, "20.61.10.10")
    return res


SPEC_LB = load("aks/ManagedClustersGet.2025-05-01.spec-example.json")["properties"]["networkProfile"][
    "loadBalancerProfile"]


@pytest.mark.parametrize(("profile", "status"), [
    (None, CheckStatus.PASS),                              # default: one managed outbound IP
    ({"managedOutboundIPs": {"count": 2}}, CheckStatus.PASS),
    ({"managedOutboundIPs": {"count": 0}}, CheckStatus.FAIL),
])
async def test_load_balancer_counts(profile: dict[str, Any] | None, status: CheckStatus) -> None:
    r = await run(SPEC, make_ctx(lb_world(profile), **EXIT50))
    assert r.status is status, r.summary


async def test_spec_example_profile_names_ips_that_must_exist() -> None:
    """The spec example's effectiveOutboundIPs are ids: absent from this world, so they do not exist."""
    r = await run(SPEC, make_ctx(lb_world(SPEC_LB), **EXIT50))
    assert r.status is CheckStatus.FAIL and "does not exist" in r.summary, r.summary


async def test_deleted_outbound_ip_is_blamed_and_the_existing_one_is_not() -> None:
    gone = OTHER_PIP.replace("pip-egress", "pip-deleted")
    profile = {"outboundIPs": {"publicIPs": [{"id": OTHER_PIP}, {"id": gone}]}}
    r = await run(SPEC, make_ctx(lb_world(profile, pips=(LB_PIP, OTHER_PIP)), **EXIT50))
    assert r.status is CheckStatus.FAIL and "pip-deleted" in r.summary and "pip-egress" not in r.summary
    assert any(e.resource_id == gone and e.property == "loadBalancerProfile.outboundIPs.publicIPs"
               for e in r.evidence)


async def test_kubernetes_lb_without_outbound_rule() -> None:
    r = await run(SPEC, make_ctx(lb_world(lb=kubernetes_lb(outbound_rules=False)), **EXIT50))
    assert r.status is CheckStatus.FAIL and r.confidence == "confirmed", r.summary
    assert f"load balancer kubernetes in {NODE_RG} has no outbound rule" in r.summary
    assert any(e.resource_id == LB_ID and e.property == "properties.outboundRules" and e.value == []
               for e in r.evidence)


async def test_outbound_rule_frontend_ip_deleted() -> None:
    r = await run(SPEC, make_ctx(lb_world(pips=()), **EXIT50))
    assert r.status is CheckStatus.FAIL and "aks-outbound-ip-1" in r.summary, r.summary


async def test_missing_kubernetes_lb_with_nodes_is_likely() -> None:
    res = lb_world({"managedOutboundIPs": {"count": 1}, "effectiveOutboundIPs": [{"id": LB_PIP}]})
    del res[LB_ID]
    del res[LB_PIP]
    res.update(scale_sets(scale_set()))
    r = await run(SPEC, make_ctx(res, **EXIT50))
    assert r.status is CheckStatus.FAIL and r.confidence == "likely", r.summary
    assert r.confirm_by and f"az network lb show -g {NODE_RG} -n kubernetes" in r.confirm_by
    assert "effectiveOutboundIPs" not in r.summary  # the effective IPs are the LB's: the LB finding says it


async def test_no_lb_and_no_nodes_yet_is_not_a_cause() -> None:
    """A failure before AKS built the node resource group (capacity, validation): nothing to blame here."""
    res = lb_world(SPEC_LB)  # effectiveOutboundIPs name IPs that are not in this world either
    del res[LB_ID]
    r = await run(SPEC, make_ctx(res, code="AllocationFailed", subcategory=None))
    assert r.status is CheckStatus.PASS, r.summary


@pytest.mark.parametrize(("routes", "status", "needle"), [
    ([("0.0.0.0/0", "VirtualAppliance", "10.0.1.4")], CheckStatus.PASS, "egress path"),
    ([("10.0.0.0/8", "VirtualAppliance", "10.0.1.4")], CheckStatus.FAIL, "no 0.0.0.0/0 route"),
])
async def test_udr(routes: list[tuple[str, str, str | None]], status: CheckStatus, needle: str) -> None:
    r = await run(SPEC, make_ctx(world(rt=route_table(RT_ID, routes)), **EXIT50))
    assert r.status is status and needle in r.summary, r.summary


def nat_world(*, nat_on_subnet: bool = True, gateway: dict[str, Any] | None = None,
              pip: bool = True) -> dict[str, Any]:
    c = cluster(private=False, vnet_integration=False, outbound="userAssignedNATGateway")
    res = world(c=c, node_subnet=subnet(NODE_SUBNET, "10.224.0.0/16", nsg=NODE_NSG,
                                        nat=NAT_ID if nat_on_subnet else None))
    res[NAT_ID] = gateway or nat_gateway()
    if pip:
        res[NAT_PIP] = public_ip(NAT_PIP, "20.61.20.20")
    return res


async def test_user_assigned_nat_gateway() -> None:
    assert (await run(SPEC, make_ctx(nat_world(), **EXIT50))).status is CheckStatus.PASS
    r = await run(SPEC, make_ctx(nat_world(nat_on_subnet=False), **EXIT50))
    assert r.status is CheckStatus.FAIL and "node subnet snet-aks-nodes has no NAT gateway" in r.summary
    assert r.remediation == f"az network vnet subnet update --ids {NODE_SUBNET} --nat-gateway <nat-gateway-id>"
    r = await run(SPEC, make_ctx(nat_world(gateway=nat_gateway(pips=[])), **EXIT50))
    assert r.status is CheckStatus.FAIL and "0 public IP" in r.summary
    r = await run(SPEC, make_ctx(nat_world(pip=False), **EXIT50))
    assert r.status is CheckStatus.FAIL and "pip-ng-aks" in r.summary and "do not exist" in r.summary
    res = nat_world()
    del res[NAT_ID]
    r = await run(SPEC, make_ctx(res, **EXIT50))
    assert r.status is CheckStatus.FAIL and "does not exist" in r.summary


async def test_every_node_subnet_needs_the_nat_gateway() -> None:
    """Two pools on two subnets: only the one without a NAT gateway is blamed."""
    second = NODE_SUBNET.replace("snet-aks-nodes", "snet-aks-user")
    res = nat_world()
    res[second] = subnet(second, "10.226.0.0/16", nsg=NODE_NSG)
    pools = res[CLUSTER_ID]["properties"]["agentPoolProfiles"]
    pools.append({**pools[0], "name": "user1", "mode": "User", "vnetSubnetID": second})
    r = await run(SPEC, make_ctx(res, **EXIT50))
    assert r.status is CheckStatus.FAIL and "snet-aks-user has no NAT gateway" in r.summary, r.summary
    assert "snet-aks-nodes has no" not in r.summary


@pytest.mark.parametrize(("source", "status"), [("Cache", CheckStatus.PASS), ("Direct", CheckStatus.FAIL)])
async def test_outbound_none(source: str, status: CheckStatus) -> None:
    c = cluster(private=True, vnet_integration=False, outbound="none", node_subnet=None)
    c["properties"]["bootstrapProfile"] = {"artifactSource": source}
    assert (await run(SPEC, make_ctx({CLUSTER_ID: c}))).status is status


async def test_managed_vnet_lb_passes_with_note() -> None:
    c = cluster(private=False, vnet_integration=False, outbound="loadBalancer", node_subnet=None)
    r = await run(SPEC, make_ctx({CLUSTER_ID: c, LB_ID: kubernetes_lb(), LB_PIP: public_ip(LB_PIP, "20.61.1.1")}))
    assert r.status is CheckStatus.PASS and "AKS-managed VNet" in r.summary


@pytest.mark.parametrize("fault", ["nsg-deny-443", "route-none"])
async def test_an_egress_path_fault_is_egress_bootstraps_and_ranks_first(fault: str) -> None:
    """After an exit-50 failure: a node-subnet NSG `Deny Tcp 443 -> Internet` (a deny-SMTP rule beside it is a
    decoy) or a `0.0.0.0/0 -> None` UDR. outbound_connectivity (the outbound type's parts: all there) passes;
    egress_bootstrap owns the path verdict, so the fault is found once and ranked first."""
    from shared.checklib.ranking import rank
    from shared.checks import egress_bootstrap
    from tests.unit.checks.egress_support import AKS_NSG, aks_nsg
    from tests.unit.checks.net_support import nsg, rule

    res = lb_world()
    res.update({**scale_sets(scale_set()), AKS_NSG: aks_nsg()})
    rules = [rule("deny-smtp", 300, "Outbound", "Deny", dst="Internet", ports="25")]
    if fault == "nsg-deny-443":
        rules.append(rule("deny-web", 400, "Outbound", "Deny", dst="Internet", ports="443"))
    else:
        res[RT_ID] = route_table(RT_ID, [("0.0.0.0/0", "None", None)])
        res[NODE_SUBNET]["properties"]["routeTable"] = {"id": RT_ID}
    res[NODE_NSG] = nsg(NODE_NSG, rules)
    ctx = make_ctx(res, **EXIT50)
    own = await run(SPEC, ctx)
    path = await run(egress_bootstrap.SPEC, ctx)
    assert own.status is CheckStatus.PASS and "egress_bootstrap" in own.summary, own.summary
    assert path.status is CheckStatus.FAIL, path.summary
    assert ("denies outbound TCP 443" if fault == "nsg-deny-443" else "0.0.0.0/0 -> None") in path.summary
    assert "deny-smtp" not in path.summary
    order = rank(ctx.classification, [own, path], {SPEC.id: SPEC, egress_bootstrap.SPEC.id: egress_bootstrap.SPEC})
    assert order == ("egress_bootstrap",)
