"""ARM worlds for pre-flight tests: one healthy landing zone (with decoys) a planned AKS cluster fits
into, and one planted fault per check family.

Bodies have the shapes ARM GET returns (azure-rest-api-specs examples: VirtualNetworks_Get, Subnets_Get,
NetworkSecurityGroups_Get, KubernetesVersions_List, Usage_List, Providers_Get, RoleAssignments_ListForScope,
UserAssignedIdentities_Get); names and values are ours. Decoys are things a careless predictor would
blame: a deny-SMTP outbound NSG rule, an unrelated /29 subnet in the same VNet, a nearly full quota of
another VM family, an unregistered provider the cluster does not need, and a failed operation of
another cluster in the Activity Log, and policy assignments that deny nothing the planned cluster sends
(tests/preflight/policies.py).
"""

from __future__ import annotations

import copy
from typing import Any

SUB = "00000000-0000-0000-0000-000000000000"
RG = "rg-aks-pf"
NET_RG = "rg-net-pf"
REGION = "westeurope"
NAME = "aks-pf-01"
CLUSTER_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.ContainerService/managedClusters/{NAME}"
NET = f"/subscriptions/{SUB}/resourceGroups/{NET_RG}/providers/Microsoft.Network"
VNET_ID = f"{NET}/virtualNetworks/vnet-pf"
NODE_SUBNET = f"{VNET_ID}/subnets/snet-nodes"
API_SUBNET = f"{VNET_ID}/subnets/snet-apiserver"
MISC_SUBNET = f"{VNET_ID}/subnets/snet-misc"
NODE_NSG = f"{NET}/networkSecurityGroups/nsg-nodes"
API_NSG = f"{NET}/networkSecurityGroups/nsg-apiserver"
UAI_ID = (f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.ManagedIdentity/"
          "userAssignedIdentities/id-aks-pf")
PRINCIPAL = "7a7a7a7a-1111-4222-8333-444444444444"
CLIENT = "7b7b7b7b-1111-4222-8333-444444444444"
TENANT = "11111111-1111-1111-1111-111111111111"
NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"
CAPTURED = "2026-12-01T09:00:00Z"


def _default_rules(nsg_id: str) -> list[dict[str, Any]]:
    def rule(name: str, direction: str, prio: int, src: str, dst: str, access: str) -> dict[str, Any]:
        return {"name": name, "id": f"{nsg_id}/defaultSecurityRules/{name}", "properties": {
            "provisioningState": "Succeeded", "protocol": "*", "sourcePortRange": "*", "destinationPortRange": "*",
            "sourceAddressPrefix": src, "destinationAddressPrefix": dst, "access": access, "priority": prio,
            "direction": direction}}

    return [rule("AllowVnetInBound", "Inbound", 65000, "VirtualNetwork", "VirtualNetwork", "Allow"),
            rule("AllowAzureLoadBalancerInBound", "Inbound", 65001, "AzureLoadBalancer", "*", "Allow"),
            rule("DenyAllInBound", "Inbound", 65500, "*", "*", "Deny"),
            rule("AllowVnetOutBound", "Outbound", 65000, "VirtualNetwork", "VirtualNetwork", "Allow"),
            rule("AllowInternetOutBound", "Outbound", 65001, "*", "Internet", "Allow"),
            rule("DenyAllOutBound", "Outbound", 65500, "*", "*", "Deny")]


def _rule(nsg_id: str, name: str, *, direction: str, priority: int, access: str, protocol: str = "Tcp",
          dst: str = "*", port: str = "*", src: str = "*") -> dict[str, Any]:
    return {"name": name, "id": f"{nsg_id}/securityRules/{name}", "type": "Microsoft.Network/networkSecurityGroups/"
            "securityRules", "properties": {
                "provisioningState": "Succeeded", "protocol": protocol, "sourcePortRange": "*",
                "destinationPortRange": port, "sourceAddressPrefix": src, "destinationAddressPrefix": dst,
                "access": access, "priority": priority, "direction": direction}}


def nsg(nsg_id: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": nsg_id.rsplit("/", 1)[-1], "id": nsg_id, "type": "Microsoft.Network/networkSecurityGroups",
            "location": REGION, "properties": {"provisioningState": "Succeeded", "securityRules": rules,
                                               "defaultSecurityRules": _default_rules(nsg_id)}}


