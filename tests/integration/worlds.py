"""Worlds for the end-to-end matrix: a realistic cluster in ARM, one failed AKS operation with ONE
planted root cause, and decoys a careless diagnoser would blame.

Bodies are the real ARM shapes the unit tests use (tests/fixtures/arm/**: azure-rest-api-specs
examples and the constructed 2025-05-01 cluster), built through the read-only helpers in
tests/unit/checks/*_support.py and then edited. Error texts are Microsoft's, from the AKS
troubleshooting articles (MicrosoftDocs/SupportArticles-docs, support/azure/azure-kubernetes/) and
the ARM docs; each world names the article in `source`. They sit where AKS puts them:

- an asynchronous failure (the long-running operation failed): the cluster (and the agent pool the
  operation targeted) is `Failed` with `properties.status.provisioningError`, and the Activity Log
  EndRequest of the correlation id carries the error in `properties.statusMessage`;
- a synchronous 400 rejection: the cluster stays `Succeeded` without a provisioningError; the error
  is only in the Activity Log (`statusCode: BadRequest`).

A world is served as a snapshot file (shared/local/snapshot.py, format 2) and an Event Grid
ResourceWriteFailure event, which is exactly what `aks-triage diagnose --snapshot` reads.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from shared.models import Finding
from tests.unit.checks import egress_support as es
from tests.unit.checks import firewall_support as fs
from tests.unit.checks import net_support as ns
from tests.unit.checks import platform_support as ps
from tests.unit.checks import requested_support as rs

SUB = ns.SUB
RG = ns.RG
CLUSTER_ID = ns.CLUSTER_ID
NODE_RG = ns.NODE_RG
NODE_RG_ID = f"/subscriptions/{SUB}/resourceGroups/{NODE_RG}"
NET_RG_ID = f"/subscriptions/{SUB}/resourceGroups/rg-network"
CLUSTER_RG_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}"
NOW = ns.NOW
EVENT_TIME = NOW - timedelta(minutes=20)
CORRELATION = "5b0c2f7e-3d4a-4c1b-9e8f-7a6b5c4d3e2f"
TENANT = "11111111-1111-1111-1111-111111111111"
PRINCIPAL = ps.PRINCIPAL  # object id of the cluster's user-assigned control-plane identity
UAI_ID = ps.UAI_ID
NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"
SERVICE_CIDR = "172.16.0.0/16"  # outside the spoke (10.224/12) and the hub (10.0/16)
DNS_SERVICE_IP = "172.16.0.10"
POOL = "system"

Operation = Literal["create", "update", "scale", "upgrade", "nodepool-add"]

# The error envelopes AKS and ARM put around the specific error (Activity Log statusMessage).
LRO_WRAPPER = {
    "code": "ResourceOperationFailure",
    "message": "The resource operation completed with terminal provisioning state 'Failed'.",
}


@dataclass(frozen=True)
class Decoy:
    """Something that looks suspicious in this world but does not explain the failure: `check` is
    the check a careless diagnoser would blame for it."""

    check: str
    what: str


@dataclass
class World:
    id: str
    family: str
    planted: str  # the check that finds the planted root cause
    fault: str  # what was planted, in words
    error: dict[str, Any]  # the ARM error object (code, message, target?, details?) AKS reports
    source: str  # where the error text comes from (Microsoft documentation)
    resources: dict[str, dict[str, Any]]
    decoys: tuple[Decoy, ...] = ()
    sync: bool = False  # a synchronous 400: Activity Log only, the cluster stays Succeeded
    operation: Operation = "create"
    agent_pool: str | None = None  # the operation targeted this agent pool (scale, nodepool add)
    failed_reads: dict[str, dict[str, Any]] = field(default_factory=dict)

    # --- what the diagnoser reads ------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        res = copy.deepcopy(self.resources)
        cluster = res[CLUSTER_ID]
        props = cluster["properties"]
        targets: list[dict[str, Any]] = [cluster]
        if self.agent_pool:
            pool_id = f"{CLUSTER_ID}/agentPools/{self.agent_pool}"
            if pool_id not in res:
                res[pool_id] = _agent_pool_body(cluster, self.agent_pool)
            targets.append(res[pool_id])
        for body in targets:
            p = body["properties"]
            if self.sync:
                p["provisioningState"] = "Succeeded"
                p.pop("status", None)
            else:
                p["provisioningState"] = "Failed"
                p["status"] = {"provisioningError": copy.deepcopy(self.error)}
        for pool in props.get("agentPoolProfiles") or []:
            if not self.sync and (self.agent_pool is None or pool.get("name") == self.agent_pool):
                pool["provisioningState"] = "Failed"
            else:
                pool["provisioningState"] = "Succeeded"
        return {
            "format_version": 2,
            "captured_at": NOW.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "redacted": False,
            "resources": res,
            "failed_reads": copy.deepcopy(self.failed_reads),
            "activity_log": [self._activity_entry()],
            "activity_log_error": None,
        }

    @property
    def resource_uri(self) -> str:
        return f"{CLUSTER_ID}/agentPools/{self.agent_pool}" if self.agent_pool else CLUSTER_ID

    @property
    def operation_name(self) -> str:
        if self.agent_pool:
            return "Microsoft.ContainerService/managedClusters/agentPools/write"
        return "Microsoft.ContainerService/managedClusters/write"

    def _activity_entry(self) -> dict[str, Any]:
        """The failed EndRequest, from the constructed Activity Log fixture (REST `value[]` shape)."""
        entry: dict[str, Any] = json.loads(json.dumps(ps.body("activitylog.write-failed")["value"][0]))
        status_message: dict[str, Any]
        if self.sync:
            status_message = {"error": copy.deepcopy(self.error)}
            status_code = "BadRequest"
        else:
            status_message = {"status": "Failed", "error": {**LRO_WRAPPER, "details": [copy.deepcopy(self.error)]}}
            status_code = "Conflict"
        stamp = (EVENT_TIME - timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S.1234567Z")
        entry.update(
            {
                "correlationId": CORRELATION,
                "eventTimestamp": stamp,
                "submissionTimestamp": stamp,
                "resourceId": self.resource_uri,
                "resourceGroupName": RG,
                "subscriptionId": SUB,
                "id": f"{self.resource_uri}/events/0a1b2c3d-4e5f-4a6b-9c7d-8e9f0a1b2c3d/ticks/638677904961234567",
                "eventDataId": "0a1b2c3d-4e5f-4a6b-9c7d-8e9f0a1b2c3d",
            }
        )
        entry["authorization"] = {"action": self.operation_name, "scope": self.resource_uri}
        entry["operationName"] = {"value": self.operation_name, "localizedValue": self.operation_name}
        entry["status"] = {"value": "Failed", "localizedValue": "Failed"}
        entry["subStatus"] = {"value": status_code if self.sync else "", "localizedValue": ""}
        entry["properties"] = {
            "statusCode": status_code,
            "serviceRequestId": None,
            "statusMessage": json.dumps(status_message),
        }
        return entry

    def event(self) -> dict[str, Any]:
        """The Event Grid ResourceWriteFailure event (Event Grid schema) for the failed write."""
        data: dict[str, Any] = {
            "authorization": {"scope": self.resource_uri, "action": self.operation_name},
            "claims": {
                "http://schemas.microsoft.com/identity/claims/objectidentifier": "44444444-4444-4444-4444-444444444444",
                "http://schemas.microsoft.com/identity/claims/tenantid": TENANT,
            },
            "correlationId": CORRELATION,
            "resourceProvider": "Microsoft.ContainerService",
            "resourceUri": self.resource_uri,
            "operationName": self.operation_name,
            "status": "Failed",
            "subscriptionId": SUB,
            "tenantId": TENANT,
        }
        if self.operation != "create" and self.operation != "nodepool-add":
            # Creates carry no httpRequest; updates, scales and upgrades are PUTs of the resource.
            data["httpRequest"] = {
                "clientIpAddress": "203.0.113.7",
                "method": "PUT",
                "url": f"https://management.azure.com{self.resource_uri}?api-version=2025-05-01",
            }
        return {
            "subject": self.resource_uri,
            "eventType": "Microsoft.Resources.ResourceWriteFailure",
            "eventTime": EVENT_TIME.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
            "id": _event_id(self.id),
            "data": data,
            "dataVersion": "2",
            "metadataVersion": "1",
            "topic": f"/subscriptions/{SUB}",
        }


def _event_id(name: str) -> str:
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"aks-triage/world/{name}"))


def _agent_pool_body(cluster: dict[str, Any], name: str) -> dict[str, Any]:
    """The agent pool GET body (AgentPool.get fixture shape) from the cluster's profile of that pool."""
    profile = next(p for p in cluster["properties"]["agentPoolProfiles"] if p.get("name") == name)
    props = {k: copy.deepcopy(v) for k, v in profile.items() if k != "name"}
    return {
        "id": f"{CLUSTER_ID}/agentPools/{name}",
        "name": name,
        "type": "Microsoft.ContainerService/managedClusters/agentPools",
        "properties": props,
    }


# --- a healthy estate ------------------------------------------------------------------------


def role_assignments(scope: str, *roles: str, principal: str = PRINCIPAL, at: str = NET_RG_ID) -> dict[str, Any]:
    """RoleAssignments_ListForScope answer for `scope`: the identity's assignments made at `at`."""
    return {
        "value": [
            ps.role_assignment(principal, role, at, name=f"{i:08d}-0000-4000-8000-000000000000")
            for i, role in enumerate(roles)
        ]
    }


def grants(
    *targets: str, roles: tuple[str, ...] = (NETWORK_CONTRIBUTOR,), at: str = NET_RG_ID, principal: str = PRINCIPAL
) -> dict[str, dict[str, Any]]:
    """The role assignments list of each target: `roles` granted to the identity at scope `at`."""
    return {ps.assignments_path(t): role_assignments(t, *roles, at=at, principal=principal) for t in targets}


