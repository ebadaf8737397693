"""kubernetes_version over the KubernetesVersions_List and ManagedClustersGetUpgradeProfile (2025-05-01)
spec bodies and the fixture cluster, with planted version faults."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checks.kubernetes_version import SPEC
from shared.models import CheckStatus
from tests.unit.checks.platform_support import CLUSTER_ID, SUB, body, make_ctx, run

VERSIONS = f"/subscriptions/{SUB}/providers/Microsoft.ContainerService/locations/westeurope/kubernetesVersions"
PROFILE = f"{CLUSTER_ID}/upgradeProfiles/default"


def world(current: str, desired: str | None = None, pool: str | None = None, upgrades: list[str] | None = None,
          with_versions: bool = True) -> dict[str, Any]:
    c = body("cluster.vnetint-uai")
    c["properties"]["currentKubernetesVersion"] = current
    c["properties"]["kubernetesVersion"] = desired or current
    p = c["properties"]["agentPoolProfiles"][0]
    p["orchestratorVersion"] = p["currentOrchestratorVersion"] = pool or current
    prof = body("upgradeprofile")
    prof["properties"]["controlPlaneProfile"]["kubernetesVersion"] = current
    prof["properties"]["controlPlaneProfile"]["upgrades"] = [{"kubernetesVersion": u} for u in (
        upgrades if upgrades is not None else ["1.25.4", "1.25.5"])]
    res = {CLUSTER_ID: c, PROFILE: prof}
    if with_versions:
        res[VERSIONS] = body("kubernetesversions")
    return res


CASES = [
    ("next-minor-ok", world("1.24.9", "1.25.5"), {}, "", CheckStatus.PASS, "1.24.9 -> 1.25.5 is a valid upgrade"),
    ("minor-only-target-from-facts", world("1.24.9"), {"requested_version": "1.25"}, "", CheckStatus.PASS, "valid"),
    ("skips-a-minor", world("1.24.9", "1.26.0"), {}, "", CheckStatus.FAIL, "skips 1 minor version(s)"),
    ("not-offered-in-region", world("1.24.9", "1.27.1"), {}, "", CheckStatus.FAIL,
     "1.27.1 is not offered in westeurope"),
    ("patch-not-offered", world("1.24.6", "1.24.7", upgrades=["1.24.9"]), {}, "", CheckStatus.FAIL,
     "patch 1.24.7 is not offered"),
    ("downgrade", world("1.24.9", "1.23.15"), {}, "", CheckStatus.FAIL, "downgrades are not allowed"),
    ("from-error-message", world("1.24.9"), {},
     "Upgrading Kubernetes version 1.24.9 to 1.26.0 is not allowed. Available upgrades: 1.25.4 1.25.5",
     CheckStatus.FAIL, "skips 1 minor"),
    ("not-in-upgrade-profile", world("1.24.9", "1.25.5", upgrades=["1.25.4"]), {}, "", CheckStatus.FAIL,
     "not in the cluster's available upgrades"),
    ("running-version-retired", world("1.22.11", "1.24.9", upgrades=["1.24.9"]), {}, "", CheckStatus.FAIL,
     "running version 1.22.11 is no longer offered"),
    ("no-target-current-offered", world("1.24.9"), {}, "", CheckStatus.PASS, "1.24.9 is offered"),
    ("pool-4-behind-after-1.28", world("1.29.2", pool="1.25.6", with_versions=False), {}, "", CheckStatus.FAIL,
     "4 minor versions behind the control plane 1.29.2 (max 3)"),
    ("pool-3-behind-after-1.28-ok", world("1.29.2", pool="1.26.6", with_versions=False, upgrades=[]), {}, "",
     CheckStatus.PASS, "within the skew window"),
    ("pool-3-behind-before-1.28", world("1.27.3", pool="1.24.9", with_versions=False), {}, "", CheckStatus.FAIL,
     "(max 2)"),
    ("pool-newer-than-control-plane", world("1.24.9", pool="1.25.4"), {}, "", CheckStatus.FAIL,
     "newer than the control plane"),
]


@pytest.mark.parametrize(("res", "facts", "msg", "status", "text"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_table(res: dict[str, Any], facts: dict[str, Any], msg: str, status: CheckStatus, text: str) -> None:
    out = await run(SPEC, make_ctx(res, code="OperationNotAllowed", facts=facts, message=msg, verb="upgrade"))
    assert out.status is status, out
    assert text in out.summary


async def test_upgrade_remediation_uses_the_next_listed_version() -> None:
    out = await run(SPEC, make_ctx(world("1.24.9", "1.26.0"), verb="upgrade"))
    assert "az aks upgrade -g rg-aks-prod -n aks-prod-01 --kubernetes-version 1.25.5" in (out.remediation or "")
    ev = next(e for e in out.evidence if e.property == "properties.controlPlaneProfile.upgrades[]")
    assert ev.resource_id == PROFILE and ev.value == ["1.25.4", "1.25.5"]


async def test_pool_skew_remediation_upgrades_the_pool_to_the_control_plane() -> None:
    out = await run(SPEC, make_ctx(world("1.29.2", pool="1.25.6", with_versions=False)))
    assert ("az aks nodepool upgrade -g rg-aks-prod --cluster-name aks-prod-01 -n system --kubernetes-version 1.29.2"
            in (out.remediation or ""))
    assert any(e.resource_id == f"{CLUSTER_ID}/agentPools/system" for e in out.evidence)


async def test_offered_list_is_evidence_with_preview_marked() -> None:
    out = await run(SPEC, make_ctx(world("1.24.9")))
    ev = next(e for e in out.evidence if e.property == "values[].version")
    assert ev.value == ["1.23", "1.24", "1.25", "1.26"]
    assert "preview: 1.26" in (ev.note or "")


# --- what the request asked for (synchronous 400: the cluster body still shows the old versions) ---

POOL_MSG = ("The orchestrator version 1.25.4 of agent pool system is not allowed: it is newer than the control "
            "plane version 1.24.9.")


async def test_requested_pool_version_newer_than_control_plane() -> None:
    out = await run(SPEC, make_ctx(world("1.24.9"), code="NodePoolMcVersionIncompatible", message=POOL_MSG,
                                   agent_pool="system", verb="upgrade"))
    assert out.status is CheckStatus.FAIL, out
    assert "pool system requested orchestratorVersion 1.25.4 is newer than the control plane 1.24.9" in out.summary
    assert out.blocks_request
    assert "--control-plane-only --kubernetes-version 1.25.4" in (out.remediation or "")


async def test_requested_pool_version_within_window_passes() -> None:
    out = await run(SPEC, make_ctx(world("1.29.2", with_versions=False, upgrades=[]),
                                   code="NodePoolMcVersionIncompatible", facts={"requested_pool_version": "1.26.6"},
                                   agent_pool="system"))
    assert out.status is CheckStatus.PASS, out


async def test_requested_version_not_offered_for_a_cluster_that_does_not_exist() -> None:
    res = world("1.24.9")
    del res[CLUSTER_ID]
    msg = ("Version 1.27.9 is not supported in this region. Please use [az aks get-versions] command to get the "
           "supported version list in this region.")
    out = await run(SPEC, make_ctx(res, code="AgentPoolK8sVersionNotSupported", message=msg, verb="create",
                                   facts={"region": "westeurope"}))
    assert out.status is CheckStatus.FAIL, out
    assert "1.27.9 is not offered in westeurope" in out.summary
    assert out.blocks_request
    assert "az aks get-versions --location westeurope -o table" in (out.remediation or "")


async def test_lts_only_minor_needs_premium() -> None:
    res = world("1.24.9", upgrades=["1.25.5"])
    for v in res[VERSIONS]["values"]:
        if v["version"] == "1.25":
            v["capabilities"]["supportPlan"] = ["AKSLongTermSupport"]
    out = await run(SPEC, make_ctx(res, code="OperationNotAllowed", facts={"requested_version": "1.25.5"}))
    assert out.status is CheckStatus.FAIL, out
    assert "offered only with long-term support (AKSLongTermSupport), which needs the Premium tier" in out.summary
    res[CLUSTER_ID]["sku"] = {"name": "Base", "tier": "Premium"}
    out = await run(SPEC, make_ctx(res, code="OperationNotAllowed", facts={"requested_version": "1.25.5"}))
    assert out.status is CheckStatus.PASS, out


async def test_planned_create_version() -> None:
    from shared.checklib.clusterview import ClusterView

    res = world("1.24.9")
    planned = res[CLUSTER_ID]
    planned["properties"]["kubernetesVersion"] = "1.27.1"
    planned["properties"].pop("currentKubernetesVersion")
    ctx = make_ctx(res, code="InvalidParameter", verb="create")
    ctx.planned = ClusterView.from_body(planned, CLUSTER_ID, planned=True)
    out = await run(SPEC, ctx)
    assert out.status is CheckStatus.FAIL, out
    assert "1.27.1 is not offered in westeurope" in out.summary


async def test_decoy_pools_within_the_window_are_not_blamed() -> None:
    res = world("1.29.2", with_versions=False, upgrades=[])
    pools = res[CLUSTER_ID]["properties"]["agentPoolProfiles"]
    pools.append({**pools[0], "name": "user1", "orchestratorVersion": "1.27.3", "currentOrchestratorVersion": "1.27.3"})
    out = await run(SPEC, make_ctx(res, code="NodePoolMcVersionIncompatible", message=POOL_MSG.replace(
        "1.25.4", "1.30.1").replace("1.24.9", "1.29.2"), agent_pool="system"))
    assert out.status is CheckStatus.FAIL
    assert "user1" not in out.summary


async def test_planned_upgrade_of_an_existing_cluster_keeps_the_running_version() -> None:
    from shared.checklib.clusterview import ClusterView

    res = world("1.24.9")
    planned = res[CLUSTER_ID]
    planned["properties"]["kubernetesVersion"] = "1.26.0"  # the plan; currentKubernetesVersion stays 1.24.9
    ctx = make_ctx(res, code="PreflightPrediction", verb="upgrade")
    ctx.planned = ClusterView.from_body(planned, CLUSTER_ID, planned=True)
    out = await run(SPEC, ctx)
    assert out.status is CheckStatus.FAIL, out
    assert "1.24.9 -> 1.26.0 skips 1 minor version(s)" in out.summary


async def test_pools_following_a_cluster_upgrade_are_not_blamed() -> None:
    """Mid-upgrade body: the control plane and the pool ask for 1.25.5, both still run 1.24.9."""
    res = world("1.24.9", "1.25.5")
    pool = res[CLUSTER_ID]["properties"]["agentPoolProfiles"][0]
    pool["orchestratorVersion"], pool["currentOrchestratorVersion"] = "1.25.5", "1.24.9"
    out = await run(SPEC, make_ctx(res, code="UpgradeFailed", verb="upgrade"))
    assert out.status is CheckStatus.PASS, out
    assert "1.24.9 -> 1.25.5 is a valid upgrade" in out.summary


async def test_retired_running_version_says_what_to_upgrade_to() -> None:
    out = await run(SPEC, make_ctx(world("1.22.11", upgrades=[]), code="OperationNotAllowed", verb="update"))
    assert out.status is CheckStatus.FAIL, out
    assert "running version 1.22.11 is no longer offered in westeurope" in out.summary
    # the upgrade profile lists nothing: the newest patch of the oldest GA minor the region offers
    assert "az aks upgrade -g rg-aks-prod -n aks-prod-01 --kubernetes-version 1.23.15" in (out.remediation or "")
