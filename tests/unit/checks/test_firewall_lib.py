"""shared.checklib.firewall, the pure evaluator: processing order, DNAT, FQDN patterns, service tags,
policy settings along the basePolicy chain, on the spec-example bodies."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from shared.checklib import firewall as fw
from tests.unit.checks.firewall_support import BASE, NODES, POLICY, app_rule, nat_group, net_rule, policy, rcg
from tests.unit.checks.net_support import FW_ID, load

MCR = fw.aks_required("westeurope")[0]
API_IP = "20.61.1.10"


def ruleset(rules: list[fw.Rule], **kw: Any) -> fw.RuleSet:
    return fw.RuleSet(FW_ID, (POLICY,), tuple(rules), **kw)


def flow(dest: fw.Destination) -> fw.Flow:
    return fw.Flow((NODES,), dest)


def test_base_policy_groups_come_first_whatever_their_priority() -> None:
    child = fw.policy_rules(
        [rcg(POLICY, "c", 100, [("allow", 100, "Allow", [app_rule("a", ["mcr.microsoft.com"])])])], tier=1
    )
    base = fw.policy_rules([rcg(BASE, "b", 65000, [("deny", 65000, "Deny", [app_rule("d", ["*"])])])], tier=0)
    v = fw.decide(ruleset(child + base), flow(MCR))
    assert v.action == "deny" and v.rule is not None and v.rule.name == "d" and v.certain


def test_group_then_collection_priority_then_position() -> None:
    rules = fw.policy_rules(
        [
            rcg(POLICY, "late", 300, [("allow", 100, "Allow", [app_rule("late", ["*"])])]),
            rcg(
                POLICY,
                "early",
                200,
                [
                    ("deny2", 200, "Deny", [app_rule("second", ["*"])]),
                    ("deny1", 110, "Deny", [app_rule("first", ["*"]), app_rule("after", ["*"])]),
                ],
            ),
        ],
        tier=0,
    )
    v = fw.decide(ruleset(rules), flow(MCR))
    assert v.rule is not None and v.rule.name == "first"


def test_network_rules_before_application_rules_and_only_https_reaches_application_rules() -> None:
    rules = fw.policy_rules(
        [
            rcg(POLICY, "app", 100, [("deny", 100, "Deny", [app_rule("app", ["*"])])]),
            rcg(POLICY, "net", 65000, [("allow", 65000, "Allow", [net_rule("tag", ["MicrosoftContainerRegistry"])])]),
        ],
        tier=0,
    )
    v = fw.decide(ruleset(rules), flow(MCR))
    assert v.action == "allow" and v.rule is not None and v.rule.kind == "network"
    ntp = fw.Flow((NODES,), fw.Destination("ntp.ubuntu.com", "ntp.ubuntu.com"), port=123, protocol="UDP", scheme=None)
    assert fw.decide(ruleset(rules), ntp).rule is None  # not HTTP(S): application rules never see it


def test_dnat_rules_admit_only_traffic_to_the_firewall_address() -> None:
    rules = fw.policy_rules([nat_group(POLICY)], tier=0)  # spec example: DNAT 152.23.32.23:8080
    assert rules and rules[0].kind == "dnat"
    src = "2.2.2.2/32"
    to_fw = fw.Destination("fw", None, ipaddress.ip_network("152.23.32.23/32"))
    assert fw.decide(ruleset(rules), fw.Flow((src,), to_fw, port=8080)).action == "allow"
    assert fw.decide(ruleset(rules), fw.Flow((src,), MCR, port=8080)).rule is None


def test_classic_collections_keep_their_kinds_and_skip_snat() -> None:
    body = load("network/AzureFirewallGetWithIpGroups.2024-05-01.spec-example.json")
    rules = fw.classic_rules(body)
    assert [r.kind for r in rules].count("dnat") == 2
    assert {r.kind for r in rules} == {"dnat", "network", "application"}
    assert len(fw.ip_group_ids(rules)) == 3  # ipGroups1 is named twice
    web = load("network/FirewallPolicyRuleCollectionGroupWithWebCategoriesGet.2023-09-01.spec-example.json")
    assert fw.policy_rules([web], 0)[0].web_categories == ("Hacking",)


@pytest.mark.parametrize(
    ("pattern", "host", "hit"),
    [
        ("*", "mcr.microsoft.com", True),
        ("*.microsoft.com", "mcr.microsoft.com", True),
        ("*.microsoft.com", "microsoft.com", False),
        ("*microsoft.com", "microsoft.com", True),
        ("MCR.microsoft.com", "mcr.microsoft.com", True),
        ("mcr.microsoft.com", "westeurope.data.mcr.microsoft.com", False),
        ("*.hcp.westeurope.azmk8s.io", "aks-1.hcp.westeurope.azmk8s.io", True),
    ],
)
def test_host_patterns(pattern: str, host: str, hit: bool) -> None:
    assert fw.host_matches(pattern, host) is hit


def test_service_tags() -> None:
    api = fw.public_apiserver("aks-1.hcp.westeurope.azmk8s.io", "westeurope", None)
    assert fw.tag_matches("AzureCloud.WestEurope", api) is True
    assert fw.tag_matches("AzureCloud.eastus", api) is False
    assert fw.tag_matches("Storage", api) is False
    assert fw.tag_matches("MicrosoftContainerRegistry", MCR) is True
    assert fw.tag_matches("AzureCloud", MCR) is None  # may hold it: not decided here
    pe = fw.private_apiserver(None, "westeurope", ipaddress.ip_network("10.225.0.4/32"))
    assert fw.tag_matches("VirtualNetwork", pe) is True and fw.tag_matches("AzureCloud", pe) is False


def test_policy_settings_child_first_then_base() -> None:
    child = policy(POLICY, base=BASE)
    child["properties"].pop("dnsSettings")
    base = policy(BASE, premium=True, dns_proxy=True)
    s = fw.policy_settings([child, base])
    assert s.dns_proxy is True and s.tls_ca == "clientcert"
    assert fw.policy_settings([policy(POLICY, dns_proxy=False), base]).dns_proxy is False


def test_web_category_decoy_does_not_match_microsoft_endpoints() -> None:
    deny = rcg(
        POLICY,
        "w",
        100,
        [
            ("w", 100, "Deny", [app_rule("w", categories=["Gambling"])]),
            ("t", 200, "Deny", [app_rule("t", categories=["ComputersAndTechnology"])]),
        ],
    )
    allow = rcg(POLICY, "aks", 300, [("aks", 100, "Allow", [app_rule("aks", tags=["AzureKubernetesService"])])])
    v = fw.decide(ruleset(fw.policy_rules([deny, allow], 0)), flow(MCR))
    # Gambling never holds mcr; ComputersAndTechnology may: the allow is not proven
    assert v.action == "allow" and [u.rule.name for u in v.undecided] == ["t"]
    assert not v.certain and [u.rule.name for u in v.may_deny] == ["t"]
    only_gambling = fw.decide(ruleset(fw.policy_rules([deny, allow], 0)[:1] + fw.policy_rules([allow], 0)), flow(MCR))
    assert only_gambling.certain and only_gambling.action == "allow"
