"""ranking: selection and order from the specs' own data (families, relevance, targets), and the
three seed scenarios end to end (events parsed by shared.events, ARM served from the scenario
snapshots, the selected checks run). Classifications come from the catalog, as in production."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.catalog import catalog_index
from shared.checklib.base import CheckContext, run_checks
from shared.checklib.ranking import rank, select
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
    """The classification the catalog gives this code / sub-category / exit status (families included)."""
    idx = catalog_index()
    entry_id = idx.codes.get(code.lower(), (None,))[0] or idx.regex_entry(code) or idx.fallback_id
    if exit_status is not None and code == "VMExtensionProvisioningError":
        entry_id = idx.linux_exit_entry.get(exit_status, entry_id)
    entry = idx.by_id[entry_id]
    key = (sub or "").replace("-", "_")
    subcat = next((x for x in entry.subcategories if x.id.replace("-", "_") == key), None)
    row = idx.linux_exit.get(exit_status) if exit_status is not None else None
    return Classification(code=code, entry_id=entry_id, category=entry.category,
                          subcategory=sub or entry.default_subcategory,
                          exit_status=exit_status, families=idx.families_for(entry, subcat, row))


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
])
def test_first_root_cause_by_profile(c: Classification, first: str) -> None:
    ranked = rank(c, ALL_FAIL, REGISTRY)
    assert ranked[0] == first
    assert sorted(ranked) == sorted(NETWORK + PLATFORM)  # every failing check kept, none invented


def test_evidence_naming_what_the_error_names_ranks_first() -> None:
    from shared.classify import classify_text
    from shared.models import Evidence

    c = classify_text("The subscription is not registered to use namespace 'Microsoft.ContainerService'. "
                      "See https://aka.ms/rps-not-found for how to register subscriptions.")
    feature = res("feature_registration")
    provider = CheckResult(id="provider_registration", status=CheckStatus.FAIL, summary="not registered",
                           evidence=(Evidence(property="registrationState", value="Microsoft.ContainerService"),))
    assert rank(c, [feature, provider], REGISTRY)[0] == "provider_registration"
    from shared.checklib.ranking import score

    spec = REGISTRY["provider_registration"]
    likely = provider.model_copy(update={"confidence": "likely"})
    blocking = provider.model_copy(update={"blocks_request": True})
    assert score(spec, likely, c) < score(spec, provider, c) < score(spec, blocking, c)


def test_only_failures_count() -> None:
    results = [res("api_authorized_ranges", CheckStatus.ERROR), res("nsg_apiserver_egress", CheckStatus.SKIPPED),
               res("route_apiserver", CheckStatus.NOT_APPLICABLE), res("cluster_state", CheckStatus.PASS),
               res("firewall_aks_fqdns")]
    assert rank(cls(CONN, "timeout"), results, REGISTRY) == ("firewall_aks_fqdns",)
    assert rank(cls(CONN, "timeout"), [], REGISTRY) == ()


def test_timeout_order_and_determinism() -> None:
    c = cls(CONN, "timeout")
    subset = [res(i) for i in ("cluster_state", "route_apiserver", "nsg_apiserver_egress", "api_authorized_ranges",
                               "firewall_aks_fqdns", "capacity_history")]
    expected = ("api_authorized_ranges", "nsg_apiserver_egress", "route_apiserver", "firewall_aks_fqdns",
                "cluster_state", "capacity_history")
    assert rank(c, subset, REGISTRY) == expected
    assert rank(c, list(reversed(subset)), REGISTRY) == expected


def test_unknown_error_runs_every_check_and_orders_by_id_on_ties() -> None:
    c = cls("Unknown", None)
    assert {s.id for s in select(tuple(REGISTRY.values()), c)} == set(REGISTRY)
    assert rank(c, [res("zz_unknown_check"), res("aa_unknown_check")], REGISTRY) == (
        "aa_unknown_check", "zz_unknown_check")


def test_selection_by_family_and_by_error_target() -> None:
    specs = tuple(REGISTRY.values())
    egress = {s.id for s in select(specs, cls("VMExtensionError_OutboundConnFail"))}
    assert {"outbound_connectivity", "firewall_aks_fqdns", "nsg_apiserver_egress"} <= egress
    assert "vcpu_quota" not in egress
    subnet = {s.id for s in select(specs, cls("InsufficientSubnetSize"))}
    assert {"node_subnet_capacity", "apiserver_subnet"} <= subnet
    from shared.classify import classify_error
    named = classify_error(OperationError(code="InvalidParameter", target="properties.apiServerAccessProfile.subnetId",
                                          message="The value of parameter apiServerAccessProfile.subnetId is invalid."))
    assert "apiserver_subnet" in {s.id for s in select(specs, named)}


def test_every_spec_declares_what_it_explains() -> None:
    for spec in REGISTRY.values():
        assert spec.families, spec.id
        assert all(0 <= v <= 100 for v in spec.relevance.values()), spec.id
        for key in spec.relevance:
            assert key.split("/", 1)[0] in {str(f) for f in spec.families} | {"general"}, (spec.id, key)


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
    c = cls(expected["code"], SEED_CLASSIFICATION[folder.name]["subcategory"],
            exit_status=SEED_CLASSIFICATION[folder.name].get("exit_status"))
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
    assert rank(c, results, REGISTRY)[0] == expected["first_root_cause"]
