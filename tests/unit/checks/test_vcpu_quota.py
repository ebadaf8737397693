"""vcpu_quota over Microsoft.Compute usages (Usage_List 2024-07-01 shape) and the fixture cluster."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checks.vcpu_quota import SPEC
from shared.models import CheckStatus
from tests.unit.checks.platform_support import CLUSTER_ID, SUB, body, deny, make_ctx, run

USAGES = f"/subscriptions/{SUB}/providers/Microsoft.Compute/locations/westeurope/usages"
DSV2_MSG = ("Operation could not be completed as it results in exceeding approved standardDSv2Family Cores quota. "
            "Additional details - Deployment Model: Resource Manager, Location: westeurope, Current Limit: 10, "
            "Current Usage: 8, Additional Required: 4, (Minimum) New Limit Required: 12. Submit a request for Quota "
            "increase at https://aka.ms/ProdportalCRP/#blade/Microsoft_Azure_Capacity/UsageAndQuota.ReactView")


def world(pool: dict[str, Any] | None = None, usage_edit: dict[str, int] | None = None) -> dict[str, Any]:
    c = body("cluster.vnetint-uai")
    c["properties"]["agentPoolProfiles"][0].update(pool or {})
    u = body("usages.compute.westeurope")
    for item in u["value"]:
        if item["name"]["value"] in (usage_edit or {}):
            item["currentValue"] = (usage_edit or {})[item["name"]["value"]]
    return {CLUSTER_ID: c, USAGES: u}


CASES = [
    ("ddsv5-scale-fits", {}, None, "", {}, "scale", CheckStatus.PASS, "14 more Standard_D4ds_v5 node(s) fit"),
    ("dsv2-from-message", {"vmSize": "Standard_DS2_v2"}, None, DSV2_MSG, {}, "scale", CheckStatus.FAIL,
     "Standard DSv2 Family vCPUs in westeurope: 8/10 used, Standard_DS2_v2 needs 4 more"),
    ("family-and-need-from-facts", {}, None, "", {"quota": {"family": "standardDSv5Family", "requested": 30}},
     "create", CheckStatus.FAIL, "Standard DSv5 Family vCPUs in westeurope: 24/50 used"),
    ("regional-quota-fact-is-not-a-family", {}, {"cores": 90}, "",
     {"quota": {"family": "Total Regional Cores", "requested": 16}}, "scale", CheckStatus.FAIL,
     "Total Regional vCPUs in westeurope: 90/100 used, Standard_D4ds_v5 needs 16 more"),
    ("regional-exhausted", {}, {"cores": 98}, "", {}, "scale", CheckStatus.FAIL,
     "Total Regional vCPUs in westeurope: 98/100 used, Standard_D4ds_v5 needs 4 more"),
    ("upgrade-surge-100pct", {"count": 30, "upgradeSettings": {"maxSurge": "100%"}}, None, "", {}, "upgrade",
     CheckStatus.FAIL, "needs 120 more"),
    ("table-size-with-count-surge", {"vmSize": "Standard_DS2_v2", "upgradeSettings": {"maxSurge": "2"}}, None, "", {},
     "upgrade", CheckStatus.FAIL, "Standard_DS2_v2 needs 4 more"),
    ("unknown-size-no-facts", {"vmSize": "Standard_NC24ads_A100_v4"}, None, "", {}, "scale", CheckStatus.SKIPPED,
     "not in the region's SKUs or the built-in table"),
    ("family-name-case-insensitive", {}, None, "", {"quota": {"family": "STANDARDddsV5FAMILY", "requested": 4}},
     "scale", CheckStatus.PASS, "vCPU quota has room"),
]


@pytest.mark.parametrize(("pool", "usage_edit", "msg", "facts", "verb", "status", "text"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
async def test_table(pool: dict[str, Any], usage_edit: dict[str, int] | None, msg: str, facts: dict[str, Any],
                     verb: str, status: CheckStatus, text: str) -> None:
    res = await run(SPEC, make_ctx(world(pool, usage_edit), code="QuotaExceeded", message=msg, facts=facts,
                                   verb=verb, agent_pool="system"))
    assert res.status is status, res
    assert text in res.summary
    if status is CheckStatus.FAIL:
        assert (f"--scope /subscriptions/{SUB}/providers/Microsoft.Compute/locations/westeurope"
                in (res.remediation or ""))


async def test_message_numbers_set_the_new_limit() -> None:
    res = await run(SPEC, make_ctx(world({"vmSize": "Standard_DS2_v2"}), code="QuotaExceeded", message=DSV2_MSG,
                                   agent_pool="system"))
    assert "az quota update --resource-name standardDSv2Family" in (res.remediation or "")
    assert "--limit-object value=12 --resource-type dedicated" in (res.remediation or "")
    fam = next(e for e in res.evidence if e.property == "value[name.value=='standardDSv2Family']")
    assert fam.value == {"currentValue": 8, "limit": 10}
    assert fam.resource_id == USAGES


async def test_usages_forbidden_is_an_error() -> None:
    res = await run(SPEC, deny(make_ctx(world(), code="QuotaExceeded", agent_pool="system"), "/usages"))
    assert res.status is CheckStatus.ERROR


async def test_region_unknown_is_skipped() -> None:
    res = await run(SPEC, make_ctx({}, code="QuotaExceeded"))
    assert res.status is CheckStatus.SKIPPED
    assert "region unknown" in (res.reason or "")


# --- the request's delta, vCPUs from the region's Compute SKUs -----------------------------------

REGIONAL_MSG = ("Insufficient regional vcpu quota left for location westeurope. left regional vcpu quota 4, "
                "requested quota 12")


async def test_planned_create_counts_every_node_against_the_regional_quota() -> None:
    from shared.checklib.clusterview import ClusterView
    from tests.unit.checks.requested_support import SKUS_ID, skus

    w = world({"vmSize": "Standard_D8ds_v5", "count": 10})
    w[SKUS_ID] = skus()
    ctx = make_ctx(w, code="InvalidParameter", verb="create")
    ctx.planned = ClusterView.from_body(w[CLUSTER_ID], CLUSTER_ID, planned=True)
    res = await run(SPEC, ctx)
    assert res.status is CheckStatus.FAIL, res
    assert "Total Regional vCPUs in westeurope: 44/100 used, Standard_D8ds_v5 needs 80 more" in res.summary
    assert "Standard DDSv5" not in res.summary  # the family (12/100) has room: not blamed
    assert res.blocks_request
    assert "az quota update --resource-name cores" in (res.remediation or "")
    assert "--limit-object value=124" in (res.remediation or "")
    sku_ev = next(e for e in res.evidence if e.property.endswith("capabilities.vCPUs"))
    assert sku_ev.resource_id == SKUS_ID and sku_ev.value == 8


async def test_size_outside_the_table_uses_the_sku_list() -> None:
    from tests.unit.checks.requested_support import SKUS_ID, skus

    w = world({"vmSize": "Standard_L8s_v3", "count": 4, "upgradeSettings": {"maxSurge": "100%"}})
    w[SKUS_ID] = skus()
    res = await run(SPEC, make_ctx(w, code="QuotaExceeded", verb="upgrade", agent_pool="system"))
    assert res.status is CheckStatus.PASS, res  # 4 surge x 8 = 32 <= 56 regional free
    assert "family unknown" not in res.summary
    assert any(e.property == "value[name.value=='standardLSv3Family']" and e.value is None for e in res.evidence)


async def test_regional_message_from_a_synchronous_rejection() -> None:
    res = await run(SPEC, make_ctx(world(usage_edit={"cores": 96}), code="QuotaExceeded", message=REGIONAL_MSG,
                                   verb="scale", agent_pool="system"))
    assert res.status is CheckStatus.FAIL, res
    assert "Total Regional vCPUs in westeurope: 96/100 used, Standard_D4ds_v5 needs 12 more" in res.summary


async def test_spot_pool_counts_against_low_priority_vcpus_only() -> None:
    w = world({"scaleSetPriority": "Spot", "count": 10, "upgradeSettings": {"maxSurge": "50%"}},
              usage_edit={"cores": 99})  # the regular regional counter is nearly full: a decoy for Spot
    low = {"value": "lowPriorityCores", "localizedValue": "Total Regional Low-priority vCPUs"}
    w[USAGES]["value"].append({"unit": "Count", "currentValue": 90, "limit": 100, "name": low})
    res = await run(SPEC, make_ctx(w, code="QuotaExceeded", verb="upgrade", agent_pool="system"))
    assert res.status is CheckStatus.FAIL, res
    assert "Total Regional Low-priority vCPUs in westeurope: 90/100 used, Standard_D4ds_v5 needs 20 more" in res.summary
    assert "Total Regional vCPUs" not in res.summary.replace("Low-priority vCPUs", "")
    assert "az quota update --resource-name lowPriorityCores" in (res.remediation or "")


async def test_new_autoscaled_pool_needs_min_count_nodes() -> None:
    w = world({"count": None, "enableAutoScaling": True, "minCount": 15, "maxCount": 30})
    res = await run(SPEC, make_ctx(w, code="QuotaExceeded", verb="create", agent_pool="system"))
    assert res.status is CheckStatus.FAIL, res  # 15 x 4 = 60 > 56 regional vCPUs free
    assert "Total Regional vCPUs in westeurope: 44/100 used, Standard_D4ds_v5 needs 60 more" in res.summary


async def test_named_pool_missing_from_the_body_uses_the_error_size_only() -> None:
    """`nodepool add` rejected: the error names the family and the need; the Failed system pool (Standard_D4ds_v5)
    does not stand in."""
    res = await run(SPEC, make_ctx(world(), code="QuotaExceeded", message=DSV2_MSG, verb="create",
                                   agent_pool="newpool"))
    assert res.status is CheckStatus.FAIL, res
    assert res.summary == ("vCPU quota too low: Standard DSv2 Family vCPUs in westeurope: 8/10 used, "
                           "standardDSv2Family needs 4 more")


async def test_update_that_adds_no_node_is_not_a_quota_cause() -> None:
    """PublicIPCountLimitReached on an outbound-IP update: the vCPU family is nearly full (a decoy)."""
    res = await run(SPEC, make_ctx(world(usage_edit={"standardDDSv5Family": 97}), code="PublicIPCountLimitReached",
                                   verb="update", agent_pool="system"))
    assert res.status is CheckStatus.PASS, res


async def test_exhausted_family_on_an_update_is_only_likely() -> None:
    res = await run(SPEC, make_ctx(world(usage_edit={"standardDDSv5Family": 100}), code="QuotaExceeded",
                                   verb="update", agent_pool="system"))
    assert res.status is CheckStatus.FAIL and res.confidence == "likely" and not res.blocks_request, res
    assert "is exhausted (100/100)" in res.summary and res.confirm_by


async def test_scale_without_a_count_in_the_error_is_likely() -> None:
    res = await run(SPEC, make_ctx(world(usage_edit={"cores": 98}), code="QuotaExceeded", verb="scale",
                                   agent_pool="system"))
    assert res.status is CheckStatus.FAIL and res.confidence == "likely" and not res.blocks_request, res
    res = await run(SPEC, make_ctx(world({"vmSize": "Standard_DS2_v2"}), code="QuotaExceeded", message=DSV2_MSG,
                                   verb="scale", agent_pool="system"))
    assert res.status is CheckStatus.FAIL and res.confidence == "confirmed" and res.blocks_request, res


async def test_vcpu_shortage_under_a_public_ip_quota_error_is_only_likely() -> None:
    msg = ("Cannot create more than 60 public IP addresses for this subscription in this region. "
           "Dependency: Microsoft.Network/PublicIPAddresses")
    w = world({"count": 20}, usage_edit={"cores": 90})
    res = await run(SPEC, make_ctx(w, code="PublicIPCountLimitReached", message=msg, verb="create"))
    assert res.status is CheckStatus.FAIL and res.confidence == "likely" and not res.blocks_request, res
