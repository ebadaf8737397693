"""outbound_connectivity: does the configured outbound type have what it needs to reach the internet?

Why: CSE exit 50 (OutboundConnFail) means nodes cannot reach mcr.microsoft.com:443 and the other
required endpoints. Compares `networkProfile.outboundType` with what exists:
- loadBalancer: outbound IPs (`loadBalancerProfile.managedOutboundIPs.count`, `outboundIPs`,
  `outboundIPPrefixes`, `effectiveOutboundIPs`), each named public IP / prefix must exist; the
  `kubernetes` load balancer in the node resource group must exist and carry an outbound rule
  (`properties.outboundRules[]`, AKS names it aksOutboundRule) whose frontend public IPs exist;
- managedNATGateway: `natGatewayProfile.managedOutboundIPProfile.count` / `effectiveOutboundIPs`;
- userAssignedNATGateway: `natGateway.id` on every node subnet, that gateway Succeeded with public
  IPs that exist;
- userDefinedRouting: a 0.0.0.0/0 route on each node subnet;
- none/block: only valid for network-isolated clusters (`bootstrapProfile.artifactSource` Cache).
The path itself (NSGs at NIC and subnet level, the route's next hop) is egress_bootstrap's.
Docs: https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/vmextensionerror-outboundconnfail
https://learn.microsoft.com/azure/aks/load-balancer-standard, https://learn.microsoft.com/azure/aks/nat-gateway
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.armid import ResourceKind
from shared.checklib import netread, nsgeval
from shared.checklib import netutil as nu
from shared.checklib.base import CheckContext, CheckSpec, result
from shared.checklib.clusterview import ClusterView
from shared.models import CheckResult, CheckStatus, Evidence, Family

DOC_LB = "https://learn.microsoft.com/azure/aks/load-balancer-standard"
DOC_NAT = "https://learn.microsoft.com/azure/aks/nat-gateway"
LB_NAME = "kubernetes"


@dataclass(frozen=True)
class NodeSubnet:
    subnet_id: str
    route_table_id: str | None
    default_route: nu.Route | None
    nat_gateway_id: str | None
    nat_state: str | None = None  # provisioningState, "missing" when the id does not resolve
    nat_public_ips: int = 0
    nat_missing_ips: tuple[str, ...] = ()  # public IPs / prefixes the gateway names that do not exist


@dataclass(frozen=True)
class LoadBalancer:
    """The `kubernetes` load balancer of the node resource group, as far as egress goes."""

    id: str
    exists: bool
    outbound_rules: tuple[str, ...] = ()
    frontend_ips: tuple[str, ...] = ()  # public IPs behind the outbound rules' frontends
    scale_sets: int = 0  # scale sets in the node resource group (read when the LB is absent)


@dataclass(frozen=True)
class Facts:
    cluster_id: str
    resource_group: str
    name: str
    region: str
    outbound_type: str
    lb_ips: int  # configured or effective outbound IPs/prefixes of the standard LB
    nat_ips: int  # managed NAT gateway outbound IPs
    artifact_source: str
    subnets: tuple[NodeSubnet, ...]
    node_resource_group: str = ""
    lb: LoadBalancer | None = None
    missing_ips: tuple[tuple[str, str], ...] = ()  # (property, id) of named outbound IPs that do not exist


def _count_lb(view: ClusterView) -> int:
    n = len(view.lb_outbound_ip_ids) + len(view.lb_outbound_prefix_ids) + len(view.lb_effective_outbound_ip_ids)
    if view.lb_managed_outbound_ips is not None:
        return max(n, view.lb_managed_outbound_ips)
    return n or 1  # no outbound IPs configured: AKS defaults to one managed outbound IP


async def _missing(ctx: CheckContext, ids: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(property, id) of the ids that answer 404."""
    bodies = await netread.get_all_or_none(ctx, [i for _, i in ids])
    return [pi for pi, body in zip(ids, bodies, strict=True) if body is None]


