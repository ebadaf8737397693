"""Infrastructure vs. code: what can be proven about infra/ without a Bicep compiler.

Every .bicep file is parsed with pycep-parser, and the parsed templates are compared with the
code's sources of truth: shared/settings.py (app settings), shared/schema/findings_table.json
(DCR stream + table), shared/events.py (Event Grid filters) and the names the functions bind to.
"""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path

import pytest

from shared import events
from shared.models import Finding
from shared.settings import Settings
from tests.conftest import indexed_functions
from tests.infra.conftest import (
    INFRA,
    REPO,
    SCHEMA_FILE,
    accessor,
    bicep_files,
    body,
    dotted,
    functions_called,
    parse_bicep,
    project_loop,
    resources_of_type,
    template,
    variable_load,
)

# Settings fields that are deliberately NOT app settings in Azure.
NOT_APP_SETTINGS = {
    "home": "offline CLI data directory (XDG); meaningless on a Function App",
    "storage_connection_string": "Azurite / local only; in Azure the app uses its managed identity",
}
# Settings fields that are not in local.settings.json.sample.
NOT_IN_LOCAL_SAMPLE = {
    "home": NOT_APP_SETTINGS["home"],
    "findings_namespace_topic": "only with an Event Grid namespace endpoint; the sample's topic is a custom topic",
}
# Flex Consumption rejects these (runtime and version live in functionAppConfig); a key-based
# AzureWebJobsStorage would defeat allowSharedKeyAccess=false.
FORBIDDEN_APP_SETTINGS = {
    "FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING", "WEBSITE_CONTENTSHARE", "AzureWebJobsStorage",
}
HOST_APP_SETTINGS = {
    "AzureWebJobsStorage__credential", "AzureWebJobsStorage__clientId",
    "AzureWebJobsStorage__blobServiceUri", "AzureWebJobsStorage__queueServiceUri",
    "AzureWebJobsStorage__tableServiceUri", "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY",
    "AZURE_CLIENT_ID",
    "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS",
    "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL", "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED",
}
FORBIDDEN_ROLES = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
}
FUNCTION_ENDPOINT_SUFFIX = "/functions/on_aks_event"
DEAD_LETTER_CONTAINER = "eventgrid-deadletter"


def env_name(field: str) -> str:
    return f"AKS_TRIAGE_{field.upper()}"


def app_settings() -> dict[str, object]:
    app = resources_of_type(template("app/function.bicep"), "Microsoft.Web/sites")["functionApp"]
    entries = body(app)["properties"]["siteConfig"]["appSettings"]
    names = [e["name"] for e in entries]
    assert len(names) == len(set(names)), f"duplicate app settings: {names}"
    return {e["name"]: e["value"] for e in entries}


def module_params(tpl: dict, name: str) -> dict:
    return body(tpl["modules"][name]).get("params", {})


# --- every file parses, every reference resolves --------------------------------------------------


def test_infra_has_the_expected_templates():
    names = {p.relative_to(INFRA).as_posix() for p in bicep_files()}
    assert {"main.bicep", "app/function.bicep", "app/monitoring.bicep", "app/eventgrid-subscription.bicep",
            "app/aks-system-topic.bicep", "app/rbac.bicep", "app/alerts.bicep"} <= names


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.relative_to(INFRA).as_posix())
def test_bicep_file_parses(path: Path):
    tpl = parse_bicep(path)
    assert tpl.get("resources") or tpl.get("modules"), f"{path.name}: no resources or modules"


def test_a_truncated_template_does_not_parse(tmp_path):
    """The parser is a real gate: a broken file raises instead of yielding an empty AST."""
    from pycep import BicepParser

    text = (INFRA / "app" / "storage.bicep").read_text()
    broken = tmp_path / "broken.bicep"
    broken.write_text(text[: text.index("properties: {") + len("properties: {")])
    with pytest.raises(Exception, match="Unexpected"):
        BicepParser().parse(file_path=broken)


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.relative_to(INFRA).as_posix())
def test_loaded_files_exist(path: Path):
    tpl = parse_bicep(path)
    for fn in ("load_json_content", "load_text_content"):
        for call in functions_called(tpl, fn):
            target = (path.parent / call["file_path"]).resolve()
            assert target.is_file(), f"{path.name}: {fn}({call['file_path']!r}) -> {target} missing"
            if fn == "load_json_content":
                json.loads(target.read_text())


