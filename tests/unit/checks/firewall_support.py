"""Azure Firewall bodies for the firewall check tests, from the azure-rest-api-specs examples in
tests/fixtures/arm/network (FirewallPolicyGet, FirewallPolicyRuleCollectionGroupWithIpGroupsPut,
FirewallPolicyNatRuleCollectionGroupGet, AzureFirewallGetWithIpGroups) re-pointed into the
net_support world (hub firewall fw-hub, node subnet 10.224.0.0/16)."""

from __future__ import annotations

import copy
from typing import Any

from tests.unit.checks.net_support import FW_ID, SUB, load

HUB_RG = f"/subscriptions/{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network"
POLICY = f"{HUB_RG}/firewallPolicies/fwp-hub"
BASE = f"{HUB_RG}/firewallPolicies/fwp-base"
ROOT = f"{HUB_RG}/firewallPolicies/fwp-root"
IPG_NODES = f"/subscriptions/{SUB}/resourceGroups/rg-network/providers/Microsoft.Network/ipGroups/ipg-aks-nodes"
IPG_OTHER = f"/subscriptions/{SUB}/resourceGroups/rg-network/providers/Microsoft.Network/ipGroups/ipg-branch"
NODES = "10.224.0.0/16"
GLOBAL = [
    "mcr.microsoft.com",
    "*.data.mcr.microsoft.com",
    "management.azure.com",
    "login.microsoftonline.com",
    "packages.microsoft.com",
    "acs-mirror.azureedge.net",
    "packages.aks.azure.com",
]


def app_rule(
    name: str,
    fqdns: list[str] | None = None,
    tags: list[str] | None = None,
    sources: list[str] | None = None,
    ip_groups: list[str] | None = None,
    *,
    tls: bool = False,
    categories: list[str] | None = None,
    urls: list[str] | None = None,
) -> dict[str, Any]:
    """An ApplicationRule in the 2024-05-01 swagger shape (all its list properties present)."""
    return {
        "ruleType": "ApplicationRule",
        "name": name,
        "protocols": [{"protocolType": "Https", "port": 443}],
        "sourceAddresses": sources if sources is not None else [NODES],
        "sourceIpGroups": ip_groups or [],
        "targetFqdns": fqdns or [],
        "fqdnTags": tags or [],
        "targetUrls": urls or [],
        "terminateTLS": tls,
        "webCategories": categories or [],
        "destinationAddresses": [],
    }


def net_rule(
    name: str,
    dst: list[str] | None = None,
    ports: list[str] | None = None,
    protocols: list[str] | None = None,
    sources: list[str] | None = None,
    *,
    src_groups: list[str] | None = None,
    dst_groups: list[str] | None = None,
    fqdns: list[str] | None = None,
) -> dict[str, Any]:
    """A NetworkRule like the WithIpGroups spec example's, with our addresses."""
    spec = load("network/FirewallPolicyRuleCollectionGroupWithIpGroupsPut.2024-05-01.spec-example.json")
    r: dict[str, Any] = copy.deepcopy(spec["properties"]["ruleCollections"][0]["rules"][0])
    r.update(
        {
            "name": name,
            "ipProtocols": protocols or ["TCP"],
            "destinationPorts": ports or ["443"],
            "sourceAddresses": sources if sources is not None else [NODES],
            "sourceIpGroups": src_groups or [],
            "destinationAddresses": dst or [],
            "destinationIpGroups": dst_groups or [],
            "destinationFqdns": fqdns or [],
        }
    )
    return r


def rcg(
    policy: str, name: str, priority: int, collections: list[tuple[str, int, str, list[dict[str, Any]]]]
) -> dict[str, Any]:
    """The WithIpGroups spec example group re-pointed, with (name, priority, action, rules) filter
    collections (action "DNAT" makes a NAT collection)."""
    g = load("network/FirewallPolicyRuleCollectionGroupWithIpGroupsPut.2024-05-01.spec-example.json")
    g["id"], g["name"] = f"{policy}/ruleCollectionGroups/{name}", name
    g["type"] = "Microsoft.Network/FirewallPolicies/RuleCollectionGroups"
    g["properties"]["priority"] = priority
    g["properties"]["ruleCollections"] = [
        {
            "ruleCollectionType": "FirewallPolicyNatRuleCollection"
            if action.upper() == "DNAT"
            else "FirewallPolicyFilterRuleCollection",
            "name": cname,
            "priority": cprio,
            "action": {"type": action},
            "rules": rules,
        }
        for cname, cprio, action, rules in collections
    ]
    return g


