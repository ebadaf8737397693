"""Reads for the Azure Firewall checks (all through ctx.arm, which caches and coalesces).

Owns: finding the Azure Firewall on the node subnet's default route (0.0.0.0/0 -> VirtualAppliance,
the device located through the node VNet and its peerings), whether the API server path is routed
through it too, and loading its rules: the firewall policy and its `basePolicy` chain, every
policy's rule collection groups, or the classic collections on the firewall body, plus every IP
Group the rules name. An IP Group that cannot be read (403, 404, any ARM error) is recorded with
why, not raised: the evaluation then reports what it would decide. The decisions are in
shared.checklib.firewall.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.checklib import firewall as fw
from shared.checklib import netread
from shared.checklib import netutil as nu
from shared.checklib.base import CheckContext, NotApplicable, Skip
from shared.checklib.clusterview import ClusterView
from shared.ports import ArmError

NET = netread.NET


@dataclass(frozen=True)
class FirewallPath:
    """The Azure Firewall the node subnet's default route leads to."""

    view: ClusterView
    firewall_id: str
    body: dict[str, Any]
    hop_ip: str
    route_table_id: str
    node_prefixes: tuple[str, ...]
    api_path: netread.ApiServerPath
    api_via_firewall: bool  # the nodes' route to the API server leads to the firewall too


async def firewall_on_path(ctx: CheckContext) -> FirewallPath:
    view = await netread.load_cluster(ctx)
    if not view.byo_vnet:
        raise NotApplicable("AKS-managed VNet: no customer route table, so no firewall on the egress path")
    subnets, vnet_bodies = await netread.in_order(
        netread.node_subnets(ctx, view), netread.get_all(ctx, view.node_vnet_ids)
    )
    vnets = dict(zip((nu.norm_id(v) for v in view.node_vnet_ids), vnet_bodies, strict=True))
    rt_ids = [nu.ref_id(nu.props(sn).get("routeTable")) or "" for sn in subnets]
    tables = await netread.all_in_order(_table(ctx, r) for r in rt_ids)
    defaults: list[nu.Route | None] = []
    for routes in tables:
        default = next((r for r in routes if r.prefix == "0.0.0.0/0"), None)
        ok = default is not None and default.next_hop_type.lower() == "virtualappliance" and default.next_hop_ip
        defaults.append(default if ok else None)
    first = next((i for i, d in enumerate(defaults) if d is not None), None)
    hop: netread.NextHop | None = None
    sid, rt_id, routes = "", "", list[nu.Route]()
    if first is not None:
        sid, rt_id, routes = view.node_subnet_ids[first], rt_ids[first], tables[first]
        chosen = defaults[first]
        hop_ip = str(chosen.next_hop_ip if chosen is not None else "")
        hop = await netread.locate_next_hop(ctx, vnets[nu.norm_id(nu.vnet_id_of(sid))], hop_ip)
    if hop is None:
        raise NotApplicable("no node subnet sends 0.0.0.0/0 to a virtual appliance")
    if hop.kind == "unknown":
        raise Skip(f"cannot tell what the next hop {hop.ip} is: {hop.note}")
    if hop.kind != "azureFirewall" or hop.body is None or not hop.resource_id:
        raise NotApplicable(f"the next hop {hop.ip} is not an Azure Firewall ({hop.kind}); its rules are not in ARM")
    path = await netread.apiserver_path(ctx, view)
    via = path.kind == "public"
    if not via:
        own = [
            str(x)
            for x in (nu.props(vnets[nu.norm_id(nu.vnet_id_of(sid))]).get("addressSpace") or {}).get("addressPrefixes")
            or []
        ]
        m = nu.route_for([*routes, *nu.system_routes(own)], path.endpoint)
        via = m.route is not None and m.route.next_hop_ip == hop.ip
    # the node subnets whose default route leads to this firewall
    prefixes = tuple(
        p
        for s, d in zip(subnets, defaults, strict=True)
        if d is not None and d.next_hop_ip == hop.ip
        for p in nu.prefixes_of(nu.props(s))
    )
    return FirewallPath(view, hop.resource_id, hop.body, hop.ip, rt_id, prefixes, path, via)


