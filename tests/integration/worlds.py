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


def grants(*targets: str, roles: tuple[str, ...] = (NETWORK_CONTRIBUTOR,)) -> dict[str, dict[str, Any]]:
    return {ps.assignments_path(t): role_assignments(t, *roles) for t in targets}


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


BUILDERS: list[Callable[[], World]] = [
    w_authorized_ranges_egress_ip,
    w_nsg_denies_apiserver,
    w_udr_to_missing_nva,
]
