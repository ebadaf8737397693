"""firewall_tls_inspection over the FirewallPolicyGet spec example (Premium, transportSecurity) and
rule collection groups in the spec shape: a terminateTLS application rule planted before the
bypass, decoys (TLS rules for other FQDNs, a network-rule bypass, a child's bypass under a base
policy's inspection) that must not be blamed."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checks.firewall_tls_inspection import SPEC
from shared.models import CheckStatus
from tests.unit.checks.firewall_support import (
    BASE,
    IPG_NODES,
    POLICY,
    app_rule,
    net_rule,
    rcg,
    with_policy,
)
from tests.unit.checks.net_support import CLUSTER_ID, cluster, make_ctx, run, world

PUBLIC: dict[str, Any] = {"private": False, "vnet_integration": False}
API = "*.hcp.westeurope.azmk8s.io"
TAG = app_rule("aks", tags=["AzureKubernetesService"])


def premium(groups: list[dict[str, Any]], base: list[dict[str, Any]] | None = None, **kw: Any) -> dict[str, Any]:
    return with_policy(world(c=cluster(**(PUBLIC | kw))), groups, base, premium=True)


def tls_group(fqdns: list[str], priority: int = 100, policy: str = POLICY, **kw: Any) -> dict[str, Any]:
    return rcg(policy, "inspect", priority, [("inspect", 100, "Allow", [app_rule("inspect", fqdns, tls=True, **kw)])])


def tag_group(priority: int = 200, policy: str = POLICY) -> dict[str, Any]:
    return rcg(policy, "aks", priority, [("aks", 100, "Allow", [TAG])])


@pytest.mark.parametrize("fqdns", [[API], ["*.azmk8s.io"], ["*"]])
async def test_inspection_of_the_api_server_breaks_node_tls(fqdns: list[str]) -> None:
    r = await run(SPEC, make_ctx(premium([tls_group(fqdns), tag_group()]), subcategory="tls"))
    assert r.status is CheckStatus.FAIL and r.confidence == "confirmed", r.summary
    assert r.summary.startswith(f"Azure Firewall fw-hub terminates TLS for {API}")
    assert "instead of the cluster CA" in r.summary
    assert any(
        e.property == "properties.transportSecurity.certificateAuthority" and e.value == "clientcert"
        for e in r.evidence
    )
    assert any(e.property == "application rule inspect/inspect/inspect.terminateTLS" for e in r.evidence)
    assert (
        "--rule-type NetworkRule --rule-name apiserver-443 --ip-protocols TCP --source-addresses 10.224.0.0/16 "
        "--destination-addresses AzureCloud.westeurope --destination-ports 443"
    ) in (r.remediation or "")
    assert ("mcr.microsoft.com" in r.summary) is (fqdns == ["*"])


async def test_non_inspecting_allow_before_it_is_a_bypass() -> None:
    bypass = rcg(POLICY, "bypass", 100, [("api", 100, "Allow", [app_rule("api", [API])])])
    r = await run(SPEC, make_ctx(premium([bypass, tls_group(["*"], priority=300), tag_group(200)])))
    assert r.status is CheckStatus.PASS, r.summary


async def test_network_rule_bypasses_every_application_rule() -> None:
    net = rcg(POLICY, "net", 400, [("api", 100, "Allow", [net_rule("api", ["AzureCloud.westeurope"], ["443"])])])
    tls_for_others = tls_group(["*.contoso.com"])  # decoy: inspects other sites only
    r = await run(SPEC, make_ctx(premium([tls_group([API], priority=100), net, tag_group(), tls_for_others])))
    # the API server is decided by the network rule; the tag rule (no TLS) decides the rest
    assert r.status is CheckStatus.PASS, r.summary
    assert any(e.note and "without TLS inspection" in e.note for e in r.evidence)


async def test_decoy_tls_rule_for_other_fqdns_is_not_blamed() -> None:
    r = await run(SPEC, make_ctx(premium([tls_group(["*.contoso.com", "www.bing.com"]), tag_group()])))
    assert r.status is CheckStatus.PASS, r.summary


async def test_base_policy_inspection_wins_over_child_bypass() -> None:
    child = [rcg(POLICY, "bypass", 100, [("api", 100, "Allow", [app_rule("api", [API])])]), tag_group()]
    base = [tls_group(["*"], priority=65000, policy=BASE)]
    r = await run(SPEC, make_ctx(premium(child, base)))
    assert r.status is CheckStatus.FAIL and API in r.summary
    assert "--policy-name fwp-base" in (r.remediation or "")


async def test_private_api_server_not_via_firewall_only_the_egress_endpoints_count() -> None:
    res = with_policy(world(), [tls_group(["*"]), tag_group()], premium=True)
    r = await run(SPEC, make_ctx(res))
    assert r.status is CheckStatus.FAIL and API not in r.summary and "privatelink" not in r.summary
    assert "mcr.microsoft.com" in r.summary


async def test_custom_ca_trust_spares_the_egress_endpoints_not_the_api_server() -> None:
    res = premium([tls_group(["*"]), tag_group()])
    res[CLUSTER_ID]["properties"]["securityProfile"] = {"customCATrustCertificates": ["LS0tLS1CRUdJTi..."]}
    r = await run(SPEC, make_ctx(res))
    assert r.status is CheckStatus.FAIL and API in r.summary and "mcr.microsoft.com" not in r.summary
    assert any(e.property == "properties.securityProfile.customCATrustCertificates" for e in r.evidence)


async def test_unreadable_ip_group_on_the_inspecting_rule_is_likely() -> None:
    r = await run(SPEC, make_ctx(premium([tls_group(["*"], sources=[], ip_groups=[IPG_NODES]), tag_group()])))
    assert r.status is CheckStatus.FAIL and r.confidence == "likely", r.summary
    assert r.summary.startswith("likely: ") and "IP group ipg-aks-nodes could not be read" in (r.confirm_by or "")


async def test_no_inspecting_rule_is_not_applicable() -> None:
    r = await run(SPEC, make_ctx(with_policy(world(c=cluster(**PUBLIC)), [tag_group()])))
    assert r.status is CheckStatus.NOT_APPLICABLE, r.summary


def test_spec_declares_the_tls_subcategories() -> None:
    # a deny by an application rule also surfaces as a TLS reset (firewall_aks_fqdns: 100); a
    # certificate error is the interception's own signature
    assert SPEC.relevance_for("api_server_connectivity", "tls") == 95
    assert SPEC.relevance_for("api_server_connectivity", "certificate") == 100
    assert SPEC.relevance_for("api_server_connectivity", "timeout") == 30