def subnet(sid: str, prefix: str, *, nsg_id: str | None = None, delegated: bool = False) -> dict[str, Any]:
    props: dict[str, Any] = {"addressPrefix": prefix, "provisioningState": "Succeeded",
                             "privateEndpointNetworkPolicies": "Disabled"}
    if nsg_id:
        props["networkSecurityGroup"] = {"id": nsg_id}
    if delegated:
        props["delegations"] = [{"name": "aks", "id": f"{sid}/delegations/aks",
                                 "type": "Microsoft.Network/virtualNetworks/subnets/delegations",
                                 "properties": {"serviceName": "Microsoft.ContainerService/managedClusters",
                                                "actions": ["Microsoft.Network/virtualNetworks/subnets/join/action"]}}]
    return {"id": sid, "name": sid.rsplit("/", 1)[-1], "type": "Microsoft.Network/virtualNetworks/subnets",
            "properties": props}


_GRANT = "0c0c0c0c-0000-4000-8000-0000000000aa"
_DECOY_GRANT = "0c0c0c0c-0000-4000-8000-0000000000bb"


def _role_assignments(scope: str, principal: str | None) -> dict[str, Any]:
    value = []
    if principal:
        value.append({"id": f"{scope}/providers/Microsoft.Authorization/roleAssignments/{_GRANT}",
                      "type": "Microsoft.Authorization/roleAssignments",
                      "name": "0c0c0c0c-0000-4000-8000-0000000000aa",
                      "properties": {"roleDefinitionId": f"/subscriptions/{SUB}/providers/Microsoft.Authorization/"
                                                         f"roleDefinitions/{NETWORK_CONTRIBUTOR}",
                                     "principalId": principal, "principalType": "ServicePrincipal",
                                     "scope": VNET_ID}})
    # decoy: a Reader grant for someone else
    value.append({"id": f"{scope}/providers/Microsoft.Authorization/roleAssignments/{_DECOY_GRANT}",
                  "type": "Microsoft.Authorization/roleAssignments", "name": "0c0c0c0c-0000-4000-8000-0000000000bb",
                  "properties": {"roleDefinitionId": f"/subscriptions/{SUB}/providers/Microsoft.Authorization/"
                                                     "roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7",
                                 "principalId": "99999999-9999-4999-8999-999999999999", "principalType": "User",
                                 "scope": f"/subscriptions/{SUB}"}})
    return {"value": value}


def versions() -> dict[str, Any]:
    def v(minor: str, patches: list[str], *, default: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"version": minor, "capabilities": {"supportPlan": ["KubernetesOfficial"]},
                               "patchVersions": {p: {"upgrades": []} for p in patches}}
        if default:
            out["isDefault"] = True
        return out

    return {"values": [v("1.29", ["1.29.9", "1.29.10"]), v("1.30", ["1.30.5", "1.30.6"], default=True),
                       v("1.31", ["1.31.1", "1.31.2"])]}


def compute_usages(*, ddsv5_used: int = 12, ddsv5_limit: int = 500, cores_used: int = 44,
                   cores_limit: int = 600) -> dict[str, Any]:
    def u(name: str, local: str, cur: int, lim: int) -> dict[str, Any]:
        return {"unit": "Count", "currentValue": cur, "limit": lim, "name": {"value": name, "localizedValue": local}}

    return {"value": [u("cores", "Total Regional vCPUs", cores_used, cores_limit),
                      u("virtualMachines", "Virtual Machines", 11, 25000),
                      u("standardDDSv5Family", "Standard DDSv5 Family vCPUs", ddsv5_used, ddsv5_limit),
                      u("standardDSv2Family", "Standard DSv2 Family vCPUs", 9, 10)]}  # decoy: nearly full, unused


def provider(namespace: str, state: str) -> dict[str, Any]:
    return {"id": f"/subscriptions/{SUB}/providers/{namespace}", "namespace": namespace, "registrationState": state,
            "registrationPolicy": "RegistrationRequired",
            "resourceTypes": [{"resourceType": "managedClusters", "locations": ["West Europe", "North Europe"],
                               "apiVersions": ["2025-05-01"]}]}


