"""Classification rules, each on its own: literal codes win, subcodes, CSE exit statuses
(Linux and Windows tables, the exit-124 ambiguity, constant tables in traces), AADSTS, generic and
HTTP-status fallbacks, the CLI contract."""

from __future__ import annotations

import json

import pytest

from shared.catalog import catalog_index, load_catalog
from shared.classify import classify_text
from shared.classify.cli import main_classify

CATALOG = load_catalog()
IDX = catalog_index()


# --- a literal specific code wins -----------------------------------------------------------------

def test_literal_code_beats_a_message_that_another_entry_also_matches() -> None:
    text = ('Error: creating Managed Kubernetes Cluster "aks": containerservice.ManagedClustersClient#CreateOrUpdate: '
            'Failure sending request: StatusCode=400 -- Original Error: Code="AgentPoolK8sVersionNotSupported" '
            'Message="Version 1.18.19 is not supported in this region. Please use [az aks get-versions] command to '
            'get the supported version list in this region. For more information, please check '
            'https://aka.ms/supported-version-list"')
    result = classify_text(text)
    assert result.code == "AgentPoolK8sVersionNotSupported"
    assert result.matched_on == "code:AgentPoolK8sVersionNotSupported"


def test_codeless_version_message_is_the_agent_pool_version_code() -> None:
    result = classify_text("Version 1.18.19 is not supported in this region. Please use [az aks get-versions] command")
    assert result.code == "AgentPoolK8sVersionNotSupported"
    assert result.matched_on.startswith("message:")


def test_managed_cluster_on_unsupported_version_stays_the_upgrade_path_entry() -> None:
    result = classify_text("Managed cluster aks-prod is on version 1.24.9, which is not supported in this region.")
    assert result.entry_id == "OperationNotAllowed.UpgradePath"


def test_go_sdk_error_code_line() -> None:
    text = ("PATCH https://management.azure.com/subscriptions/x/resourceGroups/rg/providers/Microsoft.ContainerService/"
            "managedClusters/aks\n" + "-" * 80 + "\nRESPONSE 412: 412 Precondition Failed\nERROR CODE: EtagMismatch\n"
            + "-" * 80 + '\n{"error": {"code": "EtagMismatch", "message": "Operation is not allowed"}}\n')
    result = classify_text(text)
    assert (result.code, result.category) == ("EtagMismatch", "operation-conflict")


def test_unknown_literal_code_is_reported_with_the_meaning_of_the_matching_message() -> None:
    result = classify_text('Code="ManagedClusterRegionRestricted" '
                           'Message="Version 1.30 is not supported in this region"')
    assert result.code == "ManagedClusterRegionRestricted"
    assert result.entry_id == "AgentPoolK8sVersionNotSupported"
    assert result.confidence == "medium" and result.matched_on.startswith("unknown_code:ManagedClusterRegionRestricted")


def test_unknown_literal_code_without_any_message_match_is_low() -> None:
    result = classify_text('{"error": {"code": "SomethingNewFailed", "message": "the thing broke"}}')
    assert (result.code, result.entry_id, result.confidence) == ("SomethingNewFailed", "Unclassified", "low")


# --- subcodes ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    '{"error": {"code": "BadRequest", "subcode": "SubnetIsFull", "message": "x"}}',
    '{"error": {"code": "InvalidParameter", "message": "x", "innerError": {"code": "SubnetIsFull"}}}',
    "(BadRequest) x\nCode: BadRequest\nMessage: x\nException Details:\t(SubnetIsFull) x\n\tCode: SubnetIsFull",
    "Category: ClientError; SubCode: SubnetIsFull; Code=\"BadRequest\" Message=\"x\"",
])
def test_subcode_wins_over_the_wrapper_and_is_reported(text: str) -> None:
    result = classify_text(text)
    assert (result.code, result.subcode, result.facts.subcode) == ("SubnetIsFull", "SubnetIsFull", "SubnetIsFull")
    assert result.matched_on == "subcode:SubnetIsFull"


def test_generic_subcode_is_not_more_specific() -> None:
    result = classify_text('{"error": {"code": "SubnetIsFull", "subcode": "BadRequest", "message": "x"}}')
    assert result.code == "SubnetIsFull" and result.subcode is None


# --- CSE exit statuses --------------------------------------------------------------------------------

def _linux_expected(status: int) -> str:
    row = IDX.linux_exit[status]
    return CATALOG.entry(row.entry_id).code if row.entry_id else str(row.code)


LINUX = [r.status for r in CATALOG.cse_exit_statuses.linux if r.status not in (0, 124)]
WINDOWS = [r.status for r in CATALOG.cse_exit_statuses.windows if r.status != 0]


