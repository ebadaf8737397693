"""Classifier: real payloads from the fixture set and wrapped errors in every shape users paste."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.classify import classify_error, classify_text, parse_error_text
from shared.classify.cli import CONTRACT_KEYS, main_classify
from shared.models import OperationError

ERRORS = Path(__file__).resolve().parents[1] / "fixtures" / "errors"
CASES: list[dict[str, Any]] = json.loads((ERRORS / "wrapped_cases.json").read_text(encoding="utf-8"))["cases"]
# Expectations that differ from the shared fixture file (a literal code now wins, subcodes decide):
# every AgentBaker exit status now reports its own code (34 -> VMExtensionError_KubeletStartFail).


def _real(name: str) -> str:
    return (ERRORS / "real" / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_wrapped_case(case: dict[str, Any]) -> None:
    result = classify_text(case["text"])
    got = {"code": result.code, "subcategory": result.subcategory, "exit_status": result.exit_status,
           "transient": result.transient, "confidence": result.confidence,
           **result.facts.model_dump(exclude_defaults=True)}
    for key, want in case["expect"].items():
        assert got.get(key) == want, (key, result.matched_on)


def test_wrapped_table_covers_every_shape() -> None:
    shapes = {c["shape"] for c in CASES}
    assert {"arm-json", "activity-log-statusMessage", "deployment-nested", "az-cli-new", "az-cli-old",
            "powershell-az", "terraform-new", "terraform-old", "terraform-polling", "python-dict-repr",
            "truncated", "message-only", "azure-powershell"} <= shapes


# --- seed cases from the issue ----------------------------------------------------------------


def test_seed_capacity_heavy_usage_vnet_integration() -> None:
    case = next(c for c in CASES if c["id"] == "seed-capacity-arm-400")
    result = classify_text(case["text"])
    assert result.code == "AKSCapacityHeavyUsage"
    assert result.transient == "true"
    assert result.facts.region == "centralus"
    assert result.families[0] == "capacity"
    for words in ("retry later", "another region", "public vs private", "24 h"):
        assert words in result.guidance
    # the aka.ms link quoted in the message is passed on, after the catalog's own article
    assert result.docs[0].startswith("https://learn.microsoft.com/")
    assert "https://aka.ms/AksVnetIntegration" in result.docs


def test_seed_exit_51_timeout() -> None:
    case = next(c for c in CASES if c["id"] == "seed-51-timeout-arm")
    result = classify_text(case["text"])
    assert (result.code, result.subcategory, result.exit_status) == (
        "VMExtensionError_K8SAPIServerConnFail", "timeout", 51)
    assert result.transient == "false"
    assert result.families[0] == "api_server_connectivity"
    assert result.facts.fqdn is not None and result.facts.fqdn.endswith(".hcp.centralus.azmk8s.io")
    assert "VMExtensionProvisioningError" in result.wrapper_codes


def test_refused_runs_cluster_state_and_is_transient() -> None:
    case = next(c for c in CASES if c["id"] == "activitylog-51-refused")
    result = classify_text(case["text"])
    assert result.families[0] == "api_server_connectivity"
    assert result.subcategory == "refused"
    assert result.transient == "true"


def test_dns_subcategory_family() -> None:
    case = next(c for c in CASES if c["id"] == "az-old-52-servfail")
    result = classify_text(case["text"])
    assert result.families[0] == "dns"


# --- real payloads (tests/fixtures/errors/real, copied from shared/fixtures) ------------------


@pytest.mark.parametrize("name,code,exit_status", [
    ("AsyncOperation.status.failed.aks.constructed.json", "VMExtensionError_OutboundConnFail", None),
    ("ActivityLog.Administrative.aks-managedclusters-write-failed.constructed.json",
     "VMExtensionError_OutboundConnFail", None),
    ("AzureActivity.row.aks-managedclusters-write-failed.constructed.json", "VMExtensionError_OutboundConnFail", 50),
    ("ManagedCluster.get.failed-private-vnetintegration-udr.2025-05-01.constructed.json",
     "VMExtensionError_OutboundConnFail", None),
    ("DeploymentStatus.failed.aks-CreateVMSSAgentPoolFailed.real-partial.Azure-AKS-Construction-issue344.txt",
     "VMExtensionError_K8SAPIServerConnFail", None),
    ("ActivityLog.properties.statusMessage.aks-managedcluster-write-failed.real-Azure-AKS-issue168.json",
     "ControlPlaneProvisioningInternalError", None),
    ("OperationStatusResultList.2024-09-02-preview.spec-example.json", "ReconcileAgentPoolIdentityError", None),
    ("DeploymentOperation.failed.statusCode-integer.sdk-fixture.dotnet.json", "TooManyRequests", None),
    ("DeploymentOperation.failed.nested-details.docs-wvd-troubleshoot.json", "VMExtensionProvisioningError", None),
    ("DeploymentFailed.error.details-message-is-json-string.docs-wvd-troubleshoot.json",
     "VMExtensionProvisioningError", None),
])
def test_real_payload(name: str, code: str, exit_status: int | None) -> None:
    result = classify_text(_real(name))
    assert result.code == code, result.matched_on
    assert result.exit_status == exit_status


def test_truncated_real_capture_keeps_the_wrapper_chain() -> None:
    text = _real(
        "DeploymentStatus.failed.aks-CreateVMSSAgentPoolFailed.real-partial.Azure-AKS-Construction-issue344.txt")
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    tree = parse_error_text(body)
    codes = [n.code for n in tree.walk()]
    assert codes[:1] == ["DeploymentFailed"]
    assert "CreateVMSSAgentPoolFailed" in codes and "VMExtensionProvisioningError" in codes
    result = classify_text(body)
    assert result.code == "VMExtensionError_K8SAPIServerConnFail"
    assert {"DeploymentFailed", "CreateVMSSAgentPoolFailed"} <= set(result.wrapper_codes)


# --- classify_error on trees the pipeline builds ----------------------------------------------


def test_classify_error_walks_details_and_embedded_code_text() -> None:
    err = OperationError(
        code="ResourceOperationFailure", message="The resource operation completed with terminal provisioning state",
        details=(OperationError(code="CreateVMSSAgentPoolFailed", message=(
            'Details: Code="VMExtensionProvisioningError" Message="VM has reported a failure when processing '
            "extension 'vmssCSE'. Error message: Enable failed: failed to execute command: command terminated with "
            'exit status=52 ;; status: NXDOMAIN"')),),
    )
    result = classify_error(err)
    assert (result.code, result.subcategory, result.exit_status) == (
        "VMExtensionError_K8SAPIServerDNSLookupFail", "dns", 52)


def test_generic_code_with_specific_inner_code() -> None:
    err = OperationError(code="BadRequest", message="", details=(
        OperationError(code="SubnetIsDelegated", message="cannot be used as it's a delegated subnet"),))
    result = classify_error(err)
    assert result.code == "SubnetIsDelegated" and result.confidence == "high"
    assert result.wrapper_codes == ("BadRequest",)


def test_wrapper_alone_is_low_confidence() -> None:
    result = classify_error(OperationError(code="DeploymentFailed", message="At least one resource deployment failed."))
    assert result.confidence == "low"
    assert result.code == "DeploymentFailed"


def test_unknown_text_falls_back_low() -> None:
    result = classify_text("the thing broke")
    assert (result.code, result.entry_id, result.confidence, result.matched_on) == (
        "Unknown", "Unclassified", "low", "fallback")


def test_undocumented_exit_status_uses_agentbaker_table() -> None:
    result = classify_text("vmssCSE exit status=99, output=timeout waiting for apt-get update")
    assert result.code == "VMExtensionError_AptUpdateTimeout"
    assert result.entry_id == "VMExtensionProvisioningError"
    assert result.facts.cse_constant == "ERR_APT_UPDATE_TIMEOUT"
    assert result.matched_on == "exit_status:99"


def test_windows_exit_status_table() -> None:
    result = classify_text("CSE Error: WINDOWS_CSE_ERROR_DOWNLOAD_CNI_PACKAGE ExitCode: |35|")
    assert result.code == "VMExtensionError_CniDownloadTimeout"
    assert result.facts.os == "windows"


# --- facts --------------------------------------------------------------------------------------


def test_quota_facts() -> None:
    case = next(c for c in CASES if c["id"] == "deploymentfailed-3-levels-quota")
    facts = classify_text(case["text"]).facts
    assert facts.quota is not None and facts.quota.family == "standardDSv5Family"
    assert (facts.quota.limit, facts.quota.usage, facts.quota.requested, facts.quota.new_limit) == (10, 8, 8, 16)
    assert facts.region == "eastus"


def test_subnet_and_policy_facts() -> None:
    subnet = classify_text(next(c for c in CASES if c["id"] == "terraform-new-subnetisfull")["text"]).facts
    assert subnet.ids("subnet")[0].endswith("/virtualNetworks/vnet-hub/subnets/snet-aks")
    assert subnet.ips_requested == 36 and subnet.subnet_prefix == "10.240.0.0/24"
    policy = classify_text(next(c for c in CASES if c["id"] == "invalidtemplate-policy-az")["text"]).facts
    assert policy.ids("policy_assignment")[0] == (
        "/providers/Microsoft.Management/managementGroups/mg-corp/providers/Microsoft.Authorization/"
        "policyAssignments/deny-nsg")


def test_version_and_correlation_facts() -> None:
    facts = classify_text(next(c for c in CASES if c["id"] == "upgrade-skip-minor")["text"]).facts
    assert (facts.current_version, facts.requested_version) == ("1.27.9", "1.29.2")
    assert facts.correlation_id == "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert "1.28.5" in facts.kubernetes_versions


def test_versions_ignore_ip_addresses_and_tls() -> None:
    facts = classify_text("QuotaExceeded: node 10.1.28.3 uses TLS 1.2 and cannot upgrade from version 1.29.4").facts
    assert facts.kubernetes_versions == ("1.29.4",)


def test_identity_facts() -> None:
    msg = next(e for e in CASES if e["id"] == "linked-authz-terraform")["text"]
    facts = classify_text(msg).facts
    assert facts.principal_id == "11111111-1111-1111-1111-111111111111"
    # `actions` / `scopes` are what was refused (the linked scope), not what the caller was allowed to do.
    assert facts.actions == ("Microsoft.Network/ddosProtectionPlans/join/action",)
    assert "Microsoft.Network/virtualNetworks/write" not in facts.actions
    assert all("ddosProtectionPlans" in sc for sc in facts.scopes)


# --- CLI ----------------------------------------------------------------------------------------


def test_cli_json_contract() -> None:
    case = next(c for c in CASES if c["id"] == "seed-51-timeout-arm")
    out, code = main_classify(case["text"], as_json=True)
    data = json.loads(out)
    assert code == 0
    assert list(data)[: len(CONTRACT_KEYS)] == list(CONTRACT_KEYS)
    assert data["code"] == "VMExtensionError_K8SAPIServerConnFail" and data["subcategory"] == "timeout"
    assert data["docs"] and all(u.startswith("https://") for u in data["docs"])


def test_cli_human_and_empty() -> None:
    out, code = main_classify("Operation could not be completed as it results in exceeding approved "
                              "Total Regional Cores quota.", as_json=False)
    assert code == 0 and out.startswith("QuotaExceeded")
    assert "doc: https://learn.microsoft.com/" in out
    assert main_classify("   ", as_json=True)[1] == 2


def test_accuracy_on_wrapped_table_is_reported() -> None:
    """The whole table must pass (the per-case test says which one failed); this reports the figure."""
    hits = sum(classify_text(c["text"]).code == c["expect"]["code"] for c in CASES)
    assert hits == len(CASES), f"{hits}/{len(CASES)}"
