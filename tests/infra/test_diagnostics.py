"""Diagnostic settings: every resource the app's path runs through sends its resource logs and metrics
to the findings workspace, with categories the resource type supports.

The categories per type are the ones Azure Monitor's "supported logs" reference lists (Microsoft.Web/
sites FunctionAppLogs; storage services StorageRead/Write/Delete; Key Vault the `audit` group; Event
Grid topics DeliveryFailures, custom topics also PublishFailures; data collection rules LogErrors);
a wrong name fails the deployment.
"""

from __future__ import annotations

import pytest

from tests.infra.conftest import body, dotted, template

SUPPORTED_LOGS = {
    "Microsoft.Web/sites": {"FunctionAppLogs"},
    "Microsoft.Storage/storageAccounts": set(),  # metrics only at the account
    "Microsoft.Storage/storageAccounts/queueServices": {"StorageRead", "StorageWrite", "StorageDelete"},
    "Microsoft.Storage/storageAccounts/tableServices": {"StorageRead", "StorageWrite", "StorageDelete"},
    "Microsoft.KeyVault/vaults": {"group:audit", "group:allLogs", "AuditEvent"},
    "Microsoft.EventGrid/systemTopics": {"DeliveryFailures"},
    "Microsoft.EventGrid/topics": {"PublishFailures", "DeliveryFailures"},
    "Microsoft.Insights/dataCollectionRules": {"LogErrors"},
}
SUPPORTED_METRICS = {
    "Microsoft.Storage/storageAccounts": {"Transaction"},
    "Microsoft.Storage/storageAccounts/queueServices": {"Transaction"},
    "Microsoft.Storage/storageAccounts/tableServices": {"Transaction"},
}

# module file -> the resources in it that must have a diagnostic setting
EXPECTED = {
    "app/function.bicep": {"functionApp"},
    "app/storage.bicep": {"storage", "queueService", "tableService"},
    "app/keyvault.bicep": {"vault"},
    "app/eventgrid-topic.bicep": {"topic"},
    "app/aks-system-topic.bicep": {"topic"},
    "modules/findings_topic.bicep": {"topic"},
    "app/monitoring.bicep": {"dataCollectionRule"},
}
# main.bicep module -> file (the workspace each one is handed)
MAIN_MODULES = {
    "function": "app/function.bicep",
    "storage": "app/storage.bicep",
    "monitoring": "app/monitoring.bicep",
    "keyVault": "app/keyvault.bicep",
    "monitored": "app/monitored-subscription.bicep",
    "aksTopics": "app/aks-system-topic.bicep",
    "findingsTopic": "modules/findings_topic.bicep",
}


def diagnostic_settings(relative: str) -> dict[str, dict]:
    tpl = template(relative)
    return {k: body(v) for k, v in tpl["resources"].items() if v["type"] == "Microsoft.Insights/diagnosticSettings"}


@pytest.mark.parametrize("relative", sorted(EXPECTED))
def test_each_resource_on_the_path_has_a_setting_with_supported_categories(relative):
    tpl = template(relative)
    settings = diagnostic_settings(relative)
    scoped = {d["scope"]: d for d in settings.values()}
    assert set(scoped) == EXPECTED[relative], relative
    for target, setting in scoped.items():
        rtype = tpl["resources"][target]["type"]
        props = setting["properties"]
        assert props["workspaceId"] == "workspaceId", "must go to the workspace handed in"
        logs = {f"group:{e['categoryGroup']}" if "categoryGroup" in e else e["category"] for e in props.get("logs", [])}
        assert logs <= SUPPORTED_LOGS[rtype], (relative, target, logs)
        assert all(e["enabled"] is True for e in props.get("logs", []) + props.get("metrics", []))
        metrics = {e["category"] for e in props.get("metrics", [])}
        assert metrics and metrics <= SUPPORTED_METRICS.get(rtype, {"AllMetrics"}), (relative, target, metrics)
        assert logs or rtype == "Microsoft.Storage/storageAccounts", f"{relative}:{target} sends no logs"


def test_main_hands_every_module_the_findings_workspace():
    main = template("main.bicep")
    for module, relative in MAIN_MODULES.items():
        params = body(main["modules"][module])["params"]
        assert dotted(params["workspaceId"]) == "findingsTable.outputs.workspaceId", module
        assert "workspaceId" in template(relative)["parameters"], relative
    # The subscription module passes it on to the topic module.
    nested = body(template("app/monitored-subscription.bicep")["modules"]["topic"])["params"]
    assert nested["workspaceId"] == "workspaceId"


def test_the_standalone_cluster_topic_deploys_without_a_workspace():
    tpl = template("app/aks-system-topic.bicep")
    assert tpl["parameters"]["workspaceId"]["default"] == ""
    (entry,) = [v for v in tpl["resources"].values() if v["type"] == "Microsoft.Insights/diagnosticSettings"]
    condition = entry["config"]["condition"]
    assert condition["operator"]["type"] == "not"
