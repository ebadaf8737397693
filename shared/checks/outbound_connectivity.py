"""outbound_connectivity: does the configured outbound type have what it needs to reach the internet?

Why: CSE exit 50 (OutboundConnFail) means nodes cannot reach mcr.microsoft.com:443 and the other
required endpoints. Compares `networkProfile.outboundType` with what exists:
- loadBalancer: outbound IPs (`loadBalancerProfile.managedOutboundIPs.count`, `outboundIPs`,
  `outboundIPPrefixes`, `effectiveOutboundIPs`);
- managedNATGateway: `natGatewayProfile.managedOutboundIPProfile.count` / `effectiveOutboundIPs`;
- userAssignedNATGateway: `natGateway.id` on each node subnet, that gateway Succeeded with public IPs;
- userDefinedRouting: a 0.0.0.0/0 route on each node subnet;
- none/block: only valid for network-isolated clusters (`bootstrapProfile.artifactSource` Cache).
Any outbound type: a 0.0.0.0/0 route with next hop None blackholes egress, and the node subnet NSG
must not deny outbound TCP 443 to the Internet (priority walk over securityRules +
defaultSecurityRules; a 0.0.0.0/0 UDR makes the VirtualNetwork tag cover internet addresses).
Doc: https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/vmextensionerror-outboundconnfail
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.armid import ResourceKind
from shared.checklib import netread
from shared.checklib import netutil as nu
from shared.checklib.base import CheckContext, CheckSpec, result
from shared.checklib.clusterview import ClusterView
from shared.checklib.nsgeval import SubnetNsg, node_subnet_nsgs, source_endpoint, with_udr_tags
from shared.models import CheckResult, CheckStatus, Evidence, Family


@dataclass(frozen=True)
class NodeSubnet:
    nsg: SubnetNsg
    route_table_id: str | None
    default_route: nu.Route | None
    nat_gateway_id: str | None
    nat_state: str | None = None  # provisioningState, "missing" when the id does not resolve
    nat_public_ips: int = 0


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


def _count_lb(view: ClusterView) -> int:
    n = len(view.lb_outbound_ip_ids) + len(view.lb_outbound_prefix_ids) + len(view.lb_effective_outbound_ip_ids)
    if view.lb_managed_outbound_ips is not None:
        return max(n, view.lb_managed_outbound_ips)
    return n or 1  # no outbound IPs configured: AKS defaults to one managed outbound IP


async def gather(ctx: CheckContext) -> Facts:
    view = await netread.load_cluster(ctx)
    nat_ips = max(view.nat_managed_outbound_ips or 0, len(view.nat_effective_outbound_ip_ids))
    subnets: list[NodeSubnet] = []
    if view.byo_vnet:

        async def read_or_none(rid: str | None) -> dict[str, Any] | None:
            return await ctx.get_or_none(rid, netread.NET) if rid else None

        async def egress(body: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
            sp = nu.props(body)
            return await netread.in_order(read_or_none(nu.ref_id(sp.get("routeTable"))),
                                          read_or_none(nu.ref_id(sp.get("natGateway"))))

        async def egress_all() -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any] | None,
                                                                         dict[str, Any] | None]]]:
            bodies = await netread.node_subnets(ctx, view)
            return bodies, await netread.all_in_order(egress(b) for b in bodies)

        # The NAT gateways (and route tables) of the subnets do not wait for the subnets' NSGs.
        nsgs, (bodies, reads) = await netread.in_order(node_subnet_nsgs(ctx, view), egress_all())
        for s, body, (rt, nat) in zip(nsgs, bodies, reads, strict=True):
            sp = nu.props(body)
            rt_id = nu.ref_id(sp.get("routeTable"))
            default = next((r for r in nu.udr_routes(rt or {}) if r.prefix == "0.0.0.0/0"), None)
            nat_id = nu.ref_id(sp.get("natGateway"))
            state, pips = None, 0
            if nat_id:
                np2 = nu.props(nat)
                state = str(np2.get("provisioningState") or "") if nat else "missing"
                pips = len(np2.get("publicIpAddresses") or []) + len(np2.get("publicIpPrefixes") or [])
            subnets.append(NodeSubnet(s, rt_id, default, nat_id, state, pips))
    return Facts(view.id, view.resource_group, view.name, view.region, view.outbound_type,
                 _count_lb(view), nat_ips, view.bootstrap_artifact_source or "",
                 tuple(subnets))


def evaluate(f: Facts) -> CheckResult:
    ot = f.outbound_type.lower()
    rg_n = f"-g {f.resource_group} -n {f.name}"
    ev: list[Evidence] = [Evidence(resource_id=f.cluster_id, property="properties.networkProfile.outboundType",
                                   value=f.outbound_type)]
    fails: list[tuple[str, str | None]] = []
    if ot == "loadbalancer":
        ev.append(Evidence(resource_id=f.cluster_id, property="properties.networkProfile.loadBalancerProfile",
                           value=f.lb_ips, note="outbound IPs / prefixes"))
        if f.lb_ips < 1:
            fails.append(("outboundType loadBalancer but the load balancer has no outbound IP",
                          f"az aks update {rg_n} --load-balancer-managed-outbound-ip-count 1"))
    elif ot == "managednatgateway":
        ev.append(Evidence(resource_id=f.cluster_id, property="properties.networkProfile.natGatewayProfile",
                           value=f.nat_ips, note="managed NAT gateway outbound IPs"))
        if f.nat_ips < 1:
            fails.append(("outboundType managedNATGateway but the NAT gateway has no outbound IP",
                          f"az aks update {rg_n} --nat-gateway-managed-outbound-ip-count 1"))
    elif ot in ("none", "block"):
        ev.append(Evidence(resource_id=f.cluster_id, property="properties.bootstrapProfile.artifactSource",
                           value=f.artifact_source or None))
        if f.artifact_source.lower() != "cache":
            fails.append((f"outboundType {f.outbound_type} blocks egress but the cluster is not network-isolated "
                          "(bootstrapProfile.artifactSource is not Cache): nodes cannot pull their images",
                          f"az aks update {rg_n} --outbound-type loadBalancer"))
    for s in f.subnets:
        sid, name = s.nsg.subnet_id, nu.name_of(s.nsg.subnet_id)
        if ot == "userassignednatgateway":
            ev.append(Evidence(resource_id=sid, property="properties.natGateway.id", value=s.nat_gateway_id))
            if not s.nat_gateway_id:
                fails.append((f"outboundType userAssignedNATGateway but subnet {name} has no NAT gateway",
                              f"az network vnet subnet update --ids {sid} --nat-gateway <nat-gateway-id>"))
            elif s.nat_state == "missing":
                fails.append((f"NAT gateway {s.nat_gateway_id} on subnet {name} does not exist", None))
            elif (s.nat_state or "").lower() != "succeeded" or s.nat_public_ips < 1:
                nat_rg = nu.resource_group_of(s.nat_gateway_id)
                fails.append((f"NAT gateway {nu.name_of(s.nat_gateway_id)} is {s.nat_state} with "
                              f"{s.nat_public_ips} public IP(s)",
                              f"az network nat gateway update -g {nat_rg} -n {nu.name_of(s.nat_gateway_id)} "
                              "--public-ip-addresses <public-ip-name>"))
        if s.default_route is not None:
            ev.append(Evidence(resource_id=s.default_route.id or s.route_table_id, property="properties.routes[]",
                               value=s.default_route.as_value(), note=f"default route of {name}"))
            if s.default_route.next_hop_type.lower() == "none":
                fails.append((f"{s.default_route.describe()} on subnet {name} blackholes all internet egress",
                              f"az network route-table route delete -g {nu.resource_group_of(s.route_table_id or '')} "
                              f"--route-table-name {nu.name_of(s.route_table_id or '')} -n {s.default_route.name}"))
        elif ot == "userdefinedrouting":
            fails.append((f"outboundType userDefinedRouting but subnet {name} has no 0.0.0.0/0 route",
                          (f"az network route-table route create -g {nu.resource_group_of(s.route_table_id)} "
                           f"--route-table-name {nu.name_of(s.route_table_id)} " if s.route_table_id else
                           f"az network vnet subnet update --ids {sid} --route-table <route-table-id>\n"
                           "az network route-table route create -g <rt-rg> --route-table-name <route-table> ")
                          + "-n default-egress --address-prefix 0.0.0.0/0 --next-hop-type VirtualAppliance "
                          "--next-hop-ip-address <firewall-private-ip>"))
        if s.nsg.nsg_id:
            dest = with_udr_tags(nu.public_endpoint("Internet (mcr.microsoft.com)", f.region), s.nsg.udr_prefixes)
            v = nu.nsg_walk(s.nsg.rules, direction="outbound", protocol="tcp", port=443,
                            source=source_endpoint(s.nsg), destination=dest)
            if v.rule is not None:
                ev.append(Evidence(resource_id=v.rule.id or s.nsg.nsg_id, property="properties.securityRules"
                                   if not v.rule.default else "properties.defaultSecurityRules",
                                   value=v.rule.as_value(),
                                   note=f"decides outbound TCP 443 to the Internet from {name}"))
            if v.access == "deny" and v.certain and v.rule is not None:
                fails.append((f"NSG {nu.name_of(s.nsg.nsg_id)} denies outbound TCP 443 to the Internet: "
                              f"{v.rule.describe()}",
                              nu.nsg_allow_command(s.nsg.nsg_id, s.nsg.rules, direction="outbound",
                                                   before=v.rule.priority, name="AllowAksEgress443", protocol="Tcp",
                                                   sources=list(s.nsg.prefixes) or ["VirtualNetwork"],
                                                   destinations=["Internet"], ports=["443"])))
    if fails:
        summary = fails[0][0] + (f" (+{len(fails) - 1} more)" if len(fails) > 1 else "")
        return result(SPEC, CheckStatus.FAIL, summary, evidence=tuple(ev),
                      remediation="\n".join(dict.fromkeys(fx for _, fx in fails if fx)) or None)
    if not f.subnets and ot in ("userdefinedrouting", "userassignednatgateway"):
        return result(SPEC, CheckStatus.SKIPPED, "skipped: node subnets are not readable from the cluster body",
                      evidence=tuple(ev), reason="no vnetSubnetID on the node pools")
    extra = "" if f.subnets else " (AKS-managed VNet: subnet NSG/routes not inspected)"
    return result(SPEC, CheckStatus.PASS, f"outboundType {f.outbound_type} has an egress path{extra}",
                  evidence=tuple(ev))


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
    resource_kinds=frozenset({ResourceKind.NAT_GATEWAY, ResourceKind.LOAD_BALANCER}),
)
