"""Inputs -> Plan: ARM template expressions, a `bicep build` output (languageVersion 2.0), the classic
list form with a module (nested deployment) and child resources, a `terraform show -json` plan, and
what is listed as unresolved instead of guessed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.preflight import armexpr, inputs
from shared.preflight.armexpr import Scope, Unresolved
from shared.preflight.inputs import PlanInputError, Where
from tests.preflight import worlds as w
from tests.preflight.support import FIXTURES, fixture, plan_of

WHERE = Where(subscription=w.SUB, resource_group=w.RG, resource_group_location="westeurope")


def scope(**params: Any) -> Scope:
    return Scope(subscription_id=w.SUB, resource_group=w.RG, resource_group_location="westeurope",
                 parameters=dict(params), raw_variables={"prefix": "[toUpper(parameters('env'))]",
                                                         "obj": {"a": {"b": ["x", "y"]}}})


@pytest.mark.parametrize(("expr", "want"), [
    ("[concat('aks-', parameters('env'), '-01')]", "aks-dev-01"),
    ("[format('{0}/subnets/{1}', 'v', 's')]", "v/subnets/s"),
    ("[format('{0:D3}', 7)]", "007"),
    ("[toLower('AbC')]", "abc"),
    ("[variables('prefix')]", "DEV"),
    ("[variables('obj').a.b[1]]", "y"),
    ("[variables('obj')['a']['b'][0]]", "x"),
    ("[resourceId('Microsoft.Network/virtualNetworks/subnets', 'v', 's')]",
     f"/subscriptions/{w.SUB}/resourceGroups/{w.RG}/providers/Microsoft.Network/virtualNetworks/v/subnets/s"),
    ("[resourceId('rg-other', 'Microsoft.Network/virtualNetworks', 'v')]",
     f"/subscriptions/{w.SUB}/resourceGroups/rg-other/providers/Microsoft.Network/virtualNetworks/v"),
    ("[resourceId('11111111-1111-1111-1111-111111111111', 'rg2', 'Microsoft.Network/virtualNetworks', 'v')]",
     "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg2/providers/Microsoft.Network/"
     "virtualNetworks/v"),
    ("[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'abc')]",
     f"/subscriptions/{w.SUB}/providers/Microsoft.Authorization/roleDefinitions/abc"),
    ("[subscription().subscriptionId]", w.SUB),
    ("[resourceGroup().location]", "westeurope"),
    ("[if(equals(parameters('env'), 'dev'), 1, div(1, 0))]", 1),  # lazy: the other branch is not evaluated
    ("[createObject('k', add(2, 3)).k]", 5),
    ("[length(split('a,b,c', ','))]", 3),
    ("[empty(createArray())]", True),
    ("[union(createObject('a', 1), createObject('b', 2))]", {"a": 1, "b": 2}),
    ("[string(true)]", "True"),
])
def test_expressions_evaluate_offline(expr: str, want: Any) -> None:
    assert armexpr.evaluate_value(expr, scope(env="dev")) == want


def test_escaped_brackets_and_plain_strings_are_literals() -> None:
    assert armexpr.evaluate_value("[[not an expression]", scope()) == "[not an expression]"
    assert armexpr.evaluate_value("just text", scope()) == "just text"


@pytest.mark.parametrize(("expr", "why"), [
    ("[uniqueString(resourceGroup().id)]", "uniqueString() needs the deployment"),
    ("[reference('x').outputs]", "reference() needs the deployment"),
    ("[concat('a', parameters('missing'))]", "parameters('missing') is not declared"),
    ("[concat('a', ]", "cannot parse"),
    ("[variables('obj').nope]", "property 'nope' not found"),
])
def test_what_cannot_be_computed_is_unresolved_with_the_reason(expr: str, why: str) -> None:
    value = armexpr.evaluate_value(expr, scope())
    assert isinstance(value, Unresolved) and why in value.reason


def test_bicep_build_output_with_a_parameters_file() -> None:
    doc = fixture("main.bicep.json")
    plan = plan_of(doc, parameters=fixture("main.parameters.json"), where=WHERE, file="main.bicep.json")
    assert plan.source == "arm_template" and plan.cluster_id == w.CLUSTER_ID
    body = plan.cluster_body
    assert body is not None and body["location"] == "westeurope"  # parameter default = resourceGroup().location
    props = body["properties"]
    assert props["kubernetesVersion"] == "1.27.9"  # the parameters file wins over the default
    assert props["dnsPrefix"] == "aks-pf-01-dns"
    pool = props["agentPoolProfiles"][0]
    assert pool["vnetSubnetID"] == w.NODE_SUBNET and pool["count"] == 3 and pool["availabilityZones"] == ["1", "2", "3"]
    assert props["apiServerAccessProfile"]["subnetId"] == w.API_SUBNET
    assert list(body["identity"]["userAssignedIdentities"]) == [w.UAI_ID]  # an expression as a property name
    assert [p["name"] for p in plan.pool_bodies] == ["user1"]
    unresolved = {u.path: u.reason for u in plan.unresolved}
    assert any(p.endswith("publicKeys[0].keyData") and "Key Vault" in r for p, r in unresolved.items())
    assert any(p.endswith("logAnalyticsWorkspaceResourceID") and "reference()" in r for p, r in unresolved.items())
    assert any(p.endswith("tags.costCenter") and "uniqueString()" in r for p, r in unresolved.items())
    assert "keyData" not in json.dumps(body)  # left out, not guessed
    text = (FIXTURES / "main.bicep.json").read_text(encoding="utf-8").splitlines()
    loc = plan.locations[w.CLUSTER_ID.lower()]
    assert text[loc.line - 1].strip() == '"aks": {'
    assert text[plan.locations[f"{w.CLUSTER_ID}/agentPools/user1".lower()].line - 1].strip() == '"userPool": {'


def test_defaults_apply_without_a_parameters_file_and_a_missing_value_is_listed() -> None:
    plan = plan_of(fixture("main.bicep.json"), where=WHERE)
    assert plan.cluster_body is not None
    assert plan.cluster_body["properties"]["kubernetesVersion"] == "1.30.5"
    assert any(u.path == "parameters.sshPublicKey" and "no value" in u.reason for u in plan.unresolved)


def test_without_the_deployment_scope_the_ids_cannot_be_built() -> None:
    with pytest.raises(PlanInputError, match="--subscription"):
        plan_of(fixture("main.bicep.json"))


CLASSIC: dict[str, Any] = {
    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
    "contentVersion": "1.0.0.0",
    "parameters": {"deployPool": {"type": "bool", "defaultValue": False}, "prefix": {"type": "string",
                                                                                    "defaultValue": "pf"}},
    "resources": [
        {"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2024-05-01", "name": "vnet-new",
         "location": "westeurope",
         "properties": {"addressSpace": {"addressPrefixes": ["10.60.0.0/16"]},
                        "subnets": [{"name": "snet-a", "properties": {"addressPrefix": "10.60.0.0/24"}}]},
         "resources": [{"type": "subnets", "apiVersion": "2024-05-01", "name": "snet-b",
                        "properties": {"addressPrefix": "10.60.1.0/28"}}]},
        {"condition": "[parameters('deployPool')]", "type": "Microsoft.ContainerService/managedClusters/agentPools",
         "apiVersion": "2025-05-01", "name": "aks-mod/skipped", "properties": {"count": 1}},
        {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "aks-module",
         "properties": {
             "expressionEvaluationOptions": {"scope": "inner"}, "mode": "Incremental",
             "parameters": {"name": {"value": "[format('aks-{0}', parameters('prefix'))]"}},
             "template": {
                 "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
                 "contentVersion": "1.0.0.0",
                 "parameters": {"name": {"type": "string"}, "count": {"type": "int", "defaultValue": 2}},
                 "resources": [
                     {"type": "Microsoft.ContainerService/managedClusters", "apiVersion": "2025-05-01",
                      "name": "[parameters('name')]", "location": "westeurope",
                      "properties": {"kubernetesVersion": "1.30.5", "agentPoolProfiles": [
                          {"name": "system", "mode": "System", "count": "[parameters('count')]",
                           "vmSize": "Standard_D4ds_v5",
                           "vnetSubnetID": "[resourceId('Microsoft.Network/virtualNetworks/subnets', 'vnet-new', "
                                           "'snet-b')]"}]},
                      "resources": [{"type": "agentPools", "apiVersion": "2025-05-01", "name": "user1",
                                     "properties": {"count": 5, "vmSize": "Standard_D4ds_v5"}}]},
                     {"copy": {"name": "pools", "count": 2},
                      "type": "Microsoft.ContainerService/managedClusters/agentPools", "apiVersion": "2025-05-01",
                      "name": "[format('{0}/p{1}', parameters('name'), copyIndex())]", "properties": {}}]}}},
    ],
}


def test_classic_template_with_a_module_child_resources_condition_and_copy() -> None:
    plan = plan_of(CLASSIC, where=WHERE)
    assert plan.cluster_id.endswith("/managedClusters/aks-pf")  # from the module's inner-scope parameter
    assert plan.cluster_body is not None
    assert plan.cluster_body["properties"]["agentPoolProfiles"][0]["count"] == 2
    assert [p["name"] for p in plan.pool_bodies] == ["user1"]  # child resource; the false condition is skipped
    snet_b = (f"/subscriptions/{w.SUB}/resourceGroups/{w.RG}/providers/Microsoft.Network/virtualNetworks/vnet-new/"
              "subnets/snet-b")
    assert plan.related_bodies[snet_b]["properties"]["addressPrefix"] == "10.60.1.0/28"
    assert any(k.endswith("/subnets/snet-a") for k in plan.related_bodies)  # inline subnet of the VNet
    assert any(u.path.endswith(".copy") and "copy loops" in u.reason for u in plan.unresolved)


def test_terraform_plan_maps_to_the_arm_body_and_finds_the_planned_subnet() -> None:
    doc = fixture("tfplan.json")
    plan = plan_of(doc, file="tfplan.json")
    assert plan.source == "terraform_plan" and plan.cluster_id == w.CLUSTER_ID  # subscription from the provider
    body = plan.cluster_body
    assert body is not None
    props = body["properties"]
    assert props["kubernetesVersion"] == "1.30.5"
    assert props["networkProfile"]["networkPluginMode"] == "overlay"
    assert props["apiServerAccessProfile"]["authorizedIPRanges"] == ["203.0.113.0/24", "10.42.0.0/22"]
    assert props["agentPoolProfiles"][0] | {"name": "system"} == props["agentPoolProfiles"][0]
    assert props["agentPoolProfiles"][0]["mode"] == "System" and props["agentPoolProfiles"][0]["count"] == 3
    assert body["identity"]["userAssignedIdentities"] == {w.UAI_ID: {}}
    (pool,) = plan.pool_bodies
    user_subnet = f"{w.VNET_ID}/subnets/snet-user"
    assert pool["name"] == "user1" and pool["properties"]["count"] == 30
    assert pool["properties"]["vnetSubnetID"] == user_subnet  # unknown until apply: followed through the module input
    assert plan.related_bodies[user_subnet]["properties"]["addressPrefix"] == "10.42.10.0/27"
    assert any(u.path == "module.aks.azurerm_kubernetes_cluster.this.kubelet_identity" for u in plan.unresolved)
    text = (FIXTURES / "tfplan.json").read_text(encoding="utf-8").splitlines()
    line = plan.locations[w.CLUSTER_ID.lower()].line
    assert '"address": "module.aks.azurerm_kubernetes_cluster.this"' in text[line - 1]


def test_terraform_plan_without_a_subscription_asks_for_one() -> None:
    doc = fixture("tfplan.json")
    doc["configuration"]["provider_config"]["azurerm"]["expressions"].pop("subscription_id")
    with pytest.raises(PlanInputError, match="--subscription"):
        plan_of(doc)
    assert plan_of(doc, where=Where(subscription=w.SUB)).cluster_id == w.CLUSTER_ID


@pytest.mark.parametrize(("doc", "message"), [
    ({"hello": "world"}, "cannot tell what the file is"),
    ([1, 2], "cannot tell what the file is"),
    ({"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
      "parameters": {}}, "this is a parameters file"),
    ({"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
      "contentVersion": "1.0.0.0", "resources": []}, "declares no Microsoft.ContainerService"),
    ({"type": "Microsoft.ContainerService/managedClusters", "properties": {"agentPoolProfiles": []}},
     "has no 'id'"),
])
def test_unusable_inputs_say_why(doc: Any, message: str) -> None:
    with pytest.raises(PlanInputError, match=message):
        inputs.load(doc, file="x.json", text=json.dumps(doc), where=WHERE if "deploymentTemplate" in json.dumps(doc)
                    else None)


def test_a_resource_body_and_an_agent_pool_body() -> None:
    plan = plan_of(w.planned_cluster())
    assert plan.source == "arm_resource" and plan.cluster_body is not None and plan.cluster_id == w.CLUSTER_ID
    pool = {"id": f"{w.CLUSTER_ID}/agentPools/gpu", "name": "gpu", "type": "Microsoft.ContainerService/"
            "managedClusters/agentPools", "properties": {"count": 2, "vmSize": "Standard_D4ds_v5"}}
    plan = plan_of(pool)
    assert plan.cluster_body is None and plan.cluster_id == w.CLUSTER_ID and plan.pool_bodies[0]["name"] == "gpu"


def test_az_aks_show_output_with_flattened_properties() -> None:
    """`az aks show -o json` prints the properties at the top level (and a resourceGroup key)."""
    body = w.planned_cluster()
    flat = {k: v for k, v in body.items() if k != "properties"} | body["properties"] | {"resourceGroup": w.RG}
    plan = plan_of(flat)
    assert plan.cluster_body is not None
    props = plan.cluster_body["properties"]
    assert props["kubernetesVersion"] == "1.30.5" and props["agentPoolProfiles"][0]["vnetSubnetID"] == w.NODE_SUBNET
    assert "resourceGroup" not in props
