"""Catalog self-test: the data file, its schema and the links between catalog, checks and classifier."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from shared.catalog import catalog_index, load_catalog
from shared.catalog.loader import CATALOG_PATH
from shared.catalog.schema import Catalog
from shared.classify import classify_error, classify_text
from shared.models import OperationError

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT.parent / "shared" / "reference" / "aks-error-catalog.json"

# The check ids agreed for this project (issue 3 brief).
AGREED_CHECK_IDS = frozenset({
    "cluster_state", "api_authorized_ranges", "nsg_apiserver_egress", "nsg_vnet_integration", "route_apiserver",
    "firewall_aks_fqdns", "private_endpoint_apiserver", "private_dns_zone_link", "vnet_custom_dns",
    "apiserver_subnet", "identity_subnet_permissions", "feature_registration", "provider_registration",
    "capacity_history", "node_subnet_capacity", "vcpu_quota", "public_ip_quota", "service_principal_credentials",
    "identity_role_assignments", "policy_denial", "node_resource_group", "kubernetes_version",
    "outbound_connectivity",
})


def _registered_check_ids() -> frozenset[str] | None:
    try:
        from shared.checks.registry import CHECK_IDS
    except ImportError:
        return None
    return frozenset(CHECK_IDS)


def _valid_check_ids() -> frozenset[str]:
    # TODO(lead): drop the AGREED fallback once shared.checks.registry registers every agreed check;
    # until then the registry holds only the checks already merged.
    registered = _registered_check_ids()
    if registered is not None and registered >= AGREED_CHECK_IDS:
        return registered
    return AGREED_CHECK_IDS


CATALOG = load_catalog()
ENTRIES = [e for e in CATALOG.entries if e.role != "fallback"]


def test_schema_valid_and_strict() -> None:
    raw = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
    Catalog.model_validate(raw)
    raw["entries"][0]["unexpected"] = 1
    with pytest.raises(ValueError, match="unexpected"):
        Catalog.model_validate(raw)


def test_ids_unique() -> None:
    ids = [e.id for e in CATALOG.entries]
    assert len(ids) == len(set(ids))


def test_codes_and_aliases_unique_across_entries() -> None:
    owner: dict[str, str] = {}
    for e in ENTRIES:
        for code in (e.code, *e.aliases, *e.variant_codes):
            prev = owner.setdefault(code.lower(), e.id)
            # OperationNotAllowed.* share their code on purpose; the message decides between them.
            shared_ok = code.lower() in CATALOG.generic_codes or code.lower() == "operationnotallowed"
            assert prev == e.id or shared_ok, f"{code} claimed by {prev} and {e.id}"


def test_covers_every_reference_entry() -> None:
    if not REFERENCE.exists():
        pytest.skip("reference catalog not available")
    ref = json.loads(REFERENCE.read_text(encoding="utf-8"))
    ours = {e.id for e in CATALOG.entries}
    missing = [r["id"] for r in ref["entries"] if r["id"] not in ours]
    assert not missing
    assert len(ENTRIES) >= ref["counts"]["catalog_entries"]


def test_every_reference_code_string_is_recognised() -> None:
    """116 code strings incl. aliases in the reference: each one resolves to some catalog rule."""
    if not REFERENCE.exists():
        pytest.skip("reference catalog not available")
    idx = catalog_index()
    ref = json.loads(REFERENCE.read_text(encoding="utf-8"))
    unknown = []
    for r in ref["entries"]:
        for raw in [r["code"], *r["aliases"]]:
            if not raw or raw.startswith("<"):
                continue
            code = re.sub(r"\s*\(.*\)\s*$", "", raw).strip()
            if not re.fullmatch(r"[A-Za-z0-9_]+", code):
                continue
            if not idx.known(code):
                unknown.append(code)
    assert not unknown


def test_documented_cse_exit_statuses_have_entries() -> None:
    idx = catalog_index()
    for status in (31, 41, 50, 51, 52, 65, 124, 211, 212):
        assert status in idx.linux_exit_entry, status
    assert idx.windows_exit_entry[5] == "WINDOWS_CSE_ERROR_CHECK_API_SERVER_CONNECTIVITY"
    assert idx.linux_exit_entry[50] == "VMExtensionError_OutboundConnFail"
    assert idx.linux_exit_entry[51] == "VMExtensionError_K8SAPIServerConnFail"
    assert idx.linux_exit_entry[52] == "VMExtensionError_K8SAPIServerDNSLookupFail"
    assert idx.linux_exit_entry[41] == "VMExtensionError_CniDownloadTimeout"


def test_full_agentbaker_tables_present() -> None:
    tables = CATALOG.cse_exit_statuses
    assert len(tables.linux) >= 100 and len(tables.windows) >= 70
    assert all(row.name and row.meaning for row in tables.linux)
    for row in (*tables.linux, *tables.windows):
        if row.entry_id is not None:
            assert row.entry_id in {e.id for e in CATALOG.entries}, row


def test_catalog_names_no_checks() -> None:
    """The catalog says what an error means; which checks run is the checks' own data."""
    raw = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
    for e in raw["entries"]:
        assert "checks" not in e, e["id"]
        assert all("checks" not in s for s in e.get("subcategories", ())), e["id"]
        assert all("checks" not in c for c in e.get("causes", ())), e["id"]


