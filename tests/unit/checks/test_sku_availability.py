"""sku_availability over the ResourceSkus_List shape (westeurope) and the fixture cluster: a size not
offered, a Location restriction, a zone not offered / restricted; other pools' sizes are not blamed."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checklib.base import CheckContext
from shared.checklib.clusterview import ClusterView
from shared.checks.sku_availability import SPEC
from shared.models import CheckStatus
from tests.unit.checks.platform_support import CLUSTER_ID, body, deny, make_ctx, run
from tests.unit.checks.requested_support import SKUS_ID, skus


def world(pool: dict[str, Any] | None = None, *, decoy: dict[str, Any] | None = None,
          with_skus: bool = True) -> dict[str, Any]:
    c = body("cluster.vnetint-uai")
    pools = c["properties"]["agentPoolProfiles"]
    pools[0].update(pool or {})
    # a second pool on a restricted size: never blamed for a failure of "system"
    pools.append({**pools[0], "name": "gpu", "mode": "User", "count": 1, "vmSize": "Standard_NC24ads_A100_v4",
                  "availabilityZones": ["2"], **(decoy or {})})
    out: dict[str, Any] = {CLUSTER_ID: c}
    if with_skus:
        out[SKUS_ID] = skus()
    return out


CASES = [
    ("offered", {}, "", CheckStatus.PASS, "Standard_D4ds_v5 offered in westeurope"),
    ("size-not-offered", {"vmSize": "Standard_D96pls_v6"}, "", CheckStatus.FAIL,
     "Standard_D96pls_v6 is not offered in westeurope"),
    ("zone-restricted", {"vmSize": "Standard_E8s_v5"}, "", CheckStatus.FAIL,
     "Standard_E8s_v5 in westeurope is restricted in zone(s) 3 (NotAvailableForSubscription); usable zones: 1, 2"),
    ("zone-not-offered", {"vmSize": "Standard_L8s_v3"}, "", CheckStatus.FAIL,
     "Standard_L8s_v3 in westeurope is not offered in zone(s) 3; usable zones: 1, 2"),
    ("no-zones-asked", {"vmSize": "Standard_L8s_v3", "availabilityZones": []}, "", CheckStatus.PASS,
     "offered in westeurope"),
]


@pytest.mark.parametrize(("pool", "msg", "status", "text"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_table(pool: dict[str, Any], msg: str, status: CheckStatus, text: str) -> None:
    res = await run(SPEC, make_ctx(world(pool), code="SkuNotAvailable", message=msg, agent_pool="system",
                                   verb="scale"))
    assert res.status is status, res
    assert text in res.summary
    assert "NC24ads" not in res.summary  # the decoy pool's restricted size
    if status is CheckStatus.FAIL:
        assert res.blocks_request
        assert any(e.resource_id == SKUS_ID for e in res.evidence)


async def test_restricted_zone_proposes_usable_zones_and_alternatives() -> None:
    res = await run(SPEC, make_ctx(world({"vmSize": "Standard_E8s_v5"}), code="AvailabilityZoneNotSupported",
                                   agent_pool="system"))
    fix = res.remediation or ""
    assert "--node-vm-size Standard_E8s_v5 --zones 1 2" in fix
    # same 8 vCPUs, offered unrestricted in zones 1,2,3
    assert "Standard_D8ds_v5" in fix and "Standard_L8s_v3" not in fix.split("\n")[1]
    assert "request access" in fix


async def test_size_named_by_the_error_wins_over_the_unchanged_body() -> None:
    """A synchronous 400 on `nodepool add`: the body still shows only the old pools; the error names the size."""
    msg = ("The requested VM size Standard_NC24ads_A100_v4 is not available in the current region. The sizes "
           "available in the current region are: Standard_D4ds_v5.")
    res = await run(SPEC, make_ctx(world(), code="SkuNotAvailable", message=msg, agent_pool="gpu2", verb="create"))
    assert res.status is CheckStatus.FAIL, res
    assert "Standard_NC24ads_A100_v4 is restricted in westeurope for this subscription (NotAvailableForSubscription)" \
        in res.summary
    assert "Standard_D4ds_v5 is" not in res.summary


async def test_planned_pool() -> None:
    w = world()
    planned = body("cluster.vnetint-uai")
    planned["properties"]["agentPoolProfiles"][0]["vmSize"] = "Standard_L8s_v3"
    ctx: CheckContext = make_ctx(w, code="InvalidParameter", verb="create")
    ctx.planned = ClusterView.from_body(planned, CLUSTER_ID, planned=True)
    res = await run(SPEC, ctx)
    assert res.status is CheckStatus.FAIL
    assert "Standard_L8s_v3 in westeurope is not offered in zone(s) 3" in res.summary


async def test_sku_list_missing_is_an_error() -> None:
    res = await run(SPEC, make_ctx(world(with_skus=False), code="SkuNotAvailable", agent_pool="system"))
    assert res.status is CheckStatus.ERROR
    assert "SKU list could not be read" in res.summary


async def test_sku_list_forbidden_is_an_error() -> None:
    res = await run(SPEC, deny(make_ctx(world(), code="SkuNotAvailable", agent_pool="system"), "/skus"))
    assert res.status is CheckStatus.ERROR and "Reader" in res.summary


@pytest.mark.parametrize(("code", "target"), [("SkuNotAvailable", None), ("AvailabilityZoneNotSupported", None),
                                              ("InvalidParameter", "properties.agentPoolProfiles[0].vmSize")])
def test_selected_for_the_errors_it_explains(code: str, target: str | None) -> None:
    from shared.checklib.ranking import relevance, select
    from shared.checks import kubernetes_version
    from shared.classify import classify_error
    from shared.models import OperationError

    c = classify_error(OperationError(code=code, message="", target=target))
    # with a check that does not apply beside it (select falls back to all checks when none applies)
    assert select([SPEC, kubernetes_version.SPEC], c) == [SPEC]
    assert relevance(SPEC, c) >= 60 or SPEC.names_target(c.facts.target)


async def test_named_pool_missing_from_the_body_borrows_no_other_pool() -> None:
    """`nodepool add gpu2` rejected: the body has only system (Failed) and gpu; neither is blamed."""
    res = await run(SPEC, make_ctx(world(), code="SkuNotAvailable", agent_pool="gpu2", verb="create"))
    assert res.status is CheckStatus.SKIPPED, res
    assert "no VM size to check" in res.summary
