"""checklib.nsgeval + servicetags: Azure's NSG order and priority walk, service tags from the list or by
meaning, ASG and source-port rules left undecided; on NSG and ServiceTagsList spec example bodies."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from shared.checklib import netutil as nu
from shared.checklib import nsgeval, servicetags
from shared.checklib.nsgeval import Flow, Match, NsgLevel
from tests.unit.checks.egress_support import AKS_NSG, TAGS_ID, service_tags
from tests.unit.checks.net_support import NODE_NSG, nsg, rule

NODE = nu.vnet_endpoint("node subnet", ipaddress.ip_network("10.224.0.0/16"))
API = nu.public_endpoint("API server", "westeurope", ipaddress.ip_network("20.61.1.10/32"))
API_UNKNOWN = nu.public_endpoint("API server", "westeurope")
TAGS = servicetags.TagContext("westeurope", servicetags.ServiceTagList.from_body(service_tags(), TAGS_ID))
NO_TAGS = servicetags.TagContext("westeurope", None, "the service tag list could not be read: 403 AuthorizationFailed")


def level(nid: str, kind: str, rules: list[dict[str, Any]]) -> NsgLevel:
    return NsgLevel(nid, kind, tuple(nu.nsg_rules(nsg(nid, rules))))


def test_service_tag_list_from_the_spec_example() -> None:
    body = service_tags(next_link=True)
    tags = servicetags.ServiceTagList.from_body(body, TAGS_ID)
    assert tags.partial and tags.cloud == "Public" and tags.change_number == "63"
    assert tags.get("apimanagement.australiacentral") is not None  # spec example entry, case-insensitive
    assert tags.membership("AzureCloud.westeurope", ipaddress.ip_network("20.61.1.10/32")) is True
    assert tags.membership("AzureCloud.eastus", ipaddress.ip_network("20.61.1.10/32")) is False
    assert tags.membership("AzureCloud.westeurope", ipaddress.ip_network("20.0.0.0/8")) is None  # partly
    assert tags.membership("NoSuchTag", ipaddress.ip_network("20.61.1.10/32")) is None
    assert "AzureCloud" in tags.tags_containing(ipaddress.ip_network("20.61.1.10/32"))
    assert servicetags.needs_list(["Internet", "10.0.0.0/8", "*"]) is False
    assert servicetags.needs_list(["AzureCloud.westeurope"]) is True


@pytest.mark.parametrize(("prefix", "ep", "tc", "want"), [
    ("AzureCloud.westeurope", API, TAGS, Match.YES),
    ("AzureCloud.westeurope", API, NO_TAGS, Match.LIKELY),     # by what the tag means
    ("AzureCloud.westeurope", API_UNKNOWN, TAGS, Match.LIKELY),
    ("AzureCloud.eastus", API_UNKNOWN, NO_TAGS, Match.NO),     # another region's variant
    ("AzureCloud.eastus", API, TAGS, Match.NO),
    ("Storage", API_UNKNOWN, NO_TAGS, Match.UNKNOWN),          # no meaning to reason from
    ("Storage", NODE, NO_TAGS, Match.NO),                      # VNet addresses are in no Azure service tag
    ("Internet", API_UNKNOWN, NO_TAGS, Match.YES),
    ("Internet", NODE, NO_TAGS, Match.NO),
    ("VirtualNetwork", NODE, NO_TAGS, Match.YES),
    ("20.0.0.0/8", API_UNKNOWN, NO_TAGS, Match.UNKNOWN),
    ("20.61.1.0-20.61.1.255", API, NO_TAGS, Match.YES),
    ("*", API, NO_TAGS, Match.YES),
    # a partial list without the tag: back to what the tag means
    ("AzureCloud.westeurope", API, servicetags.TagContext("westeurope", servicetags.ServiceTagList.from_body(
        {"values": [], "nextLink": "https://management.azure.com/next"})), Match.LIKELY),
])
def test_match_prefix(prefix: str, ep: nu.Endpoint, tc: servicetags.TagContext, want: Match) -> None:
    got, why = nsgeval.match_prefix(prefix, ep, tc)
    assert got is want, why
    if want is Match.LIKELY:
        assert "az network list-service-tags --location westeurope" in why


def test_outbound_nic_first_inbound_subnet_first() -> None:
    nic = level(AKS_NSG, "nic", [])
    sub = level(NODE_NSG, "subnet", [])
    out = Flow("outbound", "tcp", 443, NODE, API)
    inn = Flow("inbound", "tcp", 443, API, NODE)
    assert [v.level.level for v in nsgeval.evaluate_flow(out, [sub, nic], TAGS).levels] == ["nic", "subnet"]
    assert [v.level.level for v in nsgeval.evaluate_flow(inn, [nic, sub], TAGS).levels] == ["subnet", "nic"]


def test_both_levels_must_allow_and_the_first_certain_deny_blocks() -> None:
    nic = level(AKS_NSG, "nic", [rule("allow-all-out", 100, "Outbound", "Allow")])
    sub = level(NODE_NSG, "subnet", [rule("deny-443", 200, "Outbound", "Deny", ports="443")])
    v = nsgeval.evaluate_flow(Flow("outbound", "tcp", 443, NODE, API), [nic, sub], TAGS)
    assert v.status == "deny" and v.blocking is not None and v.blocking.level.level == "subnet"
    assert v.blocking.rule is not None and v.blocking.rule.name == "deny-443"


def test_priorities_protocols_and_ranges() -> None:
    rules = [rule("deny-udp", 100, "Outbound", "Deny", protocol="Udp"),
             rule("deny-range", 150, "Outbound", "Deny", ports=["80", "400-450"]),
             rule("allow-443", 300, "Outbound", "Allow", ports="443"),
             rule("deny-all", 200, "Outbound", "Deny", ports="*")]
    v = nsgeval.walk(level(NODE_NSG, "subnet", rules), Flow("outbound", "tcp", 443, NODE, API), TAGS)
    assert v.access == "deny" and v.rule is not None and v.rule.name == "deny-range"
    v = nsgeval.walk(level(NODE_NSG, "subnet", rules), Flow("outbound", "tcp", 8443, NODE, API), TAGS)
    assert v.rule is not None and v.rule.name == "deny-all"
    v = nsgeval.walk(level(NODE_NSG, "subnet", []), Flow("outbound", "tcp", 443, NODE, API), TAGS)
    assert v.access == "allow" and v.rule is not None and v.rule.default and v.rule.name == "AllowInternetOutBound"


def test_asg_and_source_port_rules_are_not_guessed() -> None:
    asg = rule("deny-asg", 100, "Outbound", "Deny")
    asg["properties"].pop("destinationAddressPrefix")
    asg["properties"]["destinationApplicationSecurityGroups"] = [{"id": "/subscriptions/s/resourceGroups/r/providers/"
                                                                   "Microsoft.Network/applicationSecurityGroups/a"}]
    sport = rule("deny-sport", 110, "Outbound", "Deny")
    sport["properties"]["sourcePortRange"] = "1024-2048"
    for r, needle in ((asg, "cannot evaluate: ASG membership"), (sport, "ephemeral")):
        v = nsgeval.walk(level(NODE_NSG, "subnet", [r]), Flow("outbound", "tcp", 443, NODE, API), TAGS)
        assert v.access == "unknown" and any(needle in x for x in v.reasons), v.reasons


def test_a_likely_allow_above_a_certain_deny_is_likely_allowed_and_vice_versa() -> None:
    tag_allow = [rule("allow-weu", 100, "Outbound", "Allow", dst="AzureCloud.westeurope"),
                 rule("deny-all", 200, "Outbound", "Deny")]
    v = nsgeval.walk(level(NODE_NSG, "subnet", tag_allow), Flow("outbound", "tcp", 443, NODE, API_UNKNOWN), NO_TAGS)
    assert (v.access, v.confidence) == ("allow", "likely")
    tag_deny = [rule("deny-weu", 100, "Outbound", "Deny", dst="AzureCloud.westeurope")]
    v = nsgeval.walk(level(NODE_NSG, "subnet", tag_deny), Flow("outbound", "tcp", 443, NODE, API_UNKNOWN), NO_TAGS)
    assert (v.access, v.confidence) == ("deny", "likely")
    fv = nsgeval.evaluate_flow(Flow("outbound", "tcp", 443, NODE, API_UNKNOWN),
                               [level(NODE_NSG, "subnet", tag_deny)], NO_TAGS)
    assert fv.status == "deny_likely" and fv.blocking is not None
    assert "list-service-tags" in nsgeval.confirm_text(fv.blocking)


def test_udr_default_route_puts_internet_in_the_virtualnetwork_tag() -> None:
    dest = nsgeval.with_udr_tags(API_UNKNOWN, ("0.0.0.0/0",))
    assert "virtualnetwork" in dest.tags
    assert nsgeval.with_udr_tags(API_UNKNOWN, ("10.0.0.0/8",)) == API_UNKNOWN


def test_unread_nic_level_keeps_the_flow_undecided() -> None:
    v = nsgeval.evaluate_flow(Flow("outbound", "tcp", 443, NODE, API), [level(NODE_NSG, "subnet", [])], TAGS,
                              notes=["NIC NSG x could not be read (403 AuthorizationFailed)"])
    assert v.status == "unknown" and "403" in nsgeval.doubt_text(v)


def test_fix_deletes_a_custom_rule_in_the_aks_nsg_and_adds_an_allow_elsewhere() -> None:
    deny = [rule("deny-all", 200, "Outbound", "Deny")]
    flow = Flow("outbound", "tcp", 443, NODE, API)
    for nid, kind, start in ((AKS_NSG, "nic", "az network nsg rule delete"),
                             (NODE_NSG, "subnet", "az network nsg rule create")):
        v = nsgeval.walk(level(nid, kind, deny), flow, TAGS)
        cmd = nsgeval.fix_command(v, flow, name="AllowX", sources=["10.224.0.0/16"], destinations=["Internet"])
        assert cmd.startswith(start), cmd
    v = nsgeval.walk(level(NODE_NSG, "subnet", deny), flow, TAGS)
    assert "--priority 199" in nsgeval.fix_command(v, flow, name="AllowX", sources=["10.224.0.0/16"],
                                                   destinations=["Internet"])


def test_an_allow_to_another_product_tag_likely_leaves_a_required_host_to_the_deny() -> None:
    """mcr.microsoft.com is documented behind MicrosoftContainerRegistry (and AzureCloud), not behind
    AzureActiveDirectory: with its address unknown, an allow to AzureActiveDirectory most likely does
    not cover it, so the Internet deny below likely decides."""
    from shared.checklib import egress

    mcr = next(r for r in egress.REQUIRED if r.host == "mcr.microsoft.com").endpoint()
    rules = [rule("allow-aad", 100, "Outbound", "Allow", dst="AzureActiveDirectory"),
             rule("deny-internet", 4000, "Outbound", "Deny", dst="Internet")]
    v = nsgeval.walk(level(NODE_NSG, "subnet", rules), Flow("outbound", "tcp", 443, NODE, mcr), NO_TAGS)
    assert (v.access, v.confidence) == ("deny", "likely") and v.rule is not None and v.rule.name == "deny-internet"
    assert any("documented in service tags" in r for r in v.reasons), v.reasons
    own = [rule("allow-mcr", 100, "Outbound", "Allow", dst="MicrosoftContainerRegistry"), rules[1]]
    v = nsgeval.walk(level(NODE_NSG, "subnet", own), Flow("outbound", "tcp", 443, NODE, mcr), NO_TAGS)
    assert v.access == "allow"
