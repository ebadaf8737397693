"""api_authorized_ranges: do the API server authorized IP ranges let the nodes in?

Why: with `apiServerAccessProfile.authorizedIPRanges` set, traffic from a source outside the list is
silently dropped: node bootstrap fails with exit 51 "Connection timed out" (documented as the most
common timeout cause when ranges are enabled).
Which source the API server sees depends on the path:
- API Server VNet Integration: nodes talk to the ILB privately -> the node subnet CIDR(s).
- public endpoint: the egress IP (when it cannot be worked out, e.g. an NVA's, the check reports a
  likely cause with what would confirm it). Standard LB outbound IPs are allowed implicitly (AKS docs); a NAT
  gateway on the node subnet (`properties.natGateway.id`, also with outboundType loadBalancer),
  managedNATGateway (`natGatewayProfile.effectiveOutboundIPs`) or userDefinedRouting through an
  Azure Firewall (its public IPs) must be listed explicitly.
Not applicable to private clusters (the feature does not apply) or when no ranges are set.
Docs: https://learn.microsoft.com/azure/aks/api-server-authorized-ip-ranges
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from shared.checklib import netread
from shared.checklib import netutil as nu
from shared.checklib.base import CheckContext, CheckSpec, NotApplicable, result
from shared.checklib.clusterview import ClusterView
from shared.models import CheckResult, CheckStatus, Evidence, Family

NET = netread.NET


@dataclass(frozen=True)
class Source:
    """An address the API server will see the nodes come from."""

    label: str
    cidr: str
    resource_id: str
    property: str


@dataclass(frozen=True)
class Facts:
    cluster_id: str
    resource_group: str
    name: str
    ranges: tuple[str, ...]
    outbound_type: str
    vnet_integration: bool
    required: tuple[Source, ...]
    unknown: tuple[str, ...] = ()  # egress we could not determine, with why
    notes: tuple[str, ...] = ()


async def _public_ips(ctx: CheckContext, ids: list[str], label: str, unknown: list[str]) -> list[Source]:
    out: list[Source] = []
    bodies = await asyncio.gather(*(ctx.get_or_none(i, NET) for i in ids))
    for rid, body in zip(ids, bodies, strict=True):
        p = nu.props(body)
        value = p.get("ipAddress") or p.get("ipPrefix")
        if isinstance(value, str) and nu.parse_net(value) is not None:
            prop = "properties.ipAddress" if p.get("ipAddress") else "properties.ipPrefix"
            out.append(Source(label, str(nu.parse_net(value)), rid, prop))
        else:
            unknown.append(f"{label} {nu.name_of(rid)} has no address (not found or not allocated)")
    return out


async def _nat_gateway_ips(ctx: CheckContext, nat_id: str, unknown: list[str]) -> list[Source]:
    nat = await ctx.get_or_none(nat_id, NET)
    if nat is None:
        unknown.append(f"NAT gateway {nat_id} not found")
        return []
    p = nu.props(nat)
    ids = [i for i in (nu.ref_id(x) for x in (p.get("publicIpAddresses") or []) + (p.get("publicIpPrefixes") or []))
           if i]
    if not ids:
        unknown.append(f"NAT gateway {nu.name_of(nat_id)} has no public IP or prefix")
    return await _public_ips(ctx, ids, f"NAT gateway {nu.name_of(nat_id)} public IP", unknown)


async def gather(ctx: CheckContext) -> Facts:
    view = await netread.load_cluster(ctx)
    if view.private:
        raise NotApplicable("private cluster: authorized IP ranges do not apply to the private endpoint")
    if not view.authorized_ranges:
        raise NotApplicable("no authorized IP ranges set: the API server accepts any source address")
    required: list[Source] = []
    unknown: list[str] = []
    notes: list[str] = []
    subnets: list[dict[str, Any]] = []
    vnets: netread.Captured[list[dict[str, Any]]] = netread.Captured(value=[])
    if view.byo_vnet and not view.vnet_integration and view.outbound_type.lower() == "userdefinedrouting":
        # _udr_egress may need the node VNets: their ids come from the cluster body (subnet id minus
        # /subnets/<name>), so read them with the subnets. A read error surfaces only if they are used.
        subnets, vnets = await netread.in_order(netread.node_subnets(ctx, view),
                                                netread.captured(netread.get_all(ctx, view.node_vnet_ids)))
    elif view.byo_vnet:
        subnets = await netread.node_subnets(ctx, view)
    if view.vnet_integration:
        if not view.byo_vnet:
            unknown.append("node subnets are AKS-managed (no vnetSubnetID); their CIDR is not readable")
        for sid, sn in zip(view.node_subnet_ids, subnets, strict=True):
            for prefix in nu.prefixes_of(nu.props(sn)):
                required.append(Source(f"node subnet {nu.name_of(sid)}", prefix, sid, "properties.addressPrefix"))
        notes.append("API Server VNet Integration: nodes reach the API server ILB from their private addresses")
    else:
        nat_ids = [n for n in (nu.ref_id(nu.props(s).get("natGateway")) for s in subnets) if n]
        ot = view.outbound_type.lower()
        if nat_ids:
            reals = [next(n for n in nat_ids if n.lower() == nat_id)
                     for nat_id in dict.fromkeys(x.lower() for x in nat_ids)]
            # One branch per NAT gateway, each with its own unknowns, merged in the original order.
            nat_unknowns: list[list[str]] = [[] for _ in reals]
            nat_sources = await netread.all_in_order(_nat_gateway_ips(ctx, real, unk)
                                                     for real, unk in zip(reals, nat_unknowns, strict=True))
            for srcs, unk in zip(nat_sources, nat_unknowns, strict=True):
                required += srcs
                unknown += unk
        elif ot == "loadbalancer":
            eff = list(view.lb_effective_outbound_ip_ids)
            notes.append("Standard load balancer outbound IPs are allowed implicitly when ranges are set"
                         + (f" ({', '.join(nu.name_of(i) for i in eff)})" if eff else ""))
        elif ot == "managednatgateway":
            ids = list(view.nat_effective_outbound_ip_ids)
            if not ids:
                unknown.append("managed NAT gateway has no effectiveOutboundIPs in the cluster body")
            required += await _public_ips(ctx, ids, "managed NAT gateway public IP", unknown)
        elif ot == "userassignednatgateway":
            unknown.append("outboundType userAssignedNATGateway but no node subnet has a natGateway")
        elif ot == "userdefinedrouting":
            required += await _udr_egress(ctx, view, subnets, vnets, unknown)
        else:
            unknown.append(f"outboundType {view.outbound_type}: no egress path to a public endpoint")
    return Facts(view.id, view.resource_group, view.name, view.authorized_ranges, view.outbound_type,
                 view.vnet_integration, tuple(required), tuple(unknown), tuple(notes))


async def _udr_egress(ctx: CheckContext, view: ClusterView, subnets: list[dict[str, Any]],
                      node_vnets: netread.Captured[list[dict[str, Any]]], unknown: list[str]) -> list[Source]:
    """`node_vnets`: the bodies of view.node_vnet_ids, read ahead (or the error reading them)."""
    if not view.byo_vnet:
        unknown.append("userDefinedRouting without readable node subnets")
        return []
    vnets = {nu.norm_id(v): b for v, b in zip(view.node_vnet_ids, netread.unwrap(node_vnets), strict=True)}

    async def egress(sid: str, sn: dict[str, Any]) -> tuple[list[Source], list[str]]:
        out: list[Source] = []
        unk: list[str] = []
        rt_id = nu.ref_id(nu.props(sn).get("routeTable"))
        rt = await ctx.get_or_none(rt_id, NET) if rt_id else None
        default = next((r for r in nu.udr_routes(rt or {}) if r.prefix == "0.0.0.0/0"), None)
        if default is None or default.next_hop_type.lower() != "virtualappliance" or not default.next_hop_ip:
            unk.append(f"subnet {nu.name_of(sid)} has no 0.0.0.0/0 route to a virtual appliance")
            return out, unk
        hop = await netread.locate_next_hop(ctx, vnets[nu.norm_id(nu.vnet_id_of(sid))], default.next_hop_ip)
        if hop.kind == "azureFirewall" and hop.body is not None and hop.resource_id:
            pips = netread.firewall_public_ip_ids(hop.body)
            if not pips:
                unk.append(f"Azure Firewall {nu.name_of(hop.resource_id)} has no public IP configuration")
            out += await _public_ips(ctx, pips, f"Azure Firewall {nu.name_of(hop.resource_id)} public IP", unk)
        else:
            unk.append(f"next hop {default.next_hop_ip} is not an Azure Firewall we can read "
                       f"({hop.note or hop.kind}); its egress IP is unknown")
        return out, unk

    # The node subnets are independent: one branch each, results (and unknowns) in subnet order.
    out: list[Source] = []
    for srcs, unk in await netread.all_in_order(egress(sid, sn) for sid, sn in
                                                zip(view.node_subnet_ids, subnets, strict=True)):
        out += srcs
        unknown += unk
    return out


def evaluate(f: Facts) -> CheckResult:
    nets = [n for n in (nu.parse_net(r) for r in f.ranges) if n is not None]
    ev: list[Evidence] = [Evidence(resource_id=f.cluster_id, value=list(f.ranges),
                                   property="properties.apiServerAccessProfile.authorizedIPRanges")]
    ev += [Evidence(resource_id=f.cluster_id, property="properties.networkProfile.outboundType",
                    value=f.outbound_type, note=n) for n in f.notes]
    missing: list[Source] = []
    for s in dict.fromkeys(f.required):
        net = nu.parse_net(s.cidr)
        ok = net is not None and nu.covered_by(net, nets)
        ev.append(Evidence(resource_id=s.resource_id, property=s.property, value=s.cidr,
                           note=f"{s.label}: {'in' if ok else 'NOT in'} the authorized ranges"))
        if not ok:
            missing.append(s)
    if missing:
        keep = [r for r in f.ranges if r != "0.0.0.0/32"]  # the LB-only marker; the LB IP stays implicit
        add = list(dict.fromkeys(s.cidr for s in missing))
        what = "; ".join(f"{s.label} {s.cidr}" for s in missing)
        return result(SPEC, CheckStatus.FAIL,
                      f"authorized IP ranges {', '.join(f.ranges)} exclude {what}: the API server drops the "
                      "nodes' connections",
                      evidence=tuple(ev),
                      remediation=(f"az aks update -g {f.resource_group} -n {f.name} "
                                   f"--api-server-authorized-ip-ranges {','.join(keep + add)}"))
    if f.unknown:
        # Ranges are set and the nodes' egress address is not among what ARM shows: the documented most
        # common cause of the timeout. Likely, not proven: say what would prove it.
        why = "; ".join(f.unknown)
        ev += [Evidence(resource_id=f.cluster_id, property="egress source", value=None, note=u) for u in f.unknown]
        return result(SPEC, CheckStatus.FAIL,
                      f"authorized IP ranges {', '.join(f.ranges)} are set and the address the nodes reach the API "
                      f"server from is not known ({why}): if it is not in the ranges, the API server drops them",
                      evidence=tuple(ev), confidence="likely", reason=why,
                      confirm_by=("find the nodes' egress IP (from a node: curl -s https://ifconfig.me, or the "
                                  "appliance's public IP) and check it against "
                                  f"az aks show -g {f.resource_group} -n {f.name} "
                                  "--query apiServerAccessProfile.authorizedIpRanges"),
                      remediation=(f"az aks update -g {f.resource_group} -n {f.name} --api-server-authorized-ip-ranges "
                                   f"{','.join([*f.ranges, '<egress-ip>/32'])}"))
    covered = ", ".join(s.cidr for s in f.required) or "the load balancer outbound IPs (implicit)"
    return result(SPEC, CheckStatus.PASS, f"authorized IP ranges include the nodes' source: {covered}",
                  evidence=tuple(ev))


SPEC: CheckSpec[Facts] = CheckSpec(
    id="api_authorized_ranges",
    title="API server authorized IP ranges include the nodes",
    docs=(nu.DOC_CONNFAIL, nu.DOC_AUTHORIZED_RANGES),
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.API_SERVER_CONNECTIVITY, Family.EGRESS}),
    relevance={"api_server_connectivity": 85, "api_server_connectivity/none": 100,
               "api_server_connectivity/timeout": 100,
               "api_server_connectivity/no_route": 20, "api_server_connectivity/refused": 40, "egress": 20},
    targets=("apiServerAccessProfile.authorizedIPRanges",),
    predicts={"default": "VMExtensionError_K8SAPIServerConnFail"},
)