def nat_group(policy: str) -> dict[str, Any]:
    """The NAT spec example group (DNAT 152.23.32.23:8080 -> internalhttpserver), re-pointed."""
    g = load("network/FirewallPolicyNatRuleCollectionGroupGet.2023-09-01.spec-example.json")
    g["id"], g["name"] = f"{policy}/ruleCollectionGroups/nat", "nat"
    return g


def policy(pid: str, *, base: str | None = None, premium: bool = False, dns_proxy: bool = False) -> dict[str, Any]:
    """FirewallPolicyGet spec example (Premium, transportSecurity, DNS proxy on) re-pointed; a
    Standard policy drops intrusionDetection / transportSecurity."""
    p = load("network/FirewallPolicyGet.2023-09-01.spec-example.json")
    p["id"], p["name"], p["location"] = pid, pid.rsplit("/", 1)[-1], "westeurope"
    props = p["properties"]
    props["ruleCollectionGroups"] = []
    props["firewalls"] = [{"id": FW_ID}]
    props["dnsSettings"]["enableProxy"] = dns_proxy
    if not premium:
        props["sku"] = {"tier": "Standard"}
        props.pop("intrusionDetection", None)
        props.pop("transportSecurity", None)
    if base:
        props["basePolicy"] = {"id": base}
    return p


def ip_group(gid: str, addresses: list[str]) -> dict[str, Any]:
    """Microsoft.Network/ipGroups in the 2024-05-01 swagger shape (constructed: no example stored)."""
    return {
        "id": gid,
        "name": gid.rsplit("/", 1)[-1],
        "type": "Microsoft.Network/ipGroups",
        "location": "westeurope",
        "etag": 'W/"00000000-0000-0000-0000-000000000000"',
        "properties": {
            "provisioningState": "Succeeded",
            "ipAddresses": addresses,
            "firewalls": [{"id": FW_ID}],
            "firewallPolicies": [],
        },
    }


def with_policy(
    res: dict[str, Any],
    groups: list[dict[str, Any]],
    base: list[dict[str, Any]] | None = None,
    *,
    root: list[dict[str, Any]] | None = None,
    premium: bool = False,
    dns_proxy: bool = False,
) -> dict[str, Any]:
    """Attach fwp-hub (child of fwp-base when `base` is given, itself child of fwp-root when `root` is)."""
    res[FW_ID]["properties"]["firewallPolicy"] = {"id": POLICY}
    res[FW_ID]["properties"].pop("applicationRuleCollections", None)
    res[FW_ID]["properties"].pop("networkRuleCollections", None)
    res[FW_ID]["properties"].pop("natRuleCollections", None)
    res[POLICY] = policy(POLICY, base=BASE if base is not None else None, premium=premium, dns_proxy=dns_proxy)
    res[f"{POLICY}/ruleCollectionGroups"] = {"value": groups}
    if base is not None:
        res[BASE] = policy(BASE, base=ROOT if root is not None else None, premium=premium, dns_proxy=dns_proxy)
        res[f"{BASE}/ruleCollectionGroups"] = {"value": base}
    if root is not None:
        res[ROOT] = policy(ROOT, premium=premium, dns_proxy=dns_proxy)
        res[f"{ROOT}/ruleCollectionGroups"] = {"value": root}
    return res


def classic(
    res: dict[str, Any], *, network: list[dict[str, Any]] | None = None, application: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Classic collections on the firewall body: the WithIpGroups spec example's, plus ours."""
    spec = load("network/AzureFirewallGetWithIpGroups.2024-05-01.spec-example.json")["properties"]
    props = res[FW_ID]["properties"]
    for key in ("applicationRuleCollections", "natRuleCollections", "networkRuleCollections"):
        props[key] = copy.deepcopy(spec[key])
    props["networkRuleCollections"] += network or []
    props["applicationRuleCollections"] += application or []
    return res


def classic_collection(name: str, priority: int, action: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": name,
        "id": f"{FW_ID}/collections/{name}",
        "properties": {"priority": priority, "action": {"type": action}, "rules": rules},
    }
