"""Checks get ErrorFacts and ClusterView and nothing else: no guessed fact names, no error text.

A check reading `ctx.facts.<name>` where ErrorFacts has no such field would silently get nothing in
production while a hand-built test passes; this test reads every check module's AST instead.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from shared.classify import classify_error, classify_text
from shared.models import ErrorFacts, OperationError

CHECKS = sorted(p for p in (Path(__file__).resolve().parents[2] / "shared" / "checks").glob("*.py")
                if p.name not in {"__init__.py", "registry.py"})
FACT_NAMES = set(ErrorFacts.model_fields) | {"ids", "vm_size", "mentions"}


def _fact_reads(tree: ast.AST) -> list[str]:
    """Attribute names read off `<x>.facts` (ctx.facts.region, ctx.classification.facts.quota ...)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and node.value.attr == "facts":
            out.append(node.attr)
    return out


@pytest.mark.parametrize("path", CHECKS, ids=lambda p: p.stem)
def test_check_reads_only_facts_the_classifier_has(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    unknown = sorted(set(_fact_reads(tree)) - FACT_NAMES)
    assert not unknown, f"{path.name} reads facts ErrorFacts does not have: {unknown}"


@pytest.mark.parametrize("path", CHECKS, ids=lambda p: p.stem)
def test_check_does_not_reparse_error_text(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in {"quota_from_message", "features_from_text",
                                                             "namespaces_from_text", "policy_assignment_ids",
                                                             "denied_from_text"}:
            raise AssertionError(f"{path.name} re-parses error text with {node.attr}")


# Each fact a check may read, and a documented error message that fills it: proves the classifier
# produces what checks consume (message shapes follow the Microsoft Learn error articles).
PRODUCED = [
    ("api_server_ip", "VMExtensionError_K8SAPIServerConnFail: vmssCSE exit status=51 curl: (28) Failed to connect "
                      "to 20.61.1.10 port 443: Connection timed out dial tcp 20.61.1.10:443: i/o timeout"),
    ("port", "dial tcp 10.1.0.4:443: connect: connection refused"),
    ("fqdn", "Failed to resolve aks-prod-1a2b3c4d.hcp.westeurope.azmk8s.io: Name or service not known"),
    ("region", "Operation could not be completed as it results in exceeding approved standardDSv3Family Cores "
               "quota. Additional details - Deployment Model: Resource Manager, Location: eastus, Current Limit: "
               "10, Current Usage: 8, Additional Required: 4, (Minimum) New Limit Required: 12."),
    ("quota", "Operation could not be completed as it results in exceeding approved standardDSv3Family Cores "
              "quota. Additional details - Deployment Model: Resource Manager, Location: eastus, Current Limit: "
              "10, Current Usage: 8, Additional Required: 4, (Minimum) New Limit Required: 12."),
    ("vm_sizes", "The requested VM size Standard_D4s_v5 is not available in the current region."),
    ("features", "Preview feature 'Microsoft.ContainerService/AKS-GitOps' is not registered; register the "
                 "feature 'Microsoft.ContainerService/AKS-GitOps' first."),
    ("provider_namespaces", "The subscription is not registered to use namespace 'Microsoft.ContainerService'."),
    ("resources", "Resource '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
                  "Microsoft.Network/virtualNetworks/vnet/subnets/aks' was disallowed by policy. Policy identifiers:"
                  " '[{\"policyAssignment\":{\"id\":\"/subscriptions/00000000-0000-0000-0000-000000000000/providers/"
                  "Microsoft.Authorization/policyAssignments/deny-public-ip\"}}]'."),
    ("principal_id", "The client 'x' with object id '11111111-1111-1111-1111-111111111111' does not have "
                     "authorization to perform action 'Microsoft.Network/virtualNetworks/subnets/join/action' over "
                     "scope '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
                     "Microsoft.Network/virtualNetworks/vnet/subnets/aks'."),
    ("actions", "The client 'x' with object id '11111111-1111-1111-1111-111111111111' does not have "
                "authorization to perform action 'Microsoft.Network/virtualNetworks/subnets/join/action' over "
                "scope '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg'."),
    ("scopes", "The client 'x' with object id '11111111-1111-1111-1111-111111111111' does not have "
               "authorization to perform action 'Microsoft.Network/virtualNetworks/subnets/join/action' over "
               "scope '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg'."),
    ("requested_version", "Version 1.25.6 is not supported in this region. Please use [az aks get-versions] "
                          "command to get the supported version list in this region."),
    ("kubernetes_versions", "Upgrading from version 1.27.9 to 1.29.2 is not allowed: skipping minor version."),
    ("current_version", "Upgrading from version 1.27.9 to 1.29.2 is not allowed: skipping minor version."),
    ("ips_requested", "Subnet aks with address prefix 10.240.0.0/28 does not have enough capacity for 36 IP "
                      "addresses."),
    ("subnet_prefix", "Subnet aks with address prefix 10.240.0.0/28 does not have enough capacity for 36 IP "
                      "addresses."),
    ("cidrs", "The specified service CIDR 10.0.0.0/16 overlaps with subnet 10.0.0.0/24."),
    ("exit_status", "VMExtensionProvisioningError: Enable failed: exit status=50"),
    ("cse_constant", "VMExtensionProvisioningError: Enable failed: exit status=50"),
    ("correlation_id", "Correlation ID: 0f8fad5b-d9cb-469f-a165-70867728950e"),
]


@pytest.mark.parametrize(("field", "message"), PRODUCED, ids=[f for f, _ in PRODUCED])
def test_classifier_produces_the_fact(field: str, message: str) -> None:
    facts = classify_text(message).facts
    assert getattr(facts, field) not in (None, (), ""), (field, facts.model_dump(exclude_defaults=True))


def test_arm_error_target_is_a_fact() -> None:
    err = OperationError(code="InvalidParameter", message="The value of parameter subnetId is invalid.",
                         target="properties.apiServerAccessProfile.subnetId")
    assert classify_error(err).facts.target == "properties.apiServerAccessProfile.subnetId"


def test_hostile_text_is_capped() -> None:
    ids = " ".join(f"/subscriptions/s/providers/Microsoft.Authorization/policyAssignments/p{i}" for i in range(4700))
    facts = classify_text("RequestDisallowedByPolicy: " + ids).facts
    assert len(facts.ids("policy_assignment")) <= 25
    assert "resources" in facts.capped
