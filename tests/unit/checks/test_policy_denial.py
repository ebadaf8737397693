"""policy_denial over the getPolicyAssignment / getPolicyDefinition (2025-03-01) spec bodies."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checks.policy_denial import SPEC
from shared.models import CheckStatus
from tests.unit.checks.platform_support import CLUSTER_ID, NODE_RG_ID, RG, SUB, body, deny, make_ctx, run

MG = "/providers/Microsoft.Management/managementGroups/mg-platform"


def assignment(scope: str, name: str = "EnforceNaming", enforcement: str = "Default",
               params: dict[str, Any] | None = None) -> tuple[str, dict[str, Any], str, dict[str, Any]]:
    a = body("policyassignment")
    d = body("policydefinition")
    aid = f"{scope}/providers/Microsoft.Authorization/policyAssignments/{name}"
    did = f"/subscriptions/{SUB}/providers/Microsoft.Authorization/policyDefinitions/ResourceNaming"
    a["id"], a["name"] = aid, name
    a["properties"].update(scope=scope, enforcementMode=enforcement, policyDefinitionId=did)
    a["properties"]["parameters"].update(params or {})
    d["id"] = did
    return aid, a, did, d


def message(aid: str) -> str:
    """The RequestDisallowedByPolicy text as the ARM troubleshooting article shows it."""
    return (f"Resource 'kubernetes' was disallowed by policy. Policy identifiers: '[{{\"policyAssignment\":"
            f"{{\"name\":\"Enforce resource naming rules\",\"id\":\"{aid}\"}},\"policyDefinition\":"
            f"{{\"name\":\"Naming Convention\",\"id\":\"/subscriptions/{SUB}/providers/Microsoft.Authorization/"
            "policyDefinitions/ResourceNaming\"}}]'.")


def world(aid: str, a: dict[str, Any], did: str, d: dict[str, Any]) -> dict[str, Any]:
    return {CLUSTER_ID: body("cluster.vnetint-uai"), aid: a, did: d}


CASES = [
    ("subscription-scope", f"/subscriptions/{SUB}", "Default", CheckStatus.FAIL, "above the node resource group"),
    ("node-rg-scope", NODE_RG_ID, "Default", CheckStatus.FAIL, "on the node resource group (AKS-managed)"),
    ("cluster-rg-scope", f"/subscriptions/{SUB}/resourceGroups/{RG}", "Default", CheckStatus.FAIL,
     "cluster's resource group"),
    ("management-group-scope", MG, "Default", CheckStatus.FAIL, "at management group scope"),
    ("do-not-enforce", f"/subscriptions/{SUB}", "DoNotEnforce", CheckStatus.PASS, "no longer enforced"),
]


@pytest.mark.parametrize(("scope", "enforcement", "status", "text"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_table(scope: str, enforcement: str, status: CheckStatus, text: str) -> None:
    aid, a, did, d = assignment(scope, enforcement=enforcement)
    res = await run(SPEC, make_ctx(world(aid, a, did, d), code="RequestDisallowedByPolicy", message=message(aid)))
    assert res.status is status, res
    assert text in res.summary
    ev = next(e for e in res.evidence if e.resource_id == aid)
    assert ev.property == "properties.scope" and ev.value == scope
    if status is CheckStatus.FAIL:
        assert f"--policy-assignment {aid} --exemption-category Waiver" in (res.remediation or "")
        assert "az aks update -g rg-aks-prod -n aks-prod-01" in (res.remediation or "")


async def test_exemption_targets_the_node_resource_group_and_effect_is_shown() -> None:
    aid, a, did, d = assignment(f"/subscriptions/{SUB}")
    res = await run(SPEC, make_ctx(world(aid, a, did, d), code="RequestDisallowedByPolicy", message=message(aid)))
    assert f"--scope {NODE_RG_ID}" in (res.remediation or "")
    assert "effect deny" in (res.evidence[0].note or "")
    assert "'Enforce resource naming rules'" in res.summary


async def test_node_rg_assignment_also_offers_delete() -> None:
    aid, a, did, d = assignment(NODE_RG_ID)
    res = await run(SPEC, make_ctx(world(aid, a, did, d), code="RequestDisallowedByPolicy", message=message(aid)))
    assert f"az policy assignment delete --name EnforceNaming --scope {NODE_RG_ID}" in (res.remediation or "")


async def test_parameterised_effect_resolved_from_assignment() -> None:
    aid, a, did, d = assignment(f"/subscriptions/{SUB}", params={"effect": {"value": "Deny"}})
    d["properties"]["policyRule"]["then"]["effect"] = "[parameters('effect')]"
    res = await run(SPEC, make_ctx(world(aid, a, did, d), facts={"resource_ids": [aid]}))
    assert "effect Deny" in (res.evidence[0].note or "")


async def test_ids_from_facts_with_other_casing_match() -> None:
    aid, a, did, d = assignment(MG)
    res = await run(SPEC, make_ctx(world(aid, a, did, d), facts={"resource_ids": [aid.lower()]}))
    assert res.status is CheckStatus.FAIL


async def test_deleted_assignment_means_retry() -> None:
    aid = f"/subscriptions/{SUB}/providers/Microsoft.Authorization/policyAssignments/gone"
    res = await run(SPEC, make_ctx({CLUSTER_ID: body("cluster.vnetint-uai")}, message=message(aid)))
    assert res.status is CheckStatus.PASS
    assert "no longer exists" in res.summary


async def test_definition_forbidden_still_decides_on_the_assignment() -> None:
    aid, a, did, d = assignment(f"/subscriptions/{SUB}")
    ctx = deny(make_ctx(world(aid, a, did, d), message=message(aid)), "policydefinitions")
    res = await run(SPEC, ctx)
    assert res.status is CheckStatus.FAIL
    assert "effect unknown" in (res.evidence[0].note or "")


async def test_no_assignment_named_is_skipped() -> None:
    res = await run(SPEC, make_ctx({CLUSTER_ID: body("cluster.vnetint-uai")}, code="RequestDisallowedByPolicy",
                                   message="Resource was disallowed by policy."))
    assert res.status is CheckStatus.SKIPPED


async def test_failure_mode_without_assignment_ids_does_not_evaluate_listed_rules() -> None:
    """Only pre-flight evaluates rules; after a failure the error names the assignment (or the check skips)."""
    aid, a, did, d = assignment(f"/subscriptions/{SUB}")
    res_world = world(aid, a, did, d)
    res_world[f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Authorization/policyAssignments"] = {
        "value": [a]}
    res = await run(SPEC, make_ctx(res_world, code="RequestDisallowedByPolicy", message="disallowed by policy"))
    assert res.status is CheckStatus.SKIPPED and "names no policy assignment id" in res.summary
