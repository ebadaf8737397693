"""ARM bodies for the NSG / service tag / egress tests, from azure-rest-api-specs examples re-pointed:
the scale set of a node pool (VirtualMachineScaleSet_Get_WithUserData, 2024-07-01) with its NIC NSG,
the service tag list (ServiceTagsList, 2024-05-01), a NAT gateway (NatGatewayGet) and the `kubernetes`
load balancer with its outbound rule (LoadBalancerCreateWithOutboundRules)."""

from __future__ import annotations

import json
from typing import Any

from tests.unit.checks.net_support import NODE_RG, NODE_SUBNET, SUB, load, nsg

NODE_RG_ID = f"/subscriptions/{SUB}/resourceGroups/{NODE_RG}"
VMSS_LIST = f"{NODE_RG_ID}/providers/Microsoft.Compute/virtualMachineScaleSets"
VMSS_ID = f"{VMSS_LIST}/aks-system-12345678-vmss"
AKS_NSG = f"{NODE_RG_ID}/providers/Microsoft.Network/networkSecurityGroups/aks-agentpool-12345678-nsg"
TAGS_ID = f"/subscriptions/{SUB}/providers/Microsoft.Network/locations/westeurope/serviceTags"
LB_ID = f"{NODE_RG_ID}/providers/Microsoft.Network/loadBalancers/kubernetes"
LB_PIP = f"{NODE_RG_ID}/providers/Microsoft.Network/publicIPAddresses/aks-outbound-ip-1"
NAT_ID = f"/subscriptions/{SUB}/resourceGroups/rg-network/providers/Microsoft.Network/natGateways/ng-aks"
NAT_PIP = f"/subscriptions/{SUB}/resourceGroups/rg-network/providers/Microsoft.Network/publicIPAddresses/pip-ng-aks"


def scale_set(vmss_id: str = VMSS_ID, *, pool: str = "system", subnet: str = NODE_SUBNET,
              nic_nsg: str | None = AKS_NSG) -> dict[str, Any]:
    """VirtualMachineScaleSet_Get_WithUserData re-pointed: one NIC configuration on `subnet`."""
    v = load("network/VirtualMachineScaleSet_Get_WithUserData.2024-07-01.spec-example.json")
    v["id"], v["name"], v["location"] = vmss_id, vmss_id.rsplit("/", 1)[-1], "westeurope"
    v["tags"] = {"aks-managed-poolName": pool, "aks-managed-orchestrator": "Kubernetes:1.30.6"}
    cfg = v["properties"]["virtualMachineProfile"]["networkProfile"]["networkInterfaceConfigurations"][0]
    cfg["name"] = vmss_id.rsplit("/", 1)[-1]
    cfg["properties"]["ipConfigurations"][0]["properties"]["subnet"]["id"] = subnet
    if nic_nsg is None:
        cfg["properties"].pop("networkSecurityGroup", None)
    else:
        cfg["properties"]["networkSecurityGroup"]["id"] = nic_nsg
    return v


def aks_nsg(rules: list[dict[str, Any]] | None = None, nid: str = AKS_NSG) -> dict[str, Any]:
    """The AKS-managed NIC NSG: the spec example's default rules plus `rules`."""
    fixed = []
    for r in rules or []:
        r = dict(r)
        r["id"] = f"{nid}/securityRules/{r['name']}"
        fixed.append(r)
    return nsg(nid, fixed)


def scale_sets(*sets: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """World entry for the node resource group's scale set list, as ARM lists them."""
    return {VMSS_LIST: {"value": list(sets)}}


def service_tags(extra: dict[str, list[str]] | None = None, *, next_link: bool = False) -> dict[str, Any]:
    """ServiceTagsList example with the tags AKS egress needs added (prefixes documented-shaped)."""
    body = load("network/ServiceTagsList.2024-05-01.spec-example.json")
    body["id"] = f"/subscriptions/{SUB}/providers/Microsoft.Network/serviceTags/public"
    tags = {"AzureCloud": ["20.0.0.0/8", "40.64.0.0/10", "51.0.0.0/8"],
            "AzureCloud.westeurope": ["20.50.0.0/16", "20.61.0.0/16", "51.105.0.0/16"],
            "AzureCloud.eastus": ["20.42.0.0/17", "40.71.0.0/16"],
            "MicrosoftContainerRegistry": ["20.42.66.0/23", "20.61.99.128/25"],
            "AzureActiveDirectory": ["20.190.128.0/18", "40.126.0.0/18"]}
    tags.update(extra or {})
    for name, prefixes in tags.items():
        region = name.split(".", 1)[1] if "." in name else ""
        body["values"].append({"name": name, "id": name, "properties": {
            "changeNumber": "42", "region": region, "systemService": name.split(".", 1)[0],
            "addressPrefixes": prefixes}})
    if not next_link:
        body.pop("nextLink", None)
    return body


def kubernetes_lb(*, outbound_rules: bool = True, pip: str = LB_PIP) -> dict[str, Any]:
    """LoadBalancerCreateWithOutboundRules (200) re-pointed to the node resource group's `kubernetes` LB."""
    lb = load("network/LoadBalancerCreateWithOutboundRules.2024-03-01.spec-example.json")
    old = lb["id"]
    text = json.dumps(lb).replace(old, LB_ID)
    lb = dict(json.loads(text))
    lb["name"], lb["location"] = "kubernetes", "westeurope"
    fe = lb["properties"]["frontendIPConfigurations"][0]
    fe["properties"]["publicIPAddress"]["id"] = pip
    if not outbound_rules:
        lb["properties"]["outboundRules"] = []
        fe["properties"].pop("outboundRules", None)
        lb["properties"]["backendAddressPools"][0]["properties"].pop("outboundRules", None)
    return lb


def nat_gateway(nid: str = NAT_ID, *, pips: list[str] | None = None, state: str = "Succeeded") -> dict[str, Any]:
    """NatGatewayGet example re-pointed."""
    n = load("network/NatGatewayGet.2024-03-01.spec-example.json")
    n["id"], n["name"], n["location"] = nid, nid.rsplit("/", 1)[-1], "westeurope"
    p = n["properties"]
    p["provisioningState"] = state
    p["publicIpAddresses"] = [{"id": i} for i in (pips if pips is not None else [NAT_PIP])]
    p["publicIpPrefixes"] = []
    p["subnets"] = [{"id": NODE_SUBNET}]
    return n