def _declared_params(path: Path) -> tuple[set[str], set[str]]:
    params = parse_bicep(path).get("parameters", {})
    required = {n for n, p in params.items() if p.get("default") is None and not p["type"].endswith("?")}
    return set(params), required


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.relative_to(INFRA).as_posix())
def test_module_calls_match_module_parameters(path: Path):
    """Each module call passes only declared parameters and every required one (what `bicep build` checks)."""
    for name, module in parse_bicep(path).get("modules", {}).items():
        target = (path.parent / module["detail"]["path"]).resolve()
        assert target.is_file(), f"{path.name}: module {name} -> {target} missing"
        declared, required = _declared_params(target)
        passed = set(body(module).get("params", {}))
        assert passed <= declared, f"{path.name}: module {name} passes unknown params {passed - declared}"
        assert required <= passed, f"{path.name}: module {name} misses required params {required - passed}"


def test_every_module_file_is_used():
    used = set()
    for path in bicep_files():
        for module in parse_bicep(path).get("modules", {}).values():
            used.add((path.parent / module["detail"]["path"]).resolve())
    orphans = [p.name for p in bicep_files() if p.name != "main.bicep" and p.resolve() not in used]
    assert not orphans, f"modules nobody deploys: {orphans}"


# --- main.bicep / azd contract ----------------------------------------------------------------------


def test_outputs_are_upper_snake_and_cover_what_the_hook_reads():
    outputs = template("main.bicep")["outputs"]
    bad = [o for o in outputs if not re.fullmatch(r"[A-Z][A-Z0-9_]*", o)]
    assert not bad, f"azd exports outputs as env vars; not UPPER_SNAKE: {bad}"
    hook_vars = set()
    for script in (INFRA / "scripts").iterdir():
        hook_vars |= set(re.findall(r"\b(AZURE_[A-Z_]+|EVENT_SUBSCRIPTIONS_DEPLOYED)\b", script.read_text()))
    assert hook_vars - {"AZURE_ENV_NAME"} <= set(outputs), hook_vars - set(outputs)


def test_parameters_file_matches_main_parameters():
    params = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    declared, required = _declared_params(INFRA / "main.bicep")
    assert set(params) <= declared, set(params) - declared
    assert required <= set(params), f"azd would prompt for {required - set(params)}"
    assert params["deployEventSubscriptions"]["value"] == "${DEPLOY_EVENT_SUBSCRIPTIONS=false}"


def test_azure_yaml_is_one_python_function_service_with_the_hook():
    import yaml

    doc = yaml.safe_load((REPO / "azure.yaml").read_text())
    (name, service), = doc["services"].items()
    assert service == {"project": ".", "language": "python", "host": "function"}
    tpl = template("main.bicep")
    assert tpl["variables"]["serviceName"]["value"] == name, "azd finds the app by its azd-service-name tag"
    function_tags = body(template("app/function.bicep")["resources"]["functionApp"])["tags"]
    assert "azd-service-name" in json.dumps(function_tags)
    for platform in ("posix", "windows"):
        script = REPO / doc["hooks"]["postdeploy"][platform]["run"]
        assert script.is_file(), script
        text = script.read_text()
        assert "DEPLOY_EVENT_SUBSCRIPTIONS true" in text and "azd provision --no-prompt" in text
        assert "on_aks_event" in text


def test_tags_carry_the_azd_env_name():
    tags = template("main.bicep")["variables"]["tags"]["value"]
    assert tags["'azd-env-name'"] == "environmentName"


# --- app settings == Settings ------------------------------------------------------------------------


def test_app_settings_are_the_settings_model_one_to_one():
    names = set(app_settings())
    expected = {env_name(f) for f in Settings.model_fields if f not in NOT_APP_SETTINGS}
    ours = {n for n in names if n.startswith("AKS_TRIAGE_")}
    assert ours == expected, f"missing: {sorted(expected - ours)}; unknown to Settings: {sorted(ours - expected)}"
    assert set(NOT_APP_SETTINGS) <= set(Settings.model_fields), "stale exclusion list"
    assert names - ours == HOST_APP_SETTINGS
    assert not names & FORBIDDEN_APP_SETTINGS