async def _load_balancer(ctx: CheckContext, view: ClusterView) -> tuple[LoadBalancer, list[tuple[str, str]]]:
    lb_id = f"{view.node_resource_group_id}/providers/Microsoft.Network/loadBalancers/{LB_NAME}"
    body = await ctx.get_or_none(lb_id, netread.NET)
    if body is None:
        # Nodes exist without the LB AKS creates before them: deleted. No nodes yet: nothing to say.
        sets = await nsgeval.scale_sets(ctx, view)
        return LoadBalancer(lb_id, False, scale_sets=len({n.vmss_id for n in sets.nics})), []
    p = nu.props(body)
    rules = [r for r in p.get("outboundRules") or [] if isinstance(r, dict)]
    fe_ids = {nu.norm_id(i) for r in rules for i in (nu.ref_id(x) for x in nu.props(r).get("frontendIPConfigurations")
                                                       or []) if i}
    pips = [pid for fe in p.get("frontendIPConfigurations") or [] if nu.norm_id(str(fe.get("id") or "")) in fe_ids
            for pid in [nu.ref_id(nu.props(fe).get("publicIPAddress")) or nu.ref_id(nu.props(fe).get("publicIPPrefix"))]
            if pid]
    missing = await _missing(ctx, [("outboundRules[].frontendIPConfigurations[].publicIPAddress", i) for i in pips])
    return LoadBalancer(lb_id, True, tuple(str(r.get("name") or "?") for r in rules), tuple(pips)), missing


async def gather(ctx: CheckContext) -> Facts:
    view = await netread.load_cluster(ctx)
    ot = view.outbound_type.lower()
    nat_ips = max(view.nat_managed_outbound_ips or 0, len(view.nat_effective_outbound_ip_ids))
    subnets: list[NodeSubnet] = []
    lb: LoadBalancer | None = None
    missing: list[tuple[str, str]] = []
    if ot == "loadbalancer" and view.node_resource_group:
        # The IPs named in the profile must exist. Compared only when the node resource group has the LB or
        # scale sets: before AKS built them (a failure at validation or capacity) nothing is in use yet. The
        # effective ones are the LB's own frontends: without the LB, the LB finding says it all.
        prefixes = "loadBalancerProfile.outboundIPPrefixes.publicIPPrefixes"
        named = ([("loadBalancerProfile.outboundIPs.publicIPs", i) for i in view.lb_outbound_ip_ids]
                 + [(prefixes, i) for i in view.lb_outbound_prefix_ids])
        effective = [("loadBalancerProfile.effectiveOutboundIPs", i) for i in view.lb_effective_outbound_ip_ids
                     if not any(nu.same_id(i, x) for _, x in named)]
        lb, lb_missing = await _load_balancer(ctx, view)
        missing = []
        if lb.exists or lb.scale_sets:  # the node resource group's egress parts are there to compare with
            for m in [*await _missing(ctx, [*named, *(effective if lb.exists else [])]), *lb_missing]:
                if not any(nu.same_id(m[1], x[1]) for x in missing):
                    missing.append(m)
    if view.byo_vnet:

        async def read_or_none(rid: str | None) -> dict[str, Any] | None:
            return await ctx.get_or_none(rid, netread.NET) if rid else None

        async def one(sid: str, body: dict[str, Any]) -> NodeSubnet:
            sp = nu.props(body)
            rt_id, nat_id = nu.ref_id(sp.get("routeTable")), nu.ref_id(sp.get("natGateway"))
            rt, nat = await netread.in_order(read_or_none(rt_id), read_or_none(nat_id))
            default = next((r for r in nu.udr_routes(rt or {}) if r.prefix == "0.0.0.0/0"), None)
            state, pips = None, 0
            gone: tuple[str, ...] = ()
            if nat_id:
                np2 = nu.props(nat)
                state = str(np2.get("provisioningState") or "") if nat else "missing"
                ids = [i for i in (nu.ref_id(x) for x in (np2.get("publicIpAddresses") or [])
                                   + (np2.get("publicIpPrefixes") or [])) if i]
                pips = len(ids)
                if ot == "userassignednatgateway":
                    gone = tuple(i for _, i in await _missing(ctx, [("natGateway", i) for i in ids]))
            return NodeSubnet(sid, rt_id, default, nat_id, state, pips, gone)

        bodies = await netread.node_subnets(ctx, view)
        subnets = await netread.all_in_order(one(sid, b) for sid, b in zip(view.node_subnet_ids, bodies, strict=True))
    return Facts(view.id, view.resource_group, view.name, view.region, view.outbound_type,
                 _count_lb(view), nat_ips, view.bootstrap_artifact_source or "", tuple(subnets),
                 view.node_resource_group, lb, tuple(missing))


