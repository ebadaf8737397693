"""Pre-flight predicts RequestDisallowedByPolicy: the assignments that apply to the cluster's resource group are
listed, their deny rules evaluated against the planned body. Each planted assignment sits among the decoys of
tests/preflight/policies.py (audit-only, other resource type, Kubernetes-data mode, DoNotEnforce, notScopes, on a
sibling resource, an initiative the plan satisfies)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from shared.models import CheckStatus
from tests.preflight import policies as pol
from tests.preflight import worlds as w
from tests.preflight.support import plan_of, predict


def _world(*extra: dict[str, Any]) -> dict[str, Any]:
    world = copy.deepcopy(w.world())
    pol.install(world, [*pol.decoys(), *extra])
    return world


def _policy(report: Any) -> Any:
    return next(c for c in report.checks if c.id == "policy_denial")


PLANTED = [
    (
        "location-not-allowed",
        pol.assignment("eu-north-only", pol.LOCATIONS, params={"listOfAllowedLocations": ["northeurope"]}),
        {},
        "location notIn ['northeurope'] (planned: 'westeurope')",
    ),
    (
        "tag-required-deny",
        pol.assignment("tag-deny", pol.TAG, scope=pol.RG_SCOPE),
        {},
        "tags[costCenter] exists 'false' (planned: absent)",
    ),
    (
        "public-cluster-denied",
        pol.assignment("private-only", pol.PRIVATE),
        {},
        "enablePrivateCluster notEquals 'true' (planned: False)",
    ),
    (
        "vm-size-not-in-initiative",
        pol.assignment("guardrails-strict", pol.SET, scope=pol.RG_SCOPE, params={"allowedSizes": ["Standard_D2ds_v5"]}),
        {},
        "vmSize in ['Standard_D2ds_v5']",
    ),
]


@pytest.mark.parametrize(("planted", "over", "why"), [c[1:] for c in PLANTED], ids=[c[0] for c in PLANTED])
def test_a_denying_assignment_is_predicted_first_with_its_code(
    planted: dict[str, Any], over: dict[str, Any], why: str
) -> None:
    report = predict(_world(planted), plan_of(w.planned_cluster(**over)))
    assert report.verdict == "will_fail", [(c.id, c.status, c.summary) for c in report.checks]
    assert [p.id for p in report.predictions] == ["policy_denial"], "a decoy was blamed"
    first = report.predictions[0]
    assert first.status == "will_fail" and first.confidence == "confirmed"
    assert first.predicted_code == "RequestDisallowedByPolicy"
    assert why in first.summary
    assert planted["id"] in (first.remediation or "")
    blamed = [e for e in first.evidence if "matches the planned body" in (e.note or "")]
    assert {e.resource_id for e in blamed} == {planted["id"]}
    assert any("on the cluster: matches" in (e.note or "") for e in blamed)


def test_a_deny_on_what_aks_creates_in_the_node_resource_group_is_predicted() -> None:
    """A subscription-wide 'no public IPs' blocks the create's managed outbound IP in MC_*; the same rule on the
    cluster's own group (a decoy in every world) does not reach the node resource group."""
    report = predict(_world(pol.assignment("no-public-ip-anywhere", pol.PIP)), plan_of(w.planned_cluster()))
    assert [p.id for p in report.predictions] == ["policy_denial"]
    first = report.predictions[0]
    assert first.status == "will_fail" and first.predicted_code == "RequestDisallowedByPolicy"
    assert f"managed outbound public IP in node resource group MC_{w.RG}_{w.NAME}_{w.REGION}" in first.summary
    assert "no-public-ip-anywhere" in (first.remediation or "")


def test_an_allowed_sku_rule_on_scale_sets_reads_the_pool_vm_size() -> None:
    vmss_sizes = pol.definition(
        pol.definition_id("vmss-sizes-pf"),
        "Allowed scale set sizes (pf)",
        {
            "allOf": [
                {"field": "type", "equals": "Microsoft.Compute/virtualMachineScaleSets"},
                {"field": "Microsoft.Compute/virtualMachineScaleSets/sku.name", "notIn": ["Standard_D2ds_v5"]},
            ]
        },
    )
    world = _world(pol.assignment("vmss-sizes", vmss_sizes["id"]))
    world["resources"][vmss_sizes["id"]] = vmss_sizes
    report = predict(world, plan_of(w.planned_cluster()))
    first = report.predictions[0]
    assert first.id == "policy_denial" and first.confidence == "confirmed"
    assert "scale set of pool system" in first.summary and "'Standard_D4ds_v5'" in first.summary


