"""Plumbing for the network check tests: real ARM bodies (tests/fixtures/arm/network, spec examples
and the constructed AKS cluster) edited to plant one fault, served by SnapshotArmReader."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.checklib.base import CheckContext, CheckSpec, run_one
from shared.local.snapshot import Snapshot, SnapshotArmReader
from shared.models import CheckResult, Classification, FailedOperation, OperationError, OperationKind
from tests.unit.checks.facts_support import typed_facts

ARM = Path(__file__).resolve().parents[2] / "fixtures" / "arm"

SUB = "00000000-0000-0000-0000-000000000000"
RG = "rg-aks-prod"
CLUSTER = "aks-prod-01"
# lower-case resourcegroups, exactly as the constructed cluster body has it
CLUSTER_ID = f"/subscriptions/{SUB}/resourcegroups/{RG}/providers/Microsoft.ContainerService/managedClusters/{CLUSTER}"
NODE_RG = "MC_rg-aks-prod_aks-prod-01_westeurope"
NET_RG = f"/subscriptions/{SUB}/resourceGroups/rg-network/providers/Microsoft.Network"
VNET_ID = f"{NET_RG}/virtualNetworks/vnet-spoke-aks"
NODE_SUBNET = f"{VNET_ID}/subnets/snet-aks-nodes"
API_SUBNET = f"{VNET_ID}/subnets/snet-aks-apiserver"
NODE_NSG = f"{NET_RG}/networkSecurityGroups/nsg-aks-nodes"
API_NSG = f"{NET_RG}/networkSecurityGroups/nsg-aks-apiserver"
RT_ID = f"{NET_RG}/routeTables/rt-aks-egress"
HUB_VNET = f"/subscriptions/{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/virtualNetworks/vnet-hub"
FW_ID = f"/subscriptions/{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/azureFirewalls/fw-hub"
NOW = datetime(2024, 11, 21, 13, 0, 0, tzinfo=UTC)


def load(rel: str) -> dict[str, Any]:
    """Body of a fixture: `responses.200.body` (spec example), `body` (constructed) or the object."""
    obj = json.loads((ARM / rel).read_text(encoding="utf-8"))
    if "responses" in obj:
        obj = obj["responses"].get("200", obj["responses"].get("201"))["body"]
    elif "body" in obj:
        obj = obj["body"]
    return copy.deepcopy(obj)


def cluster(*, private: bool = True, vnet_integration: bool = True, outbound: str = "userDefinedRouting",
            ranges: list[str] | None = None, apiserver_subnet: str | None = API_SUBNET,
            node_subnet: str | None = NODE_SUBNET, location: str = "westeurope") -> dict[str, Any]:
    """The constructed failed cluster (2025-05-01), reshaped."""
    c = load("aks/ManagedCluster.get.failed-private-vnetintegration-udr.2025-05-01.constructed.json")
    p = c["properties"]
    c["location"] = location
    api = p["apiServerAccessProfile"]
    api["enablePrivateCluster"] = private
    api["enableVnetIntegration"] = vnet_integration
    if apiserver_subnet is None:
        api.pop("subnetId", None)
    else:
        api["subnetId"] = apiserver_subnet
    if not vnet_integration:
        api.pop("subnetId", None)
    if ranges is not None:
        api["authorizedIPRanges"] = ranges
    if not private:
        p.pop("privateFQDN", None)
        p["fqdn"] = "aks-prod-01-abcd1234.hcp.westeurope.azmk8s.io"
    p["networkProfile"]["outboundType"] = outbound
    pool = p["agentPoolProfiles"][0]
    if node_subnet is None:
        pool.pop("vnetSubnetID", None)
    else:
        pool["vnetSubnetID"] = node_subnet
    return c


def subnet(sid: str, prefix: str | list[str], *, nsg: str | None = None, rt: str | None = None,
           nat: str | None = None, delegations: list[str] | None = None,
           ip_configs: list[str] | None = None) -> dict[str, Any]:
    """SubnetGet spec example (2024-05-01) re-pointed; a list prefix becomes `addressPrefixes`."""
    s = load("network/SubnetGet.2024-05-01.spec-example.json")
    s["id"], s["name"] = sid, sid.rsplit("/", 1)[-1]
    p = s["properties"]
    if isinstance(prefix, list):
        p.pop("addressPrefix", None)
        p["addressPrefixes"] = prefix
    else:
        p["addressPrefix"] = prefix
    if nsg:
        p["networkSecurityGroup"] = {"id": nsg}
    if rt:
        p["routeTable"] = {"id": rt}
    if nat:
        p["natGateway"] = {"id": nat}
    if delegations:
        p["delegations"] = [{"name": f"d{i}", "id": f"{sid}/delegations/d{i}",
                             "type": "Microsoft.Network/virtualNetworks/subnets/delegations",
                             "properties": {"serviceName": d, "actions": [
                                 "Microsoft.Network/virtualNetworks/subnets/join/action"]}}
                            for i, d in enumerate(delegations)]
    if ip_configs:
        p["ipConfigurations"] = [{"id": i} for i in ip_configs]
    return s


def vnet(vid: str = VNET_ID, prefixes: Sequence[str] = ("10.224.0.0/12",), *,
         subnets: Sequence[dict[str, Any]] = (), peerings: Sequence[tuple[str, list[str]]] = (),
         dns: list[str] | None = None, location: str = "westeurope") -> dict[str, Any]:
    """VirtualNetworkGetWithSubnetDelegation spec example re-pointed."""
    v = load("network/VirtualNetworkGetWithSubnetDelegation.2024-05-01.spec-example.json")
    v["id"], v["name"], v["location"] = vid, vid.rsplit("/", 1)[-1], location
    p = v["properties"]
    p["addressSpace"]["addressPrefixes"] = list(prefixes)
    p["subnets"] = [copy.deepcopy(s) for s in subnets]
    p["virtualNetworkPeerings"] = [
        {"name": f"peer-{r.rsplit('/', 1)[-1]}", "id": f"{vid}/virtualNetworkPeerings/peer-{r.rsplit('/', 1)[-1]}",
         "properties": {"peeringState": "Connected", "remoteVirtualNetwork": {"id": r},
                        "remoteAddressSpace": {"addressPrefixes": space}}} for r, space in peerings]
    if dns is not None:
        p["dhcpOptions"] = {"dnsServers": dns}
    return v


def rule(name: str, priority: int, direction: str, access: str, *, protocol: str = "Tcp", src: Any = "*",
         dst: Any = "*", ports: Any = "*") -> dict[str, Any]:
    """A securityRules[] entry; list values use the plural ARM properties."""
    p: dict[str, Any] = {"provisioningState": "Succeeded", "protocol": protocol, "sourcePortRange": "*",
                         "access": access, "priority": priority, "direction": direction}
    for single, plural, v in (("sourceAddressPrefix", "sourceAddressPrefixes", src),
                              ("destinationAddressPrefix", "destinationAddressPrefixes", dst),
                              ("destinationPortRange", "destinationPortRanges", ports)):
        if isinstance(v, list):
            p[plural] = v
        else:
            p[single] = v
    return {"name": name, "id": f"{NODE_NSG}/securityRules/{name}", "properties": p}


def nsg(nid: str = NODE_NSG, rules: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """NetworkSecurityGroupGet spec example (6 default rules kept) with our securityRules."""
    n = load("network/NetworkSecurityGroupGet.2024-05-01.spec-example.json")
    n["id"], n["name"] = nid, nid.rsplit("/", 1)[-1]
    n["properties"]["securityRules"] = list(rules)
    return n


def route_table(rid: str = RT_ID, routes: Sequence[tuple[str, str, str | None]] = ()) -> dict[str, Any]:
    """The constructed UDR route table with (prefix, nextHopType, nextHopIp) routes."""
    t = load("network/RouteTable.get.udr-to-firewall.constructed.json")
    t["id"], t["name"] = rid, rid.rsplit("/", 1)[-1]
    t["properties"]["routes"] = [
        {"name": f"r{i}", "id": f"{rid}/routes/r{i}",
         "properties": {"addressPrefix": pfx, "nextHopType": hop, **({"nextHopIpAddress": ip} if ip else {})}}
        for i, (pfx, hop, ip) in enumerate(routes)]
    return t


def firewall(private_ip: str = "10.0.1.4", *, public_ip_id: str | None = None) -> dict[str, Any]:
    """AzureFirewallGet spec example re-pointed into the hub."""
    f = load("network/AzureFirewallGet.2024-05-01.spec-example.json")
    f["id"], f["name"] = FW_ID, "fw-hub"
    cfg = f["properties"]["ipConfigurations"][0]
    cfg["id"] = f"{FW_ID}/azureFirewallIpConfigurations/ipconfig1"
    cfg["properties"]["privateIPAddress"] = private_ip
    cfg["properties"]["subnet"]["id"] = f"{HUB_VNET}/subnets/AzureFirewallSubnet"
    cfg["properties"]["publicIPAddress"]["id"] = public_ip_id or (
        f"/subscriptions/{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/publicIPAddresses/pip-fw-hub")
    return f


def hub(fw_ip_config: bool = True) -> dict[str, Any]:
    fw_subnet = subnet(f"{HUB_VNET}/subnets/AzureFirewallSubnet", "10.0.1.0/26",
                       ip_configs=[f"{FW_ID}/azureFirewallIpConfigurations/ipconfig1"] if fw_ip_config else None)
    return vnet(HUB_VNET, ("10.0.0.0/16",), subnets=[fw_subnet])


def public_ip(pid: str, address: str) -> dict[str, Any]:
    return {"id": pid, "name": pid.rsplit("/", 1)[-1], "type": "Microsoft.Network/publicIPAddresses",
            "location": "westeurope", "sku": {"name": "Standard", "tier": "Regional"},
            "properties": {"provisioningState": "Succeeded", "publicIPAddressVersion": "IPv4",
                           "publicIPAllocationMethod": "Static", "ipAddress": address}}




def make_ctx(resources: dict[str, dict[str, Any]], *, code: str = "VMExtensionError_K8SAPIServerConnFail",
             subcategory: str | None = "timeout", facts: dict[str, Any] | None = None, verb: str = "create",
             agent_pool: str | None = None, cluster_id: str = CLUSTER_ID) -> CheckContext:
    op = FailedOperation(
        event_id="11111111-2222-3333-4444-555555555555", event_type="Microsoft.Resources.ResourceWriteFailure",
        event_time=NOW, kind=OperationKind.WRITE_FAILURE, cluster_id=cluster_id, subscription_id=SUB,
        resource_group=RG, cluster_name=CLUSTER, agent_pool=agent_pool, resource_id=cluster_id,
        operation_name="Microsoft.ContainerService/managedClusters/write", verb=verb,
        correlation_id="55555555-5555-5555-5555-555555555555")
    error = OperationError(code=code, message="", source="cluster_status")
    cls = Classification(code=code, entry_id=code, category="cse-network", subcategory=subcategory,
                         facts=typed_facts(error, facts))
    reader = SnapshotArmReader(Snapshot(resources, []))
    return CheckContext(operation=op, error=error, classification=cls, arm=reader, now=NOW)


async def run(spec: CheckSpec[Any], ctx: CheckContext) -> CheckResult:
    return await run_one(spec, ctx, 10.0)


APISERVER_FRONTEND = (f"/subscriptions/{SUB}/resourceGroups/{NODE_RG}/providers/Microsoft.Network/loadBalancers/"
                      "kube-apiserver/frontendIPConfigurations/kube-apiserver-frontend")
FW_PIP = f"/subscriptions/{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/publicIPAddresses/pip-fw-hub"


def world(*, c: dict[str, Any] | None = None, node_subnet: dict[str, Any] | None = None,
          api_subnet: dict[str, Any] | None = None, node_nsg: dict[str, Any] | None = None,
          api_nsg: dict[str, Any] | None = None, rt: dict[str, Any] | None = None,
          dns: list[str] | None = None, extra: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """A healthy BYO-VNet cluster (private, API Server VNet Integration, UDR to an Azure Firewall in a
    peered hub). Pass a replacement body to plant one fault."""
    ns = node_subnet or subnet(NODE_SUBNET, "10.224.0.0/16", nsg=NODE_NSG, rt=RT_ID)
    api = api_subnet or subnet(API_SUBNET, "10.225.0.0/28", nsg=API_NSG, rt=RT_ID,
                               delegations=["Microsoft.ContainerService/managedClusters"],
                               ip_configs=[APISERVER_FRONTEND])
    res = {
        CLUSTER_ID: c or cluster(),
        NODE_SUBNET: ns,
        API_SUBNET: api,
        VNET_ID: vnet(subnets=[ns, api], peerings=[(HUB_VNET, ["10.0.0.0/16"])], dns=dns),
        NODE_NSG: node_nsg or nsg(NODE_NSG),
        API_NSG: api_nsg or nsg(API_NSG),
        RT_ID: rt or route_table(RT_ID, [("0.0.0.0/0", "VirtualAppliance", "10.0.1.4")]),
        HUB_VNET: hub(),
        FW_ID: firewall(),
        FW_PIP: public_ip(FW_PIP, "20.50.60.70"),
    }
    res.update(extra or {})
    return res