def _lb(f: Facts, ev: list[Evidence], fails: list[tuple[str, str | None]], likely: list[tuple[str, str, str]]) -> None:
    rg_n = f"-g {f.resource_group} -n {f.name}"
    ev.append(Evidence(resource_id=f.cluster_id, property="properties.networkProfile.loadBalancerProfile",
                       value=f.lb_ips, note="outbound IPs / prefixes"))
    if f.lb_ips < 1:
        fails.append(("outboundType loadBalancer but the load balancer has no outbound IP",
                      f"az aks update {rg_n} --load-balancer-managed-outbound-ip-count 1"))
    for prop, rid in f.missing_ips:
        ev.append(Evidence(resource_id=rid, property=prop, value=None, note="outbound public IP does not exist"))
        fails.append((f"outbound public IP {nu.name_of(rid)} ({prop}) does not exist: the load balancer has no "
                      "address to SNAT the nodes' egress to",
                      f"az aks update {rg_n} --load-balancer-managed-outbound-ip-count 1"
                      "  # or --load-balancer-outbound-ips <existing-public-ip-ids>"))
    lb = f.lb
    if lb is None:
        return
    if not lb.exists:
        ev.append(Evidence(resource_id=lb.id, property="(resource)", value=None,
                           note=f"load balancer not found; {lb.scale_sets} scale set(s) in the node resource group"))
        if not lb.scale_sets:
            return  # no nodes yet either: the operation failed before AKS built the node resource group's parts
        likely.append((f"outboundType loadBalancer but node resource group {f.node_resource_group} has scale sets "
                       f"and no '{LB_NAME}' load balancer, whose outbound rule gives the nodes egress",
                       f"az aks update {rg_n} --load-balancer-managed-outbound-ip-count 1  # reconciles the LB",
                       f"az network lb show -g {f.node_resource_group} -n {LB_NAME} (404: deleted, e.g. by a "
                       "cleanup of the node resource group)"))
        return
    ev.append(Evidence(resource_id=lb.id, property="properties.outboundRules", value=list(lb.outbound_rules),
                       note="outbound rules of the AKS load balancer"))
    if not lb.outbound_rules:
        fails.append((f"load balancer {LB_NAME} in {f.node_resource_group} has no outbound rule: the nodes get no "
                      "SNAT for internet egress", f"az aks update {rg_n} --load-balancer-managed-outbound-ip-count 1"
                      "  # AKS recreates aksOutboundRule"))


