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
