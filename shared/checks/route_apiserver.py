"""route_apiserver: where does the node subnet route traffic for the API server?

Why: a UDR can blackhole (next hop None) or divert (VirtualAppliance) node -> API server traffic:
exit 51 "Connection timed out" / "No route to host". Picks the route Azure would use for the API
server address from the node subnet's route table (`routes[].properties.{addressPrefix,
nextHopType,nextHopIpAddress}`) plus the system routes (VNet address space -> VnetLocal, peered
VNets -> VNetPeering, 0.0.0.0/0 -> Internet): longest prefix wins, a UDR wins a tie. For a
VirtualAppliance hop it checks that a device with that private IP exists (Azure Firewall, NIC with
IP forwarding, or internal load balancer frontend, found through the node VNet and its peerings).
Also checks outboundType userDefinedRouting consistency: the node subnet needs a 0.0.0.0/0 route.
Doc: https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/vmextensionerror-k8sapiserverconnfail
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.armid import ResourceKind
from shared.checklib import netread, servicetags
from shared.checklib import netutil as nu
from shared.checklib.base import CheckContext, CheckSpec, result
from shared.models import CheckResult, CheckStatus, Evidence, Family

Hop = netread.Hop


@dataclass(frozen=True)
class SubnetRoute:
    subnet_id: str
    route_table_id: str | None
    udrs: tuple[nu.Route, ...]
    match: nu.RouteMatch
    hop: Hop | None = None
    source_prefixes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Facts:
    cluster_id: str
    outbound_type: str
    destination: nu.Endpoint
    path_evidence: tuple[Evidence, ...]
    subnets: tuple[SubnetRoute, ...]


async def gather(ctx: CheckContext) -> Facts:
    view = await netread.load_cluster(ctx)
    netread.require_byo_vnet(view, "the node subnet route table")

    async def route_tables() -> tuple[list[dict[str, Any]], list[str | None], list[dict[str, Any]],
                                      list[dict[str, Any]]]:
        # The node VNet ids come from the cluster body (subnet id minus /subnets/<name>): no need
        # to wait for the subnets to read them.
        subnets, vnet_bodies = await netread.in_order(netread.node_subnets(ctx, view),
                                                      netread.get_all(ctx, view.node_vnet_ids))
        rt_ids = [nu.ref_id(nu.props(s).get("routeTable")) for s in subnets]
        return subnets, rt_ids, vnet_bodies, await netread.get_all(ctx, [i for i in rt_ids if i])

    (subnets, rt_ids, vnet_bodies, rt_bodies), path = await netread.in_order(route_tables(),
                                                                    netread.apiserver_path(ctx, view))
    vnets = dict(zip((nu.norm_id(v) for v in view.node_vnet_ids), vnet_bodies, strict=True))
    rts = {nu.norm_id(i): b for i, b in zip([i for i in rt_ids if i], rt_bodies, strict=True)}
    # UDRs may name service tags (AzureCloud.westeurope -> Internet): resolve them for a known address.
    tag_routes = [r.prefix for b in rt_bodies for r in nu.udr_routes(b)]
    tags = (await servicetags.read(ctx, view.subscription, view.region)
            if servicetags.needs_list(tag_routes) and path.endpoint.net is not None and view.region
            else servicetags.TagContext(view.region))

    async def subnet_route(sid: str, body: dict[str, Any], rt_id: str | None) -> SubnetRoute:
        vnet = vnets[nu.norm_id(nu.vnet_id_of(sid))]
        udrs = nu.udr_routes(rts[nu.norm_id(rt_id)]) if rt_id else []
        match = nu.route_for([*servicetags.resolve_routes(udrs, path.endpoint, tags),
                              *netread.vnet_system_routes(vnet)], path.endpoint)
        hop = None
        r = match.route
        if r is not None and r.next_hop_type.lower() == "virtualappliance" and r.next_hop_ip:
            hop = netread.hop_of(await netread.locate_next_hop(ctx, vnet, r.next_hop_ip))
        return SubnetRoute(sid, rt_id, tuple(udrs), match, hop, tuple(nu.prefixes_of(nu.props(body))))

    out = await netread.all_in_order(subnet_route(sid, body, rt_id) for sid, body, rt_id
                                     in zip(view.node_subnet_ids, subnets, rt_ids, strict=True))
    return Facts(view.id, view.outbound_type, path.endpoint, path.evidence, tuple(out))


def _rt_args(rt_id: str) -> str:
    return f"-g {nu.resource_group_of(rt_id)} --route-table-name {nu.name_of(rt_id)}"


def evaluate(f: Facts) -> CheckResult:
    ev: list[Evidence] = list(f.path_evidence)
    fails: list[tuple[str, str]] = []  # (summary, remediation) on the API server path
    consistency: list[tuple[str, str]] = []  # outboundType vs routes, reported after the path
    unsure: list[str] = []
    likely: list[tuple[str, str, str]] = []  # (summary, remediation, confirm_by): appliances ARM cannot show
    udr_outbound = f.outbound_type.lower() == "userdefinedrouting"
    for s in f.subnets:
        name = nu.name_of(s.subnet_id)
        default = next((r for r in s.udrs if r.prefix == "0.0.0.0/0"), None)
        if udr_outbound and default is None:
            ev.append(Evidence(resource_id=s.route_table_id or s.subnet_id,
                               property="properties.routes" if s.route_table_id else "properties.routeTable",
                               value=[r.as_value() for r in s.udrs] if s.route_table_id else None,
                               note="outboundType userDefinedRouting needs a 0.0.0.0/0 route on the node subnet"))
            fix = (f"az network route-table route create {_rt_args(s.route_table_id)} -n default-egress "
                   "--address-prefix 0.0.0.0/0 --next-hop-type VirtualAppliance "
                   "--next-hop-ip-address <firewall-private-ip>"
                   if s.route_table_id else
                   f"az network vnet subnet update --ids {s.subnet_id} --route-table <route-table-id-with-0.0.0.0/0>")
            consistency.append((f"outboundType userDefinedRouting but subnet {name} has no 0.0.0.0/0 route: "
                          "the nodes have no egress", fix))
        r = s.match.route
        if r is None:
            continue
        ev.append(Evidence(resource_id=r.id or s.route_table_id or s.subnet_id,
                           property="properties.routes[]" if not r.system else "system route",
                           value=r.as_value(), note=f"route used from {name} to the {f.destination.describe()}"))
        for m in s.match.maybe:
            ev.append(Evidence(resource_id=m.id or s.route_table_id, property="properties.routes[]", value=m.as_value(),
                               note="may cover the API server address (not known exactly)"))
        hop_type = r.next_hop_type.lower()
        if any((m.next_hop_type.lower(), m.next_hop_ip) != (hop_type, r.next_hop_ip) for m in s.match.maybe):
            # a more specific route (a public prefix, an unresolved service tag) may carry it elsewhere
            unsure.append(f"{name}: more specific routes may apply: "
                          + "; ".join(m.describe() for m in s.match.maybe))
            continue
        if hop_type == "none":
            fails.append((f"{r.describe()} on subnet {name} drops traffic to the {f.destination.describe()} "
                          "(next hop None = blackhole)",
                          f"az network route-table route delete {_rt_args(s.route_table_id or '')} -n {r.name}"
                          "  # or point it at your firewall: --next-hop-type VirtualAppliance"))
            continue
        if hop_type == "virtualappliance" and s.hop is not None:
            h = s.hop
            ev.append(Evidence(resource_id=h.resource_id, property="next hop device", value=h.kind,
                               note=h.note or f"holds {h.ip}"))
            if h.kind == "missing":
                fails.append((f"{r.describe()} on subnet {name}: nothing at {h.ip} ({h.note})",
                              f"az network route-table route update {_rt_args(s.route_table_id or '')} -n {r.name} "
                              "--next-hop-ip-address <existing-appliance-private-ip>"))
            elif h.provisioning_state and h.provisioning_state.lower() != "succeeded":
                fails.append((f"next hop {h.ip} is {h.kind} {nu.name_of(h.resource_id or '')} in provisioningState "
                              f"{h.provisioning_state}", f"az resource show --ids {h.resource_id}"))
            elif h.kind == "nic" and h.ip_forwarding is False:
                fails.append((f"next hop {h.ip} is NIC {nu.name_of(h.resource_id or '')} without IP forwarding: it "
                              "drops traffic it does not own",
                              f"az network nic update --ids {h.resource_id} --ip-forwarding true"))
            elif h.opaque:
                what = (f"network virtual appliance {nu.name_of(h.resource_id)}" if h.resource_id
                        else f"an appliance outside the VNets ARM shows ({h.note})")
                likely.append((f"{r.describe()} on subnet {name} sends the nodes' traffic to the "
                               f"{f.destination.describe()} through {what}, whose rules ARM cannot show",
                               f"allow TCP 443 from {', '.join(s.source_prefixes) or name} to the API server on the "
                               f"appliance at {h.ip}, or route the API server address around it: "
                               f"az network route-table route create {_rt_args(s.route_table_id or '')} "
                               f"-n apiserver-direct --address-prefix <api-server-ip>/32 --next-hop-type Internet",
                               netread.appliance_confirm(h, name, f.destination.describe())))
            elif h.kind == "unknown":
                unsure.append(f"{r.describe()} on {name}: appliance at {h.ip} not verified ({h.note})")
        elif hop_type == "virtualnetworkgateway" and f.destination.public:
            likely.append((f"{r.describe()} on subnet {name} forces traffic to the {f.destination.describe()} "
                           "through the VPN/ExpressRoute gateway (forced tunnelling): the on-premises firewall "
                           "decides, and ARM cannot show its rules",
                           "allow TCP 443 to the API server on the on-premises egress, or add a more specific route "
                           "for the API server address with --next-hop-type Internet to "
                           f"{_rt_args(s.route_table_id or '')}",
                           netread.appliance_confirm(None, name, f.destination.describe())))
        elif s.match.maybe:
            unsure.append(f"{name}: more specific routes may apply: "
                          + "; ".join(m.describe() for m in s.match.maybe))
    fails += consistency
    if fails:
        summary = fails[0][0] + (f" (+{len(fails) - 1} more)" if len(fails) > 1 else "")
        return result(SPEC, CheckStatus.FAIL, summary, evidence=tuple(ev),
                      remediation="\n".join(dict.fromkeys(fx for _, fx in fails)))
    if likely:
        summary = likely[0][0] + (f" (+{len(likely) - 1} more)" if len(likely) > 1 else "")
        return result(SPEC, CheckStatus.FAIL, summary, evidence=tuple(ev), confidence="likely",
                      remediation="\n".join(dict.fromkeys(fx for _, fx, _ in likely)),
                      confirm_by=" | ".join(dict.fromkeys(c for _, _, c in likely)))
    if unsure:
        why = " | ".join(unsure)
        return result(SPEC, CheckStatus.SKIPPED, f"skipped: {why}", evidence=tuple(ev), reason=why)
    used = "; ".join(s.match.route.describe() for s in f.subnets if s.match.route is not None)
    return result(SPEC, CheckStatus.PASS, f"the route to the {f.destination.describe()} is usable: {used}",
                  evidence=tuple(ev))


SPEC: CheckSpec[Facts] = CheckSpec(
    id="route_apiserver",
    title="Node subnet route to the API server",
    docs=(nu.DOC_CONNFAIL, nu.DOC_EGRESS),
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.API_SERVER_CONNECTIVITY, Family.EGRESS, Family.DNS, Family.SUBNET_IPS}),
    relevance={"api_server_connectivity": 50, "api_server_connectivity/none": 90, "api_server_connectivity/timeout": 90,
               "api_server_connectivity/no_route": 95, "api_server_connectivity/refused": 35,
               "api_server_connectivity/tls": 60, "egress": 85, "dns": 30, "subnet_ips": 35},
    resource_kinds=frozenset({ResourceKind.ROUTE_TABLE}),
    predicts={"default": "VMExtensionError_K8SAPIServerConnFail"},
)