@pytest.mark.parametrize("status", LINUX)
def test_every_linux_exit_status_maps_to_its_code(status: int) -> None:
    text = ("VM has reported a failure when processing extension 'vmssCSE'. Error message: \"Enable failed: failed to "
            f"execute command: command terminated with exit status={status}\".")
    result = classify_text(text)
    assert (result.code, result.exit_status) == (_linux_expected(status), status), result.matched_on
    if IDX.linux_exit[status].entry_id is None:
        assert result.facts.cse_constant == IDX.linux_exit[status].name


@pytest.mark.parametrize("status", WINDOWS)
def test_every_windows_exit_status_maps_to_its_code(status: int) -> None:
    row = IDX.windows_exit[status]
    want = CATALOG.entry(row.entry_id).code if row.entry_id else row.code
    text = ("VM has reported a failure when processing extension 'vmssCSE' (publisher 'Microsoft.Compute' and type "
            "'CustomScriptExtension'). Error message: \"Command execution finished, but failed because it returned a "
            f"non-zero exit code of: '{status}'\". ExitCode: |{status}|")
    result = classify_text(text)
    assert (result.code, result.exit_status, result.facts.os) == (want, status, "windows"), result.matched_on


def test_issue_example_34_is_kubelet_start_fail() -> None:
    result = classify_text("command terminated with exit status=34")
    assert result.code == "VMExtensionError_KubeletStartFail"
    assert result.families[0] == "node_health"  # the exit status's own family comes first


def test_cse_code_name_alone_carries_its_exit_status() -> None:
    result = classify_text("(VMExtensionError_KubeletStartFail) CSE failed with 'VMExtensionError_KubeletStartFail'")
    assert (result.code, result.exit_status, result.facts.cse_constant) == (
        "VMExtensionError_KubeletStartFail", 34, "ERR_KUBELET_START_FAIL")


def test_constant_table_printed_in_a_trace_is_not_the_exit_status() -> None:
    trace = "\n".join(f"{r.name}={r.status}" for r in CATALOG.cse_exit_statuses.linux[:60])
    result = classify_text(trace + "\nEnable failed: command terminated with exit status=34")
    assert result.code == "VMExtensionError_KubeletStartFail"
    only_table = classify_text("cse_helpers.sh sourced:\nERR_OUTBOUND_CONN_FAIL=50\nERR_K8S_API_SERVER_CONN_FAIL=51\n")
    assert not only_table.code.startswith("VMExtensionError_")


def test_exit_124_with_a_retry_loop_is_the_provisioning_timeout_and_names_the_other_reading() -> None:
    text = ("Enable failed: command terminated with exit status=124 [stdout] + nslookup mcr.microsoft.com ;; "
            "connection timed out; no servers could be reached + sleep 1 (retrying)")
    result = classify_text(text)
    assert (result.code, result.entry_id, result.exit_status) == (
        "VMExtensionProvisioningError", "VMExtensionProvisioningTimeout", 124)
    assert "ambiguous_with:ERR_VHD_FILE_NOT_FOUND" in result.matched_on
    assert result.subcategory == "timeout" and result.confidence == "medium"


def test_exit_124_with_vhd_evidence_is_vhd_file_not_found_and_names_the_other_reading() -> None:
    text = ("Enable failed: command terminated with exit status=124 VHD log file not found: "
            "/opt/azure/vhd-install.complete")
    result = classify_text(text)
    assert result.code == "VMExtensionError_VHDFileNotFound"
    assert "ambiguous_with:timeout" in result.matched_on


def test_exit_124_without_evidence_is_a_low_confidence_timeout() -> None:
    result = classify_text("Enable failed: command terminated with exit status=124")
    assert (result.entry_id, result.confidence) == ("VMExtensionProvisioningTimeout", "low")


# --- AADSTS -------------------------------------------------------------------------------------------------

def test_aadsts7000222_alone_is_invalid_client_secret() -> None:
    result = classify_text("AADSTS7000222: The provided client secret keys for app 'x' are expired.")
    assert (result.code, result.category) == ("InvalidClientSecret", "identity")


@pytest.mark.parametrize("aadsts", ["AADSTS7000215", "AADSTS700016"])
def test_aks_code_wrapping_an_aadsts_code_is_kept(aadsts: str) -> None:
    text = ('{"error": {"code": "ServicePrincipalValidationClientError", "message": "' + aadsts
            + ': error validating the service principal"}}')
    assert classify_text(text).code == "ServicePrincipalValidationClientError"


# --- generic and HTTP-status fallbacks ----------------------------------------------------------------------