def test_every_family_the_catalog_uses_has_a_check_that_explains_it() -> None:
    from shared.checks.registry import REGISTRY
    from shared.models import Family

    explained = {f for spec in REGISTRY.values() for f in spec.families}
    # Families where the request itself, ARM limits or the platform are at fault: no ARM state explains them.
    nothing_to_check = {Family.VALIDATION, Family.PLATFORM, Family.THROTTLING}
    used = {f for e in CATALOG.entries for f in e.families}
    used |= {r.family for r in (*CATALOG.cse_exit_statuses.linux, *CATALOG.cse_exit_statuses.windows) if r.family}
    missing = sorted(used - explained - nothing_to_check)
    assert not missing, f"families no check explains: {missing}"


def test_cause_entries_have_families() -> None:
    for e in CATALOG.entries:
        if e.role == "cause" and e.id != "Unclassified":
            assert e.families, e.id


def test_doc_urls_https_learn_or_akams() -> None:
    for e in CATALOG.entries:
        assert e.docs or e.role == "wrapper", e.id
        for url in e.docs:
            assert re.match(r"https://(learn\.microsoft\.com|aka\.ms)/\S+$", url), (e.id, url)


def test_documented_entries_link_a_learn_article_first_party() -> None:
    for e in ENTRIES:
        assert any(u.startswith("https://learn.microsoft.com/") for u in e.docs), e.id


def test_every_entry_has_an_example_and_title() -> None:
    for e in ENTRIES:
        assert e.examples, e.id
        assert e.title and e.guidance, e.id


def test_subcategory_causes_exist() -> None:
    for e in CATALOG.entries:
        cause_ids = {c.id for c in e.causes}
        for s in e.subcategories:
            assert s.cause is None or s.cause in cause_ids, (e.id, s.id, s.cause)


def test_connectivity_subcategories_use_the_fixed_vocabulary() -> None:
    vocab = set(CATALOG.connectivity_subcategories)
    assert vocab == {"timeout", "refused", "no_route", "tls", "certificate", "dns", "none"}
    for eid in ("VMExtensionError_OutboundConnFail", "VMExtensionError_K8SAPIServerConnFail",
                "VMExtensionError_K8SAPIServerDNSLookupFail", "WINDOWS_CSE_ERROR_CHECK_API_SERVER_CONNECTIVITY"):
        e = CATALOG.entry(eid)
        assert e.default_subcategory == "none"
        assert {s.id for s in e.subcategories} <= vocab


def test_patterns_compile_and_have_weights() -> None:
    idx = catalog_index()
    assert idx.patterns
    for p in idx.patterns:
        assert p.parts and all(p.parts)
        assert 1 <= p.weight <= 3


@pytest.mark.parametrize("entry_id,index", [(e.id, i) for e in ENTRIES for i in range(len(e.examples))])
def test_example_classifies_to_its_own_rule(entry_id: str, index: int) -> None:
    example = CATALOG.entry(entry_id).examples[index]
    err = OperationError(code=example.code or "Unknown", message=example.message)
    assert classify_error(err).entry_id == entry_id
    if example.message_only:
        assert classify_text(example.message).entry_id == entry_id


def test_loader_is_cached() -> None:
    assert load_catalog() is load_catalog()
    assert catalog_index() is catalog_index()