def test_the_plan_that_satisfies_the_policy_is_ok() -> None:
    """The same deny-tag and allowed-sizes assignments, with a plan that carries the tag and an allowed size."""
    tag = pol.assignment("tag-deny", pol.TAG, scope=pol.RG_SCOPE)
    sizes = pol.assignment(
        "guardrails-strict",
        pol.SET,
        scope=pol.RG_SCOPE,
        params={"allowedSizes": ["Standard_D2ds_v5", "Standard_D4ds_v5"]},
    )
    report = predict(_world(tag, sizes), plan_of(w.planned_cluster(tags={"costCenter": "cc-42"})))
    assert report.verdict == "ok", [(p.id, p.summary) for p in report.predictions]
    res = _policy(report)
    assert res.status is CheckStatus.PASS
    notes = " | ".join(e.note or "" for e in res.evidence)
    assert "does not match: tags[costCenter] exists 'false' (planned: 'cc-42')" in notes
    assert "'private only not enforced' is DoNotEnforce" in notes
    assert "excludes the cluster in notScopes" in notes
    assert pol.STORAGE not in notes  # the sibling resource's assignment is not the cluster's (atScope)
    assert "Pods must not run privileged" not in notes  # Kubernetes-data mode: not an ARM deny


def test_a_rule_on_an_alias_it_cannot_map_is_a_risk_not_a_guess() -> None:
    report = predict(_world(pol.assignment("defender-required", pol.DEFENDER)), plan_of(w.planned_cluster()))
    assert report.verdict == "at_risk"
    (pred,) = report.predictions
    assert pred.id == "policy_denial" and pred.confidence == "likely" and pred.status == "at_risk"
    assert "securityProfile.defender.securityMonitoring.enabled" in pred.summary and "no path" in pred.summary
    assert pred.confirm_by and pred.predicted_code == "RequestDisallowedByPolicy"


def test_an_update_is_evaluated_too() -> None:
    world = w.with_existing(
        _world(pol.assignment("eu-north-only", pol.LOCATIONS, params={"listOfAllowedLocations": ["northeurope"]})),
        w.existing_cluster(),
    )
    report = predict(
        world,
        plan_of(
            w.planned_cluster(
                properties__apiServerAccessProfile__authorizedIPRanges=[
                    "203.0.113.0/24",
                    "10.42.0.0/22",
                    "198.51.100.0/24",
                ]
            )
        ),
    )
    assert report.operation == "update"
    assert [p.id for p in report.predictions] == ["policy_denial"]


def test_no_listing_readable_is_skipped_not_passed() -> None:
    world = copy.deepcopy(w.world())
    del world["resources"][pol.LISTING]
    report = predict(world, plan_of(w.planned_cluster()))
    res = _policy(report)
    assert res.status is CheckStatus.SKIPPED and "no policy assignment list readable" in res.summary
    assert report.verdict == "ok"


def _exemption(assignment_id: str, expires: str | None, refs: list[str] | None = None) -> dict[str, Any]:
    """value[0] of the PolicyExemptions_ListForResourceGroup (2022-07-01-preview) example, re-pointed."""
    props: dict[str, Any] = {
        "policyAssignmentId": assignment_id,
        "exemptionCategory": "Waiver",
        "displayName": "AKS pilot in the north",
        "metadata": {"reason": "pilot"},
    }
    if refs is not None:
        props["policyDefinitionReferenceIds"] = refs
    if expires:
        props["expiresOn"] = expires
    eid = f"{pol.RG_SCOPE}/providers/Microsoft.Authorization/policyExemptions/aks-pilot"
    return {"id": eid, "name": "aks-pilot", "type": "Microsoft.Authorization/policyExemptions", "properties": props}