def world() -> dict[str, Any]:
    """A landing zone the planned cluster fits into (a snapshot file's object, format_version 2)."""
    node_nsg_rules = [_rule(NODE_NSG, "DenySmtpOut", direction="Outbound", priority=300, access="Deny", port="25",
                            dst="Internet")]
    subnets = [subnet(NODE_SUBNET, "10.42.0.0/22", nsg_id=NODE_NSG),
               subnet(API_SUBNET, "10.42.8.0/28", nsg_id=API_NSG, delegated=True),
               subnet(MISC_SUBNET, "10.42.9.0/29")]
    vnet = {"id": VNET_ID, "name": "vnet-pf", "type": "Microsoft.Network/virtualNetworks", "location": REGION,
            "properties": {"provisioningState": "Succeeded", "addressSpace": {"addressPrefixes": ["10.42.0.0/16"]},
                           "subnets": copy.deepcopy(subnets), "virtualNetworkPeerings": []}}
    res: dict[str, Any] = {
        f"/subscriptions/{SUB}/resourceGroups/{RG}": {"id": f"/subscriptions/{SUB}/resourceGroups/{RG}", "name": RG,
                                                       "location": REGION,
                                                       "properties": {"provisioningState": "Succeeded"}},
        VNET_ID: vnet,
        NODE_NSG: nsg(NODE_NSG, node_nsg_rules),
        API_NSG: nsg(API_NSG, []),
        UAI_ID: {"id": UAI_ID, "name": "id-aks-pf", "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
                 "location": REGION, "properties": {"principalId": PRINCIPAL, "clientId": CLIENT, "tenantId": TENANT}},
        f"/subscriptions/{SUB}/providers/Microsoft.ContainerService/locations/{REGION}/kubernetesVersions": versions(),
        f"/subscriptions/{SUB}/providers/Microsoft.Compute/locations/{REGION}/usages": compute_usages(),
        f"/subscriptions/{SUB}/providers/Microsoft.Network/locations/{REGION}/usages": {"value": [
            {"currentValue": 4, "limit": 1000, "unit": "Count",
             "name": {"value": "PublicIPAddresses", "localizedValue": "Public IP Addresses"}},
            {"currentValue": 4, "limit": 1000, "unit": "Count",
             "name": {"value": "StandardSkuPublicIpAddresses", "localizedValue": "Public IP Addresses - Standard"}}]},
        f"/subscriptions/{SUB}/providers/Microsoft.ContainerService": provider("Microsoft.ContainerService",
                                                                                "Registered"),
        f"/subscriptions/{SUB}/providers/Microsoft.Kusto": provider("Microsoft.Kusto", "NotRegistered"),  # decoy
    }
    res[f"{VNET_ID}/providers/Microsoft.Authorization/roleAssignments"] = _role_assignments(VNET_ID, PRINCIPAL)
    for s in subnets:
        res[s["id"]] = s
        res[f"{s['id']}/providers/Microsoft.Authorization/roleAssignments"] = _role_assignments(s["id"], PRINCIPAL)
    other = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.ContainerService/managedClusters/aks-other"
    activity = [{  # decoy: another cluster's failed write, yesterday
        "correlationId": "c0c0c0c0-1111-4111-8111-111111111111", "eventTimestamp": "2026-11-30T10:00:00.0000000Z",
        "level": "Error", "status": {"value": "Failed", "localizedValue": "Failed"}, "resourceId": other,
        "operationName": {"value": "Microsoft.ContainerService/managedClusters/write"},
        "subscriptionId": SUB, "properties": {"statusCode": "BadRequest", "statusMessage":
                                              '{"error":{"code":"QuotaExceeded","message":"quota"}}'}}]
    from tests.preflight import policies

    snap = {"format_version": 2, "captured_at": CAPTURED, "redacted": False, "resources": res,
            "failed_reads": {}, "activity_log": activity, "activity_log_error": None}
    policies.install(snap, policies.decoys())  # decoy policy assignments: none denies the planned cluster
    return snap


def planned_cluster(**over: Any) -> dict[str, Any]:
    """The cluster as you would PUT it (no read-only state): VNet integration, overlay, user-assigned identity."""
    body: dict[str, Any] = {
        "id": CLUSTER_ID, "name": NAME, "type": "Microsoft.ContainerService/managedClusters", "location": REGION,
        "sku": {"name": "Base", "tier": "Standard"},
        "identity": {"type": "UserAssigned", "userAssignedIdentities": {UAI_ID: {}}},
        "properties": {
            "kubernetesVersion": "1.30.5", "dnsPrefix": NAME, "enableRBAC": True,
            "agentPoolProfiles": [{"name": "system", "mode": "System", "count": 3, "vmSize": "Standard_D4ds_v5",
                                   "osType": "Linux", "type": "VirtualMachineScaleSets", "maxPods": 30,
                                   "vnetSubnetID": NODE_SUBNET, "orchestratorVersion": "1.30.5",
                                   "availabilityZones": ["1", "2", "3"], "upgradeSettings": {"maxSurge": "33%"}}],
            "networkProfile": {"networkPlugin": "azure", "networkPluginMode": "overlay", "podCidr": "10.244.0.0/16",
                               "serviceCidr": "10.0.0.0/16", "dnsServiceIP": "10.0.0.10",
                               "outboundType": "loadBalancer", "loadBalancerSku": "standard",
                               "loadBalancerProfile": {"managedOutboundIPs": {"count": 1}}},
            "apiServerAccessProfile": {"enableVnetIntegration": True, "subnetId": API_SUBNET,
                                       "enablePrivateCluster": False,
                                       "authorizedIPRanges": ["203.0.113.0/24", "10.42.0.0/22"]},
        },
    }
    body["identity"]["userAssignedIdentities"] = {UAI_ID: {"principalId": PRINCIPAL, "clientId": CLIENT}}
    for path, value in over.items():
        node = body
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
        if value is _DELETE:
            node.pop(keys[-1], None)
        else:
            node[keys[-1]] = value
    return body