def evaluate(f: Facts) -> CheckResult:
    ot = f.outbound_type.lower()
    rg_n = f"-g {f.resource_group} -n {f.name}"
    ev: list[Evidence] = [Evidence(resource_id=f.cluster_id, property="properties.networkProfile.outboundType",
                                   value=f.outbound_type)]
    fails: list[tuple[str, str | None]] = []
    likely: list[tuple[str, str, str]] = []
    docs = SPEC.docs
    if ot == "loadbalancer":
        _lb(f, ev, fails, likely)
        docs = (*docs, DOC_LB)
    elif ot == "managednatgateway":
        ev.append(Evidence(resource_id=f.cluster_id, property="properties.networkProfile.natGatewayProfile",
                           value=f.nat_ips, note="managed NAT gateway outbound IPs"))
        if f.nat_ips < 1:
            fails.append(("outboundType managedNATGateway but the NAT gateway has no outbound IP",
                          f"az aks update {rg_n} --nat-gateway-managed-outbound-ip-count 1"))
        docs = (*docs, DOC_NAT)
    elif ot in ("none", "block"):
        ev.append(Evidence(resource_id=f.cluster_id, property="properties.bootstrapProfile.artifactSource",
                           value=f.artifact_source or None))
        if f.artifact_source.lower() != "cache":
            fails.append((f"outboundType {f.outbound_type} blocks egress but the cluster is not network-isolated "
                          "(bootstrapProfile.artifactSource is not Cache): nodes cannot pull their images",
                          f"az aks update {rg_n} --outbound-type loadBalancer"))
    for s in f.subnets:
        sid, name = s.subnet_id, nu.name_of(s.subnet_id)
        if ot == "userassignednatgateway":
            docs = (*docs, DOC_NAT) if DOC_NAT not in docs else docs
            ev.append(Evidence(resource_id=sid, property="properties.natGateway.id", value=s.nat_gateway_id))
            nat_rg = nu.resource_group_of(s.nat_gateway_id or "") or "<nat-rg>"
            if not s.nat_gateway_id:
                fails.append((f"outboundType userAssignedNATGateway but node subnet {name} has no NAT gateway: its "
                              "nodes have no egress",
                              f"az network vnet subnet update --ids {sid} --nat-gateway <nat-gateway-id>"))
            elif s.nat_state == "missing":
                fails.append((f"NAT gateway {s.nat_gateway_id} on subnet {name} does not exist",
                              f"az network vnet subnet update --ids {sid} --nat-gateway <existing-nat-gateway-id>"))
            elif s.nat_missing_ips:
                fails.append((f"NAT gateway {nu.name_of(s.nat_gateway_id)} names public IP(s) that do not exist: "
                              + ", ".join(nu.name_of(i) for i in s.nat_missing_ips),
                              f"az network nat gateway update -g {nat_rg} -n {nu.name_of(s.nat_gateway_id)} "
                              "--public-ip-addresses <existing-public-ip-name>"))
            elif (s.nat_state or "").lower() != "succeeded" or s.nat_public_ips < 1:
                fails.append((f"NAT gateway {nu.name_of(s.nat_gateway_id)} is {s.nat_state} with "
                              f"{s.nat_public_ips} public IP(s)",
                              f"az network nat gateway update -g {nat_rg} -n {nu.name_of(s.nat_gateway_id)} "
                              "--public-ip-addresses <public-ip-name>"))
        if s.default_route is not None:
            ev.append(Evidence(resource_id=s.default_route.id or s.route_table_id, property="properties.routes[]",
                               value=s.default_route.as_value(), note=f"default route of {name}"))
        elif ot == "userdefinedrouting":
            fails.append((f"outboundType userDefinedRouting but subnet {name} has no 0.0.0.0/0 route",
                          (f"az network route-table route create -g {nu.resource_group_of(s.route_table_id)} "
                           f"--route-table-name {nu.name_of(s.route_table_id)} " if s.route_table_id else
                           f"az network vnet subnet update --ids {sid} --route-table <route-table-id>\n"
                           "az network route-table route create -g <rt-rg> --route-table-name <route-table> ")
                          + "-n default-egress --address-prefix 0.0.0.0/0 --next-hop-type VirtualAppliance "
                          "--next-hop-ip-address <firewall-private-ip>"))
    if fails:
        summary = fails[0][0] + (f" (+{len(fails) - 1} more)" if len(fails) > 1 else "")
        return result(SPEC, CheckStatus.FAIL, summary, evidence=tuple(ev), docs=docs,
                      remediation="\n".join(dict.fromkeys(fx for _, fx in fails if fx)) or None)
    if likely:
        return result(SPEC, CheckStatus.FAIL, likely[0][0], evidence=tuple(ev), docs=docs, confidence="likely",
                      remediation=likely[0][1], confirm_by=likely[0][2])
    if not f.subnets and ot in ("userdefinedrouting", "userassignednatgateway"):
        return result(SPEC, CheckStatus.SKIPPED, "skipped: node subnets are not readable from the cluster body",
                      evidence=tuple(ev), reason="no vnetSubnetID on the node pools")
    extra = "" if f.subnets else " (AKS-managed VNet: subnet routes not inspected)"
    # the path through NSGs and routes is egress_bootstrap's verdict (found once, ranked by its own relevance)
    return result(SPEC, CheckStatus.PASS, f"outboundType {f.outbound_type} has an egress path{extra}; whether NSGs "
                  "and routes let the endpoints through is egress_bootstrap's verdict",
                  evidence=tuple(ev), docs=docs)


SPEC: CheckSpec[Facts] = CheckSpec(
    id="outbound_connectivity",
    title="Outbound connectivity matches the outbound type",
    docs=(nu.DOC_OUTBOUND, nu.DOC_EGRESS),
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.EGRESS, Family.API_SERVER_CONNECTIVITY, Family.DNS, Family.NODE_HEALTH}),
    relevance={"egress": 100, "egress/proxy": 50, "egress/tls": 40, "api_server_connectivity": 45,
               "api_server_connectivity/no_route": 40, "dns": 20, "node_health": 50},
    targets=("networkProfile.outboundType", "networkProfile.loadBalancerProfile", "networkProfile.natGatewayProfile",),
    resource_kinds=frozenset({ResourceKind.NAT_GATEWAY, ResourceKind.LOAD_BALANCER, ResourceKind.PUBLIC_IP,
                              ResourceKind.PUBLIC_IP_PREFIX}),
    predicts={"default": "VMExtensionError_OutboundConnFail"},
)
