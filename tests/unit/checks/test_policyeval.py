"""checklib.policyeval: policy rule conditions on a planned managedClusters body (the getPolicyDefinition spec
example's naming rule, and rules written after the Azure Policy definition structure)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checklib import policyeval as pe
from tests.unit.checks.platform_support import body

MC = "Microsoft.ContainerService/managedClusters"


def cluster(**props: Any) -> pe.Resource:
    b: dict[str, Any] = {
        "name": "aks-prod-01",
        "location": "West Europe",
        "tags": {"CostCenter": "42"},
        "sku": {"name": "Base", "tier": "Standard"},
        "identity": {"type": "UserAssigned"},
        "properties": {
            "kubernetesVersion": "1.30.5",
            "agentPoolProfiles": [
                {"name": "system", "vmSize": "Standard_D4ds_v5", "count": 3},
                {"name": "user", "vmSize": "Standard_D8ds_v5", "count": 2},
            ],
            **props,
        },
    }
    return pe.Resource(f"/subscriptions/s/resourceGroups/rg/providers/{MC}/aks-prod-01", MC, b, {})


CASES: list[tuple[str, dict[str, Any], dict[str, Any], bool | None]] = [
    ("type-equals-any-case", {"field": "type", "equals": MC.lower()}, {}, True),
    ("location-normalised", {"field": "location", "in": ["westeurope"]}, {}, True),
    ("location-notIn-param", {"field": "location", "notIn": "[parameters('allowed')]"}, {"allowed": ["eastus"]}, True),
    ("tag-exists-case-insensitive", {"field": "tags['costcenter']", "exists": "true"}, {}, True),
    ("tag-dot-form-missing", {"field": "tags.owner", "exists": "false"}, {}, True),
    ("tag-value-equals", {"field": "tags[CostCenter]", "equals": "43"}, {}, False),
    ("containsKey", {"field": "tags", "containsKey": "costcenter"}, {}, True),
    (
        "alias-missing-is-notEquals-true",
        {"field": f"{MC}/apiServerAccessProfile.enablePrivateCluster", "notEquals": "true"},
        {},
        True,
    ),
    ("alias-every-member", {"field": f"{MC}/agentPoolProfiles[*].vmSize", "like": "Standard_D*ds_v5"}, {}, True),
    ("alias-one-member-fails", {"field": f"{MC}/agentPoolProfiles[*].vmSize", "in": ["Standard_D4ds_v5"]}, {}, False),
    (
        "not-anyOf",
        {"not": {"anyOf": [{"field": "name", "like": "aks-*"}, {"field": "name", "equals": "x"}]}},
        {},
        False,
    ),
    ("concat-like", {"not": {"field": "name", "like": "[concat(parameters('p'), '*')]"}}, {"p": "aks-"}, False),
    ("value-condition", {"value": "[parameters('on')]", "equals": "yes"}, {"on": "yes"}, True),
    ("number-greater", {"field": f"{MC}/agentPoolProfiles[*].count", "greater": 1}, {}, True),
    ("unknown-alias", {"field": f"{MC}/securityProfile.workloadIdentity.enabled", "equals": "true"}, {}, None),
    ("count-expression", {"count": {"field": f"{MC}/agentPoolProfiles[*]"}, "greater": 0}, {}, None),
    ("match-operator", {"field": "name", "match": "aks-###"}, {}, None),
    ("unresolved-parameter", {"field": "location", "in": "[parameters('nope')]"}, {}, None),
    ("other-function", {"field": "location", "equals": "[resourceGroup().location]"}, {}, None),
]


@pytest.mark.parametrize(("rule", "params", "want"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_conditions(rule: dict[str, Any], params: dict[str, Any], want: bool | None) -> None:
    out = pe.evaluate_rule(rule, cluster(), params)
    assert out.matches is want, out.why
    if want is None:
        assert out.why.startswith("cannot evaluate")


def test_an_undecidable_branch_does_not_hide_a_decided_allOf() -> None:
    """allOf stops nowhere: an undecidable member makes the whole rule undecidable (never a guess)."""
    rule = {"allOf": [{"field": "type", "equals": MC}, {"field": f"{MC}/unknownThing", "equals": "x"}]}
    assert pe.evaluate_rule(rule, cluster(), {}).matches is None


def test_the_spec_naming_rule_with_its_parameters() -> None:
    d = body("policydefinition")["properties"]
    params = pe.parameter_values({"prefix": {"value": "aks-"}, "suffix": {"value": "-01"}}, d["parameters"])
    assert pe.evaluate_rule(d["policyRule"]["if"], cluster(), params).matches is False  # the name fits
    params = pe.parameter_values({"prefix": {"value": "k8s-"}, "suffix": {"value": "-01"}}, d["parameters"])
    out = pe.evaluate_rule(d["policyRule"]["if"], cluster(), params)
    assert out.matches is True and "k8s-*-01" in out.why
    assert pe.effect_of(d["policyRule"]["then"], params) == "deny"


def test_parameters_effect_and_set_references() -> None:
    declared = {"effect": {"type": "String", "defaultValue": "Audit"}, "sizes": {"type": "Array"}}
    assert pe.effect_of({"effect": "[parameters('effect')]"}, pe.parameter_values({}, declared)) == "Audit"
    set_values = pe.parameter_values({"allowed": {"value": ["a"]}}, {"allowed": {"type": "Array"}})
    inner = pe.parameter_values({"sizes": {"value": "[parameters('allowed')]"}}, declared, set_values)
    assert inner["sizes"] == ["a"] and inner["effect"] == "Audit"


def test_aliases_from_the_provider_listing_win() -> None:
    table = pe.alias_table(
        [
            {
                "namespace": "Microsoft.ContainerService",
                "resourceTypes": [
                    {
                        "resourceType": "managedClusters",
                        "aliases": [
                            {
                                "name": f"{MC}/securityProfile.workloadIdentity.enabled",
                                "paths": [{"path": "properties.securityProfile.workloadIdentity.enabled"}],
                            }
                        ],
                    }
                ],
            }
        ]
    )
    res = cluster(securityProfile={"workloadIdentity": {"enabled": True}})
    res = pe.Resource(res.id, res.type, res.body, table)
    out = pe.evaluate_rule({"field": f"{MC}/securityProfile.workloadIdentity.enabled", "equals": "true"}, res, {})
    assert out.matches is True
