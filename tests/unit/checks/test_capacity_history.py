"""capacity_history: capacity codes are FAIL by themselves; the check adds history, shape and advice."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from shared.checks.capacity_history import SPEC
from shared.models import CheckStatus
from tests.unit.checks.platform_support import CLUSTER_ID, FIXTURES, NOW, run
from tests.unit.checks.requested_support import classified_ctx as make_ctx

HEAVY_MSG = ("AKS is experiencing heavy usage in region westeurope. We are working on adding new capacity. "
             "For now, please try a different region. https://aka.ms/akscapacityheavyusage")


def cluster(tier: str = "Standard", private: bool = True) -> dict[str, Any]:
    c = json.loads((FIXTURES / "cluster.vnetint-uai.json").read_text())["body"]
    c["sku"]["tier"] = tier
    c["properties"]["apiServerAccessProfile"]["enablePrivateCluster"] = private
    return c


def event(code: str, correlation: str, minutes_ago: int) -> dict[str, Any]:
    """The constructed failed managedClusters/write Activity Log event with another code / time."""
    e: dict[str, Any] = json.loads((FIXTURES / "activitylog.write-failed.json").read_text())["value"][0]
    msg = json.loads(e["properties"]["statusMessage"])
    msg["error"]["details"][0]["code"] = code
    e["properties"]["statusMessage"] = json.dumps(msg)
    e["correlationId"] = correlation
    e["eventTimestamp"] = (NOW - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")
    return e


def hist(cluster_id: str, region: str, hours_ago: float, code: str = "AKSCapacityHeavyUsage") -> dict[str, Any]:
    return {"time": (NOW - timedelta(hours=hours_ago)).isoformat(), "cluster_id": cluster_id, "region": region,
            "code": code}


OTHER = CLUSTER_ID.replace("aks-prod-01", "aks-other")


async def test_capacity_code_fails_even_without_history() -> None:
    res = await run(SPEC, make_ctx({CLUSTER_ID: cluster()}, code="AKSCapacityHeavyUsage", message=HEAVY_MSG,
                                   verb="create"))
    assert res.status is CheckStatus.FAIL
    assert "AKSCapacityHeavyUsage: capacity shortage in westeurope" in res.summary
    assert "0 earlier failed operation(s)" in res.summary
    assert res.evidence[0].property == "location" and res.evidence[0].value == "westeurope"
    rem = res.remediation or ""
    assert "paired region northeurope (--location northeurope)" in rem
    assert "try a public (without --enable-private-cluster) cluster" in rem
    assert "If it still fails after 24 h" in rem


async def test_history_counts_cluster_and_region_and_escalates_past_24h() -> None:
    history = [
        hist(CLUSTER_ID, "westeurope", 1), hist(CLUSTER_ID.upper(), "West Europe", 5),
        hist(CLUSTER_ID, "westeurope", 20), hist(CLUSTER_ID, "westeurope", 30),  # older: first seen, not counted
        hist(OTHER, "westeurope", 2), hist(OTHER, "westeurope", 3, "AKSCapacityError"),
        hist(OTHER, "eastus", 2), hist(OTHER, "westeurope", 2, "SubnetIsFull"),
    ]
    res = await run(SPEC, make_ctx({CLUSTER_ID: cluster()}, code="AKSCapacityHeavyUsage", message=HEAVY_MSG,
                                   extras={"failure_history": history}))
    assert res.status is CheckStatus.FAIL
    assert "3 for this cluster and 5 in westeurope in the last 24 h" in res.summary
    assert "escalate" in res.summary
    assert "persisted past 24 h: open an Azure support request" in (res.remediation or "")
    ev = {e.property: e.value for e in res.evidence}
    assert ev["failure_history.cluster_24h"] == 3
    assert ev["failure_history.region_24h"] == 5


async def test_activity_log_counts_earlier_failures_with_the_same_code() -> None:
    current = "99999999-9999-9999-9999-999999999999"
    activity = [
        event("AKSCapacityHeavyUsage", "aaaaaaaa-0000-0000-0000-000000000001", 30),
        event("AKSCapacityHeavyUsage", "aaaaaaaa-0000-0000-0000-000000000001", 31),  # same operation twice
        event("AKSCapacityHeavyUsage", "aaaaaaaa-0000-0000-0000-000000000002", 600),
        event("AKSCapacityHeavyUsage", current, 1),  # this failure itself
        event("VMExtensionProvisioningError", "aaaaaaaa-0000-0000-0000-000000000003", 40),
    ]
    res = await run(SPEC, make_ctx({CLUSTER_ID: cluster()}, code="AKSCapacityHeavyUsage", activity=activity,
                                   correlation_id=current))
    assert "2 earlier failed operation(s) with this code" in res.summary
    assert next(e for e in res.evidence if e.property == "activityLog.statusMessage.code").value == 2


async def test_free_tier_capacity_error_suggests_paid_tier() -> None:
    res = await run(SPEC, make_ctx({CLUSTER_ID: cluster(tier="Free", private=False)}, code="AKSCapacityError",
                                   verb="start"))
    rem = res.remediation or ""
    assert "az aks update -g rg-aks-prod -n aks-prod-01 --tier standard" in rem
    assert "az aks start -g rg-aks-prod -n aks-prod-01" in rem
    assert "try a private (--enable-private-cluster) cluster" in rem


async def test_zonal_allocation_on_upgrade_suggests_max_unavailable() -> None:
    res = await run(SPEC, make_ctx({CLUSTER_ID: cluster()}, code="ZonalAllocationFailed", verb="upgrade",
                                   agent_pool="system"))
    assert res.status is CheckStatus.FAIL
    rem = res.remediation or ""
    assert "--cluster-name aks-prod-01 -n system --max-surge 0 --max-unavailable 1" in rem
    assert "other VM size than Standard_D4ds_v5" in rem
    pool_ev = next(e for e in res.evidence if e.property == "agentPoolProfiles[system].vmSize")
    assert pool_ev.note == "zones 1,2,3"


@pytest.mark.parametrize("code", ["SubnetIsFull", "QuotaExceeded", "InternalOperationError"])
async def test_other_codes_are_not_applicable(code: str) -> None:
    res = await run(SPEC, make_ctx({CLUSTER_ID: cluster()}, code=code))
    assert res.status is CheckStatus.NOT_APPLICABLE


async def test_capacity_code_nested_in_wrapper_is_found() -> None:
    from shared.models import OperationError

    inner = OperationError(code="AllocationFailed", message="The VM allocation failed due to an internal error.")
    res = await run(SPEC, make_ctx({CLUSTER_ID: cluster()}, code="CreateVMSSAgentPoolFailed", details=(inner,)))
    assert res.status is CheckStatus.FAIL
    assert res.summary.startswith("AllocationFailed")


async def test_sku_not_available_once_is_no_capacity_pattern() -> None:
    res = await run(SPEC, make_ctx({CLUSTER_ID: cluster()}, code="SkuNotAvailable", agent_pool="system",
                                   verb="scale"))
    assert res.status is CheckStatus.PASS, res
    assert res.summary.startswith("SkuNotAvailable is an offering restriction, not a capacity shortage")


async def test_sku_not_available_repeatedly_points_at_offered_sizes() -> None:
    activity = [event("SkuNotAvailable", "aaaaaaaa-0000-0000-0000-000000000001", 30)]
    res = await run(SPEC, make_ctx({CLUSTER_ID: cluster()}, code="SkuNotAvailable", agent_pool="system",
                                   verb="scale", activity=activity))
    assert res.status is CheckStatus.FAIL and res.confidence == "likely", res
    assert res.summary.startswith("SkuNotAvailable: VM size / zone not offered in westeurope, repeatedly")
    assert "az vm list-skus --location westeurope --size Standard_D4ds_v5 --all -o table" in (res.remediation or "")


async def test_history_rows_count_by_family_not_by_a_code_list() -> None:
    history = [hist(OTHER, "westeurope", 1, "ZonalAllocationFailed"), hist(OTHER, "westeurope", 1, "QuotaExceeded"),
               {**hist(OTHER, "westeurope", 2, "SomethingNew"), "families": ["capacity"]}]
    res = await run(SPEC, make_ctx({CLUSTER_ID: cluster()}, code="AKSCapacityHeavyUsage", message=HEAVY_MSG,
                                   extras={"failure_history": history}))
    assert "0 for this cluster and 2 in westeurope in the last 24 h" in res.summary


async def test_planned_operation_with_recent_capacity_failures_is_likely() -> None:
    from shared.checklib.clusterview import ClusterView

    history = [hist(OTHER, "westeurope", 2, "ZonalAllocationFailed"), hist(OTHER, "eastus", 1)]
    ctx = make_ctx({CLUSTER_ID: cluster()}, code="PreflightPrediction", verb="create",
                   extras={"failure_history": history})
    ctx.planned = ClusterView.from_body(cluster(), CLUSTER_ID, planned=True)
    res = await run(SPEC, ctx)
    assert res.status is CheckStatus.FAIL and res.confidence == "likely", res
    assert "recent capacity failures (0 for this cluster and 1 in westeurope in the last 24 h)" in res.summary
    assert "capacity is only known when the operation runs" in (res.confirm_by or "")


async def test_planned_operation_without_recent_failures_passes() -> None:
    from shared.checklib.clusterview import ClusterView

    ctx = make_ctx({CLUSTER_ID: cluster()}, code="PreflightPrediction", verb="create",
                   extras={"failure_history": [hist(OTHER, "eastus", 1)]})
    ctx.planned = ClusterView.from_body(cluster(), CLUSTER_ID, planned=True)
    res = await run(SPEC, ctx)
    assert res.status is CheckStatus.PASS, res
    assert res.summary == "capacity cannot be predicted; no recent capacity failures in westeurope"
