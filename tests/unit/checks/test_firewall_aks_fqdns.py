"""firewall_aks_fqdns over the azure-rest-api-specs firewall examples (AzureFirewallGet,
AzureFirewallGetWithIpGroups, FirewallPolicyGet, rule collection groups with IP groups / NAT)
re-pointed at the hub firewall of the net_support world; one planted fault per case, decoys that
must not be blamed beside it."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checks.firewall_aks_fqdns import SPEC
from shared.models import CheckStatus
from tests.unit.checks.firewall_support import (
    BASE,
    GLOBAL,
    IPG_NODES,
    IPG_OTHER,
    NODES,
    POLICY,
    ROOT,
    app_rule,
    classic,
    classic_collection,
    ip_group,
    nat_group,
    net_rule,
    rcg,
    with_policy,
)
from tests.unit.checks.net_support import CLUSTER_ID, FW_ID, RT_ID, cluster, make_ctx, route_table, run, world

PUBLIC: dict[str, Any] = {"private": False, "vnet_integration": False}
API = "*.hcp.westeurope.azmk8s.io"


def aks_tag_group(policy: str = POLICY, priority: int = 200, **kw: Any) -> dict[str, Any]:
    return rcg(
        policy, "aks", priority, [("aks", 100, "Allow", [app_rule("aks", tags=["AzureKubernetesService"], **kw)])]
    )


async def test_spec_example_rules_allow_nothing_aks_needs() -> None:
    r = await run(SPEC, make_ctx(world(c=cluster(**PUBLIC))))
    assert r.status is CheckStatus.FAIL and r.confidence == "confirmed"
    assert API in r.summary and "mcr.microsoft.com" in r.summary and "packages.aks.azure.com" in r.summary
    assert r.remediation == (
        "az network firewall application-rule create -g rg-hub -f fw-hub -c aks-fqdns "
        "-n aks-required --priority 100 --action Allow --protocols Https=443 "
        "--source-addresses 10.224.0.0/16 --fqdn-tags AzureKubernetesService"
    )
    assert any(e.note and "default deny" in e.note for e in r.evidence)


async def test_classic_fqdn_tag_rule_allows_everything() -> None:
    res = world(c=cluster(**PUBLIC))
    res[FW_ID]["properties"]["applicationRuleCollections"].append(
        {
            "name": "aks",
            "properties": {
                "priority": 200,
                "action": {"type": "Allow"},
                "rules": [
                    {
                        "name": "aks",
                        "protocols": [{"protocolType": "Https", "port": 443}],
                        "fqdnTags": ["AzureKubernetesService"],
                        "sourceAddresses": ["10.224.0.0-10.224.255.255"],
                    }
                ],
            },
        }
    )
    r = await run(SPEC, make_ctx(res))
    assert r.status is CheckStatus.PASS, r.summary


async def test_classic_ip_groups_resolved_and_spec_decoys_not_blamed() -> None:
    """The WithIpGroups example's deny collections (other sources, other FQDNs, spec-shaped group ids
    that cannot be read) are decoys; the allow's source is an IP group holding the node subnet."""
    allow = classic_collection(
        "aks",
        200,
        "Allow",
        [
            {
                "name": "aks",
                "protocols": [{"protocolType": "Https", "port": 443}],
                "fqdnTags": ["AzureKubernetesService"],
                "sourceIpGroups": [IPG_NODES],
            }
        ],
    )
    res = classic(world(c=cluster(**PUBLIC)), application=[allow])
    res[IPG_NODES] = ip_group(IPG_NODES, ["10.224.0.0/16", "10.225.0.0/28"])
    r = await run(SPEC, make_ctx(res))
    assert r.status is CheckStatus.PASS, r.summary
    assert any(e.resource_id == IPG_NODES and e.value == ["10.224.0.0/16", "10.225.0.0/28"] for e in r.evidence)