def test_generic_code_alone_gets_its_category_at_low_confidence() -> None:
    result = classify_text('{"error": {"code": "BadRequest", "message": "something nobody documented"}}')
    assert (result.code, result.entry_id, result.category, result.confidence) == (
        "BadRequest", "Generic.BadRequest", "validation", "low")
    assert result.families == ("validation",)


@pytest.mark.parametrize("text,code", [
    ("RESPONSE 409: 409 Conflict\nERROR CODE UNAVAILABLE\n{}", "Conflict"),
    ("Operation failed with status: 'Bad Request'. Details: nothing matches this", "BadRequest"),
    ("Failure sending request: StatusCode=500 -- Original Error: something", "InternalServerError"),
    ("Status code: 429 the server said slow down", "TooManyRequests"),
])
def test_http_status_alone_gives_the_generic_code(text: str, code: str) -> None:
    result = classify_text(text)
    assert (result.code, result.confidence) == (code, "low")
    assert result.matched_on == f"http_status:{code}"


def test_text_with_nothing_is_unknown() -> None:
    assert classify_text("it does not work").code == "Unknown"


def test_every_generic_code_has_a_category_other_than_unknown() -> None:
    for code, default in CATALOG.generic_codes.items():
        if default is not None:
            assert CATALOG.entry(default).category != "unknown", code


# --- CLI contract -------------------------------------------------------------------------------------------

def test_classify_json_reports_subcode_and_matched_on() -> None:
    out, rc = main_classify('{"error": {"code": "BadRequest", "subcode": "EtagMismatch", "message": "x"}}',
                            as_json=True)
    data = json.loads(out)
    assert rc == 0
    assert list(data)[:11] == ["code", "subcode", "category", "subcategory", "families", "transient", "exit_status",
                               "docs", "facts", "confidence", "matched_on"]
    assert (data["code"], data["subcode"]) == ("EtagMismatch", "EtagMismatch")
    assert data["matched_on"] == "subcode:EtagMismatch"
    plain, _ = main_classify("ERROR: (SubnetIsFull) Subnet is full", as_json=True)
    assert json.loads(plain)["subcode"] is None and json.loads(plain)["matched_on"] == "code:SubnetIsFull"


# --- catalog size and provenance ------------------------------------------------------------------------------

def test_catalog_knows_over_200_codes_each_with_meaning_and_source() -> None:
    codes = {c.lower() for e in CATALOG.entries if e.role != "fallback" for c in (e.code, *e.variant_codes)}
    codes |= {r.code.lower() for r in (*CATALOG.cse_exit_statuses.linux, *CATALOG.cse_exit_statuses.windows) if r.code}
    assert len(codes) > 200
    for e in CATALOG.entries:
        if e.role == "fallback":
            continue
        assert e.sources and e.category and e.docs, e.id
        assert e.families or e.role == "wrapper", e.id


# --- facts other checks asked for (requests-C/E/F) ------------------------------------------------------

def test_locked_scopes_are_resources() -> None:
    text = ('{"error": {"code": "ScopeLocked", "message": "The scope \'/subscriptions/0000/resourceGroups/rg-aks/'
            'providers/Microsoft.ContainerService/managedClusters/aks\' cannot perform write operation because '
            'following scope(s) are locked: \'/subscriptions/0000/resourceGroups/rg-aks\'. Please remove the lock."}}')
    result = classify_text(text)
    assert result.code == "ScopeLocked"
    assert result.facts.ids("resource_group") == ("/subscriptions/0000/resourceGroups/rg-aks",)


def test_node_pool_and_control_plane_versions() -> None:
    result = classify_text("Node pool version 1.31.1 and control plane version 1.30.5 are incompatible. Minor version "
                           "of node pool version 31 is bigger than control plane version 30.")
    assert result.code == "NodePoolMcVersionIncompatible"
    assert (result.facts.requested_pool_version, result.facts.current_version) == ("1.31.1", "1.30.5")


def test_an_egress_host_address_is_not_the_api_server() -> None:
    egress = classify_text("Failed to connect to mcr.microsoft.com port 443: dial tcp 20.61.99.200:443: i/o timeout "
                           "exit status=50")
    assert egress.facts.api_server_ip is None and egress.facts.fqdns == ("mcr.microsoft.com",)
    api = classify_text("exit status=51 could not reach API server at 10.0.0.4 aks-x.hcp.eastus.azmk8s.io")
    assert api.facts.api_server_ip == "10.0.0.4"
    # The article's message ends with doc links: a doc host is not where the connection went.
    linked = classify_text("Node 10.224.0.5 could not reach API server at 20.50.12.34:443. Connection timed out. "
                           "For more detailed troubleshooting, see https://aka.ms/aks/vmextensionerror_k8sapiserverconnfail")
    assert (linked.facts.api_server_ip, linked.facts.node_ip) == ("20.50.12.34", "10.224.0.5")