def test_literal_app_setting_values_are_valid_settings():
    literal = {
        name: value for name, value in app_settings().items()
        if name.startswith("AKS_TRIAGE_") and isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?", value)
    }
    assert len(literal) >= 9, literal  # the tunables
    fields = {env_name(f): f for f in Settings.model_fields}
    parsed = Settings.model_validate({fields[n]: v for n, v in literal.items()})
    for name, value in literal.items():
        assert float(getattr(parsed, fields[name])) == float(value)


def test_activity_log_source_choices_match_the_model():
    allowed = set(typing.get_args(Settings.model_fields["activity_log_source"].annotation))
    for relative in ("main.bicep", "app/function.bicep"):
        decorators = template(relative)["parameters"]["activityLogSource"]["decorators"]
        (choices,) = [d["argument"] for d in decorators if d["type"] == "allowed"]
        assert set(choices) == allowed, relative


def test_identity_based_storage_and_no_keys_anywhere():
    settings = app_settings()
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    storage = body(template("app/storage.bicep")["resources"]["storage"])["properties"]
    assert storage["allowSharedKeyAccess"] is False
    assert storage["allowBlobPublicAccess"] is False
    assert storage["minimumTlsVersion"] == "TLS1_2"
    for path in bicep_files():
        text = path.read_text()
        assert "listKeys" not in text and "AccountKey=" not in text, path.name


