"""firewall_aks_fqdns over the AzureFirewallGet spec example (classic rules) and firewall policy rule
collection groups in the 2024-05-01 swagger shape (constructed: no spec example was collected)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checks.firewall_aks_fqdns import SPEC
from shared.models import CheckStatus
from tests.unit.checks.net_support import (
    CLUSTER_ID,
    FW_ID,
    RT_ID,
    SUB,
    cluster,
    make_ctx,
    route_table,
    run,
    world,
)

POLICY = f"/subscriptions/{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/firewallPolicies/fwp-hub"
BASE = f"/subscriptions/{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/firewallPolicies/fwp-base"
PUBLIC = {"private": False, "vnet_integration": False}
GLOBAL = ["mcr.microsoft.com", "*.data.mcr.microsoft.com", "management.azure.com", "login.microsoftonline.com",
          "packages.microsoft.com", "acs-mirror.azureedge.net"]


def app_rule(name: str, fqdns: list[str] | None = None, tags: list[str] | None = None,
             sources: list[str] | None = None, ip_groups: list[str] | None = None) -> dict[str, Any]:
    return {"ruleType": "ApplicationRule", "name": name, "protocols": [{"protocolType": "Https", "port": 443}],
            "sourceAddresses": sources if sources is not None else ["10.224.0.0/16"],
            "sourceIpGroups": ip_groups or [], "targetFqdns": fqdns or [], "fqdnTags": tags or [],
            "targetUrls": [], "terminateTLS": False, "webCategories": [], "destinationAddresses": []}


def net_rule(name: str, dst: list[str], ports: list[str], protocols: list[str] | None = None,
             sources: list[str] | None = None) -> dict[str, Any]:
    return {"ruleType": "NetworkRule", "name": name, "ipProtocols": protocols or ["TCP"],
            "sourceAddresses": sources or ["10.224.0.0/16"], "sourceIpGroups": [], "destinationAddresses": dst,
            "destinationIpGroups": [], "destinationFqdns": [], "destinationPorts": ports}


def rcg(policy: str, name: str, priority: int, collections: list[tuple[str, int, str, list[dict[str, Any]]]]
        ) -> dict[str, Any]:
    return {"id": f"{policy}/ruleCollectionGroups/{name}", "name": name,
            "type": "Microsoft.Network/FirewallPolicies/RuleCollectionGroups",
            "properties": {"provisioningState": "Succeeded", "priority": priority, "ruleCollections": [
                {"ruleCollectionType": "FirewallPolicyFilterRuleCollection", "name": cname, "priority": cprio,
                 "action": {"type": action}, "rules": rules} for cname, cprio, action, rules in collections]}}


def with_policy(res: dict[str, Any], groups: list[dict[str, Any]], base: list[dict[str, Any]] | None = None
                ) -> dict[str, Any]:
    res[FW_ID]["properties"]["firewallPolicy"] = {"id": POLICY}
    res[POLICY] = {"id": POLICY, "name": "fwp-hub", "properties": {"provisioningState": "Succeeded",
                   **({"basePolicy": {"id": BASE}} if base is not None else {})}}
    res[f"{POLICY}/ruleCollectionGroups"] = {"value": groups}
    if base is not None:
        res[BASE] = {"id": BASE, "name": "fwp-base", "properties": {}}
        res[f"{BASE}/ruleCollectionGroups"] = {"value": base}
    return res


async def test_spec_example_rules_allow_nothing_aks_needs() -> None:
    r = await run(SPEC, make_ctx(world(c=cluster(**PUBLIC))))
    assert r.status is CheckStatus.FAIL
    assert "*.hcp.westeurope.azmk8s.io" in r.summary and "mcr.microsoft.com" in r.summary
    assert r.remediation == ("az network firewall application-rule create -g rg-hub -f fw-hub -c aks-fqdns "
                             "-n aks-required --priority 100 --action Allow --protocols Https=443 "
                             "--source-addresses 10.224.0.0/16 --fqdn-tags AzureKubernetesService")


async def test_classic_fqdn_tag_rule_allows_everything() -> None:
    res = world(c=cluster(**PUBLIC))
    res[FW_ID]["properties"]["applicationRuleCollections"].append({"name": "aks", "properties": {
        "priority": 200, "action": {"type": "Allow"},
        "rules": [{"name": "aks", "protocols": [{"protocolType": "Https", "port": 443}],
                   "fqdnTags": ["AzureKubernetesService"], "sourceAddresses": ["10.224.0.0-10.224.255.255"]}]}})
    r = await run(SPEC, make_ctx(res))
    assert r.status is CheckStatus.PASS, r.summary


@pytest.mark.parametrize(("groups", "status", "needle"), [
    # explicit FQDNs without the API server
    ([rcg(POLICY, "aks", 200, [("fqdns", 100, "Allow", [app_rule("global", GLOBAL)])])],
     CheckStatus.FAIL, "*.hcp.westeurope.azmk8s.io"),
    # + a network rule to the regional AzureCloud tag for the API server
    ([rcg(POLICY, "aks", 200, [("fqdns", 100, "Allow", [app_rule("global", GLOBAL)]),
                               ("api", 110, "Allow", [net_rule("api", ["AzureCloud.westeurope"], ["443"])])])],
     CheckStatus.PASS, "allows"),
    # another region's tag does not cover it
    ([rcg(POLICY, "aks", 200, [("fqdns", 100, "Allow", [app_rule("global", GLOBAL)]),
                               ("api", 110, "Allow", [net_rule("api", ["AzureCloud.eastus"], ["443"])])])],
     CheckStatus.FAIL, "*.hcp.westeurope.azmk8s.io"),
    # a deny-all network rule is processed before any application rule
    ([rcg(POLICY, "deny", 100, [("deny", 100, "Deny", [net_rule("all", ["*"], ["*"], ["Any"], ["*"])])]),
      rcg(POLICY, "aks", 200, [("fqdns", 100, "Allow", [app_rule("aks", tags=["AzureKubernetesService"])])])],
     CheckStatus.FAIL, "mcr.microsoft.com"),
    # the FQDN tag alone
    ([rcg(POLICY, "aks", 200, [("fqdns", 100, "Allow", [app_rule("aks", tags=["AzureKubernetesService"])])])],
     CheckStatus.PASS, "allows"),
    # source is an IP group: cannot tell
    ([rcg(POLICY, "aks", 200, [("fqdns", 100, "Allow", [app_rule("aks", tags=["AzureKubernetesService"],
                                                                 sources=[], ip_groups=["/x/ipGroups/g"])])])],
     CheckStatus.SKIPPED, "IP groups"),
    # wrong source subnet
    ([rcg(POLICY, "aks", 200, [("fqdns", 100, "Allow", [app_rule("aks", tags=["AzureKubernetesService"],
                                                                 sources=["10.99.0.0/16"])])])],
     CheckStatus.FAIL, "mcr.microsoft.com"),
])
async def test_policy_rules(groups: list[dict[str, Any]], status: CheckStatus, needle: str) -> None:
    res = with_policy(world(c=cluster(**PUBLIC)), groups)
    r = await run(SPEC, make_ctx(res))
    assert r.status is status, r.summary
    assert needle in (r.summary + (r.reason or ""))
    if status is CheckStatus.FAIL:
        assert "az network firewall policy rule-collection-group create -g rg-hub --policy-name fwp-hub" in (
            r.remediation or "")


async def test_base_policy_deny_wins_over_child_allow() -> None:
    child = [rcg(POLICY, "aks", 100, [("fqdns", 100, "Allow", [app_rule("aks", tags=["AzureKubernetesService"])])])]
    base = [rcg(BASE, "corp", 65000, [("no-mcr", 65000, "Deny", [app_rule("mcr", ["mcr.microsoft.com"],
                                                                           sources=["*"])])])]
    r = await run(SPEC, make_ctx(with_policy(world(c=cluster(**PUBLIC)), child, base)))
    assert r.status is CheckStatus.FAIL and r.summary.count("mcr.microsoft.com") == 1


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
            {"id": f"{nic}/ipConfigurations/ip1"})
        res[nic] = {"id": nic, "properties": {"enableIPForwarding": True, "ipConfigurations": [
            {"properties": {"privateIPAddress": "10.0.1.9"}}]}}
    r = await run(SPEC, make_ctx(res))
    assert r.status is CheckStatus.NOT_APPLICABLE, r.summary
