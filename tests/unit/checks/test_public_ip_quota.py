"""public_ip_quota over a Microsoft.Network usages list and the fixture cluster."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checks.public_ip_quota import SPEC
from shared.models import CheckStatus
from tests.unit.checks.platform_support import CLUSTER_ID, SUB, body, make_ctx, run

USAGES = f"/subscriptions/{SUB}/providers/Microsoft.Network/locations/westeurope/usages"


def world(current: int | None = None, pool: dict[str, Any] | None = None, drop_counter: bool = False,
          lb: dict[str, Any] | None = None) -> dict[str, Any]:
    c = body("cluster.vnetint-uai")
    c["properties"]["agentPoolProfiles"][0].update(pool or {})
    if lb:
        c["properties"]["networkProfile"]["loadBalancerProfile"] = lb
    u = body("usages.network.westeurope")
    for item in list(u["value"]):
        if item["name"]["value"] == "PublicIPAddresses":
            if drop_counter:
                u["value"].remove(item)
            elif current is not None:
                item["currentValue"] = current
    return {CLUSTER_ID: c, USAGES: u}


CASES = [
    ("room-left", dict(), "update", CheckStatus.PASS, "41/60 used"),
    ("limit-reached", dict(current=60), "update", CheckStatus.FAIL, "Public IP Addresses 60/60, need 1 more"),
    ("node-public-ip-surge", dict(current=55, pool={"enableNodePublicIP": True, "count": 10,
                                                    "upgradeSettings": {"maxSurge": "100%"}}),
     "upgrade", CheckStatus.FAIL, "need 10 more"),
    ("node-public-ip-scale-fits", dict(current=55, pool={"enableNodePublicIP": True}), "scale", CheckStatus.PASS,
     "55/60 used"),
]


@pytest.mark.parametrize(("kw", "verb", "status", "text"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_table(kw: dict[str, Any], verb: str, status: CheckStatus, text: str) -> None:
    res = await run(SPEC, make_ctx(world(**kw), code="PublicIPCountLimitReached", verb=verb, agent_pool="system"))
    assert res.status is status, res
    assert text in res.summary
    ev = next(e for e in res.evidence if e.property == "value[name.value=='PublicIPAddresses']")
    assert ev.resource_id == USAGES
    if status is CheckStatus.FAIL:
        rem = res.remediation or ""
        assert "ipConfiguration==null" in rem
        assert (f"az quota update --resource-name PublicIPAddresses --scope /subscriptions/{SUB}/providers/"
                "Microsoft.Network/locations/westeurope") in rem


async def test_managed_outbound_ip_count_is_evidence() -> None:
    res = await run(SPEC, make_ctx(world(current=60, lb={"managedOutboundIPs": {"count": 4}}),
                                   code="PublicIPCountLimitReached"))
    ev = next(e for e in res.evidence if e.property.endswith("managedOutboundIPs.count"))
    assert ev.value == 4


async def test_missing_counter_is_skipped() -> None:
    res = await run(SPEC, make_ctx(world(drop_counter=True), code="PublicIPCountLimitReached"))
    assert res.status is CheckStatus.SKIPPED


# --- the requested outbound IP count ----------------------------------------------------------

def _pip(i: int) -> dict[str, str]:
    return {"id": f"/subscriptions/{SUB}/resourceGroups/MC_rg-aks-prod_aks-prod-01_westeurope/providers/"
                  f"Microsoft.Network/publicIPAddresses/pip-out-{i}"}


def lb_world(current: int, asked: int, effective: int) -> dict[str, Any]:
    w = world(current=current, lb={"managedOutboundIPs": {"count": asked},
                                   "effectiveOutboundIPs": [_pip(i) for i in range(effective)]})
    c = w[CLUSTER_ID]
    c["properties"]["networkProfile"]["outboundType"] = "loadBalancer"
    pools = c["properties"]["agentPoolProfiles"]
    # decoy: another pool with node public IPs, not the one the operation is about
    pools.append({**pools[0], "name": "edge", "mode": "User", "enableNodePublicIP": True, "count": 20})
    return w


async def test_requested_outbound_ips_beyond_the_effective_ones() -> None:
    res = await run(SPEC, make_ctx(lb_world(current=55, asked=10, effective=2), code="PublicIPCountLimitReached",
                                   verb="update", agent_pool="system"))
    assert res.status is CheckStatus.FAIL, res
    assert "Public IP Addresses 55/60, need 8 more" in res.summary
    assert res.blocks_request
    assert "--load-balancer-managed-outbound-ip-count 7" in (res.remediation or "")
    assert "edge" not in " ".join(e.note or "" for e in res.evidence)


async def test_outbound_ips_already_in_effect_need_nothing_new() -> None:
    res = await run(SPEC, make_ctx(lb_world(current=59, asked=4, effective=4), code="PublicIPCountLimitReached",
                                   verb="update", agent_pool="system"))
    assert res.status is CheckStatus.PASS, res


async def test_planned_create_counts_every_outbound_ip() -> None:
    from shared.checklib.clusterview import ClusterView

    w = lb_world(current=58, asked=4, effective=0)
    ctx = make_ctx(w, code="InvalidParameter", verb="create")
    ctx.planned = ClusterView.from_body(w[CLUSTER_ID], CLUSTER_ID, planned=True)
    res = await run(SPEC, ctx)
    assert res.status is CheckStatus.FAIL, res
    # 4 outbound IPs + 20 node IPs of pool edge (a create makes every pool)
    assert "need 24 more" in res.summary


async def test_full_quota_with_no_known_need_is_likely() -> None:
    res = await run(SPEC, make_ctx(world(current=60), code="PublicIPCountLimitReached", verb="update",
                                   agent_pool="system"))
    assert res.status is CheckStatus.FAIL and res.confidence == "likely" and not res.blocks_request, res
    assert "what asks for the public IP is not in the cluster body" in (res.confirm_by or "")


async def test_full_public_ip_quota_is_a_decoy_for_a_vcpu_quota_error() -> None:
    """Scale of a UDR cluster failing on the DDSv5 family: the full public IP quota is not the cause."""
    msg = ("Operation could not be completed as it results in exceeding approved standardDDSv5Family Cores quota. "
           "Additional details - Deployment Model: Resource Manager, Location: westeurope, Current Limit: 100, "
           "Current Usage: 98, Additional Required: 8, (Minimum) New Limit Required: 106.")
    res = await run(SPEC, make_ctx(world(current=60), code="QuotaExceeded", message=msg, verb="scale",
                                   agent_pool="system"))
    assert res.status is CheckStatus.PASS, res
    assert res.summary.startswith("the error is about vCPU quota")


async def test_error_naming_the_public_ip_counter_confirms_a_full_quota() -> None:
    msg = ("Cannot create more than 60 public IP addresses for this subscription in this region. "
           "Dependency: Microsoft.Network/PublicIPAddresses")
    res = await run(SPEC, make_ctx(world(current=60), code="PublicIPCountLimitReached", message=msg, verb="update",
                                   agent_pool="system"))
    assert res.status is CheckStatus.FAIL and res.confidence == "confirmed" and res.blocks_request, res
    assert "Public IP Addresses 60/60, need 1 more" in res.summary