@pytest.mark.parametrize(
    ("groups", "status", "needle"),
    [
        # explicit FQDNs without the API server
        ([rcg(POLICY, "aks", 200, [("fqdns", 100, "Allow", [app_rule("global", GLOBAL)])])], CheckStatus.FAIL, API),
        # + a network rule to the regional AzureCloud tag for the API server
        (
            [
                rcg(
                    POLICY,
                    "aks",
                    200,
                    [
                        ("fqdns", 100, "Allow", [app_rule("global", GLOBAL)]),
                        ("api", 110, "Allow", [net_rule("api", ["AzureCloud.westeurope"], ["443"])]),
                    ],
                )
            ],
            CheckStatus.PASS,
            "allows",
        ),
        # another region's tag does not cover it
        (
            [
                rcg(
                    POLICY,
                    "aks",
                    200,
                    [
                        ("fqdns", 100, "Allow", [app_rule("global", GLOBAL)]),
                        ("api", 110, "Allow", [net_rule("api", ["AzureCloud.eastus"], ["443"])]),
                    ],
                )
            ],
            CheckStatus.FAIL,
            API,
        ),
        # a deny-all network rule is processed before any application rule
        (
            [
                rcg(POLICY, "deny", 300, [("deny", 100, "Deny", [net_rule("all", ["*"], ["*"], ["Any"], ["*"])])]),
                aks_tag_group(priority=200),
            ],
            CheckStatus.FAIL,
            "mcr.microsoft.com",
        ),
        # the FQDN tag alone; a DNAT collection (spec example) and a web-category deny (Hacking) are decoys
        (
            [
                rcg(POLICY, "web", 100, [("no-hacking", 100, "Deny", [app_rule("hack", categories=["Hacking"])])]),
                aks_tag_group(),
                nat_group(POLICY),
            ],
            CheckStatus.PASS,
            "allows",
        ),
        # wrong source subnet
        ([aks_tag_group(sources=["10.99.0.0/16"])], CheckStatus.FAIL, "mcr.microsoft.com"),
        # the source covers only part of the node subnet: the failing node may be outside it
        ([aks_tag_group(sources=["10.224.0.0/24"])], CheckStatus.FAIL, "likely"),
    ],
)
async def test_policy_rules(groups: list[dict[str, Any]], status: CheckStatus, needle: str) -> None:
    res = with_policy(world(c=cluster(**PUBLIC)), groups)
    r = await run(SPEC, make_ctx(res))
    assert r.status is status, r.summary
    assert needle in (r.summary + (r.reason or ""))
    if status is CheckStatus.FAIL:
        assert "az network firewall policy rule-collection-group create -g rg-hub --policy-name fwp-hub" in (
            r.remediation or ""
        )


async def test_network_deny_remediation_says_it_comes_before_application_rules() -> None:
    groups = [
        rcg(POLICY, "deny", 300, [("deny", 100, "Deny", [net_rule("all", ["*"], ["*"], ["Any"], ["*"])])]),
        aks_tag_group(priority=200),
    ]
    r = await run(SPEC, make_ctx(with_policy(world(c=cluster(**PUBLIC)), groups)))
    assert r.status is CheckStatus.FAIL
    assert "network rule: it is evaluated before every application rule" in (r.remediation or "")
    assert any(e.resource_id == f"{POLICY}/ruleCollectionGroups/deny" and "deny/all" in e.property for e in r.evidence)


async def test_base_policy_deny_wins_over_child_allow() -> None:
    child = [aks_tag_group(priority=100)]
    base = [
        rcg(BASE, "corp", 65000, [("no-mcr", 65000, "Deny", [app_rule("mcr", ["mcr.microsoft.com"], sources=["*"])])])
    ]
    r = await run(SPEC, make_ctx(with_policy(world(c=cluster(**PUBLIC)), child, base)))
    assert r.status is CheckStatus.FAIL and r.confidence == "confirmed"
    assert "does not allow mcr.microsoft.com from" in r.summary
    assert "packages.microsoft.com" not in r.summary  # the child's tag rule still allows the rest
    # the allow must go into the base policy, in a group evaluated before its deny
    assert "--policy-name fwp-base -n aks-egress --priority 64999" in (r.remediation or "")
    assert any(e.property == "properties.basePolicy.id" and e.value == [BASE] for e in r.evidence)


async def test_grandparent_policy_rules_come_first() -> None:
    child = [aks_tag_group(priority=100)]
    base = [rcg(BASE, "ok", 200, [("fine", 100, "Allow", [app_rule("web", ["www.contoso.com"])])])]
    root = [rcg(ROOT, "corp", 300, [("deny-all", 100, "Deny", [app_rule("all", ["*"], sources=["*"])])])]
    r = await run(SPEC, make_ctx(with_policy(world(c=cluster(**PUBLIC)), child, base, root=root)))
    assert r.status is CheckStatus.FAIL and "mcr.microsoft.com" in r.summary
    assert "--policy-name fwp-root" in (r.remediation or "")


async def test_child_allow_before_base_decoy_deny_of_other_sources() -> None:
    child = [aks_tag_group(priority=100)]
    base = [rcg(BASE, "corp", 100, [("branch", 100, "Deny", [app_rule("branch", ["*"], sources=["192.168.0.0/16"])])])]
    r = await run(SPEC, make_ctx(with_policy(world(c=cluster(**PUBLIC)), child, base)))
    assert r.status is CheckStatus.PASS, r.summary


@pytest.mark.parametrize(("addresses", "status"), [([NODES], CheckStatus.PASS), (["10.99.0.0/16"], CheckStatus.FAIL)])
async def test_source_ip_group_resolved(addresses: list[str], status: CheckStatus) -> None:
    res = with_policy(world(c=cluster(**PUBLIC)), [aks_tag_group(sources=[], ip_groups=[IPG_NODES])])
    res[IPG_NODES] = ip_group(IPG_NODES, addresses)
    r = await run(SPEC, make_ctx(res))
    assert r.status is status, r.summary
    if status is CheckStatus.FAIL:
        assert r.confidence == "confirmed"
        assert any(e.resource_id == IPG_NODES and e.property == "properties.ipAddresses" for e in r.evidence)


