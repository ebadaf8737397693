"""ranking.rank: profile choice, ordering, determinism, and the three seed scenarios end to end
(events parsed by shared.events, ARM served from the scenario snapshots, network checks run)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.checklib.base import CheckContext, run_checks
from shared.checklib.ranking import PROFILES, profile_for, rank
from shared.checks.registry import REGISTRY
from shared.demo import scenarios
from shared.events import parse_events
from shared.local.snapshot import SnapshotArmReader
from shared.models import CheckResult, CheckStatus, Classification, FailedOperation, OperationError

NETWORK = ("cluster_state", "api_authorized_ranges", "nsg_apiserver_egress", "nsg_vnet_integration",
           "route_apiserver", "firewall_aks_fqdns", "private_endpoint_apiserver", "private_dns_zone_link",
           "vnet_custom_dns", "apiserver_subnet", "outbound_connectivity")
PLATFORM = ("capacity_history", "node_subnet_capacity", "vcpu_quota", "public_ip_quota", "identity_subnet_permissions",
            "feature_registration", "provider_registration", "service_principal_credentials",
            "identity_role_assignments", "policy_denial", "node_resource_group", "kubernetes_version")


def cls(code: str, sub: str | None = None, category: str = "unknown", checks: tuple[str, ...] = (),
        exit_status: int | None = None) -> Classification:
    return Classification(code=code, entry_id=code, category=category, subcategory=sub, checks=checks,
                          exit_status=exit_status)


def res(check_id: str, status: CheckStatus = CheckStatus.FAIL) -> CheckResult:
    return CheckResult(id=check_id, status=status, summary=f"{check_id} {status.value}")


ALL_FAIL = [res(i) for i in NETWORK + PLATFORM]
CONN = "VMExtensionError_K8SAPIServerConnFail"


@pytest.mark.parametrize(("c", "first"), [
    (cls(CONN, "timeout"), "api_authorized_ranges"),
    (cls(CONN, "no_route"), "private_endpoint_apiserver"),
    (cls(CONN, "no-route"), "private_endpoint_apiserver"),   # catalog cause id spelling
    (cls(CONN, "refused"), "cluster_state"),
    (cls(CONN, "dns"), "private_dns_zone_link"),
    (cls(CONN, "tls"), "firewall_aks_fqdns"),
    (cls(CONN, "certificate"), "firewall_aks_fqdns"),
    (cls(CONN, "none"), "api_authorized_ranges"),
    (cls(CONN, None), "api_authorized_ranges"),               # exit 51 without sub-category -> timeout
    (cls("VMExtensionError_K8SAPIServerDNSLookupFail", "refused"), "private_dns_zone_link"),  # DNS REFUSED
    (cls("VMExtensionError_OutboundConnFail", "blocked-egress"), "outbound_connectivity"),
    (cls("VMExtensionProvisioningError", None, exit_status=50), "outbound_connectivity"),
    (cls("AKSCapacityHeavyUsage", None, "capacity"), "capacity_history"),
    (cls("QuotaExceeded", None, "quota"), "vcpu_quota"),
    (cls("SubnetIsDelegated", None, "network-subnet"), "apiserver_subnet"),
    (cls("InvalidParameter", "network-invalid", "validation"), "apiserver_subnet"),
    (cls("RequestDisallowedByPolicy", None, "policy"), "policy_denial"),
    (cls("LinkedAuthorizationFailed", None, "authorization"), "identity_subnet_permissions"),
    (cls("MissingSubscriptionRegistration", None, "subscription",
         checks=("provider_registration", "feature_registration")), "provider_registration"),
    (cls("FooFeatureFlagNotEnabled", None, "subscription",
         checks=("feature_registration", "provider_registration")), "feature_registration"),
])
def test_first_root_cause_by_profile(c: Classification, first: str) -> None:
    ranked = rank(c, ALL_FAIL)
    assert ranked[0] == first
    assert sorted(ranked) == sorted(NETWORK + PLATFORM)  # every failing check kept, none invented


def test_only_failures_count() -> None:
    results = [res("api_authorized_ranges", CheckStatus.ERROR), res("nsg_apiserver_egress", CheckStatus.SKIPPED),
               res("route_apiserver", CheckStatus.NOT_APPLICABLE), res("cluster_state", CheckStatus.PASS),
               res("firewall_aks_fqdns")]
    assert rank(cls(CONN, "timeout"), results) == ("firewall_aks_fqdns",)
    assert rank(cls(CONN, "timeout"), []) == ()


def test_timeout_order_and_determinism() -> None:
    c = cls(CONN, "timeout")
    subset = [res(i) for i in ("cluster_state", "route_apiserver", "nsg_apiserver_egress", "api_authorized_ranges",
                               "firewall_aks_fqdns", "capacity_history")]
    expected = ("api_authorized_ranges", "nsg_apiserver_egress", "route_apiserver", "firewall_aks_fqdns",
                "cluster_state", "capacity_history")
    assert rank(c, subset) == expected
    assert rank(c, list(reversed(subset))) == expected


def test_catalog_order_breaks_ties_then_id() -> None:
    c = cls("Unknown", None, "unknown", checks=("vcpu_quota", "node_subnet_capacity"))
    assert profile_for(c) == "general"
    assert rank(c, [res("node_subnet_capacity"), res("vcpu_quota")]) == ("vcpu_quota", "node_subnet_capacity")
    c2 = cls("Unknown", None, "unknown")
    assert rank(c2, [res("zz_unknown_check"), res("aa_unknown_check")]) == ("aa_unknown_check", "zz_unknown_check")


def test_every_profile_names_registered_checks_only() -> None:
    known = set(NETWORK + PLATFORM)
    for name, profile in PROFILES.items():
        assert set(profile) <= known, name
    assert set(NETWORK) <= set(REGISTRY)


# --- the seed scenarios --------------------------------------------------------------------

SEED_CLASSIFICATION: dict[str, dict[str, Any]] = {
    # what the classifier is expected to return for each seed (code, sub-category, family)
    "capacity-heavy-usage": {"subcategory": None, "category": "capacity"},
    "apiserver-connfail-authorized-ranges": {"subcategory": "timeout", "category": "cse-network", "exit_status": 51},
    "vnet-integration-subnet-29": {"subcategory": "network-invalid", "category": "validation"},
}


def _scenario(folder: Path) -> tuple[FailedOperation, OperationError, dict[str, Any], SnapshotArmReader]:
    event = json.loads((folder / "event.json").read_text(encoding="utf-8"))
    (op,) = parse_events(event)
    assert isinstance(op, FailedOperation)
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    reader = SnapshotArmReader.from_file(folder / "snapshot.json")
    return op, OperationError(code=expected["code"], source="cluster_status"), expected, reader


def test_the_three_seeds_are_bundled() -> None:
    assert [p.name for p in scenarios()] == sorted(SEED_CLASSIFICATION)


@pytest.mark.parametrize("folder", scenarios(), ids=lambda p: p.name)
async def test_seed_first_root_cause(folder: Path) -> None:
    op, error, expected, reader = _scenario(folder)
    # the Activity Log entry for the event's correlation id carries the error as a JSON string
    (entry,) = await reader.activity_log(op.subscription_id, correlation_id=op.correlation_id)
    status = json.loads(entry["properties"]["statusMessage"])
    body = await reader.get(op.cluster_id, "2025-05-01")
    perr = body["properties"]["status"]["provisioningError"]
    inner = [status["error"], *status["error"].get("details", [])]
    assert any(e["code"] == perr["code"] and e["message"] == perr["message"] for e in inner)
    c = Classification(code=expected["code"], entry_id=expected["code"], checks=NETWORK,
                       **SEED_CLASSIFICATION[folder.name])
    ctx = CheckContext(operation=op, error=error, classification=c, arm=reader, now=datetime.now(UTC))
    results = list(await run_checks([REGISTRY[i] for i in NETWORK], ctx))
    by_id = {r.id: r for r in results}
    assert not [r for r in results if r.status is CheckStatus.ERROR], [r.summary for r in results]
    if expected["first_root_cause"] in by_id:
        assert by_id[expected["first_root_cause"]].status is CheckStatus.FAIL
        assert by_id[expected["first_root_cause"]].remediation
    else:  # a platform check (capacity_history): our network checks must not claim a cause
        assert not [r.id for r in results if r.status is CheckStatus.FAIL]
        results.append(res(expected["first_root_cause"]))
    assert rank(c, results)[0] == expected["first_root_cause"]
