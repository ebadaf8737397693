"""Management group mode (infra/mg/): the DeployIfNotExists policy deploys in every subscription what
the subscription-list mode deploys (same event types, filter, retry, dead-lettering as
infra/app/eventgrid-subscription.bicep), its parameters are wired end to end, and the identities
get exactly the roles they need.

Policy and ARM template syntax cannot be evaluated here; the checks are structural, over the policy
JSON and the pycep AST of infra/mg/main.bicep, plus checkov (test_checkov.py scans infra/mg too).
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.infra.conftest import INFRA, body, dotted, resources_of_type, template

POLICY = json.loads((INFRA / "mg" / "policy" / "aks-triage-events.json").read_text())
PARAM = re.compile(r"parameters\('(\w+)'\)")


def details() -> dict[str, Any]:
    return POLICY["policyRule"]["then"]["details"]


def subscription_template() -> dict[str, Any]:
    return details()["deployment"]["properties"]["template"]


def nested() -> dict[str, Any]:
    (deployment,) = [r for r in subscription_template()["resources"] if r["type"] == "Microsoft.Resources/deployments"]
    return deployment


def group_template_resource(rtype: str) -> dict[str, Any]:
    (res,) = [r for r in nested()["properties"]["template"]["resources"] if r["type"] == rtype]
    return res


def literal(node: Any) -> Any:
    """A pycep literal (lists/dicts of literals) as plain JSON; pycep keeps strings as strings."""
    if isinstance(node, dict):
        return {k.strip("'"): literal(v) for k, v in node.items()}
    if isinstance(node, list):
        return [literal(v) for v in node]
    return node


def test_the_rule_targets_subscriptions_and_deploys_at_subscription_scope():
    rule = POLICY["policyRule"]
    assert rule["if"] == {"field": "type", "equals": "Microsoft.Resources/subscriptions"}
    assert rule["then"]["effect"] == "[parameters('effect')]"
    assert set(POLICY["parameters"]["effect"]["allowedValues"]) == {"DeployIfNotExists", "AuditIfNotExists",
                                                                     "Disabled"}
    d = details()
    assert d["type"] == "Microsoft.EventGrid/systemTopics" and d["deploymentScope"] == "Subscription"
    assert d["existenceScope"] == "ResourceGroup"
    assert d["resourceGroupName"] == "[parameters('topicResourceGroupName')]"
    assert d["name"] == "[parameters('topicName')]"
    assert subscription_template()["$schema"].endswith("subscriptionDeploymentTemplate.json#")
    group = [r for r in subscription_template()["resources"] if r["type"] == "Microsoft.Resources/resourceGroups"]
    assert group and group[0]["name"] == "[parameters('topicResourceGroupName')]"
    assert nested()["resourceGroup"] == "[parameters('topicResourceGroupName')]"
    assert nested()["properties"]["expressionEvaluationOptions"] == {"scope": "inner"}


def test_the_event_subscription_is_the_one_the_subscription_list_mode_deploys():
    bicep = body(template("app/eventgrid-subscription.bicep")["resources"]["eventSubscription"])["properties"]
    policy = group_template_resource("Microsoft.EventGrid/systemTopics/eventSubscriptions")["properties"]
    assert policy["filter"] == literal(bicep["filter"])
    assert policy["retryPolicy"] == literal(bicep["retryPolicy"])
    assert policy["eventDeliverySchema"] == bicep["eventDeliverySchema"]
    dest, bdest = policy["destination"], bicep["destination"]
    assert dest["endpointType"] == bdest["endpointType"] == "AzureFunction"
    for key in ("maxEventsPerBatch", "preferredBatchSizeInKilobytes"):
        assert dest["properties"][key] == bdest["properties"][key]
    assert dest["properties"]["resourceId"].endswith("'/functions/on_aks_event')]")
    dead = policy["deadLetterWithResourceIdentity"]
    assert dead["deadLetterDestination"]["endpointType"] == "StorageBlob"
    assert dead["identity"] == {"type": "UserAssigned", "userAssignedIdentity": "[parameters('topicIdentityId')]"}
    topic = group_template_resource("Microsoft.EventGrid/systemTopics")
    assert topic["properties"] == {"source": "[subscription().id]", "topicType": "Microsoft.Resources.Subscriptions"}
    assert topic["identity"]["userAssignedIdentities"] == {"[parameters('topicIdentityId')]": {}}


def test_parameters_are_wired_through_every_level():
    policy_params = set(POLICY["parameters"])
    passed = details()["deployment"]["properties"]["parameters"]
    sub_params = set(subscription_template()["parameters"])
    assert set(passed) == sub_params
    assert {PARAM.search(v["value"]).group(1) for v in passed.values()} <= policy_params
    inner = nested()["properties"]
    assert set(inner["parameters"]) == set(inner["template"]["parameters"])
    assert {PARAM.search(v["value"]).group(1) for v in inner["parameters"].values()} <= sub_params
    used_inner = set(PARAM.findall(json.dumps(inner["template"]["resources"])))
    assert used_inner == set(inner["template"]["parameters"]), "unused or undeclared inner parameters"
    # The assignment sets every policy parameter (and nothing else).
    assignment = body(template("mg/main.bicep")["resources"]["assignment"])["properties"]["parameters"]
    assert set(assignment) == policy_params
    assert dotted(assignment["topicIdentityId"]["value"]) == "topicIdentity.outputs.id"


def test_remediation_identity_gets_exactly_the_roles_the_policy_names():
    tpl = template("mg/main.bicep")
    role_ids = literal(tpl["variables"]["remediationRoleIds"]["value"])
    assert all(r.startswith("/providers/Microsoft.Authorization/roleDefinitions/${") for r in role_ids)
    named = {r.rsplit("${", 1)[1].rstrip("}") for r in role_ids}
    assert named == {"roles.EventGridContributor", "roles.MonitoringContributor", "roles.ManagedIdentityOperator",
                     "remediationRole.name"}
    # The definition takes its roleDefinitionIds from that list (the JSON file leaves it empty).
    assert details()["roleDefinitionIds"] == []
    assert "roleDefinitionIds: remediationRoleIds" in (INFRA / "mg" / "main.bicep").read_text()
    assigned = {}
    for name, ra in resources_of_type(tpl, "Microsoft.Authorization/roleAssignments").items():
        props = body(ra)["properties"]
        principal = dotted(props["principalId"])
        ref = props["roleDefinitionId"]
        role = dotted(ref) if dotted(ref) else dotted(ref["function"]["parameters"]["resource_name_1"])
        assigned[name] = (principal, role)
    assert assigned["appReader"] == ("appPrincipalId", "roles.Reader")
    remediator = {role for principal, role in assigned.values() if principal == "assignment.identity.principalId"}
    assert remediator == {"roles.EventGridContributor", "roles.MonitoringContributor", "remediationRole.id"}
    operator = body(tpl["modules"]["identityOperator"])["params"]
    assert dotted(operator["principalId"]) == "assignment.identity.principalId"
    assert dotted(operator["identityName"]) == "topicIdentity.outputs.name"


def test_the_custom_remediation_role_only_creates_groups_and_deployments():
    tpl = template("mg/main.bicep")
    (role,) = resources_of_type(tpl, "Microsoft.Authorization/roleDefinitions").values()
    (perms,) = body(role)["properties"]["permissions"]
    assert sorted(perms["actions"]) == ["Microsoft.Resources/deployments/*",
                                        "Microsoft.Resources/subscriptions/resourceGroups/read",
                                        "Microsoft.Resources/subscriptions/resourceGroups/write"]
    assert perms["dataActions"] == [] and not any(a == "*" for a in perms["actions"])


def test_remediation_runs_after_the_roles_and_the_identity_is_shared():
    tpl = template("mg/main.bicep")
    remediation = tpl["resources"]["remediation"]
    assert remediation["config"]["condition"] == "createRemediation"
    config = body(remediation)
    assert set(config["dependsOn"]) == {"remediatorEventGrid", "remediatorMonitoring", "remediatorGroups",
                                         "identityOperator"}
    assert dotted(config["properties"]["policyAssignmentId"]) == "assignment.id"
    assert config["properties"]["resourceDiscoveryMode"] == "ReEvaluateCompliance"
    assert body(tpl["resources"]["assignment"])["identity"] == {"type": "SystemAssigned"}
    # The shared topic identity may write dead letters: deadletter-access with that identity's principal.
    identity_tpl = template("mg/topic-identity.bicep")
    access = identity_tpl["modules"]["deadLetterAccess"]
    assert access["detail"]["path"] == "../app/deadletter-access.bicep"
    (principal,) = body(access)["params"]["principalIds"]
    assert dotted(principal) == "identity.properties.principalId"