async def test_unreadable_ip_group_is_a_likely_fail_with_what_confirms_it() -> None:
    res = with_policy(world(c=cluster(**PUBLIC)), [aks_tag_group(sources=[], ip_groups=[IPG_NODES])])
    r = await run(SPEC, make_ctx(res))  # the IP group is not in the world: its GET answers 404
    assert r.status is CheckStatus.FAIL and r.confidence == "likely", r.summary
    assert f"az network ip-group show --ids {IPG_NODES} --query ipAddresses" in (r.confirm_by or "")
    assert any(e.resource_id == IPG_NODES and e.value == "404 ResourceNotFound" for e in r.evidence)


async def test_destination_ip_group_deny_names_the_api_server_ip() -> None:
    deny = rcg(POLICY, "deny", 100, [("deny-ips", 100, "Deny", [net_rule("bad", [], ["443"], dst_groups=[IPG_OTHER])])])
    res = with_policy(world(c=cluster(**PUBLIC)), [deny, aks_tag_group()])
    res[IPG_OTHER] = ip_group(IPG_OTHER, ["20.61.1.0/24"])
    r = await run(SPEC, make_ctx(res, facts={"api_server_ip": "20.61.1.10"}))
    assert r.status is CheckStatus.FAIL and API in r.summary and "mcr.microsoft.com" not in r.summary
    # decoy: the same deny to other addresses
    res[IPG_OTHER] = ip_group(IPG_OTHER, ["52.1.2.0/24"])
    r = await run(SPEC, make_ctx(res, facts={"api_server_ip": "20.61.1.10"}))
    assert r.status is CheckStatus.PASS, r.summary


@pytest.mark.parametrize(("proxy", "status"), [(True, CheckStatus.PASS), (False, CheckStatus.FAIL)])
async def test_network_rule_fqdns_need_dns_proxy(proxy: bool, status: CheckStatus) -> None:
    groups = [
        rcg(
            POLICY,
            "aks",
            200,
            [
                ("net-fqdns", 100, "Allow", [net_rule("fqdns", ports=["443"], fqdns=GLOBAL)]),
                ("api", 110, "Allow", [net_rule("api", ["AzureCloud.westeurope"], ["443"])]),
            ],
        )
    ]
    r = await run(SPEC, make_ctx(with_policy(world(c=cluster(**PUBLIC)), groups, dns_proxy=proxy)))
    assert r.status is status, r.summary
    if status is CheckStatus.FAIL:
        assert r.confidence == "likely" and "mcr.microsoft.com" in r.summary and API not in r.summary
        assert (r.remediation or "").startswith(
            "az network firewall policy update -g rg-hub -n fwp-hub --enable-dns-proxy true"
        )


async def test_private_vnet_integration_api_path_does_not_need_the_firewall() -> None:
    groups = [rcg(POLICY, "aks", 200, [("fqdns", 100, "Allow", [app_rule("global", GLOBAL)])])]
    r = await run(SPEC, make_ctx(with_policy(world(), groups)))
    assert r.status is CheckStatus.PASS, r.summary


@pytest.mark.parametrize("mutate", ["lb", "managed_vnet", "nic"])
async def test_not_applicable(mutate: str) -> None:
    res = world(c=cluster(**PUBLIC))
    if mutate == "lb":
        res[RT_ID] = route_table(RT_ID, [("10.0.0.0/8", "VnetLocal", None)])
    elif mutate == "managed_vnet":
        res = {CLUSTER_ID: cluster(node_subnet=None)}
    else:
        res[RT_ID] = route_table(RT_ID, [("0.0.0.0/0", "VirtualAppliance", "10.0.1.9")])
        from tests.unit.checks.net_support import HUB_VNET

        nic = HUB_VNET.replace("virtualNetworks/vnet-hub", "networkInterfaces/nva")
        res[HUB_VNET]["properties"]["subnets"][0]["properties"]["ipConfigurations"].append(
            {"id": f"{nic}/ipConfigurations/ip1"}
        )
        res[nic] = {
            "id": nic,
            "properties": {
                "enableIPForwarding": True,
                "ipConfigurations": [{"properties": {"privateIPAddress": "10.0.1.9"}}],
            },
        }
    r = await run(SPEC, make_ctx(res))
    assert r.status is CheckStatus.NOT_APPLICABLE, r.summary


async def test_only_node_subnets_routed_to_the_firewall_are_its_sources() -> None:
    """A second pool's subnet goes out through the load balancer path (no route table): the firewall
    rule only needs to cover the subnet it sees."""
    import copy

    from tests.unit.checks.net_support import NODE_NSG, VNET_ID, subnet

    other = f"{VNET_ID}/subnets/snet-aks-pool2"
    c = cluster(**PUBLIC)
    pool2 = copy.deepcopy(c["properties"]["agentPoolProfiles"][0])
    pool2.update({"name": "pool2", "vnetSubnetID": other})
    c["properties"]["agentPoolProfiles"].append(pool2)
    res = with_policy(world(c=c), [aks_tag_group(sources=[NODES])])
    res[other] = subnet(other, "10.226.0.0/24", nsg=NODE_NSG)
    r = await run(SPEC, make_ctx(res))
    assert r.status is CheckStatus.PASS, r.summary