def registered_providers(*namespaces: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for n in namespaces:
        body = ps.body("provider.containerservice")
        body["id"] = f"/subscriptions/{SUB}/providers/{n}"
        body["namespace"] = n
        body["registrationState"] = "Registered"
        out[body["id"]] = body
    return out


def locks(scope: str, *levels: tuple[str, str]) -> dict[str, dict[str, Any]]:
    """`{scope}/providers/Microsoft.Authorization/locks` with (name, level) locks (locks.rg fixture shape)."""
    tmpl = ps.body("locks.rg")["value"][0]
    items = []
    for name, level in levels:
        lk = copy.deepcopy(tmpl)
        lk["id"] = f"{scope}/providers/Microsoft.Authorization/locks/{name}"
        lk["name"] = name
        lk["properties"] = {"level": level, "notes": f"{level} lock set by the platform team"}
        items.append(lk)
    return {f"{scope}/providers/Microsoft.Authorization/locks": {"value": items}}


def compute_usages(overrides: dict[str, tuple[int, int]] | None = None) -> dict[str, Any]:
    """Usages_List (Microsoft.Compute, westeurope) fixture with (currentValue, limit) overrides."""
    body = ps.body("usages.compute.westeurope")
    for item in body["value"]:
        name = item["name"]["value"]
        if overrides and name in overrides:
            item["currentValue"], item["limit"] = overrides[name]
    known = {i["name"]["value"] for i in body["value"]}
    for name, (cur, lim) in (overrides or {}).items():
        if name not in known:
            body["value"].append(
                {"unit": "Count", "currentValue": cur, "limit": lim, "name": {"value": name, "localizedValue": name}}
            )
    return body


def network_usages(public_ips: tuple[int, int] | None = None) -> dict[str, Any]:
    body = ps.body("usages.network.westeurope")
    if public_ips is not None:
        for item in body["value"]:
            if item["name"]["value"] == "PublicIPAddresses":
                item["currentValue"], item["limit"] = public_ips
    return body


def healthy_private_udr(**cluster_kw: Any) -> dict[str, dict[str, Any]]:
    """A private cluster with API Server VNet Integration in a BYO spoke VNet, egress by UDR to an
    Azure Firewall in a peered hub whose policy allows the AKS required FQDNs; the identity is a
    Network Contributor on the network resource group; the providers are registered; no locks."""
    c = ns.cluster(**cluster_kw)
    net = c["properties"]["networkProfile"]
    net["serviceCidr"], net["serviceCidrs"], net["dnsServiceIP"] = SERVICE_CIDR, [SERVICE_CIDR], DNS_SERVICE_IP
    c["properties"].pop("status", None)
    res = ns.world(c=c)
    fs.with_policy(
        res,
        [
            fs.rcg(
                fs.POLICY,
                "aks",
                200,
                [
                    (
                        "aks-required",
                        100,
                        "Allow",
                        [
                            fs.app_rule("aks-fqdn-tag", tags=["AzureKubernetesService"]),
                            fs.app_rule("aks-global", fqdns=list(fs.GLOBAL)),
                        ],
                    ),
                    ("aks-network", 200, "Allow", [fs.net_rule("ntp", dst=["*"], ports=["123"], protocols=["UDP"])]),
                ],
            )
        ],
    )
    res.update(es.scale_sets(es.scale_set()))
    res[es.AKS_NSG] = es.aks_nsg()
    res.update(grants(ns.NODE_SUBNET, ns.API_SUBNET, ns.RT_ID, ns.VNET_ID))
    res.update(
        registered_providers(
            "Microsoft.ContainerService",
            "Microsoft.Network",
            "Microsoft.Compute",
            "Microsoft.Storage",
            "Microsoft.OperationalInsights",
            "Microsoft.OperationsManagement",
        )
    )
    res[f"{NODE_RG_ID}"] = ps.body("resourcegroup.node")
    res[rs.COMPUTE_USAGES] = compute_usages()
    res[rs.NETWORK_USAGES] = network_usages()
    res[rs.SKUS_ID] = rs.skus()
    res[rs.VERSIONS_ID] = kubernetes_versions()
    res[es.TAGS_ID] = service_tags()
    for scope in (CLUSTER_RG_ID, NODE_RG_ID, NET_RG_ID, CLUSTER_ID):
        res.update(locks(scope))
    res[UAI_ID] = {
        "id": UAI_ID,
        "name": UAI_ID.rsplit("/", 1)[-1],
        "location": "westeurope",
        "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
        "properties": {
            "tenantId": TENANT,
            "principalId": PRINCIPAL,
            "clientId": "22222222-2222-2222-2222-222222222222",
        },
    }
    return res


API_PUBLIC_IP = "20.50.12.34"  # the public API server's address (inside AzureCloud.westeurope)
LB_OUTBOUND_IP = "20.61.20.30"


def healthy_public_lb(**cluster_kw: Any) -> dict[str, dict[str, Any]]:
    """A public cluster (no VNet integration) in the BYO spoke VNet with the default outbound type
    `loadBalancer`: the `kubernetes` load balancer and its outbound IP exist; nothing routes egress."""
    kw = {"private": False, "vnet_integration": False, "outbound": "loadBalancer", **cluster_kw}
    res = healthy_private_udr(**kw)
    node_subnet = ns.subnet(ns.NODE_SUBNET, "10.224.0.0/16", nsg=ns.NODE_NSG)
    res[ns.NODE_SUBNET] = node_subnet
    res[ns.VNET_ID] = ns.vnet(subnets=[node_subnet, res[ns.API_SUBNET]], peerings=[(ns.HUB_VNET, ["10.0.0.0/16"])])
    del res[ns.RT_ID]
    res.pop(ps.assignments_path(ns.RT_ID), None)
    c = res[CLUSTER_ID]
    c["properties"]["networkProfile"]["loadBalancerProfile"] = {
        "managedOutboundIPs": {"count": 1},
        "effectiveOutboundIPs": [{"id": es.LB_PIP}],
    }
    res[es.LB_ID] = es.kubernetes_lb()
    res[es.LB_PIP] = ns.public_ip(es.LB_PIP, LB_OUTBOUND_IP)
    return res


def service_tags() -> dict[str, Any]:
    """The region's service tag list (ServiceTagsList example + the tags AKS egress rules use)."""
    return es.service_tags(
        {
            "AzureFrontDoor.FirstParty": ["13.107.6.0/24", "13.107.9.0/24", "2.16.0.0/13"],
            "AzureMonitor": ["20.50.65.0/24"],
        }
    )


def kubernetes_versions() -> dict[str, Any]:
    """The region's Kubernetes versions (kubernetesVersions fixture shape) with the cluster's 1.30 line
    and the next minors."""
    body = ps.body("kubernetesversions")
    body["values"] = [
        {
            "version": "1.29",
            "capabilities": {"supportPlan": ["KubernetesOfficial", "AKSLongTermSupport"]},
            "patchVersions": {"1.29.9": {"upgrades": ["1.30.5", "1.30.6"]}},
        },
        {
            "version": "1.30",
            "isDefault": True,
            "capabilities": {"supportPlan": ["KubernetesOfficial"]},
            "patchVersions": {"1.30.5": {"upgrades": ["1.30.6", "1.31.2"]}, "1.30.6": {"upgrades": ["1.31.2"]}},
        },
        {
            "version": "1.31",
            "capabilities": {"supportPlan": ["KubernetesOfficial"]},
            "patchVersions": {"1.31.2": {"upgrades": []}},
        },
    ]
    return body


async def diagnose(world: World, home: Path) -> Finding:
    """The world through the CLI's `diagnose --snapshot` path (shared.offline -> shared.pipeline.process
    with the full registry), at the snapshot's capture time."""
    from shared import offline

    home.mkdir(parents=True, exist_ok=True)
    snap = home / f"{world.id}.snapshot.json"
    snap.write_text(json.dumps(world.snapshot(), indent=1), encoding="utf-8")
    findings = await offline.diagnose_payload(
        [world.event()], snapshot=snap, error_text=None, home=home, now=NOW, cards_dir=home / "cards"
    )
    assert len(findings) == 1
    return findings[0]


# --- private clusters ------------------------------------------------------------------------

PRIVATE_FQDN = "aks-prod-01-abcd1234.privatelink.westeurope.azmk8s.io"
SYSTEM_ZONE_NAME = "privatelink.westeurope.azmk8s.io"
NODE_RG_NET = f"{NODE_RG_ID}/providers/Microsoft.Network"
SYSTEM_ZONE = f"{NODE_RG_NET}/privateDnsZones/{SYSTEM_ZONE_NAME}"
PE_ID = f"{NODE_RG_NET}/privateEndpoints/kube-apiserver"
DNS_RG_ID = f"/subscriptions/{SUB}/resourceGroups/rg-dns"
BYO_ZONE = f"{DNS_RG_ID}/providers/Microsoft.Network/privateDnsZones/{SYSTEM_ZONE_NAME}"
PRIVATE_DNS_ZONE_CONTRIBUTOR = "b12aa53e-6015-4669-85d0-8515ebb3ae7f"


def private_endpoint() -> dict[str, Any]:
    """PrivateEndpointGet spec example re-pointed: the AKS-managed kube-apiserver endpoint, Approved."""
    pe = ns.load("network/PrivateEndpointGet.2024-05-01.spec-example.json")
    pe["id"], pe["name"], pe["location"] = PE_ID, "kube-apiserver", "westeurope"
    pe["properties"]["subnet"] = {"id": ns.NODE_SUBNET}
    pe["properties"]["privateLinkServiceConnections"][0]["id"] = f"{PE_ID}/privateLinkServiceConnections/kube-apiserver"
    pe["properties"]["ipConfigurations"] = []
    pe["properties"]["customDnsConfigs"] = []
    return pe


def dns_zone(zone_id: str) -> dict[str, Any]:
    return {
        "id": zone_id,
        "name": zone_id.rsplit("/", 1)[-1],
        "type": "Microsoft.Network/privateDnsZones",
        "location": "global",
        "etag": "00000000-0000-0000-0000-000000000000",
        "properties": {
            "maxNumberOfRecordSets": 25000,
            "numberOfRecordSets": 2,
            "numberOfVirtualNetworkLinks": 1,
            "provisioningState": "Succeeded",
        },
    }


def vnet_links(zone_id: str, *vnets: str) -> dict[str, Any]:
    """`{zone}/virtualNetworkLinks` listing built from the VirtualNetworkLinkGet spec example."""
    items = []
    for i, v in enumerate(vnets):
        link = ns.load("network/VirtualNetworkLinkGet.2024-06-01.spec-example.json")
        link["id"], link["name"] = f"{zone_id}/virtualNetworkLinks/link{i}", f"link{i}"
        link["properties"]["virtualNetwork"]["id"] = v
        items.append(link)
    return {"value": items}


def healthy_private(**cluster_kw: Any) -> dict[str, dict[str, Any]]:
    """A private cluster without API Server VNet Integration (the API server behind the AKS-managed
    private endpoint, resolved through the system private DNS zone linked to the node VNet)."""
    res = healthy_private_udr(vnet_integration=False, **cluster_kw)
    res[CLUSTER_ID]["properties"]["privateFQDN"] = PRIVATE_FQDN
    res[f"{NODE_RG_NET}/privateEndpoints"] = {"value": [private_endpoint()]}
    res[f"{NODE_RG_NET}/privateDnsZones"] = {"value": [dns_zone(SYSTEM_ZONE)]}
    res[SYSTEM_ZONE] = dns_zone(SYSTEM_ZONE)
    res[f"{SYSTEM_ZONE}/virtualNetworkLinks"] = vnet_links(SYSTEM_ZONE, ns.VNET_ID)
    return res


# --- error texts (Microsoft documentation) ---------------------------------------------------

DOC_CONNFAIL = "support/azure/azure-kubernetes/error-codes/vmextensionerror-k8sapiserverconnfail.md"
DOC_DNSFAIL = "support/azure/azure-kubernetes/error-codes/vmextensionerror-k8sapiserverdnslookupfail.md"
DOC_OUTBOUND = "support/azure/azure-kubernetes/error-codes/vmextensionerror-outboundconnfail.md"


def connfail(diagnostic: str) -> dict[str, Any]:
    """exit 51 as the K8SAPIServerConnFail article's Symptoms show it, with a diagnostic message in the
    shape of its 'Example diagnostic messages'."""
    return {
        "code": "VMExtensionProvisioningError",
        "message": (
            "CSE failed with 'VMExtensionError_K8SAPIServerConnFail'. Agents are unable to establish "
            f"connection to Kubernetes API server. {diagnostic}. For more detailed troubleshooting, see "
            "https://aka.ms/aks/vmextensionerror_k8sapiserverconnfail and "
            "https://aka.ms/aks-required-ports-and-addresses for more information."
        ),
    }


def dnsfail(node: str = "aks-system-12345678-vmss000000") -> dict[str, Any]:
    """exit 52 as the K8SAPIServerDNSLookupFail article's Symptoms show it."""
    return {
        "code": "VMExtensionProvisioningError",
        "message": (
            "Agents are unable to resolve Kubernetes API server name. It's likely custom DNS server is "
            "not correctly configured, please see https://aka.ms/aks/private-cluster#hub-and-spoke-with-"
            'custom-dns for more information. Details: Code="VMExtensionProvisioningError" Message="VM '
            "has reported a failure when processing extension 'vmssCSE'. Error message: \"Enable failed: "
            "failed to execute command: command terminated with exit status=52\\n[stdout]\\n{ "
            '"ExitCode": "52", "Output": "Fri Nov 21 12:34:00 UTC 2024,'
            + node
            + "\\nConnection to mcr.microsoft.com 443 port [tcp/https] succeeded!"
        ),
    }


def outboundfail(host: str = "mcr.microsoft.com") -> dict[str, Any]:
    """exit 50 as the OutboundConnFail article's Symptoms show it."""
    return {
        "code": "VMExtensionProvisioningError",
        "message": (
            "Unable to establish outbound connection from agents, please see "
            "https://aka.ms/aks-required-ports-and-addresses for more information. Details: "
            'Code="VMExtensionProvisioningError" Message="VM has reported a failure when processing '
            "extension 'vmssCSE'. Error message: \"Enable failed: failed to execute command: command "
            "terminated with exit status=50\\n[stdout]\\n\\n[stderr]\\nnc: connect to "
            f'{host} port 443 (tcp) failed: Connection timed out\\nCommand exited with non-zero status" '
            'Error details : "vmssCSE error messages : {vmssCSE exit status=50, '
            "output=pt/apt.conf.d/95proxy...}"
        ),
    }


NODE_IP = "10.224.0.5"
FW_PUBLIC_IP = "20.50.60.70"  # the hub firewall's public IP (net_support.FW_PIP)
PUBLIC_FQDN = "aks-prod-01-abcd1234.hcp.westeurope.azmk8s.io"


def _nsg_rule(nid: str, name: str, priority: int, direction: str, access: str, **kw: Any) -> dict[str, Any]:
    r = ns.rule(name, priority, direction, access, **kw)
    r["id"] = f"{nid}/securityRules/{name}"
    return r


# --- the worlds ------------------------------------------------------------------------------


def w_authorized_ranges_egress_ip() -> World:
    """Public cluster, egress through the hub firewall (UDR): the authorized IP ranges list the office
    and the node subnet but not the firewall's public IP, which is what the API server sees."""
    res = healthy_private_udr(
        private=False, vnet_integration=False, outbound="userDefinedRouting", ranges=["203.0.113.0/24", "10.224.0.0/16"]
    )
    res[ns.NODE_NSG] = ns.nsg(
        ns.NODE_NSG, [_nsg_rule(ns.NODE_NSG, "deny-smtp-out", 300, "Outbound", "Deny", dst="Internet", ports="25")]
    )
    res.update(locks(CLUSTER_RG_ID, ("no-delete", "CanNotDelete")))
    return World(
        id="apiserver-authorized-ranges-miss-firewall-ip",
        family="api_server_connectivity",
        planted="api_authorized_ranges",
        fault="authorizedIPRanges lack the firewall public IP 20.50.60.70 the nodes egress through",
        error=connfail(
            f"Node {NODE_IP} could not reach API server at {API_PUBLIC_IP}:443. Connection timed out. "
            "Check firewall/NSG rules on port 443"
        ),
        source=DOC_CONNFAIL,
        resources=res,
        decoys=(
            Decoy("nsg_apiserver_egress", "an outbound deny on TCP 25 (SMTP) in the node subnet NSG"),
            Decoy("resource_locks", "a CanNotDelete lock on the cluster resource group (create, not delete)"),
        ),
    )


def w_nsg_denies_apiserver() -> World:
    """Public cluster with load balancer egress: the node subnet NSG allows only a few service tags on
    443 and denies the rest of the Internet, so the API server (AzureCloud.westeurope) is cut off."""
    res = healthy_public_lb()
    res[ns.NODE_NSG] = ns.nsg(
        ns.NODE_NSG,
        [
            _nsg_rule(
                ns.NODE_NSG, "allow-mcr", 100, "Outbound", "Allow", dst="MicrosoftContainerRegistry", ports="443"
            ),
            _nsg_rule(
                ns.NODE_NSG, "allow-frontdoor", 110, "Outbound", "Allow", dst="AzureFrontDoor.FirstParty", ports="443"
            ),
            _nsg_rule(ns.NODE_NSG, "allow-aad", 120, "Outbound", "Allow", dst="AzureActiveDirectory", ports="443"),
            _nsg_rule(ns.NODE_NSG, "deny-internet-out", 4000, "Outbound", "Deny", protocol="*", dst="Internet"),
            _nsg_rule(ns.NODE_NSG, "deny-rdp-in", 200, "Inbound", "Deny", src="Internet", ports="3389"),
        ],
    )
    res.update(locks(NODE_RG_ID, ("no-delete-mc", "CanNotDelete")))
    return World(
        id="apiserver-nsg-denies-443",
        family="api_server_connectivity",
        planted="nsg_apiserver_egress",
        fault="node subnet NSG denies outbound to Internet at 4000 after allowing only MCR/FrontDoor/AAD",
        error=connfail(
            f"Node {NODE_IP} could not reach API server at {API_PUBLIC_IP}:443. Connection timed out. "
            "Check firewall/NSG rules on port 443"
        ),
        source=DOC_CONNFAIL,
        resources=res,
        decoys=(
            Decoy("api_authorized_ranges", "no authorized ranges at all (nothing to blame)"),
            Decoy("resource_locks", "a CanNotDelete lock on the node resource group"),
            Decoy("route_apiserver", "no route table: system routes only"),
        ),
    )


def w_udr_to_missing_nva() -> World:
    """The node subnet's default route points at 10.0.2.4, an NVA that was deleted from the hub."""
    res = healthy_private_udr(private=False, vnet_integration=False, outbound="userDefinedRouting")
    res[ns.RT_ID] = ns.route_table(
        ns.RT_ID, [("0.0.0.0/0", "VirtualAppliance", "10.0.2.4"), ("10.50.0.0/16", "VirtualAppliance", "10.0.1.4")]
    )
    # the NVA's subnet is still in the hub; the appliance VM and its NIC were deleted
    hub = ns.hub()
    hub["properties"]["subnets"].append(ns.subnet(f"{ns.HUB_VNET}/subnets/snet-nva", "10.0.2.0/24"))
    res[ns.HUB_VNET] = hub
    res[ns.NODE_NSG] = ns.nsg(
        ns.NODE_NSG, [_nsg_rule(ns.NODE_NSG, "deny-ssh-in", 200, "Inbound", "Deny", src="Internet", ports="22")]
    )
    return World(
        id="apiserver-udr-next-hop-missing",
        family="api_server_connectivity",
        planted="route_apiserver",
        fault="0.0.0.0/0 -> VirtualAppliance 10.0.2.4, no device has that address",
        error=connfail(f"Node {NODE_IP} could not reach API server at {API_PUBLIC_IP}:443. No route to host"),
        source=DOC_CONNFAIL,
        resources=res,
        decoys=(
            Decoy("nsg_apiserver_egress", "an inbound SSH deny on the node subnet NSG"),
            Decoy("firewall_aks_fqdns", "the hub firewall allows the AKS FQDNs (but traffic never gets there)"),
        ),
    )


def w_byo_private_zone_not_linked() -> World:
    """Private cluster with a bring-your-own private DNS zone (central DNS resource group): the zone is
    linked to the hub only, not to the spoke VNet the nodes are in -> exit 52."""
    res = healthy_private()
    res[CLUSTER_ID]["properties"]["apiServerAccessProfile"]["privateDNSZone"] = BYO_ZONE
    res.pop(f"{NODE_RG_NET}/privateDnsZones")
    res[BYO_ZONE] = dns_zone(BYO_ZONE)
    res[f"{BYO_ZONE}/virtualNetworkLinks"] = vnet_links(BYO_ZONE, ns.HUB_VNET)
    res.update(grants(BYO_ZONE, roles=(PRIVATE_DNS_ZONE_CONTRIBUTOR,), at=DNS_RG_ID))
    res.update(locks(DNS_RG_ID, ("dns-no-delete", "CanNotDelete")))
    res[ns.NODE_NSG] = ns.nsg(
        ns.NODE_NSG,
        [_nsg_rule(ns.NODE_NSG, "deny-dns-tcp-internet", 300, "Outbound", "Deny", dst="Internet", ports="853")],
    )
    return World(
        id="dns-byo-private-zone-not-linked",
        family="dns",
        planted="private_dns_zone_link",
        fault="BYO privatelink zone in rg-dns is linked to vnet-hub only, not to vnet-spoke-aks",
        error=dnsfail(),
        source=DOC_DNSFAIL,
        resources=res,
        decoys=(
            Decoy("resource_locks", "a CanNotDelete lock on the DNS resource group"),
            Decoy("nsg_apiserver_egress", "an outbound deny on TCP 853 (DNS over TLS) to the Internet"),
            Decoy("identity_role_assignments", "the identity is Private DNS Zone Contributor (fine)"),
        ),
    )


def w_custom_dns_on_prem() -> World:
    """Private cluster, system zone linked correctly; the spoke VNet's DNS servers are on-premises
    resolvers (reached over the VPN), which do not forward privatelink.westeurope.azmk8s.io to Azure DNS."""
    res = healthy_private()
    res[ns.VNET_ID] = ns.vnet(
        subnets=[res[ns.NODE_SUBNET], res[ns.API_SUBNET]],
        peerings=[(ns.HUB_VNET, ["10.0.0.0/16"])],
        dns=["192.168.10.4", "192.168.10.5"],
    )
    res.update(locks(NODE_RG_ID, ("mc-no-delete", "CanNotDelete")))
    return World(
        id="dns-custom-dns-on-premises",
        family="dns",
        planted="vnet_custom_dns",
        fault="vnet-spoke-aks dhcpOptions.dnsServers = on-premises 192.168.10.4/.5 (no VNet, not linked)",
        error=dnsfail(),
        source=DOC_DNSFAIL,
        resources=res,
        decoys=(
            Decoy("private_dns_zone_link", "the system zone exists and is linked to the node VNet"),
            Decoy("resource_locks", "a CanNotDelete lock on the node resource group"),
        ),
    )


def w_firewall_missing_mcr() -> World:
    """Egress through the hub firewall (UDR); the policy's application rules allow the management and
    package endpoints but neither the AzureKubernetesService FQDN tag nor mcr.microsoft.com."""
    res = healthy_private_udr()
    fs.with_policy(
        res,
        [
            fs.rcg(
                fs.POLICY,
                "aks",
                200,
                [
                    (
                        "aks-required",
                        100,
                        "Allow",
                        [
                            fs.app_rule(
                                "aks-mgmt",
                                fqdns=[
                                    "management.azure.com",
                                    "login.microsoftonline.com",
                                    "packages.microsoft.com",
                                    "acs-mirror.azureedge.net",
                                    "packages.aks.azure.com",
                                ],
                            )
                        ],
                    ),
                    ("aks-network", 200, "Allow", [fs.net_rule("ntp", dst=["*"], ports=["123"], protocols=["UDP"])]),
                ],
            )
        ],
    )
    res[ns.NODE_NSG] = ns.nsg(
        ns.NODE_NSG, [_nsg_rule(ns.NODE_NSG, "deny-smb-out", 300, "Outbound", "Deny", dst="Internet", ports="445")]
    )
    res.update(locks(CLUSTER_RG_ID, ("rg-no-delete", "CanNotDelete")))
    return World(
        id="egress-firewall-missing-mcr",
        family="egress",
        planted="firewall_aks_fqdns",
        fault="firewall policy fwp-hub allows no rule for mcr.microsoft.com / *.data.mcr.microsoft.com",
        error=outboundfail(),
        source=DOC_OUTBOUND,
        resources=res,
        decoys=(
            Decoy("nsg_apiserver_egress", "an outbound deny on TCP 445 (SMB) in the node subnet NSG"),
            Decoy("resource_locks", "a CanNotDelete lock on the cluster resource group"),
            Decoy("route_apiserver", "the default route goes to the firewall, as intended"),
        ),
    )


USER_SUBNET = f"{ns.VNET_ID}/subnets/snet-aks-user"


def w_nat_gateway_missing_on_new_subnet() -> World:
    """outboundType userAssignedNATGateway: the system pool's subnet has the NAT gateway; the user pool
    being added sits on a new subnet nobody associated with it -> the new nodes have no egress."""
    res = healthy_private_udr(private=False, vnet_integration=False, outbound="userAssignedNATGateway")
    node = ns.subnet(ns.NODE_SUBNET, "10.224.0.0/16", nsg=ns.NODE_NSG, nat=es.NAT_ID)
    user = ns.subnet(USER_SUBNET, "10.225.16.0/20", nsg=ns.NODE_NSG)
    res[ns.NODE_SUBNET], res[USER_SUBNET] = node, user
    res[ns.VNET_ID] = ns.vnet(subnets=[node, user, res[ns.API_SUBNET]], peerings=[(ns.HUB_VNET, ["10.0.0.0/16"])])
    del res[ns.RT_ID]
    res.pop(ps.assignments_path(ns.RT_ID), None)
    nat = es.nat_gateway()
    res[es.NAT_ID] = nat
    res[es.NAT_PIP] = ns.public_ip(es.NAT_PIP, "20.61.30.40")
    c = res[CLUSTER_ID]
    pools = c["properties"]["agentPoolProfiles"]
    user_pool = copy.deepcopy(pools[0])
    user_pool.update(name="user1", mode="User", vnetSubnetID=USER_SUBNET, count=3)
    pools.append(user_pool)
    res.update(grants(USER_SUBNET))
    res.update(locks(NET_RG_ID, ("net-no-delete", "CanNotDelete")))
    res[rs.NETWORK_USAGES] = network_usages(public_ips=(57, 60))
    return World(
        id="egress-nat-gateway-missing-on-user-subnet",
        family="egress",
        planted="outbound_connectivity",
        fault="snet-aks-user (pool user1) has no NAT gateway although outboundType is userAssignedNATGateway",
        error=outboundfail(),
        source=DOC_OUTBOUND,
        resources=res,
        operation="nodepool-add",
        agent_pool="user1",
        decoys=(
            Decoy("resource_locks", "a CanNotDelete lock on the network resource group"),
            Decoy("public_ip_quota", "57 of 60 public IPs used (the pool needs none)"),
        ),
    )


def w_tls_inspection() -> World:
    """Azure Firewall Premium with TLS inspection: an application rule terminates TLS for every
    destination ("*") before any bypass, so the nodes' TLS to the API server is intercepted."""
    res = healthy_private_udr(private=False, vnet_integration=False, outbound="userDefinedRouting")
    fs.with_policy(
        res,
        [
            fs.rcg(
                fs.POLICY,
                "inspect",
                100,
                [
                    ("aks-required", 100, "Allow", [fs.app_rule("aks-fqdn-tag", tags=["AzureKubernetesService"])]),
                    ("inspect-all", 200, "Allow", [fs.app_rule("inspect-web", fqdns=["*"], tls=True)]),
                ],
            )
        ],
        premium=True,
    )
    # the application rules are evaluated by collection priority: put the inspection first
    group = res[f"{fs.POLICY}/ruleCollectionGroups"]["value"][0]
    group["properties"]["ruleCollections"].reverse()
    for i, coll in enumerate(group["properties"]["ruleCollections"]):
        coll["priority"] = 100 + 100 * i
    return World(
        id="tls-firewall-premium-inspects-apiserver",
        family="api_server_connectivity",
        planted="firewall_tls_inspection",
        fault="fwp-hub (Premium) rule inspect-web terminates TLS for * ahead of the AKS allow rules",
        error=connfail(
            f"TLS handshake failed. Check for HTTPS-inspecting proxies or firewalls, and ensure "
            f"{PUBLIC_FQDN} is in the allow list"
        ),
        source=DOC_CONNFAIL,
        resources=res,
        decoys=(
            Decoy("firewall_aks_fqdns", "the firewall does allow the AKS FQDN tag"),
            Decoy("api_authorized_ranges", "no authorized ranges"),
            Decoy("nsg_apiserver_egress", "NSGs allow 443 outbound"),
        ),
    )


DOC_SUBNETFULL = "support/azure/azure-kubernetes/error-codes/subnetisfull-error.md"
DOC_CIDR = "support/azure/azure-kubernetes/error-codes/servicecidroverlapexistingsubnetscidr-error.md"
DOC_EXTERNAL = (
    "support/azure/azure-kubernetes/error-codes/subnetwithexternalresourcescannotbeusedbyotherresources-error.md"
)
DOC_QUOTA = "support/azure/azure-kubernetes/error-codes/operationnotallowed-publicipcountlimitreached-error.md"
DOC_SKU = "azure-docs articles/azure-resource-manager/troubleshooting/error-sku-not-available.md"
DOC_ZONE = "support/azure/azure-kubernetes/error-codes/availabilityzonenotsupported-error.md"
DOC_VERSIONS = "support/azure/azure-kubernetes/error-codes/aks-upgrade-blocked.md"
DOC_LINKED = "support/azure/azure-kubernetes/error-codes/linkedauthorizationfailed-error.md"
DOC_LOCK = "azure-docs articles/automation/troubleshoot/start-stop-vm.md (ScopeLocked message)"
DOC_RP = "support/azure/azure-kubernetes/error-codes/missingsubscriptionregistration-error.md"
DOC_FEATURE = "azure-docs articles/aks/container-network-observability-logs.md (AFEC flag not enabled)"
DOC_POLICY = "support/azure/azure-kubernetes/error-codes/requestdisallowedbypolicy-error.md"
DOC_SP = "support/azure/azure-kubernetes/error-codes/bad-request-or-invalid-client-secret-error.md"
DOC_VNETINT_NSG = "azure-docs articles/aks/api-server-vnet-integration.md (network security group rules)"


def _upgrade_to(c: dict[str, Any], version: str) -> None:
    """The cluster body during an upgrade it asked for: desired version set, current unchanged."""
    c["properties"]["kubernetesVersion"] = version
    for pool in c["properties"]["agentPoolProfiles"]:
        pool["orchestratorVersion"] = version


def _azure_cni(c: dict[str, Any]) -> None:
    """Azure CNI without overlay: every pod takes an address of the node subnet."""
    net = c["properties"]["networkProfile"]
    net.pop("networkPluginMode", None)
    net.pop("podCidr", None)
    net.pop("podCidrs", None)
    net["networkPolicy"] = "azure"
    net.pop("networkDataplane", None)


def w_subnet_full_on_upgrade() -> World:
    """Azure CNI (pods take node-subnet IPs, maxPods 30): the /25 node subnet has 23 free addresses;
    the upgrade's surge node (maxSurge 33% of 3 = 1 node) needs 31."""
    res = healthy_private_udr(private=False, vnet_integration=False, outbound="loadBalancer")
    c = res[CLUSTER_ID]
    _azure_cni(c)
    c["properties"]["networkProfile"]["loadBalancerProfile"] = {
        "managedOutboundIPs": {"count": 1},
        "effectiveOutboundIPs": [{"id": es.LB_PIP}],
    }
    _upgrade_to(c, "1.30.6")
    used = [
        f"{NODE_RG_ID}/providers/Microsoft.Network/networkInterfaces/nic-{i // 31}/ipConfigurations/ipconfig{i % 31}"
        for i in range(100)
    ]
    node = ns.subnet(ns.NODE_SUBNET, "10.224.0.0/25", nsg=ns.NODE_NSG, ip_configs=used)
    res[ns.NODE_SUBNET] = node
    res[ns.VNET_ID] = ns.vnet(subnets=[node, res[ns.API_SUBNET]], peerings=[(ns.HUB_VNET, ["10.0.0.0/16"])])
    del res[ns.RT_ID]
    res[es.LB_ID] = es.kubernetes_lb()
    res[es.LB_PIP] = ns.public_ip(es.LB_PIP, LB_OUTBOUND_IP)
    res[rs.COMPUTE_USAGES] = compute_usages({"standardEv3Family": (94, 100)})
    return World(
        id="subnet-full-surge-on-upgrade",
        family="subnet_ips",
        planted="node_subnet_capacity",
        fault="snet-aks-nodes 10.224.0.0/25: 23 free IPs, the surge node needs 31 (Azure CNI, maxPods 30)",
        error={
            "code": "SubnetIsFull",
            "message": (
                "Failed to scale node pool 'system' in Kubernetes service 'aks-prod-01'. Error: "
                "VMSSAgentPoolReconciler retry failed: Code='SubnetIsFull' Message='snet-aks-nodes with "
                "address prefix 10.224.0.0/25 doesn't have enough capacity for IP addresses.' Details=[]"
            ),
        },
        source=DOC_SUBNETFULL,
        resources=res,
        operation="upgrade",
        decoys=(
            Decoy("vcpu_quota", "standardEv3Family at 94/100 vCPUs (the pool is DDSv5)"),
            Decoy("kubernetes_version", "1.30.5 -> 1.30.6 is an offered upgrade"),
        ),
    )


def w_service_cidr_overlap() -> World:
    """A private-endpoint subnet added to the spoke after creation overlaps the cluster's service CIDR;
    the upgrade's pre-check rejects the request (400), the cluster stays Succeeded."""
    res = healthy_private_udr()
    net = res[CLUSTER_ID]["properties"]["networkProfile"]
    net["serviceCidr"], net["serviceCidrs"], net["dnsServiceIP"] = "10.230.0.0/16", ["10.230.0.0/16"], "10.230.0.10"
    pe_subnet = ns.subnet(f"{ns.VNET_ID}/subnets/snet-private-endpoints", "10.230.0.0/24")
    res[pe_subnet["id"]] = pe_subnet
    res[ns.VNET_ID] = ns.vnet(
        subnets=[res[ns.NODE_SUBNET], res[ns.API_SUBNET], pe_subnet], peerings=[(ns.HUB_VNET, ["10.0.0.0/16"])]
    )
    res.update(locks(CLUSTER_RG_ID, ("rg-no-delete", "CanNotDelete")))
    return World(
        id="cidr-service-cidr-overlaps-new-subnet",
        family="network_config",
        planted="cidr_overlap",
        fault="serviceCidr 10.230.0.0/16 overlaps snet-private-endpoints 10.230.0.0/24 in vnet-spoke-aks",
        error={
            "code": "ServiceCidrOverlapExistingSubnetsCidr",
            "message": (
                "The specified service CIDR 10.230.0.0/16 is conflicted with an existing subnet CIDR 10.230.0.0/24"
            ),
            "target": "networkProfile.serviceCIDR",
        },
        source=DOC_CIDR,
        resources=res,
        sync=True,
        operation="upgrade",
        decoys=(
            Decoy("resource_locks", "a CanNotDelete lock on the cluster resource group"),
            Decoy("node_subnet_capacity", "the node subnet is large (/16)"),
        ),
    )


JUMPBOX_NIC = f"/subscriptions/{SUB}/resourceGroups/rg-ops/providers/Microsoft.Network/networkInterfaces/vm-jump-nic"


def w_apiserver_subnet_has_external_resources() -> World:
    """Enabling API Server VNet Integration on a subnet where an operator put a jump box NIC."""
    res = healthy_private_udr()
    api = ns.subnet(
        ns.API_SUBNET,
        "10.225.0.0/28",
        nsg=ns.API_NSG,
        delegations=["Microsoft.ContainerService/managedClusters"],
        ip_configs=[f"{JUMPBOX_NIC}/ipConfigurations/ipconfig1"],
    )
    res[ns.API_SUBNET] = api
    res[ns.VNET_ID] = ns.vnet(subnets=[res[ns.NODE_SUBNET], api], peerings=[(ns.HUB_VNET, ["10.0.0.0/16"])])
    res.update(locks(NET_RG_ID, ("net-no-delete", "CanNotDelete")))
    return World(
        id="apiserver-subnet-used-by-jumpbox",
        family="subnet_ips",
        planted="apiserver_subnet",
        fault="snet-aks-apiserver holds vm-jump-nic's ipconfig: the API server subnet must be dedicated",
        error={
            "code": "SubnetWithExternalResourcesCannotBeUsedByOtherResources",
            "message": (
                f"Subnet {ns.API_SUBNET} referenced by {CLUSTER_ID} cannot be used because it contains "
                f"external resources. The external resources in this subnet are "
                f"{JUMPBOX_NIC}/ipConfigurations/ipconfig1. You need to delete these external resources "
                "before deploying into this subnet."
            ),
        },
        source=DOC_EXTERNAL,
        resources=res,
        sync=True,
        operation="update",
        decoys=(
            Decoy("resource_locks", "a CanNotDelete lock on the network resource group"),
            Decoy("identity_subnet_permissions", "the identity is Network Contributor on rg-network"),
        ),
    )


def w_apiserver_subnet_nsg_blocks_nodes() -> World:
    """API Server VNet Integration: the API server subnet's NSG allows 443 from the nodes but denies
    everything else from the VNet, so 4443 (konnectivity) and 9988 from the load balancer are cut."""
    res = healthy_private_udr()
    res[ns.API_NSG] = ns.nsg(
        ns.API_NSG,
        [
            _nsg_rule(ns.API_NSG, "allow-nodes-443", 100, "Inbound", "Allow", src="10.224.0.0/16", ports="443"),
            _nsg_rule(ns.API_NSG, "deny-vnet-in", 4000, "Inbound", "Deny", protocol="*", src="VirtualNetwork"),
            _nsg_rule(ns.API_NSG, "deny-all-in", 4096, "Inbound", "Deny", protocol="*", src="*"),
        ],
    )
    res[ns.NODE_NSG] = ns.nsg(
        ns.NODE_NSG, [_nsg_rule(ns.NODE_NSG, "deny-telnet-out", 300, "Outbound", "Deny", dst="Internet", ports="23")]
    )
    return World(
        id="apiserver-vnet-integration-nsg-blocks-4443",
        family="api_server_connectivity",
        planted="nsg_vnet_integration",
        fault="nsg-aks-apiserver denies 4443 from the nodes and 9988 from AzureLoadBalancer",
        error=connfail(
            "Node 10.224.0.5 could not reach API server at 10.225.0.4:443. Connection timed out. "
            "Check firewall/NSG rules on port 443"
        ),
        source=DOC_CONNFAIL + " + " + DOC_VNETINT_NSG,
        resources=res,
        decoys=(
            Decoy("nsg_apiserver_egress", "an outbound deny on TCP 23 in the node subnet NSG"),
            Decoy("firewall_aks_fqdns", "the hub firewall allows the AKS FQDNs"),
        ),
    )


def w_vcpu_quota_on_scale() -> World:
    """Scaling the system pool 3 -> 5 Standard_D4ds_v5 needs 8 more DDSv5 vCPUs; 96 of 100 are in use."""
    res = healthy_private_udr()
    res[CLUSTER_ID]["properties"]["agentPoolProfiles"][0]["count"] = 5
    res[rs.COMPUTE_USAGES] = compute_usages({"standardDDSv5Family": (96, 100), "cores": (120, 350)})
    res[rs.NETWORK_USAGES] = network_usages(public_ips=(60, 60))
    # a small, nearly full node subnet: 59 usable, 55 used, 4 free; the 2 new overlay nodes need 2
    nics = f"{NODE_RG_ID}/providers/Microsoft.Network/networkInterfaces"
    node = ns.subnet(
        ns.NODE_SUBNET,
        "10.224.0.0/26",
        nsg=ns.NODE_NSG,
        rt=ns.RT_ID,
        ip_configs=[f"{nics}/nic-{i}/ipConfigurations/ipconfig1" for i in range(55)],
    )
    res[ns.NODE_SUBNET] = node
    res[ns.VNET_ID] = ns.vnet(subnets=[node, res[ns.API_SUBNET]], peerings=[(ns.HUB_VNET, ["10.0.0.0/16"])])
    res.update(locks(CLUSTER_RG_ID, ("rg-no-delete", "CanNotDelete")))
    return World(
        id="quota-vcpu-family-on-scale",
        family="quota",
        planted="vcpu_quota",
        fault="standardDDSv5Family 96/100 vCPUs, scale 3 -> 5 x 4 vCPUs needs 8",
        error={
            "code": "OperationNotAllowed",
            "message": (
                "Operation could not be completed as it results in exceeding approved standardDDSv5Family "
                "Cores quota. Additional details - Deployment Model: Resource Manager, Location: westeurope, "
                "Current Limit: 100, Current Usage: 96, Additional Required: 8, (Minimum) New Limit "
                "Required: 104. Submit a request for Quota increase at https://aka.ms/ProdportalCRP/#blade/"
                "Microsoft_Azure_Capacity/UsageAndQuota.ReactView/Parameters/%7B%22subscriptionId%22%3A%22"
                "00000000-0000-0000-0000-000000000000%22%7D by specifying parameters listed in the "
                "'Details' section for deployment to succeed. Please read more about quota limits at "
                "https://learn.microsoft.com/azure/azure-supportability/per-vm-quota-requests"
            ),
        },
        source=DOC_QUOTA,
        resources=res,
        operation="scale",
        agent_pool=POOL,
        decoys=(
            Decoy("public_ip_quota", "60 of 60 public IPs used (a scale of a UDR cluster needs none)"),
            Decoy("resource_locks", "a CanNotDelete lock on the cluster resource group"),
            Decoy("capacity_history", "no capacity failures in the region"),
        ),
    )


def w_public_ip_quota() -> World:
    """Raising the managed outbound IPs 1 -> 4 needs 3 public IPs; the region is at 60 of 60."""
    res = healthy_public_lb()
    lbp = res[CLUSTER_ID]["properties"]["networkProfile"]["loadBalancerProfile"]
    lbp["managedOutboundIPs"] = {"count": 4}
    res[rs.NETWORK_USAGES] = network_usages(public_ips=(60, 60))
    res[rs.COMPUTE_USAGES] = compute_usages({"standardDDSv5Family": (97, 100)})
    res.update(locks(NODE_RG_ID, ("mc-no-delete", "CanNotDelete")))
    return World(
        id="quota-public-ip-on-outbound-ips",
        family="quota",
        planted="public_ip_quota",
        fault="PublicIPAddresses 60/60 in westeurope; managedOutboundIPs 1 -> 4 needs 3 more",
        error={
            "code": "PublicIPCountLimitReached",
            "message": (
                "Reconcile standard load balancer failed. Details: outboundReconciler retry failed: "
                "Category: ClientError; SubCode: PublicIPCountLimitReached; Dependency: "
                'Microsoft.Network/PublicIPAddresses; OrginalError: Code="PublicIPCountLimitReached" '
                'Message="Cannot create more than 60 public IP addresses for this subscription in this '
                'region." Details=[]; AKSTeam: Networking, Retriable: false.'
            ),
        },
        source=DOC_QUOTA,
        resources=res,
        operation="update",
        decoys=(
            Decoy("vcpu_quota", "standardDDSv5Family at 97/100 (no node is added)"),
            Decoy("resource_locks", "a CanNotDelete lock on the node resource group"),
        ),
    )


def _add_pool(res: dict[str, dict[str, Any]], name: str, size: str, zones: list[str]) -> None:
    pools = res[CLUSTER_ID]["properties"]["agentPoolProfiles"]
    pool = copy.deepcopy(pools[0])
    pool.update(name=name, mode="User", vmSize=size, count=2, availabilityZones=zones)
    pools.append(pool)


def w_sku_not_available() -> World:
    """Adding a GPU pool of Standard_NC24ads_A100_v4, which westeurope restricts for this subscription."""
    res = healthy_private_udr()
    _add_pool(res, "gpu", "Standard_NC24ads_A100_v4", ["2", "3"])
    res[rs.COMPUTE_USAGES] = compute_usages({"standardNCADSA100v4Family": (0, 48), "standardDDSv5Family": (92, 100)})
    return World(
        id="sku-not-available-gpu-pool",
        family="capacity",
        planted="sku_availability",
        fault="Standard_NC24ads_A100_v4 has a Location restriction NotAvailableForSubscription in westeurope",
        error={
            "code": "SkuNotAvailable",
            "message": (
                "The requested size for resource '/subscriptions/00000000-0000-0000-0000-000000000000/"
                f"resourceGroups/{NODE_RG}/providers/Microsoft.Compute/virtualMachineScaleSets/"
                "aks-gpu-12345678-vmss' is currently not available in location 'westeurope' zones '2' for "
                "subscription '00000000-0000-0000-0000-000000000000'. Please try another size or deploy "
                "to a different location or zones. See https://aka.ms/azureskunotavailable for details."
            ),
        },
        source=DOC_SKU,
        resources=res,
        operation="nodepool-add",
        agent_pool="gpu",
        decoys=(
            Decoy("vcpu_quota", "standardDDSv5Family at 92/100 (another family; the NCADS family has room)"),
            Decoy("capacity_history", "no capacity failure history"),
        ),
    )


def w_zone_not_supported() -> World:
    """Adding a memory pool of Standard_E8s_v5 in zones 1-3; zone 3 is restricted for the subscription."""
    res = healthy_private_udr()
    _add_pool(res, "mem", "Standard_E8s_v5", ["1", "2", "3"])
    res.update(registered_providers("Microsoft.Kusto"))
    res[f"/subscriptions/{SUB}/providers/Microsoft.Kusto"]["registrationState"] = "NotRegistered"
    return World(
        id="sku-zone-not-supported-memory-pool",
        family="capacity",
        planted="sku_availability",
        fault="Standard_E8s_v5 has a Zone restriction (zone 3, NotAvailableForSubscription) in westeurope",
        error={
            "code": "AvailabilityZoneNotSupported",
            "message": (
                "Preflight validation check for resource(s) for container service aks-prod-01 in resource "
                f"group {NODE_RG} failed. Message: The zone(s) '3' for resource 'mem' is not supported. The "
                "supported zones for location 'westeurope' are '1,2'"
            ),
        },
        source=DOC_ZONE,
        resources=res,
        operation="nodepool-add",
        agent_pool="mem",
        decoys=(
            Decoy("provider_registration", "Microsoft.Kusto is NotRegistered (nothing here uses it)"),
            Decoy("vcpu_quota", "quota has room"),
            Decoy("capacity_history", "no capacity failure history"),
        ),
    )


READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
FEATURES = f"/subscriptions/{SUB}/providers/Microsoft.Features/providers/Microsoft.ContainerService/features"


def _feature(name: str, state: str) -> dict[str, dict[str, Any]]:
    body = ps.body("feature.registering")
    body["id"] = f"{FEATURES}/{name}"
    body["name"] = f"Microsoft.ContainerService/{name}"
    body["properties"]["state"] = state
    return {body["id"]: body}


def w_version_not_supported() -> World:
    """The cluster still runs 1.27.9, which the region no longer offers: the upgrade is refused (400)."""
    res = healthy_private_udr()
    c = res[CLUSTER_ID]["properties"]
    c["kubernetesVersion"] = c["currentKubernetesVersion"] = "1.27.9"
    for pool in c["agentPoolProfiles"]:
        pool["orchestratorVersion"] = pool["currentOrchestratorVersion"] = "1.27.9"
    res.update(locks(CLUSTER_RG_ID, ("rg-no-delete", "CanNotDelete")))
    res.update(_feature("AKS-ExtensionManager", "Registering"))
    return World(
        id="versions-cluster-version-not-supported",
        family="versions",
        planted="kubernetes_version",
        fault="control plane and pool on 1.27.9; westeurope offers 1.29-1.31",
        error={
            "code": "K8sVersionNotSupported",
            "message": (
                "aks-prod-01 is on version 1.27.9 which is not supported in this region. Please use the "
                "[az aks get-versions] command to get the supported version list in this region. For more "
                "information, see https://aka.ms/supported-version-list"
            ),
        },
        source=DOC_VERSIONS,
        resources=res,
        sync=True,
        operation="upgrade",
        decoys=(
            Decoy("resource_locks", "a CanNotDelete lock on the cluster resource group"),
            Decoy("feature_registration", "an unrelated preview feature still Registering"),
        ),
    )


def w_upgrade_skips_minor() -> World:
    """Upgrading 1.29.9 straight to 1.31.2 skips a minor version: refused (400), only 1.30.x is offered."""
    res = healthy_private_udr()
    c = res[CLUSTER_ID]["properties"]
    c["kubernetesVersion"] = c["currentKubernetesVersion"] = "1.29.9"
    for pool in c["agentPoolProfiles"]:
        pool["orchestratorVersion"] = pool["currentOrchestratorVersion"] = "1.29.9"
    res[ns.NODE_SUBNET] = ns.subnet(ns.NODE_SUBNET, "10.224.0.0/16", nsg=ns.NODE_NSG, rt=ns.RT_ID)
    res[rs.COMPUTE_USAGES] = compute_usages({"standardDDSv5Family": (95, 100)})
    return World(
        id="versions-upgrade-skips-a-minor",
        family="versions",
        planted="kubernetes_version",
        fault="1.29.9 -> 1.31.2 requested; the available upgrades of 1.29.9 are 1.30.5 and 1.30.6",
        error={
            "code": "OperationNotAllowed",
            "message": (
                "Upgrading Kubernetes version 1.29.9 to 1.31.2 is not allowed. Available upgrades: "
                "[1.30.6 1.30.5]. For more information, see https://aka.ms/aks-supported-k8s-ver for "
                "version details."
            ),
        },
        source=DOC_VERSIONS,
        resources=res,
        sync=True,
        operation="upgrade",
        decoys=(
            Decoy("vcpu_quota", "standardDDSv5Family at 95/100 (the request was refused before any node)"),
            Decoy("node_subnet_capacity", "the node subnet is a /16"),
        ),
    )


def w_identity_cannot_join_subnet() -> World:
    """A new cluster in the BYO spoke: its user-assigned identity is only Reader on rg-network, so AKS
    cannot join the node subnet."""
    res = healthy_private_udr()
    for t in (ns.NODE_SUBNET, ns.API_SUBNET, ns.RT_ID, ns.VNET_ID):
        res.update(grants(t, roles=(READER,)))
    res.update(locks(NET_RG_ID, ("net-no-delete", "CanNotDelete")))
    msg = (
        "Reconcile VNet failed. Details: VNetReconciler retry failed: Category: ClientError; SubCode: "
        "LinkedAuthorizationFailed; Dependency: Microsoft.Network/virtualNetworks; OrginalError: "
        'Code="LinkedAuthorizationFailed" Message="The client \'22222222-2222-2222-2222-222222222222\' with '
        f"object id '{PRINCIPAL}' has permission to perform action 'Microsoft.ContainerService/managedClusters/"
        f"write' on scope '{CLUSTER_ID}'; however, it doesn't have permission to perform action "
        f"'Microsoft.Network/virtualNetworks/subnets/join/action' on the linked scope(s) '{ns.NODE_SUBNET}' or the "
        'linked scope(s) are invalid."; AKSTeam: Networking, Retriable: false.'
    )
    return World(
        id="permissions-identity-cannot-join-node-subnet",
        family="permissions",
        planted="identity_subnet_permissions",
        fault="id-aks-prod-01 has only Reader on rg-network: no subnets/join/action on snet-aks-nodes",
        error={"code": "LinkedAuthorizationFailed", "message": msg},
        source=DOC_LINKED,
        resources=res,
        decoys=(
            Decoy("resource_locks", "a CanNotDelete lock on the network resource group"),
            Decoy("policy_denial", "no policy involved"),
            Decoy(
                "identity_role_assignments",
                "the error says the identity HAS managedClusters/write on the "
                "cluster scope; only the linked subnet scope is refused",
            ),
        ),
    )


def w_readonly_lock_on_scale() -> World:
    """A ReadOnly lock on the node resource group (a well-meant 'protect production'): the scale's VMSS
    write is refused; a CanNotDelete lock on the cluster's group is harmless."""
    res = healthy_private_udr()
    res[CLUSTER_ID]["properties"]["agentPoolProfiles"][0]["count"] = 5
    res.update(locks(NODE_RG_ID, ("protect-prod", "ReadOnly")))
    res.update(locks(CLUSTER_RG_ID, ("rg-no-delete", "CanNotDelete")))
    res[rs.COMPUTE_USAGES] = compute_usages({"standardEv3Family": (98, 100)})
    vmss = f"{NODE_RG_ID}/providers/Microsoft.Compute/virtualMachineScaleSets/aks-system-12345678-vmss"
    return World(
        id="locks-readonly-node-rg-on-scale",
        family="locks",
        planted="resource_locks",
        fault="ReadOnly lock protect-prod on the node resource group MC_rg-aks-prod_aks-prod-01_westeurope",
        error={
            "code": "ScopeLocked",
            "message": (
                f"The scope '{vmss}' cannot perform write operation because following scope(s) are "
                f"locked: '/subscriptions/{SUB}/resourceGroups/{NODE_RG}'. Please remove the lock and try "
                "again."
            ),
        },
        source=DOC_LOCK,
        resources=res,
        operation="scale",
        agent_pool=POOL,
        decoys=(
            Decoy("vcpu_quota", "standardEv3Family at 98/100 (the pool is DDSv5)"),
            Decoy("node_resource_group", "the node resource group exists and is AKS-managed"),
        ),
    )


def w_provider_not_registered() -> World:
    """Enabling the monitoring add-on needs Microsoft.OperationsManagement, which is not registered."""
    res = healthy_private_udr()
    prov = ps.body("provider.operationsmanagement")
    res[prov["id"]] = prov
    res.update(registered_providers("Microsoft.Kusto"))
    res[f"/subscriptions/{SUB}/providers/Microsoft.Kusto"]["registrationState"] = "NotRegistered"
    res.update(_feature("AKS-ExtensionManager", "Registering"))
    res[CLUSTER_ID]["properties"]["addonProfiles"] = {
        "omsagent": {
            "enabled": True,
            "config": {
                "logAnalyticsWorkspaceResourceID": f"{CLUSTER_RG_ID}/providers/Microsoft.OperationalInsights/"
                "workspaces/law"
            },
        }
    }
    return World(
        id="registration-provider-operationsmanagement",
        family="registration",
        planted="provider_registration",
        fault="Microsoft.OperationsManagement NotRegistered",
        error={
            "code": "MissingSubscriptionRegistration",
            "message": (
                "The subscription is not registered to use namespace 'Microsoft.OperationsManagement'. "
                "See https://aka.ms/rps-not-found for how to register subscriptions."
            ),
            "details": [
                {
                    "code": "MissingSubscriptionRegistration",
                    "target": "Microsoft.OperationsManagement",
                    "message": (
                        "The subscription is not registered to use namespace "
                        "'Microsoft.OperationsManagement'. See https://aka.ms/rps-not-found for how "
                        "to register subscriptions."
                    ),
                }
            ],
        },
        source=DOC_RP,
        resources=res,
        sync=True,
        operation="update",
        decoys=(
            Decoy("feature_registration", "an unrelated preview feature still Registering"),
            Decoy("resource_locks", "no locks"),
        ),
    )


def w_preview_feature_not_registered() -> World:
    """Turning on container network logs without registering the AFEC flag (400, cluster unchanged)."""
    res = healthy_private_udr()
    res.update(_feature("AdvancedNetworkingFlowLogsPreview", "NotRegistered"))
    res.update(_feature("AKS-ExtensionManager", "Registered"))
    res.update(registered_providers("Microsoft.Kusto"))
    res[f"/subscriptions/{SUB}/providers/Microsoft.Kusto"]["registrationState"] = "NotRegistered"
    return World(
        id="registration-preview-feature-flow-logs",
        family="registration",
        planted="feature_registration",
        fault="Microsoft.ContainerService/AdvancedNetworkingFlowLogsPreview NotRegistered",
        error={
            "code": "BadRequest",
            "message": (
                "Feature Microsoft.ContainerService/AdvancedNetworkingFlowLogsPreview is not enabled. "
                "Please see https://aka.ms/aks/previews for how to enable features."
            ),
        },
        source=DOC_FEATURE,
        resources=res,
        sync=True,
        operation="update",
        decoys=(Decoy("provider_registration", "Microsoft.Kusto NotRegistered (unused); ContainerService is fine"),),
    )


POLICY_ASSIGNMENT = f"/subscriptions/{SUB}/providers/Microsoft.Authorization/policyAssignments/require-costcenter-rg"
POLICY_DEFINITION = f"/subscriptions/{SUB}/providers/Microsoft.Authorization/policyDefinitions/require-costcenter-rg"


def w_policy_denies_node_rg() -> World:
    """A subscription policy denies resource groups without a costCenter tag; AKS creating the node
    resource group MC_... is refused."""
    res = healthy_private_udr()
    assignment = ps.body("policyassignment")
    assignment.update(id=POLICY_ASSIGNMENT, name="require-costcenter-rg")
    assignment["properties"].update(
        displayName="Require a costCenter tag on resource groups",
        policyDefinitionId=POLICY_DEFINITION,
        scope=f"/subscriptions/{SUB}",
        enforcementMode="Default",
        parameters={},
    )
    definition = ps.body("policydefinition")
    definition.update(id=POLICY_DEFINITION, name="require-costcenter-rg")
    definition["properties"].update(
        displayName="Require a costCenter tag on resource groups",
        parameters={},
        policyRule={
            "if": {
                "allOf": [
                    {"field": "type", "equals": "Microsoft.Resources/subscriptions/resourceGroups"},
                    {"field": "tags['costCenter']", "exists": "false"},
                ]
            },
            "then": {"effect": "deny"},
        },
    )
    res[POLICY_ASSIGNMENT], res[POLICY_DEFINITION] = assignment, definition
    res.pop(NODE_RG_ID, None)  # the node resource group was never created
    res.update(locks(CLUSTER_RG_ID, ("rg-no-delete", "CanNotDelete")))
    ident = json.dumps(
        [
            {
                "policyAssignment": {"name": "Require a costCenter tag on resource groups", "id": POLICY_ASSIGNMENT},
                "policyDefinition": {
                    "name": "Require a costCenter tag on resource groups",
                    "id": POLICY_DEFINITION,
                    "version": "1.0.0",
                },
            }
        ],
        separators=(",", ":"),
    )
    return World(
        id="policy-denies-node-resource-group",
        family="policy",
        planted="policy_denial",
        fault="policy assignment require-costcenter-rg denies the untagged node resource group",
        error={
            "code": "RequestDisallowedByPolicy",
            "message": (
                "Resource request failed due to RequestDisallowedByPolicy. Please see "
                "https://aka.ms/aks-requestdisallowedbypolicy for more details. The detailed error message: "
                f'Code="RequestDisallowedByPolicy" Message="Resource \'{NODE_RG}\' was disallowed by '
                f"policy. Policy identifiers: '{ident}'.\""
            ),
        },
        source=DOC_POLICY,
        resources=res,
        decoys=(
            Decoy("resource_locks", "a CanNotDelete lock on the cluster resource group"),
            Decoy("node_resource_group", "the node resource group does not exist (a consequence, not the cause)"),
            Decoy("identity_subnet_permissions", "the identity has its roles"),
        ),
    )


SP_APP_ID = "aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb"


def w_service_principal_secret_expired() -> World:
    """A service-principal cluster whose client secret expired: the upgrade is refused (400)."""
    res = healthy_private_udr()
    c = res[CLUSTER_ID]
    c.pop("identity", None)
    c["properties"]["servicePrincipalProfile"] = {"clientId": SP_APP_ID}
    _upgrade_to(c, "1.30.6")
    c["properties"]["kubernetesVersion"] = "1.30.5"
    for pool in c["properties"]["agentPoolProfiles"]:
        pool["orchestratorVersion"] = "1.30.5"
    res.update(locks(CLUSTER_RG_ID, ("rg-no-delete", "CanNotDelete")))
    return World(
        id="identity-service-principal-secret-expired",
        family="identity",
        planted="service_principal_credentials",
        fault="servicePrincipalProfile client secret expired (AADSTS7000222)",
        error={
            "code": "BadRequest",
            "message": (
                "The credentials in ServicePrincipalProfile were invalid. Please see "
                "https://aka.ms/aks-sp-help for more details. (Details: adal: Refresh request failed. Status "
                'Code = \'401\'. Response body: {"error": "invalid_client", "error_description": '
                f"\"AADSTS7000222: The provided client secret keys for app '{SP_APP_ID}' are expired. Visit "
                "the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or "
                'consider using certificate credentials for added security: https://aka.ms/certCreds."'
            ),
        },
        source=DOC_SP,
        resources=res,
        sync=True,
        operation="upgrade",
        decoys=(
            Decoy("identity_subnet_permissions", "role assignments of the network are those of a managed identity"),
            Decoy("resource_locks", "a CanNotDelete lock on the cluster resource group"),
            Decoy("kubernetes_version", "1.30.5 -> 1.30.6 is offered"),
        ),
    )


def w_private_endpoint_rejected() -> World:
    """Private cluster: the kube-apiserver private endpoint's connection was rejected by a cleanup
    script on the private link service side, so nodes have no path to the API server."""
    res = healthy_private()
    pe = private_endpoint()
    state = pe["properties"]["privateLinkServiceConnections"][0]["properties"]["privateLinkServiceConnectionState"]
    state.update(status="Rejected", description="Rejected by cleanup automation")
    res[f"{NODE_RG_NET}/privateEndpoints"] = {"value": [pe]}
    res[ns.NODE_NSG] = ns.nsg(
        ns.NODE_NSG, [_nsg_rule(ns.NODE_NSG, "deny-ftp-out", 300, "Outbound", "Deny", dst="Internet", ports="21")]
    )
    res.update(locks(NODE_RG_ID, ("mc-no-delete", "CanNotDelete")))
    return World(
        id="apiserver-private-endpoint-rejected",
        family="api_server_connectivity",
        planted="private_endpoint_apiserver",
        fault="kube-apiserver private endpoint connection state Rejected",
        error=connfail("Node 10.224.0.5 could not reach API server at 10.224.0.9:443. No route to host"),
        source=DOC_CONNFAIL,
        resources=res,
        decoys=(
            Decoy("private_dns_zone_link", "the system zone is linked to the node VNet"),
            Decoy("nsg_apiserver_egress", "an outbound deny on TCP 21 to the Internet"),
            Decoy("resource_locks", "a CanNotDelete lock on the node resource group"),
        ),
    )


JUMP_SUBNET = f"{ns.VNET_ID}/subnets/snet-jump"


def w_nsg_denies_egress_firewall_elsewhere() -> World:
    """Public cluster with load balancer egress; the node subnet NSG allows 443 only to
    AzureActiveDirectory and denies the Internet, so the nodes cannot pull from mcr.microsoft.com.
    The hub firewall (whose policy lacks MCR) only serves the jump-box subnet: not on the nodes' path."""
    res = healthy_public_lb()
    res[ns.NODE_NSG] = ns.nsg(
        ns.NODE_NSG,
        [
            _nsg_rule(ns.NODE_NSG, "allow-aad", 100, "Outbound", "Allow", dst="AzureActiveDirectory", ports="443"),
            _nsg_rule(ns.NODE_NSG, "deny-internet-out", 4000, "Outbound", "Deny", protocol="*", dst="Internet"),
        ],
    )
    jump = ns.subnet(JUMP_SUBNET, "10.226.0.0/27", rt=ns.RT_ID)
    res[JUMP_SUBNET] = jump
    res[ns.VNET_ID] = ns.vnet(
        subnets=[res[ns.NODE_SUBNET], res[ns.API_SUBNET], jump], peerings=[(ns.HUB_VNET, ["10.0.0.0/16"])]
    )
    res[ns.RT_ID] = ns.route_table(ns.RT_ID, [("0.0.0.0/0", "VirtualAppliance", "10.0.1.4")])
    fs.with_policy(
        res,
        [
            fs.rcg(
                fs.POLICY,
                "jump",
                200,
                [
                    (
                        "jump-web",
                        100,
                        "Allow",
                        [fs.app_rule("jump-mgmt", fqdns=["management.azure.com"], sources=["10.226.0.0/27"])],
                    )
                ],
            )
        ],
    )
    return World(
        id="egress-nsg-denies-internet-firewall-elsewhere",
        family="egress",
        planted="egress_bootstrap",
        fault="nsg-aks-nodes denies outbound Internet (4000) after allowing only AzureActiveDirectory:443",
        error=outboundfail(),
        source=DOC_OUTBOUND,
        resources=res,
        decoys=(
            Decoy("firewall_aks_fqdns", "the hub firewall lacks MCR, but it serves snet-jump, not the nodes"),
            Decoy("route_apiserver", "snet-jump's route table sends 0.0.0.0/0 to the firewall"),
        ),
    )


DOC_DNS_PERMISSION = "support/azure/azure-kubernetes/error-codes/customprivatednszonemissingpermissions-error.md"


def w_private_dns_zone_permission_missing() -> World:
    """Private cluster with a BYO private DNS zone in the central DNS resource group: the zone is there
    and linked to the spoke, but the cluster identity has no role on it. AKS checks the permission
    before it starts and refuses the update (400)."""
    res = healthy_private()
    res[CLUSTER_ID]["properties"]["apiServerAccessProfile"]["privateDNSZone"] = BYO_ZONE
    res.pop(f"{NODE_RG_NET}/privateDnsZones")
    res[BYO_ZONE] = dns_zone(BYO_ZONE)
    res[f"{BYO_ZONE}/virtualNetworkLinks"] = vnet_links(BYO_ZONE, ns.VNET_ID, ns.HUB_VNET)
    res.update(grants(BYO_ZONE, roles=(READER,), at=DNS_RG_ID))
    res.update(locks(DNS_RG_ID, ("dns-no-delete", "CanNotDelete")))
    return World(
        id="permissions-private-dns-zone-contributor-missing",
        family="permissions",
        planted="identity_role_assignments",
        fault="id-aks-prod-01 has only Reader on rg-dns: no Private DNS Zone Contributor on the BYO zone",
        error={
            "code": "CustomPrivateDNSZoneMissingPermissionError",
            "message": (
                "Service principal or user-assigned identity must be given permission to read and write "
                f"to custom private dns zone {BYO_ZONE}. Check access result not allowed for action "
                "Microsoft.Network/privateDnsZones/read."
            ),
        },
        source=DOC_DNS_PERMISSION,
        resources=res,
        sync=True,
        operation="update",
        decoys=(
            Decoy("private_dns_zone_link", "the BYO zone exists and is linked to the node VNet"),
            Decoy("resource_locks", "a CanNotDelete lock on the DNS resource group"),
            Decoy("vnet_custom_dns", "the node VNet uses Azure DNS"),
        ),
    )


def w_authorized_ranges_nat_gateway_precedence() -> World:
    """outboundType loadBalancer, but a NAT gateway was later attached to the node subnet: NAT takes
    precedence for egress, so the API server sees the NAT gateway's IP, which the authorized ranges
    (listing the load balancer's outbound IP) do not include."""
    res = healthy_public_lb(ranges=["203.0.113.0/24", f"{LB_OUTBOUND_IP}/32"])
    node = ns.subnet(ns.NODE_SUBNET, "10.224.0.0/16", nsg=ns.NODE_NSG, nat=es.NAT_ID)
    res[ns.NODE_SUBNET] = node
    res[ns.VNET_ID] = ns.vnet(subnets=[node, res[ns.API_SUBNET]], peerings=[(ns.HUB_VNET, ["10.0.0.0/16"])])
    res[es.NAT_ID] = es.nat_gateway()
    res[es.NAT_PIP] = ns.public_ip(es.NAT_PIP, "20.61.30.40")
    res.update(locks(NODE_RG_ID, ("mc-no-delete", "CanNotDelete")))
    return World(
        id="apiserver-authorized-ranges-nat-gateway-precedence",
        family="api_server_connectivity",
        planted="api_authorized_ranges",
        fault="node subnet egress goes through NAT gateway IP 20.61.30.40, not in authorizedIPRanges",
        error=connfail(
            f"Node {NODE_IP} could not reach API server at {API_PUBLIC_IP}:443. Connection timed out. "
            "Check firewall/NSG rules on port 443"
        ),
        source=DOC_CONNFAIL,
        resources=res,
        decoys=(
            Decoy("outbound_connectivity", "the load balancer and its outbound IP exist (NAT just wins)"),
            Decoy("resource_locks", "a CanNotDelete lock on the node resource group"),
        ),
    )


def w_udr_blackholes_azurecloud() -> World:
    """A public cluster whose node route table sends the region's 20.50.0.0/16 to next hop None (a
    leftover 'block' route), which covers the API server address; the default route to the firewall
    is fine."""
    res = healthy_private_udr(private=False, vnet_integration=False, outbound="userDefinedRouting")
    res[ns.RT_ID] = ns.route_table(
        ns.RT_ID, [("0.0.0.0/0", "VirtualAppliance", "10.0.1.4"), ("20.50.0.0/16", "None", None)]
    )
    res.update(locks(NET_RG_ID, ("net-no-delete", "CanNotDelete")))
    return World(
        id="apiserver-udr-blackhole-route",
        family="api_server_connectivity",
        planted="route_apiserver",
        fault="route 20.50.0.0/16 -> None on rt-aks-egress drops traffic to the API server 20.50.12.34",
        error=connfail(
            f"Node {NODE_IP} could not reach API server at {API_PUBLIC_IP}:443. Connection timed out. "
            "Check firewall/NSG rules on port 443"
        ),
        source=DOC_CONNFAIL,
        resources=res,
        decoys=(
            Decoy("firewall_aks_fqdns", "the firewall allows the AKS FQDNs"),
            Decoy("api_authorized_ranges", "no authorized ranges"),
            Decoy("resource_locks", "a CanNotDelete lock on the network resource group"),
        ),
    )


def w_nic_nsg_denies_https() -> World:
    """Someone 'hardened' the AKS-managed NSG in the node resource group (attached to the node NICs
    through the scale set, not to the subnet): outbound TCP 443 to the Internet is denied at priority
    100. The subnet NSG, the one people look at, allows everything outbound."""
    res = healthy_public_lb()
    res[es.AKS_NSG] = es.aks_nsg([ns.rule("deny-https-out", 100, "Outbound", "Deny", dst="Internet", ports="443")])
    res[ns.NODE_NSG] = ns.nsg(
        ns.NODE_NSG,
        [
            _nsg_rule(ns.NODE_NSG, "allow-all-out", 100, "Outbound", "Allow", protocol="*", dst="*"),
            _nsg_rule(ns.NODE_NSG, "deny-rdp-in", 200, "Inbound", "Deny", src="Internet", ports="3389"),
        ],
    )
    res.update(locks(NODE_RG_ID, ("mc-no-delete", "CanNotDelete")))
    return World(
        id="egress-aks-managed-nic-nsg-denies-443",
        family="egress",
        planted="egress_bootstrap",
        fault="aks-agentpool-12345678-nsg (NIC level, via the scale set) denies outbound 443 to Internet",
        error=outboundfail(),
        source=DOC_OUTBOUND,
        resources=res,
        decoys=(
            Decoy("outbound_connectivity", "the load balancer and its outbound IP exist"),
            Decoy("resource_locks", "a CanNotDelete lock on the node resource group"),
            Decoy("firewall_aks_fqdns", "no firewall on the path"),
        ),
    )


HUB_DNS_SUBNET = f"{ns.HUB_VNET}/subnets/snet-dns-forwarders"


def w_custom_dns_hub_not_linked() -> World:
    """Hub-and-spoke with custom DNS: the spoke's DNS servers are forwarders in the hub (10.0.3.4/5).
    The system zone is linked to the spoke (which does not matter: the spoke asks the forwarders), but
    not to the hub, where the forwarders resolve through Azure DNS -> NXDOMAIN."""
    res = healthy_private()
    hub = ns.hub()
    hub["properties"]["subnets"].append(ns.subnet(HUB_DNS_SUBNET, "10.0.3.0/28"))
    res[ns.HUB_VNET] = hub
    res[ns.VNET_ID] = ns.vnet(
        subnets=[res[ns.NODE_SUBNET], res[ns.API_SUBNET]],
        peerings=[(ns.HUB_VNET, ["10.0.0.0/16"])],
        dns=["10.0.3.4", "10.0.3.5"],
    )
    res[f"{SYSTEM_ZONE}/virtualNetworkLinks"] = vnet_links(SYSTEM_ZONE, ns.VNET_ID)
    return World(
        id="dns-custom-dns-hub-forwarders-zone-not-linked",
        family="dns",
        planted="vnet_custom_dns",
        fault="spoke DNS = hub forwarders 10.0.3.4/.5; the privatelink zone is linked to the spoke, not the hub",
        error=dnsfail(),
        source=DOC_DNSFAIL,
        resources=res,
        decoys=(
            Decoy("private_dns_zone_link", "the zone is linked to the node VNet (the spoke)"),
            Decoy("private_endpoint_apiserver", "the private endpoint is Approved"),
        ),
    )


BUILDERS: list[Callable[[], World]] = [
    w_authorized_ranges_egress_ip,
    w_authorized_ranges_nat_gateway_precedence,
    w_nsg_denies_apiserver,
    w_udr_to_missing_nva,
    w_udr_blackholes_azurecloud,
    w_private_endpoint_rejected,
    w_byo_private_zone_not_linked,
    w_custom_dns_on_prem,
    w_custom_dns_hub_not_linked,
    w_firewall_missing_mcr,
    w_nat_gateway_missing_on_new_subnet,
    w_nsg_denies_egress_firewall_elsewhere,
    w_nic_nsg_denies_https,
    w_tls_inspection,
    w_apiserver_subnet_nsg_blocks_nodes,
    w_subnet_full_on_upgrade,
    w_service_cidr_overlap,
    w_apiserver_subnet_has_external_resources,
    w_vcpu_quota_on_scale,
    w_public_ip_quota,
    w_sku_not_available,
    w_zone_not_supported,
    w_version_not_supported,
    w_upgrade_skips_minor,
    w_identity_cannot_join_subnet,
    w_private_dns_zone_permission_missing,
    w_readonly_lock_on_scale,
    w_provider_not_registered,
    w_preview_feature_not_registered,
    w_policy_denies_node_rg,
    w_service_principal_secret_expired,
]
