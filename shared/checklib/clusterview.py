"""One normalised view of a managed cluster and its pools, from an ARM GET body or a planned body.

Owns: `ClusterView.from_body()`. Every check reads the cluster through this view, so ARM's
spellings (`authorizedIPRanges` / `authorizedIpRanges`, `privateDNSZone`, ids in any casing, a
missing `networkProfile` meaning kubenet + load balancer) are decided once, here. The same code
reads what exists (GET, api-version >= 2025-05-01) and what is about to be sent (a pre-flight
template), so the checks that explain a failure can also predict it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared import armid
from shared.armid import ResourceKind


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _props(body: Any) -> Mapping[str, Any]:
    p = body.get("properties") if isinstance(body, Mapping) else None
    return p if isinstance(p, Mapping) else {}


def _sub(body: Any, key: str) -> Mapping[str, Any]:
    value = body.get(key) if isinstance(body, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def _str(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _strs(value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)):
        return ()
    return tuple(s for s in (_str(v) for v in value) if s)


def _ids(value: Any) -> tuple[str, ...]:
    """Ids from a list of `{id: ...}` references (ARM's sub-resource shape) or plain strings."""
    if not isinstance(value, (list, tuple)):
        return ()
    raw = [v.get("id") if isinstance(v, Mapping) else v for v in value]
    return armid.dedupe(raw)


def _minor(version: str | None) -> tuple[int, int] | None:
    m = re.match(r"^\s*v?(\d+)\.(\d+)", version or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def _region(location: Any) -> str:
    return "".join(str(location or "").split()).lower()


class PoolView(_View):
    name: str
    mode: str = "User"  # System | User | Gateway
    os_type: str = "Linux"
    os_sku: str | None = None
    vm_size: str | None = None
    count: int | None = None
    min_count: int | None = None
    max_count: int | None = None
    autoscaling: bool = False
    max_surge: str | None = None  # "33%", "1", None = AKS default (10% on 1.28+, 1 node earlier)
    max_unavailable: str | None = None  # "0", "1", "10%": nodes taken down instead of surged
    subnet_id: str | None = None  # vnetSubnetID: None = AKS-managed VNet
    pod_subnet_id: str | None = None
    orchestrator_version: str | None = None  # what was asked for
    current_orchestrator_version: str | None = None  # what runs
    provisioning_state: str = ""
    power_state: str = ""
    zones: tuple[str, ...] = ()
    node_image_version: str | None = None
    pool_type: str = "VirtualMachineScaleSets"
    max_pods: int | None = None
    spot: bool = False
    node_public_ip: bool = False  # enableNodePublicIP: one public IP per node
    node_public_ip_prefix_id: str | None = None

    @property
    def version(self) -> str | None:
        """The version the pool runs, else the one asked for."""
        return self.current_orchestrator_version or self.orchestrator_version

    @property
    def nodes_at_most(self) -> int:
        """count, or maxCount when the autoscaler may grow the pool further."""
        count = self.count or 0
        return max(count, self.max_count or 0) if self.autoscaling else count

    def surge_nodes(self, count: int | None = None, cluster_version: str | None = None) -> int:
        """Extra nodes an upgrade adds: maxSurge as a count or a percentage of `count` (default: the
        pool's count) rounded up. Unset: AKS uses 10% for Kubernetes 1.28 and later, 1 node before
        (upgrade-aks-node-pools-rolling); maxSurge 0 with maxUnavailable surges nothing."""
        n = (self.count or 0) if count is None else count
        raw = (self.max_surge or "").strip()
        if not raw:
            ver = _minor(self.version or cluster_version)
            raw = "10%" if ver is None or ver >= (1, 28) else "1"
        if raw.endswith("%"):
            try:
                pct = float(raw[:-1])
            except ValueError:
                return 1
            return math.ceil(n * pct / 100) if pct > 0 else 0
        value = _int(raw)
        return max(0, value) if value is not None else 1

    @property
    def failed(self) -> bool:
        return self.provisioning_state.lower() == "failed"


class IdentityView(_View):
    """Who the control plane acts as, and the kubelet identity."""

    kind: Literal["SystemAssigned", "UserAssigned", "ServicePrincipal", "none"] = "none"
    principal_id: str | None = None  # object id: what role assignments carry
    client_id: str | None = None
    resource_id: str | None = None  # user-assigned identity
    kubelet_object_id: str | None = None
    kubelet_client_id: str | None = None
    kubelet_resource_id: str | None = None


class ClusterView(_View):
    id: str
    name: str
    subscription: str
    resource_group: str
    region: str
    planned: bool = False  # built from a body not yet sent (pre-flight)
    provisioning_state: str = ""
    power_state: str = ""
    kubernetes_version: str | None = None  # what was asked for
    current_kubernetes_version: str | None = None  # what runs
    sku_tier: str | None = None
    # API server
    private: bool = False
    vnet_integration: bool = False
    apiserver_subnet_id: str | None = None  # None when unset or "" (AKS-managed subnet)
    authorized_ranges: tuple[str, ...] = ()
    fqdn: str | None = None
    private_fqdn: str | None = None
    private_dns_zone: str | None = None  # "system" | "none" | a zone id | None
    public_fqdn_enabled: bool = False
    # network
    network_plugin: str = "kubenet"
    network_plugin_mode: str | None = None  # overlay
    network_policy: str | None = None
    network_dataplane: str | None = None
    outbound_type: str = "loadBalancer"
    pod_cidrs: tuple[str, ...] = ()
    service_cidrs: tuple[str, ...] = ()
    dns_service_ip: str | None = None
    load_balancer_sku: str | None = None
    lb_managed_outbound_ips: int | None = None
    lb_outbound_ip_ids: tuple[str, ...] = ()
    lb_outbound_prefix_ids: tuple[str, ...] = ()
    lb_effective_outbound_ip_ids: tuple[str, ...] = ()
    lb_allocated_outbound_ports: int | None = None
    nat_managed_outbound_ips: int | None = None
    nat_effective_outbound_ip_ids: tuple[str, ...] = ()
    http_proxy: bool = False
    bootstrap_artifact_source: str | None = None  # Direct | Cache (network-isolated clusters)
    bootstrap_registry_id: str | None = None
    # resources and identities
    node_resource_group: str = ""
    identity: IdentityView = IdentityView()
    pools: tuple[PoolView, ...] = ()
    failing_pool: str | None = None  # the pool the operation was about, when known
    node_subnet_ids: tuple[str, ...] = ()  # distinct, the failing pool's first
    pools_without_subnet: tuple[str, ...] = ()
    addons: tuple[str, ...] = ()  # addonProfiles names with enabled: true, as ARM spells them (omsagent, ...)
    service_principal_client_id: str | None = None  # raw servicePrincipalProfile.clientId ("msi" included)
    azure_monitor_metrics: bool = False  # azureMonitorProfile.metrics.enabled
    kms_key_vault_id: str | None = None  # securityProfile.azureKeyVaultKms.keyVaultResourceId

    @property
    def byo_vnet(self) -> bool:
        return bool(self.node_subnet_ids)

    @property
    def node_vnet_ids(self) -> tuple[str, ...]:
        return armid.dedupe([armid.parent_of(s) for s in self.node_subnet_ids])

    @property
    def node_resource_group_id(self) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{self.node_resource_group}"

    @property
    def overlay(self) -> bool:
        return (self.network_plugin_mode or "").lower() == "overlay"

    def pool(self, name: str | None) -> PoolView | None:
        if not name:
            return None
        return next((p for p in self.pools if p.name.lower() == name.lower()), None)

    @property
    def target_pool(self) -> PoolView | None:
        """The pool the operation is about (named, else the first failed one)."""
        return self.pool(self.failing_pool) or next((p for p in self.pools if p.failed), None)

    def subnet_ids(self) -> tuple[str, ...]:
        """Every subnet the cluster uses: node, pod and API-server subnets."""
        ids = [*self.node_subnet_ids, *(p.pod_subnet_id for p in self.pools if p.pod_subnet_id)]
        if self.apiserver_subnet_id:
            ids.append(self.apiserver_subnet_id)
        return armid.dedupe(ids)

    @classmethod
    def from_body(cls, body: Mapping[str, Any], cluster_id: str, *, agent_pool: str | None = None,
                  extra_pools: Sequence[Mapping[str, Any]] = (), planned: bool = False) -> ClusterView:
        p = _props(body)
        api = _sub(p, "apiServerAccessProfile")
        net = _sub(p, "networkProfile")
        lb = _sub(net, "loadBalancerProfile")
        nat = _sub(net, "natGatewayProfile")
        boot = _sub(p, "bootstrapProfile")
        raw_pools: list[Mapping[str, Any]] = [x for x in (p.get("agentPoolProfiles") or []) if isinstance(x, Mapping)]
        for extra in extra_pools:
            name = str(extra.get("name") or "")
            if not any(str(x.get("name") or "").lower() == name.lower() for x in raw_pools):
                raw_pools.append({"name": name, **_props(extra)})
        pools = tuple(_pool(x) for x in raw_pools)
        cid = armid.parse(_str(body.get("id")) or cluster_id) or armid.parse(cluster_id)
        name = _str(body.get("name")) or (cid.name if cid else "")

        def order(pool: PoolView) -> tuple[int, int]:
            named = agent_pool is not None and pool.name.lower() == agent_pool.lower()
            return (0 if named else 1, 0 if pool.failed else 1)

        subnets: list[str] = []
        missing: list[str] = []
        for pool in sorted(pools, key=order):
            if pool.subnet_id and armid.is_kind(pool.subnet_id, ResourceKind.SUBNET):
                if not any(armid.same(pool.subnet_id, s) for s in subnets):
                    subnets.append(pool.subnet_id)
            else:
                missing.append(pool.name or "?")
        zone = _str(api.get("privateDNSZone")) or _str(api.get("privateDnsZone"))
        ranges = api.get("authorizedIPRanges") or api.get("authorizedIpRanges") or []
        lb_ips = _sub(lb, "outboundIPs")
        lb_prefixes = _sub(lb, "outboundIPPrefixes")
        lb_managed = _sub(lb, "managedOutboundIPs")
        nat_managed = _sub(nat, "managedOutboundIPProfile")
        power = _sub(p, "powerState")
        sku = _sub(body, "sku")
        return cls(
            id=cid.text if cid else cluster_id,
            name=name,
            subscription=(cid.subscription if cid else None) or "",
            resource_group=(cid.resource_group if cid else None) or "",
            region=_region(body.get("location")),
            planned=planned,
            provisioning_state=str(p.get("provisioningState") or ""),
            power_state=str(power.get("code") or ""),
            kubernetes_version=_str(p.get("kubernetesVersion")),
            current_kubernetes_version=_str(p.get("currentKubernetesVersion")),
            sku_tier=_str(sku.get("tier")),
            private=bool(api.get("enablePrivateCluster")),
            vnet_integration=bool(api.get("enableVnetIntegration")),
            apiserver_subnet_id=armid.clean(api.get("subnetId")),
            authorized_ranges=_strs(ranges),
            fqdn=_str(p.get("fqdn")),
            private_fqdn=_str(p.get("privateFQDN")) or _str(p.get("privateFqdn")),
            private_dns_zone=zone,
            public_fqdn_enabled=bool(api.get("enablePrivateClusterPublicFQDN")),
            network_plugin=str(net.get("networkPlugin") or "kubenet"),
            network_plugin_mode=_str(net.get("networkPluginMode")),
            network_policy=_str(net.get("networkPolicy")),
            network_dataplane=_str(net.get("networkDataplane")),
            outbound_type=str(net.get("outboundType") or "loadBalancer"),
            pod_cidrs=_strs(net.get("podCidrs")) or _strs([net.get("podCidr")]),
            service_cidrs=_strs(net.get("serviceCidrs")) or _strs([net.get("serviceCidr")]),
            dns_service_ip=_str(net.get("dnsServiceIP")),
            load_balancer_sku=_str(net.get("loadBalancerSku")),
            lb_managed_outbound_ips=_int(lb_managed.get("count")),
            lb_outbound_ip_ids=_ids(lb_ips.get("publicIPs")),
            lb_outbound_prefix_ids=_ids(lb_prefixes.get("publicIPPrefixes")),
            lb_effective_outbound_ip_ids=_ids(lb.get("effectiveOutboundIPs")),
            lb_allocated_outbound_ports=_int(lb.get("allocatedOutboundPorts")),
            nat_managed_outbound_ips=_int(nat_managed.get("count")),
            nat_effective_outbound_ip_ids=_ids(nat.get("effectiveOutboundIPs")),
            http_proxy=isinstance(p.get("httpProxyConfig"), Mapping) and bool(p.get("httpProxyConfig")),
            bootstrap_artifact_source=_str(boot.get("artifactSource")),
            bootstrap_registry_id=armid.clean(boot.get("containerRegistryId")),
            node_resource_group=str(p.get("nodeResourceGroup") or ""),
            identity=_identity(body),
            pools=pools,
            failing_pool=agent_pool,
            node_subnet_ids=tuple(subnets),
            pools_without_subnet=tuple(missing),
            addons=_addons(p.get("addonProfiles")),
            service_principal_client_id=_str(_sub(p, "servicePrincipalProfile").get("clientId")),
            azure_monitor_metrics=_sub(_sub(p, "azureMonitorProfile"), "metrics").get("enabled") is True,
            kms_key_vault_id=armid.clean(_sub(_sub(p, "securityProfile"), "azureKeyVaultKms").get(
                "keyVaultResourceId")),
        )


def _addons(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, Mapping):
        return ()
    return tuple(str(k) for k, v in raw.items() if isinstance(v, Mapping) and v.get("enabled") is True)


def _pool(x: Mapping[str, Any]) -> PoolView:
    power = _sub(x, "powerState")
    upgrade = _sub(x, "upgradeSettings")
    return PoolView(
        name=str(x.get("name") or ""),
        mode=str(x.get("mode") or "User"),
        os_type=str(x.get("osType") or "Linux"),
        os_sku=_str(x.get("osSKU")),
        vm_size=_str(x.get("vmSize")),
        count=_int(x.get("count")),
        min_count=_int(x.get("minCount")),
        max_count=_int(x.get("maxCount")),
        autoscaling=bool(x.get("enableAutoScaling")),
        max_surge=_str(str(upgrade["maxSurge"])) if upgrade.get("maxSurge") is not None else None,
        max_unavailable=(_str(str(upgrade["maxUnavailable"])) if upgrade.get("maxUnavailable") is not None
                         else None),
        subnet_id=armid.clean(x.get("vnetSubnetID")),
        pod_subnet_id=armid.clean(x.get("podSubnetID")),
        orchestrator_version=_str(x.get("orchestratorVersion")),
        current_orchestrator_version=_str(x.get("currentOrchestratorVersion")),
        provisioning_state=str(x.get("provisioningState") or ""),
        power_state=str(power.get("code") or ""),
        zones=_strs(x.get("availabilityZones")),
        node_image_version=_str(x.get("nodeImageVersion")),
        pool_type=str(x.get("type") or "VirtualMachineScaleSets"),
        max_pods=_int(x.get("maxPods")),
        spot=str(x.get("scaleSetPriority") or "").lower() == "spot",
        node_public_ip=x.get("enableNodePublicIP") is True,
        node_public_ip_prefix_id=armid.clean(x.get("nodePublicIPPrefixID")),
    )


def _identity(body: Mapping[str, Any]) -> IdentityView:
    ident = _sub(body, "identity")
    profiles = _props(body).get("identityProfile")
    kubelet = _sub(profiles, "kubeletidentity")
    kube = {"kubelet_object_id": _str(kubelet.get("objectId")), "kubelet_client_id": _str(kubelet.get("clientId")),
            "kubelet_resource_id": armid.clean(kubelet.get("resourceId"))}
    itype = str(ident.get("type") or "").lower()
    uais = ident.get("userAssignedIdentities")
    if "userassigned" in itype and isinstance(uais, Mapping) and uais:
        rid, val = next(iter(uais.items()))
        val = val if isinstance(val, Mapping) else {}
        return IdentityView(kind="UserAssigned", principal_id=_str(val.get("principalId")),
                            client_id=_str(val.get("clientId")), resource_id=armid.clean(rid), **kube)
    if "systemassigned" in itype:
        return IdentityView(kind="SystemAssigned", principal_id=_str(ident.get("principalId")), **kube)
    sp = _props(body).get("servicePrincipalProfile")
    client = _str(sp.get("clientId")) if isinstance(sp, Mapping) else None
    if client and client.lower() != "msi":
        return IdentityView(kind="ServicePrincipal", client_id=client, **kube)
    return IdentityView(kind="none", client_id=client, **kube)