async def _table(ctx: CheckContext, rt_id: str) -> list[nu.Route]:
    return nu.udr_routes(await ctx.get_or_none(rt_id, NET) or {}) if rt_id else []


async def _read(ctx: CheckContext, rid: str) -> tuple[dict[str, Any] | None, str]:
    try:
        return await ctx.get(rid, NET), ""
    except ArmError as err:
        return None, f"{err.status} {err.code}"


async def _policy_chain(
    ctx: CheckContext, policy_id: str
) -> tuple[list[str], list[dict[str, Any]], list[list[dict[str, Any]]]]:
    """(policy ids child first, their bodies, their rule collection groups). A policy's groups are
    read with its body (they do not depend on it); only the next base needs the body."""
    ids: list[str] = []
    bodies: list[dict[str, Any]] = []
    groups: list[list[dict[str, Any]]] = []
    current: str | None = policy_id
    while current and len(ids) < fw.MAX_POLICY_DEPTH and not any(nu.same_id(current, i) for i in ids):
        body, listing = await netread.in_order(ctx.get(current, NET), ctx.get(f"{current}/ruleCollectionGroups", NET))
        ids.append(current)
        bodies.append(body)
        groups.append(netread.collection(listing))
        current = nu.ref_id(nu.props(body).get("basePolicy"))
    return ids, bodies, groups


async def load_rules(ctx: CheckContext, path: FirewallPath) -> fw.RuleSet:
    body = path.body
    policy_id = nu.ref_id(nu.props(body).get("firewallPolicy"))
    public_ips = tuple(await _public_ips(ctx, body))
    if policy_id:
        ids, bodies, groups = await _policy_chain(ctx, policy_id)
        depth = len(ids)
        rules: list[fw.Rule] = []
        for i, g in enumerate(groups):
            rules += fw.policy_rules(g, depth - 1 - i)  # the top of the chain is tier 0: evaluated first
        settings = fw.policy_settings(bodies)
        chain: tuple[str, ...] = tuple(ids)
    else:
        rules = fw.classic_rules(body)
        settings = fw.PolicySettings(
            dns_proxy=fw.classic_dns_proxy(body), tier=str((nu.props(body).get("sku") or {}).get("tier") or "") or None
        )
        chain = ()
    group_ids = fw.ip_group_ids(rules)
    reads = await netread.all_in_order(_read(ctx, g) for g in group_ids)
    resolved: dict[str, tuple[str, ...]] = {}
    unreadable: dict[str, str] = {}
    for gid, (gbody, why) in zip(group_ids, reads, strict=True):
        if gbody is None:
            unreadable[nu.norm_id(gid)] = why
        else:
            resolved[nu.norm_id(gid)] = fw.ip_group_addresses(gbody)
    return fw.RuleSet(path.firewall_id, chain, tuple(rules), settings, resolved, unreadable, public_ips)


async def _public_ips(ctx: CheckContext, body: dict[str, Any]) -> list[str]:
    ids = netread.firewall_public_ip_ids(body)
    bodies = await netread.all_in_order(_read(ctx, i) for i in ids)
    return [str(nu.props(b).get("ipAddress")) for b, _ in bodies if b and nu.props(b).get("ipAddress")]


def flow_sources(path: FirewallPath, node_ip: str | None) -> tuple[str, ...]:
    """The node's own address when the error names it and it is in a node subnet, else the subnets."""
    net = nu.parse_net(node_ip) if node_ip else None
    if net is not None and any(nu.contains(n, net) for n in (nu.parse_net(p) for p in path.node_prefixes) if n):
        return (str(net),)
    return path.node_prefixes


def apiserver_destination(path: FirewallPath, api_ip: str | None) -> fw.Destination:
    view = path.view
    if path.api_path.kind == "public":
        return fw.public_apiserver(view.fqdn, view.region, api_ip)
    return fw.private_apiserver(view.private_fqdn, view.region, path.api_path.endpoint.net)