_DELETE = object()
DELETE = _DELETE


def existing_cluster(**over: Any) -> dict[str, Any]:
    """The same cluster as ARM GET returns it once it runs (for day-2 pre-flight)."""
    body = planned_cluster(**over)
    p = body["properties"]
    p.update(provisioningState="Succeeded", powerState={"code": "Running"},
             currentKubernetesVersion=p["kubernetesVersion"], nodeResourceGroup=f"MC_{RG}_{NAME}_{REGION}",
             fqdn=f"{NAME}-abc.hcp.{REGION}.azmk8s.io")
    for pool in p["agentPoolProfiles"]:
        pool.update(provisioningState="Succeeded", powerState={"code": "Running"},
                    currentOrchestratorVersion=pool["orchestratorVersion"])
    return body


def with_existing(snapshot: dict[str, Any], cluster: dict[str, Any]) -> dict[str, Any]:
    """The world with the cluster running: its GET body, node resource group and upgrade profile."""
    out = copy.deepcopy(snapshot)
    res = out["resources"]
    res[CLUSTER_ID] = cluster
    nrg = cluster["properties"]["nodeResourceGroup"]
    res[f"/subscriptions/{SUB}/resourceGroups/{nrg}"] = {
        "id": f"/subscriptions/{SUB}/resourceGroups/{nrg}", "name": nrg, "location": REGION, "managedBy": CLUSTER_ID,
        "tags": {"aks-managed-cluster-name": NAME, "aks-managed-cluster-rg": RG},
        "properties": {"provisioningState": "Succeeded"}}
    nrg_net = f"/subscriptions/{SUB}/resourceGroups/{nrg}/providers/Microsoft.Network"
    lb_id, pip_id = f"{nrg_net}/loadBalancers/kubernetes", f"{nrg_net}/publicIPAddresses/aks-outbound-ip"
    fe = f"{lb_id}/frontendIPConfigurations/aks-outbound"
    res[pip_id] = {"id": pip_id, "name": "aks-outbound-ip", "location": REGION, "sku": {"name": "Standard"},
                   "properties": {"provisioningState": "Succeeded", "ipAddress": "20.50.60.70",
                                  "publicIPAllocationMethod": "Static"}}
    res[lb_id] = {"id": lb_id, "name": "kubernetes", "location": REGION, "sku": {"name": "Standard"},
                  "properties": {"provisioningState": "Succeeded",
                                 "frontendIPConfigurations": [{"id": fe, "name": "aks-outbound",
                                                               "properties": {"publicIPAddress": {"id": pip_id}}}],
                                 "outboundRules": [{"id": f"{lb_id}/outboundRules/aksOutboundRule",
                                                    "name": "aksOutboundRule",
                                                    "properties": {"frontendIPConfigurations": [{"id": fe}],
                                                                   "protocol": "All"}}]}}
    cluster["properties"]["networkProfile"]["loadBalancerProfile"]["effectiveOutboundIPs"] = [{"id": pip_id}]
    res[f"{CLUSTER_ID}/upgradeProfiles/default"] = {
        "id": f"{CLUSTER_ID}/upgradeProfiles/default", "name": "default",
        "type": "Microsoft.ContainerService/managedClusters/upgradeprofiles",
        "properties": {"controlPlaneProfile": {"kubernetesVersion": cluster["properties"]["kubernetesVersion"],
                                               "osType": "Linux", "upgrades": [{"kubernetesVersion": "1.30.6"},
                                                                               {"kubernetesVersion": "1.31.1"},
                                                                               {"kubernetesVersion": "1.31.2"}]},
                       "agentPoolProfiles": []}}
    return out