def test_flex_consumption_python_311_user_assigned_identity():
    tpl = template("app/function.bicep")
    plan = body(tpl["resources"]["plan"])
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    app = body(tpl["resources"]["functionApp"])
    assert app["kind"] == "functionapp,linux"
    assert app["identity"]["type"] == "UserAssigned"
    props = app["properties"]
    assert props["functionAppConfig"]["runtime"] == {"name": "python", "version": "3.11"}
    assert props["functionAppConfig"]["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"
    assert props["keyVaultReferenceIdentity"] == "identityId"
    assert props["httpsOnly"] is True
    assert props["siteConfig"]["minTlsVersion"] == "1.2"
    assert props["siteConfig"]["ftpsState"] == "Disabled"
    policies = resources_of_type(tpl, "Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    assert {body(p)["name"]: body(p)["properties"]["allow"] for p in policies.values()} == {"ftp": False, "scm": False}


def test_teams_url_is_a_key_vault_reference_from_a_secure_parameter():
    assert app_settings()["AKS_TRIAGE_TEAMS_WEBHOOK_URL"] == "teamsWebhookReference"
    main = template("main.bicep")
    assert dotted(module_params(main, "function")["teamsWebhookReference"]) == "keyVault.outputs.teamsWebhookReference"
    assert {"type": "secure"} in main["parameters"]["teamsWebhookUrl"]["decorators"]
    kv = template("app/keyvault.bicep")
    assert {"type": "secure"} in kv["parameters"]["teamsWebhookUrl"]["decorators"]
    reference = json.dumps(kv["outputs"]["teamsWebhookReference"])
    assert "@Microsoft.KeyVault(VaultName=${vault.name};SecretName=${teamsSecretName})" in reference
    vault = body(kv["resources"]["vault"])["properties"]
    assert vault["enableRbacAuthorization"] is True and vault["enableSoftDelete"] is True


def test_storage_names_are_the_ones_the_code_uses():
    tpl = template("app/storage.bicep")
    names = {k: tpl["variables"][k]["value"] for k in
             ("workQueueName", "poisonQueueName", "stateTableName", "deadLetterContainerName")}
    assert names["workQueueName"] == Settings.model_fields["work_queue"].default == "aks-triage-work"
    assert names["poisonQueueName"] == "${workQueueName}-poison"  # the Functions host's naming rule
    assert names["stateTableName"] == Settings.model_fields["state_table"].default == "akstriagestate"
    assert names["deadLetterContainerName"] == DEAD_LETTER_CONTAINER
    health = (INFRA / "queries" / "monitor-health.kql").read_text()
    assert f"{names['workQueueName']}-poison" in health


def test_function_app_registers_the_functions_infra_points_at():
    """Cross-check with function_app.py once it exists (the lead owns it)."""
    if not (REPO / "function_app.py").is_file():
        pytest.skip("function_app.py not written yet")

    functions = indexed_functions()
    assert {"on_aks_event", "on_work_item", "on_escalation_timer"} <= set(functions)
    queue_bindings = [b for b in functions["on_work_item"].get_bindings() if b.type == "queueTrigger"]
    assert [b.queue_name for b in queue_bindings] == ["aks-triage-work"]
    assert [b.type for b in functions["on_aks_event"].get_bindings() if "Trigger" in b.type] == ["eventGridTrigger"]


# --- findings table + DCR == shared/schema/findings_table.json --------------------------------------------


def _schema_var(relative: str) -> str:
    path = INFRA / relative
    loaded = (path.parent / variable_load(template(relative), "schema")).resolve()
    assert loaded == SCHEMA_FILE.resolve(), f"{relative} loads {loaded}, not the schema file"
    return "schema"


def test_dcr_stream_columns_are_the_schema_columns(findings_schema):
    tpl = template("app/monitoring.bicep")
    _schema_var("app/monitoring.bicep")
    dcr = body(tpl["resources"]["dataCollectionRule"])["properties"]
    (stream_key,) = dcr["streamDeclarations"]
    assert stream_key == "'${schema.stream}'"
    columns_var = dcr["streamDeclarations"][stream_key]["columns"]
    columns = project_loop(tpl["variables"][columns_var]["value"], findings_schema["columns"])
    assert columns == [{"name": c["name"], "type": c["type"]} for c in findings_schema["columns"]]
    (flow,) = dcr["dataFlows"]
    assert [accessor(s) for s in flow["streams"]] == [("schema", "stream")]
    assert flow["outputStream"] == "Custom-${findingsTableName}"
    assert flow["transformKql"] == "source"
    assert findings_schema["stream"] == f"Custom-{findings_schema['table']}"
    assert Settings.model_fields["dcr_stream"].default == findings_schema["stream"]
    assert accessor(tpl["outputs"]["stream"]["value"]) == ("schema", "stream")


def test_custom_table_columns_are_the_schema_columns(findings_schema):
    tpl = template("app/findings-table.bicep")
    _schema_var("app/findings-table.bicep")
    table = body(tpl["resources"]["findingsTable"])
    assert accessor(table["name"]) == ("schema", "table")
    table_schema = table["properties"]["schema"]
    assert accessor(table_schema["name"]) == ("schema", "table")
    assert project_loop(table_schema["columns"], findings_schema["columns"]) == findings_schema["columns"]
    names = [c["name"] for c in findings_schema["columns"]]
    assert names[0] == "TimeGenerated" and len(names) == len(set(names))
    # DCR stream and table column types share one vocabulary.
    assert {c["type"] for c in findings_schema["columns"]} <= {"string", "int", "long", "real", "boolean",
                                                               "datetime", "dynamic"}


def test_main_wires_the_table_into_the_dcr():
    main = template("main.bicep")
    assert dotted(module_params(main, "monitoring")["findingsTableName"]) == "findingsTable.outputs.tableName"
    wiring = {
        "AKS_TRIAGE_DCR_STREAM": ("dcrStream", "stream"),
        "AKS_TRIAGE_DCR_IMMUTABLE_ID": ("dcrImmutableId", "dataCollectionRuleImmutableId"),
        "AKS_TRIAGE_LOGS_INGESTION_ENDPOINT": ("logsIngestionEndpoint", "logsIngestionEndpoint"),
    }
    settings = app_settings()
    params = module_params(main, "function")
    for setting, (param, output) in wiring.items():
        assert settings[setting] == param
        assert dotted(params[param]) == f"monitoring.outputs.{output}", (param, params[param])


# --- Event Grid filters == intake ----------------------------------------------------------------------


def _event_subscription(relative: str) -> dict:
    tpl = template(relative)
    (sub,) = resources_of_type(tpl, "Microsoft.EventGrid/systemTopics/eventSubscriptions").values()
    return body(sub)["properties"]


def test_event_subscriptions_cover_exactly_the_accepted_event_types():
    subscription_types = _event_subscription("app/eventgrid-subscription.bicep")["filter"]["includedEventTypes"]
    aks_types = _event_subscription("app/aks-system-topic.bicep")["filter"]["includedEventTypes"]
    assert not set(subscription_types) & set(aks_types)
    assert sorted(subscription_types + aks_types) == sorted(events.ACCEPTED_EVENT_TYPES)
    # Each topic only gets the types its topic type can emit, and the intake handles every one.
    assert all(t.startswith("Microsoft.Resources.") for t in subscription_types)
    assert all(t.startswith("Microsoft.ContainerService.") for t in aks_types)
    handled = set(events.RESOURCE_FAILURE_TYPES) | set(events.AKS_SYSTEM_TYPES)
    assert {t.lower() for t in subscription_types + aks_types} == handled


def test_topic_types():
    topic_type = "Microsoft.EventGrid/systemTopics"
    (sub_topic,) = resources_of_type(template("app/eventgrid-topic.bicep"), topic_type).values()
    assert body(sub_topic)["properties"]["topicType"] == "Microsoft.Resources.Subscriptions"
    assert body(sub_topic)["location"] == "global"
    (aks_topic,) = resources_of_type(template("app/aks-system-topic.bicep"), topic_type).values()
    assert body(aks_topic)["properties"]["topicType"] == "Microsoft.ContainerService.ManagedClusters"
    for topic in (sub_topic, aks_topic):
        assert body(topic)["identity"] == {"type": "SystemAssigned"}  # dead-lettering without keys


def test_advanced_filter_is_the_accepted_operation_prefixes():
    filters = _event_subscription("app/eventgrid-subscription.bicep")["filter"]["advancedFilters"]
    (op_filter,) = [f for f in filters if f["key"] == "data.operationName"]
    assert op_filter["operatorType"] == "StringBeginsWith"
    assert sorted(op_filter["values"]) == sorted(events.ACCEPTED_OPERATION_PREFIXES)
    # Agent-pool operations pass the same prefix filter (Event Grid string filters ignore case).
    for op in ("Microsoft.ContainerService/managedClusters/write",
               "Microsoft.ContainerService/managedClusters/agentPools/write",
               "microsoft.containerservice/managedclusters/agentpools/upgradeNodeImageVersion/action"):
        assert any(op.lower().startswith(v.lower()) for v in op_filter["values"]), op
    assert not any("Microsoft.Storage/storageAccounts/write".lower().startswith(v.lower())
                   for v in op_filter["values"])


@pytest.mark.parametrize("relative", ["app/eventgrid-subscription.bicep", "app/aks-system-topic.bicep"])
def test_delivery_retry_and_dead_letter(relative):
    props = _event_subscription(relative)
    destination = props["destination"]
    assert destination["endpointType"] == "AzureFunction"
    assert destination["properties"]["resourceId"].endswith(FUNCTION_ENDPOINT_SUFFIX)
    assert props["retryPolicy"] == {"maxDeliveryAttempts": 30, "eventTimeToLiveInMinutes": 1440}
    dead_letter = props["deadLetterWithResourceIdentity"]
    assert dead_letter["identity"] == {"type": "SystemAssigned"}
    assert dead_letter["deadLetterDestination"]["endpointType"] == "StorageBlob"
    assert "deadLetterDestination" not in props  # the key-based variant


def test_event_subscriptions_wait_for_the_second_pass():
    main = template("main.bicep")
    for name, var in (("eventSubscriptions", "eventSubscriptionTargets"), ("aksTopics", "aksTopicTargets")):
        loop = main["modules"][name]["config"]["loop_type"]["detail"]
        assert loop["array_name"] == var
        cond = main["variables"][var]["value"]["operator"]
        assert cond["type"] == "conditional" and cond["operands"]["condition"] == "deployEventSubscriptions"
        assert cond["operands"]["false_value"] == []
    assert main["parameters"]["deployEventSubscriptions"]["default"] is False


# --- least privilege ---------------------------------------------------------------------------------------


def test_role_assignments_are_least_privilege():
    roles = json.loads((INFRA / "app" / "roles.json").read_text())
    role_ids = {k: v for k, v in roles.items() if not k.startswith("_")}
    assert not set(role_ids.values()) & set(FORBIDDEN_ROLES)
    used = set()
    for path in bicep_files():
        tpl = parse_bicep(path)
        for name, ra in resources_of_type(tpl, "Microsoft.Authorization/roleAssignments").items():
            props = body(ra)["properties"]
            assert props["principalType"] == "ServicePrincipal", (path.name, name)
            if dotted(props["roleDefinitionId"]) in CUSTOM_ROLE_REFERENCES.get(path.relative_to(INFRA).as_posix(), ()):
                continue  # custom roles defined next to the assignment, checked by their own tests
            call = props["roleDefinitionId"]["function"]
            # Built-ins by id: subscriptionResourceId below a subscription, tenantResourceId at a management group.
            assert call["type"] == ("tenant_resource_id" if tpl["globals"]["scope"]["value"] == "managementGroup"
                                    else "subscription_resource_id"), (path.name, name, call["type"])
            ref = call["parameters"]
            acc = accessor(ref["resource_name_1"])
            assert acc is not None and acc[0] == "roles", f"{path.name}:{name} role not from roles.json"
            assert acc[1] in role_ids, acc
            assert (path.parent / variable_load(tpl, "roles")).resolve() == (INFRA / "app" / "roles.json").resolve()
            used.add(acc[1])
        text = path.read_text().lower()
        for guid, role in FORBIDDEN_ROLES.items():
            assert guid not in text, f"{path.name} assigns {role}"
    assert used == set(role_ids), f"unused roles in roles.json: {set(role_ids) - used}"
    expected = {"Reader", "MonitoringMetricsPublisher", "StorageQueueDataContributor",
                "StorageTableDataContributor"}
    assert expected <= used


# Role assignments whose role is a custom role defined in the same file (not a built-in from roles.json).
CUSTOM_ROLE_REFERENCES = {"app/workspace-reader.bicep": ("queryOnly.id",), "mg/main.bicep": ("remediationRole.id",)}


def _assignments(relative: str) -> dict[str, dict]:
    return {k: body(v) for k, v in
            resources_of_type(template(relative), "Microsoft.Authorization/roleAssignments").items()}


def _existing(relative: str) -> dict[str, str]:
    return {k: v["type"] for k, v in template(relative)["resources"].items() if v["existing"]}


def test_queue_and_table_roles_are_scoped_to_the_queue_and_the_table():
    existing = _existing("app/rbac.bicep")
    by_role: dict[str, list[str]] = {}
    for ra in _assignments("app/rbac.bicep").values():
        role = accessor(ra["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"])
        by_role.setdefault(role[1], []).append(existing[ra["scope"]])
    assert by_role["StorageQueueDataContributor"] == ["Microsoft.Storage/storageAccounts/queueServices/queues"] * 2
    assert by_role["StorageTableDataContributor"] == ["Microsoft.Storage/storageAccounts/tableServices/tables"]
    params = module_params(template("main.bicep"), "rbac")
    assert dotted(params["workQueueName"]) == "storage.outputs.workQueueName"
    assert dotted(params["poisonQueueName"]) == "storage.outputs.poisonQueueName"
    assert dotted(params["stateTableName"]) == "storage.outputs.stateTableName"


def test_workspace_read_is_one_table_plus_a_query_only_role():
    relative = "app/workspace-reader.bicep"
    existing = _existing(relative)
    (role,) = resources_of_type(template(relative), "Microsoft.Authorization/roleDefinitions").values()
    props = body(role)["properties"]
    (perms,) = props["permissions"]
    assert sorted(perms["actions"]) == ["Microsoft.OperationalInsights/workspaces/query/read",
                                        "Microsoft.OperationalInsights/workspaces/read"]
    assert perms["dataActions"] == []
    assert "Microsoft.OperationalInsights/workspaces/sharedKeys/read" in perms["notActions"]
    assert props["assignableScopes"] == [{"operator": {"type": "property_accessor",
                                                       "operands": {"operand_1": "workspace", "operand_2": "id"}}}]
    scopes = {}
    for ra in _assignments(relative).values():
        scopes[dotted(ra["properties"]["roleDefinitionId"]) or "builtin"] = existing[ra["scope"]]
    assert scopes == {"queryOnly.id": "Microsoft.OperationalInsights/workspaces",
                      "builtin": "Microsoft.OperationalInsights/workspaces/tables"}
    main = template("main.bicep")
    assert dotted(module_params(main, "findingsReader")["tableName"]) == "findingsTable.outputs.tableName"
    assert module_params(main, "activityReader")["tableName"] == "AzureActivity"
    purposes = {module_params(main, m)["purpose"] for m in ("findingsReader", "activityReader")}
    assert len(purposes) == 2, "the two grants may share a workspace: their custom roles need distinct names"


def test_monitoring_and_alerts_follow_an_existing_workspaces_region():
    main = template("main.bicep")
    where = main["variables"]["monitoringLocation"]["value"]["operator"]["operands"]
    assert where["condition"] == "useExistingWorkspace" and where["false_value"] == "location"
    assert dotted(where["true_value"]) == "findingsTable.outputs.location"
    for module in ("monitoring", "alerts"):
        assert module_params(main, module)["location"] == "monitoringLocation", module
    outputs = template("app/findings-table.bicep")["outputs"]
    assert dotted(outputs["location"]["value"]) == "workspace.location"


def test_reader_is_granted_on_every_monitored_subscription():
    tpl = template("app/monitored-subscription.bicep")
    assert tpl["globals"]["scope"]["value"] == "subscription"
    (reader,) = resources_of_type(tpl, "Microsoft.Authorization/roleAssignments").values()
    assert accessor(body(reader)["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]) \
        == ("roles", "Reader")
    main = template("main.bicep")
    loop = main["modules"]["monitored"]["config"]["loop_type"]["detail"]
    assert loop["array_name"] == "subscriptionIds"
    assert body(main["modules"]["monitored"])["scope"]["function"]["type"] == "subscription"


# --- alert rules ---------------------------------------------------------------------------------------------


def test_alert_severity_map_covers_finding_severities():
    tpl = template("app/alerts.bicep")
    mapping = {m["finding"]: m["sev"] for m in tpl["variables"]["severityMap"]["value"]}
    finding_severities = typing.get_args(Finding.model_fields["severity"].annotation)
    assert set(mapping) == set(finding_severities) - {"info"}
    ordered = [mapping[s] for s in finding_severities if s in mapping]
    assert ordered == sorted(ordered) and all(0 <= v <= 4 for v in ordered)


def test_alert_rules_auto_mitigate_and_use_the_query_files():
    tpl = template("app/alerts.bicep")
    rules = resources_of_type(tpl, "Microsoft.Insights/scheduledQueryRules")
    assert set(rules) == {"findingsRules", "healthRule"}
    for rule in rules.values():
        props = body(rule)["properties"]
        assert props["autoMitigate"] is True
        (criterion,) = props["criteria"]["allOf"]
        replace = criterion["query"]["function"]
        assert replace["type"] == "replace"
        query_var, anchor_var = replace["parameters"]["original_string"], replace["parameters"]["old_string"]
        query_file = INFRA / "app" / variable_load(tpl, query_var, "load_text_content")
        anchor = tpl["variables"][anchor_var]["value"]
        assert query_file.read_text().count(anchor) == 1, f"{query_file.name}: anchor {anchor!r} must occur once"
    for path in (INFRA / "queries").glob("*.kql"):
        assert any(variable_load(tpl, v, "load_text_content").endswith(path.name)
                   for v, d in tpl["variables"].items()
                   if isinstance(d["value"], dict) and "function" in d["value"]
                   and d["value"]["function"]["type"] == "load_text_content"), f"{path.name} is not deployed"


def test_dead_letter_and_dropped_events_alert_per_topic():
    tpl = template("app/eventgrid-topic.bicep")
    metrics = set()
    for alert in resources_of_type(tpl, "Microsoft.Insights/metricAlerts").values():
        props = body(alert)["properties"]
        for criterion in props["criteria"]["allOf"]:
            assert criterion["metricNamespace"] == "Microsoft.EventGrid/systemTopics"
            assert criterion["operator"] == "GreaterThan" and criterion["threshold"] == 0
            metrics.add(criterion["metricName"])
            # Lost events page (severity 1); failed attempts that Event Grid retries only warn.
            assert props["severity"] == (3 if criterion["metricName"] == "DeliveryAttemptFailCount" else 1)
    assert metrics == {"DeadLetteredCount", "DroppedEventCount", "DeliveryAttemptFailCount"}


def test_new_workspace_has_local_auth_disabled():
    (ws,) = resources_of_type(template("app/workspace.bicep"), "Microsoft.OperationalInsights/workspaces").values()
    assert body(ws)["properties"]["features"]["disableLocalAuth"] is True


def test_action_group_has_email_and_optional_webhook():
    tpl = template("app/alerts.bicep")
    assert {"type": "secure"} in tpl["parameters"]["alertWebhookUrl"]["decorators"]
    props = body(tpl["resources"]["actionGroup"])["properties"]
    assert props["emailReceivers"] == "emailReceivers" and props["webhookReceivers"] == "webhookReceivers"
    webhook = tpl["variables"]["webhookReceivers"]["value"]["operator"]
    assert webhook["type"] == "conditional" and webhook["operands"]["true_value"] == []


# --- local.settings.json.sample --------------------------------------------------------------------------------


def test_local_settings_sample_lists_every_setting_with_valid_fake_values():
    values = json.loads((REPO / "local.settings.json.sample").read_text())["Values"]
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert values["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"
    ours = {k for k in values if k.startswith("AKS_TRIAGE_")}
    assert ours == {env_name(f) for f in Settings.model_fields if f not in NOT_IN_LOCAL_SAMPLE}
    assert set(values) - ours == {"FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsStorage"}
    fields = {env_name(f): f for f in Settings.model_fields}
    settings = Settings.model_validate({fields[k]: v for k, v in values.items() if k in ours})
    assert settings.dcr_stream == json.loads(SCHEMA_FILE.read_text())["stream"]
    for key in ("AKS_TRIAGE_TEAMS_WEBHOOK_URL", "AKS_TRIAGE_LOGS_INGESTION_ENDPOINT",
                "AKS_TRIAGE_FINDINGS_TOPIC_ENDPOINT"):
        host = values[key].split("/")[2]
        assert host.endswith((".invalid", ".example", "example-a1b2.westeurope-1.ingest.monitor.azure.com")), key


def test_rows_the_code_writes_have_exactly_the_stream_columns(findings_schema):
    """The code side of the one-schema rule: shared/render/rows.py builds rows from the same file."""
    from shared.render.rows import finding_to_row, table_schema
    from tests.factories import make_finding

    schema = table_schema()
    assert (schema.table, schema.stream) == (findings_schema["table"], findings_schema["stream"])
    assert [(c.name, c.type) for c in schema.columns] == [(c["name"], c["type"]) for c in findings_schema["columns"]]
    row = finding_to_row(make_finding(), alert_sent=False)
    assert list(row) == [c["name"] for c in findings_schema["columns"]]


# --- findings topic (CloudEvents) ------------------------------------------------------------------


def test_findings_topic_endpoint_reaches_the_settings_field_only_when_the_topic_is_deployed():
    assert app_settings()["AKS_TRIAGE_FINDINGS_TOPIC_ENDPOINT"] == "findingsTopicEndpoint"
    assert "findings_topic_endpoint" in Settings.model_fields
    wired = module_params(template("main.bicep"), "function")["findingsTopicEndpoint"]["operator"]
    assert wired["type"] == "conditional" and wired["operands"]["condition"] == "deployFindingsTopic"
    assert wired["operands"]["false_value"] == ""
    accessor = wired["operands"]["true_value"]["operator"]["operands"]
    assert accessor["operand_1"] == "findingsTopic"
    assert accessor["operand_2"]["operator"]["operands"] == {"operand_1": "outputs", "operand_2": "endpoint"}
    condition = template("main.bicep")["modules"]["findingsTopic"]["config"]["condition"]
    assert condition == "deployFindingsTopic"


def test_findings_topic_setting_must_be_https():
    assert Settings(findings_topic_endpoint="https://t.westeurope-1.eventgrid.azure.net/api/events")
    with pytest.raises(ValueError, match="https"):
        Settings(findings_topic_endpoint="http://t.westeurope-1.eventgrid.azure.net/api/events")
