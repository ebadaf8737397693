"""The seed cases, predicted before the create: a Kubernetes version not offered in the region (bicep build
output + parameters file), authorized IP ranges that shut the nodes out and an API-server subnet that is
too small (planned versions of the bundled scenarios), a subnet too small for the node count + surge
(terraform plan); and the bundled capacity scenario, which pre-flight does not claim to predict."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from shared import armid
from shared.demo import scenarios
from shared.preflight.inputs import Where
from shared.preflight.model import Report
from shared.preflight.session import TemplateInput, preflight
from tests.preflight import worlds as w
from tests.preflight.support import NOW, fixture, plan_of, predict, reader

READ_ONLY = ("provisioningState", "powerState", "currentKubernetesVersion", "currentOrchestratorVersion",
             "nodeImageVersion", "fqdn", "azurePortalFQDN", "privateFQDN", "status", "resourceUID",
             "nodeResourceGroup", "identityProfile")


def as_put(body: dict[str, Any]) -> dict[str, Any]:
    """A GET body as you would PUT it for a create: no read-only state."""
    out = copy.deepcopy(body)
    out.pop("eTag", None)
    props = out["properties"]
    for key in READ_ONLY:
        props.pop(key, None)
    for pool in props.get("agentPoolProfiles") or []:
        for key in READ_ONLY:
            pool.pop(key, None)
    props.get("networkProfile", {}).get("loadBalancerProfile", {}).pop("effectiveOutboundIPs", None)
    return out


def planned_scenario(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the world without the cluster, the cluster as planned)."""
    snap = json.loads((folder / "snapshot.json").read_text(encoding="utf-8"))
    (cid,) = [k for k in snap["resources"] if armid.is_kind(k, armid.ResourceKind.MANAGED_CLUSTER)]
    body = snap["resources"].pop(cid)
    for k in [k for k in snap["resources"] if armid.within(k, cid)]:
        snap["resources"].pop(k)
    snap["activity_log"] = [e for e in snap.get("activity_log", []) if not armid.same(e.get("resourceId"), cid)]
    return snap, as_put(body)


def test_seed_version_not_offered_in_the_region_bicep_build_output() -> None:
    """Through the CLI's path: the target resource group is read from ARM for resourceGroup().location."""
    source = TemplateInput(doc=fixture("main.bicep.json"), text="{}", file="main.bicep.json",
                           parameters=fixture("main.parameters.json"))
    report = asyncio.run(preflight(source, where=Where(w.SUB, w.RG), arm=reader(w.world()), now=NOW))
    assert report.target.region == "westeurope"
    assert report.operation == "create" and report.verdict == "will_fail"
    first = report.predictions[0]
    assert first.id == "kubernetes_version" and first.predicted_code == "AgentPoolK8sVersionNotSupported"
    assert "1.27.9" in first.summary and "westeurope" in first.summary
    assert [p.id for p in report.predictions] == ["kubernetes_version"]
    assert any("keyData" in u.path for u in report.unresolved)


def test_seed_subnet_too_small_for_the_nodes_and_surge_terraform_plan() -> None:
    report = predict(w.world(), plan_of(fixture("tfplan.json"), file="tfplan.json"))
    assert report.operation == "create" and report.verdict == "will_fail"
    first = report.predictions[0]
    assert first.id == "node_subnet_capacity" and first.predicted_code == "InsufficientSubnetSize"
    assert "snet-user" in first.summary
    assert [p.id for p in report.predictions] == ["node_subnet_capacity"]  # snet-nodes (/22) is fine


def test_seed_authorized_ranges_private_setting_blocks_the_nodes() -> None:
    """Private cluster setting and authorized ranges: ranges that leave out the node subnet (VNet integration)."""
    body = w.planned_cluster(properties__apiServerAccessProfile__authorizedIPRanges=["198.51.100.0/24"])
    report = predict(w.world(), plan_of(body))
    assert report.predictions[0].id == "api_authorized_ranges"
    assert "10.42.0.0/22" in report.predictions[0].summary
    # the same cluster made private: ranges do not apply, nothing is predicted
    private = w.planned_cluster(properties__apiServerAccessProfile__enablePrivateCluster=True,
                                properties__apiServerAccessProfile__authorizedIPRanges=["198.51.100.0/24"])
    assert predict(w.world(), plan_of(private)).verdict == "ok"


def _bundled(name: str) -> Path:
    (folder,) = [p for p in scenarios() if p.name == name]
    return folder


@pytest.mark.parametrize("name", ["apiserver-connfail-authorized-ranges", "vnet-integration-subnet-29"])
def test_planned_versions_of_the_bundled_scenarios_predict_the_planted_fault_first(name: str) -> None:
    folder = _bundled(name)
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    world, body = planned_scenario(folder)
    report = predict(world, plan_of(body))
    assert report.operation == "create" and report.verdict == "will_fail"
    assert report.predictions[0].id == expected["first_root_cause"]
    assert report.predictions[0].status == "will_fail"


def test_the_capacity_scenario_is_not_claimed_as_predicted() -> None:
    world, body = planned_scenario(_bundled("capacity-heavy-usage"))
    report: Report = predict(world, plan_of(body))
    assert "capacity_history" not in {p.id for p in report.predictions}
    assert any("capacity" in n and "cannot be known before" in n for n in report.notes)


@pytest.mark.parametrize("name", ["apiserver-connfail-authorized-ranges", "vnet-integration-subnet-29"])
def test_a_get_body_of_the_failed_cluster_as_the_plan_predicts_the_same(name: str) -> None:
    """The body as ARM GET returned it (failed state, provisioningError, node resource group, effective
    outbound IPs): read-only and generated state is left out for the create, the planted fault comes first."""
    folder = _bundled(name)
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    snap = json.loads((folder / "snapshot.json").read_text(encoding="utf-8"))
    (cid,) = [k for k in snap["resources"] if armid.is_kind(k, armid.ResourceKind.MANAGED_CLUSTER)]
    body = snap["resources"].pop(cid)
    report = predict(snap, plan_of(body))
    assert report.operation == "create"
    assert report.predictions[0].id == expected["first_root_cause"]
    assert "node_resource_group" not in {p.id for p in report.predictions}
    assert any("GET body" in n for n in report.notes)