@pytest.mark.parametrize(
    ("expires", "refs", "verdict"),
    [
        (None, None, "ok"),  # waives the assignment for everything in the group (the cluster and MC_* are not in it)
        ("2026-11-30T00:00:00Z", None, "will_fail"),  # expired the day before the run (support.NOW)
        (None, ["another-member"], "will_fail"),  # names another member of a set: not this definition
    ],
    ids=["waived", "expired", "other-reference"],
)
def test_an_exemption_on_the_group_waives_the_deny_for_the_cluster(
    expires: str | None, refs: list[str] | None, verdict: str
) -> None:
    planted = pol.assignment("tag-deny", pol.TAG, scope=pol.RG_SCOPE)
    world = _world(planted)
    world["resources"][f"{pol.RG_SCOPE}/providers/Microsoft.Authorization/policyExemptions"] = {
        "value": [_exemption(planted["id"], expires, refs)]
    }
    report = predict(world, plan_of(w.planned_cluster()))
    assert report.verdict == verdict, [(p.id, p.summary) for p in report.predictions]
    if verdict == "ok":
        notes = " | ".join(e.note or "" for e in _policy(report).evidence)
        assert "exemption 'aks-pilot' (Waiver) waives 'tag deny' for the cluster" in notes


def _add_pool(world: dict[str, Any], pool: dict[str, Any]) -> Any:
    import asyncio

    from shared.preflight import engine
    from tests.preflight.support import reader

    plan = asyncio.run(engine.add_pool_plan(reader(world), w.CLUSTER_ID, pool))
    return predict(world, plan)


POOL = {
    "name": "gpu",
    "properties": {
        "count": 2,
        "vmSize": "Standard_D8ds_v5",
        "mode": "User",
        "vnetSubnetID": w.NODE_SUBNET,
        "orchestratorVersion": "1.30.5",
    },
}


@pytest.mark.parametrize(
    ("allowed", "verdict"),
    [(["Standard_D4ds_v5"], "will_fail"), (["Standard_D4ds_v5", "Standard_D8ds_v5"], "ok")],
    ids=["size-not-allowed", "size-allowed"],
)
def test_a_pool_add_is_evaluated_as_the_agent_pool_and_its_scale_set(allowed: list[str], verdict: str) -> None:
    pool_sizes = pol.definition(
        pol.definition_id("pool-sizes-pf"),
        "Allowed node pool sizes (pf)",
        {
            "allOf": [
                {"field": "type", "equals": "Microsoft.ContainerService/managedClusters/agentPools"},
                {"field": "Microsoft.ContainerService/managedClusters/agentPools/vmSize", "notIn": "[parameters('s')]"},
            ]
        },
        parameters={"s": {"type": "Array"}},
        mode="All",
    )  # a child type without tags/location: All mode
    world = w.with_existing(
        _world(pol.assignment("pool-sizes", pool_sizes["id"], params={"s": allowed})), w.existing_cluster()
    )
    world["resources"][pool_sizes["id"]] = pool_sizes
    report = _add_pool(world, copy.deepcopy(POOL))
    assert report.operation == "add_pool"
    assert report.verdict == verdict, [(p.id, p.summary) for p in report.predictions]
    res = _policy(report)
    if verdict == "will_fail":
        assert [p.id for p in report.predictions] == ["policy_denial"]
        assert "node pool gpu" in res.summary and "'Standard_D8ds_v5'" in res.summary
    else:
        assert res.status is CheckStatus.PASS
        # the cluster's own rules (private clusters, ...) are not applied to the pool's PUT
        assert all("on the cluster:" not in (e.note or "") for e in res.evidence)


def test_an_alias_the_provider_listing_names_is_decided() -> None:
    """With the provider body recorded with its aliases (`$expand=resourceTypes/aliases`), the Defender rule that is
    undecidable from the built-in table is decided (here: the plan enables Defender, so nothing is denied)."""
    world = _world(pol.assignment("defender-required", pol.DEFENDER))
    prov = world["resources"][f"/subscriptions/{w.SUB}/providers/Microsoft.ContainerService"]
    prov["resourceTypes"][0]["aliases"] = [
        {
            "name": f"{pol.MC}/securityProfile.defender.securityMonitoring.enabled",
            "paths": [
                {
                    "path": "properties.securityProfile.defender.securityMonitoring.enabled",
                    "apiVersions": ["2025-05-01"],
                }
            ],
        }
    ]
    on = {"properties__securityProfile": {"defender": {"securityMonitoring": {"enabled": True}}}}
    assert predict(world, plan_of(w.planned_cluster(**on))).verdict == "ok"
    report = predict(world, plan_of(w.planned_cluster()))
    assert [p.id for p in report.predictions] == ["policy_denial"]
    assert report.predictions[0].confidence == "confirmed"