@pytest.mark.parametrize("code,entry", [("ResourceGroupLocked", "ResourceLocked"),
                                        ("SubscriptionLocked", "ResourceLocked"),
                                        ("InvalidDnsServiceIP", "DnsServiceIpOutOfServiceCidr"),
                                        ("CustomRouteTableMissingPermission", "CustomRouteTableMissingPermission"),
                                        ("NetworkProfileCIDROverlapVNET", "NetworkProfileCIDROverlapVNET")])
def test_requested_codes_are_known_and_reported_as_written(code: str, entry: str) -> None:
    result = classify_text(f'{{"error": {{"code": "{code}", "message": "x"}}}}')
    assert (result.code, result.entry_id) == (code, entry)
    assert result.families


def test_aadsts700016_is_captured() -> None:
    result = classify_text("AADSTS700016: Application with identifier 'x' was not found in the directory 'y'.")
    assert "AADSTS700016" in result.facts.codes
    assert result.code == "ServicePrincipalValidationClientError"


@pytest.mark.parametrize("text,code,matched", [
    ("The resource operation completed with terminal provisioning state 'Failed'.", "ResourceDeploymentFailure",
     "wrapper_message:ResourceDeploymentFailure"),
    ("VM has reported a failure when processing extension 'vmssCSE'. Error message: unknown",
     "VMExtensionProvisioningError", "wrapper_message:VMExtensionProvisioningError"),
    ("New-AzAksCluster : Operation returned an invalid status code 'BadRequest'", "BadRequest",
     "http_status:BadRequest"),
])
def test_container_text_or_sdk_status_alone_is_not_unknown(text: str, code: str, matched: str) -> None:
    result = classify_text(text)
    assert (result.code, result.confidence, result.matched_on) == (code, "low", matched)


def test_error_colon_code_colon_layout() -> None:
    result = classify_text("Error: ProvisioningFailed: the cluster failed to provision")
    assert (result.code, result.matched_on) == ("ProvisioningFailed", "unknown_code:ProvisioningFailed")


def test_k8s_api_server_article_message_gives_node_and_api_server_ips_and_sub_category() -> None:
    timeout = classify_text("exit status=51 Node 10.224.0.5 could not reach API server at 20.50.12.34:443. "
                            "Connection timed out.")
    assert (timeout.facts.node_ip, timeout.facts.api_server_ip, timeout.subcategory) == (
        "10.224.0.5", "20.50.12.34", "timeout")
    no_route = classify_text("exit status=51 Node 10.224.0.5 could not reach API server at 20.50.12.34:443. "
                             "No route to host")
    assert no_route.subcategory == "no_route"


def test_linked_authorization_facts_are_the_refused_action_and_scope() -> None:
    msg = ("The client 'x' with object id 'y' has permission to perform action 'Microsoft.ContainerService/"
           "managedClusters/write' on scope '/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/"
           "managedClusters/aks-prod-01'; however, it doesn't have permission to perform action 'Microsoft.Network/"
           "virtualNetworks/subnets/join/action' on the linked scope(s) '/subscriptions/s/resourceGroups/net/providers/"
           "Microsoft.Network/virtualNetworks/v/subnets/s1' or the linked scope(s) are invalid.")
    facts = classify_text(json.dumps({"error": {"code": "LinkedAuthorizationFailed", "message": msg}})).facts
    assert facts.actions == ("Microsoft.Network/virtualNetworks/subnets/join/action",)
    subnet = "/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v/subnets/s1"
    assert facts.scopes == (subnet,)


def test_public_ip_count_limit_quota_facts() -> None:
    result = classify_text("Cannot create more than 60 public IP addresses for this subscription in this region.")
    assert result.code == "PublicIPCountLimitReached"
    assert result.facts.quota is not None
    assert (result.facts.quota.limit, result.facts.quota.family) == (60, "PublicIPAddresses")


def test_operator_condition_reason_that_is_a_catalog_code_counts() -> None:
    text = ("status:\n  conditions:\n  - message: 'the resource could not be created, see the reason'\n"
            "    reason: SubnetIsFull\n    status: \"False\"\n    type: Ready\n")
    assert classify_text(text).code == "SubnetIsFull"
    own_state = classify_text("  - message: 'create failed'\n    reason: ReconcileError\n    type: Synced\n")
    assert own_state.code != "ReconcileError"
