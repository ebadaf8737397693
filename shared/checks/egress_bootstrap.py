"""egress_bootstrap: can the nodes reach what bootstrap downloads? (exit 50, download timeouts)

Why: CSE exit 50 (OutboundConnFail) and the download timeouts (K8SDownloadTimeout, CniDownloadTimeout)
mean a node could not open TCP 443 to a required endpoint (AKS outbound rules doc: mcr.microsoft.com,
*.data.mcr.microsoft.com, management.azure.com, login.microsoftonline.com, packages.microsoft.com,
acs-mirror.azureedge.net, packages.aks.azure.com). The path from each node subnet, as Azure builds it:
- NSGs (checklib.nsgeval): the NIC's (the AKS-managed aks-agentpool-*-nsg attached through the
  scale set), then the subnet's, each walked in priority order; service tags resolved from the
  service tag list, a deny decided only by what a tag means is a likely cause;
- the route Azure picks for an internet address (UDRs + system routes, longest prefix, a UDR wins a
  tie): next hop None drops everything; a VirtualAppliance next hop must be a device that exists
  (an Azure Firewall, a NIC with IP forwarding or an ILB frontend holding that private IP: a deleted
  NVA's IP answers nothing); an appliance whose rules ARM cannot show (an NVA, something outside the
  VNets, forced tunnelling to a gateway) is a likely cause with what would confirm it. Azure Firewall
  rules are evaluated by the firewall check.
Not applicable to network-isolated clusters (outboundType none/block with artifactSource Cache).
Doc: https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/vmextensionerror-outboundconnfail
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from shared.armid import ResourceKind
from shared.checklib import egress, netread, nsgeval, servicetags
from shared.checklib import netutil as nu
from shared.checklib.base import CheckContext, CheckSpec, NotApplicable, result
from shared.models import CheckResult, CheckStatus, Evidence, Family

INTERNET = nu.Endpoint("an internet address", None, frozenset({"internet"}), public=True)


@dataclass(frozen=True)
class SubnetPath:
    nsgs: nsgeval.NodeSubnetNsgs
    route: nu.Route | None
    maybe: tuple[nu.Route, ...] = ()
    hop: netread.Hop | None = None
    vnet_read: bool = True


@dataclass(frozen=True)
class Facts:
    cluster_id: str
    outbound_type: str
    subnets: tuple[SubnetPath, ...]
    tags: servicetags.TagContext
    endpoints: tuple[egress.RequiredEndpoint, ...] = egress.REQUIRED
    named_host: str | None = None  # the required endpoint the error names
    named_ip: str | None = None  # the one public address the error quotes with it (dial tcp <ip>:443)
    named_as: str | None = None  # the host as the error spells it (westeurope.data.mcr.microsoft.com)


async def gather(ctx: CheckContext) -> Facts:
    view = await netread.load_cluster(ctx)
    if view.outbound_type.lower() in ("none", "block") and (view.bootstrap_artifact_source or "").lower() == "cache":
        raise NotApplicable(f"network-isolated cluster (outboundType {view.outbound_type}, artifactSource Cache): "
                            "bootstrap does not use the internet endpoints")
    subnets = await nsgeval.node_subnet_nsgs(ctx, view)
    vnet_ids = list(dict.fromkeys(nu.norm_id(nu.vnet_id_of(s.subnet_id)) for s in subnets))
    real_ids = [next(nu.vnet_id_of(s.subnet_id) for s in subnets if nu.norm_id(nu.vnet_id_of(s.subnet_id)) == v)
                for v in vnet_ids]
    vnet_bodies, tags = await netread.in_order(
        netread.get_all_or_none(ctx, real_ids),
        nsgeval.tag_context(ctx, view, [r for s in subnets for r in s.all_rules()]))
    vnets = dict(zip(vnet_ids, vnet_bodies, strict=True))

    async def path(s: nsgeval.NodeSubnetNsgs) -> SubnetPath:
        vnet = vnets.get(nu.norm_id(nu.vnet_id_of(s.subnet_id)))
        system = netread.vnet_system_routes(vnet) if vnet else nu.system_routes([])
        m = nu.route_for([*s.routes, *system], INTERNET)
        hop = None
        r = m.route
        if vnet is not None and r is not None and r.next_hop_type.lower() == "virtualappliance" and r.next_hop_ip:
            hop = netread.hop_of(await netread.locate_next_hop(ctx, vnet, r.next_hop_ip))
        return SubnetPath(s, r, m.maybe, hop, vnet is not None)

    paths = await netread.all_in_order(path(s) for s in subnets)
    facts = ctx.facts
    hit = next(((e.host, h) for h in (facts.fqdn, *facts.fqdns) if h and (e := egress.for_host(h))), None)
    named = hit[0] if hit else None
    # (the classifier may also have taken this address for the API server's: with a required host named
    # and no API server FQDN, it is the host's)
    public = [ip for ip in facts.ips if (n := nu.parse_net(ip)) is not None and n.is_global]
    return Facts(view.id, view.outbound_type, tuple(paths), tags, egress.REQUIRED, named,
                 public[0] if named and len(set(public)) == 1 else None, hit[1] if hit else None)


def _rt_args(rt_id: str | None) -> str:
    return f"-g {nu.resource_group_of(rt_id or '') or '<rt-rg>'} --route-table-name {nu.name_of(rt_id or '<rt>')}"


@dataclass
class _Findings:
    confirmed: list[tuple[str, str, tuple[str, ...]]]  # (summary, remediation, hosts)
    likely: list[tuple[str, str, str, tuple[str, ...]]]  # (summary, remediation, confirm_by, hosts)
    unknown: list[str]


def _route(f: Facts, p: SubnetPath, out: _Findings, ev: list[Evidence]) -> None:
    s, r = p.nsgs, p.route
    name = nu.name_of(s.subnet_id)
    if s.route_table_missing:  # Azure refuses to delete a route table in use: this is a read we could not make
        out.unknown.append(f"subnet {name} names route table {s.route_table_id}, which could not be read")
    if r is None:
        return
    ev.append(Evidence(resource_id=r.id or s.route_table_id or s.subnet_id,
                       property="properties.routes[]" if not r.system else "system route", value=r.as_value(),
                       note=f"route {name} uses to the internet"))
    for m in p.maybe:
        ev.append(Evidence(resource_id=m.id or s.route_table_id, property="properties.routes[]", value=m.as_value(),
                           note="may cover some required endpoints (their addresses are not known)"))
        if m.next_hop_type.lower() != "internet":
            out.unknown.append(f"{m.describe()} on {name} may cover some required endpoints (their addresses are "
                               "not known)")
    hop_type = r.next_hop_type.lower()
    hosts = tuple(e.host for e in f.endpoints)
    if hop_type == "none":
        out.confirmed.append((f"{r.describe()} on subnet {name} drops all internet egress (next hop None)",
                              f"az network route-table route delete {_rt_args(s.route_table_id)} -n {r.name}", hosts))
    elif hop_type == "virtualappliance" and p.hop is not None:
        h = p.hop
        ev.append(Evidence(resource_id=h.resource_id or s.route_table_id, property="next hop device", value=h.kind,
                           note=h.note or f"holds {h.ip}"))
        if h.kind == "missing":
            out.confirmed.append((f"{r.describe()} on subnet {name}: nothing answers at {h.ip} - no firewall, NIC or "
                                  f"load balancer frontend holds that IP (a deleted appliance?)",
                                  f"az network route-table route update {_rt_args(s.route_table_id)} -n {r.name} "
                                  "--next-hop-ip-address <private-ip-of-the-existing-firewall>", hosts))
        elif h.provisioning_state and h.provisioning_state.lower() != "succeeded":
            out.confirmed.append((f"next hop {h.ip} is {h.kind} {nu.name_of(h.resource_id or '?')} in "
                                  f"provisioningState {h.provisioning_state}",
                                  f"az resource show --ids {h.resource_id}", hosts))
        elif h.kind == "nic" and h.ip_forwarding is False:
            out.confirmed.append((f"next hop {h.ip} is NIC {nu.name_of(h.resource_id or '?')} without IP forwarding: "
                                  "it drops the nodes' egress", f"az network nic update --ids {h.resource_id} "
                                  "--ip-forwarding true", hosts))
        elif h.opaque:
            what = (f"network virtual appliance {nu.name_of(h.resource_id)}" if h.resource_id
                    else f"an appliance outside the VNets ARM shows ({h.note})")
            out.likely.append((f"{r.describe()} on subnet {name} sends the nodes' egress through {what}, whose rules "
                               "ARM cannot show",
                               f"allow TCP 443 from {', '.join(s.prefixes) or name} to "
                               f"{', '.join(hosts)} on the appliance at {h.ip}",
                               netread.appliance_confirm(h, name, "mcr.microsoft.com"), hosts))
        elif h.kind == "unknown":
            out.unknown.append(f"{r.describe()} on {name}: appliance at {h.ip} not verified ({h.note})")
        else:
            ev.append(Evidence(resource_id=h.resource_id, property="next hop device", value=h.kind,
                               note="Azure Firewall: its rules are evaluated by the firewall check"))
    elif hop_type == "virtualappliance" and not p.vnet_read:
        out.unknown.append(f"{r.describe()} on {name}: the node VNet could not be read to find {r.next_hop_ip}")
    elif hop_type == "virtualnetworkgateway":
        out.likely.append((f"{r.describe()} on subnet {name} forces internet egress through the VPN/ExpressRoute "
                           "gateway (forced tunnelling): the on-premises firewall decides, and ARM cannot show it",
                           f"allow TCP 443 to {', '.join(hosts)} on the on-premises egress",
                           netread.appliance_confirm(None, name, "mcr.microsoft.com"), hosts))


def _nsgs(f: Facts, p: SubnetPath, out: _Findings, ev: list[Evidence]) -> None:
    s = p.nsgs
    name = nu.name_of(s.subnet_id)
    blocked: dict[tuple[str, str, str], tuple[nsgeval.LevelVerdict, nsgeval.Flow, list[egress.RequiredEndpoint]]] = {}
    for e in f.endpoints:
        ep = e.endpoint()
        if e.host == f.named_host and f.named_ip:  # the address the error quotes: tags resolve by prefixes
            ep = replace(ep, net=nu.parse_net(f.named_ip), label=f"{e.host} ({f.named_ip} in the error)")
        flow = nsgeval.Flow("outbound", e.protocol, e.port, s.source(), nsgeval.with_udr_tags(ep, s.udr_prefixes))
        v = nsgeval.evaluate_flow(flow, s.levels(), f.tags, s.notes)
        b = v.blocking
        if b is not None and b.rule is not None:
            key = (b.level.nsg_id, b.rule.name, b.confidence)
            blocked.setdefault(key, (b, flow, []))[2].append(e)
            if len(blocked[key][2]) == 1:
                ev.extend(nsgeval.evidence(v, f"outbound TCP {e.port} from {name} to {e.host}"))
        elif v.status == "unknown":
            out.unknown.append(f"{e.host} from {name}: {nsgeval.doubt_text(v)}")
    for (_, _, confidence), (b, flow, eps) in blocked.items():
        assert b.rule is not None
        hosts = tuple(e.host for e in eps)
        tags = [t for e in eps for t in e.tags[:1]]
        dest = list(dict.fromkeys(tags)) if len(tags) == len(eps) else ["Internet"]
        fix = nsgeval.fix_command(b, flow, name="AllowAksEgress443", sources=list(s.prefixes) or ["VirtualNetwork"],
                                  destinations=dest)
        named = [f.named_as] if f.named_as and f.named_host in hosts and f.named_as not in hosts else []
        ev.append(Evidence(resource_id=b.rule.id or b.level.nsg_id, property="required endpoints",
                           value=[*hosts, *named], note=f"blocked by {b.level.describe()} rule {b.rule.name}"))
        summary = (f"{b.level.describe()} {'likely denies' if confidence == 'likely' else 'denies'} outbound TCP 443 "
                   f"from {name} to {', '.join(hosts)}: {b.rule.describe()}")
        if confidence == "likely":
            out.likely.append((summary, fix, nsgeval.confirm_text(b), hosts))
        else:
            out.confirmed.append((summary, fix, hosts))


def evaluate(f: Facts) -> CheckResult:
    ev: list[Evidence] = [Evidence(resource_id=f.cluster_id, property="properties.networkProfile.outboundType",
                                   value=f.outbound_type)]
    if f.tags.unreadable:
        ev.append(Evidence(resource_id=f.tags.source_id or None, property="values[].properties.addressPrefixes",
                           value=None, note=f.tags.unreadable))
    out = _Findings([], [], [])
    for p in f.subnets:
        if not p.nsgs.levels():
            ev.append(Evidence(resource_id=p.nsgs.subnet_id, property="properties.networkSecurityGroup", value=None,
                               note="no NSG on the node subnet or the node NICs"))
        _route(f, p, out, ev)
        _nsgs(f, p, out, ev)

    def first_named(items: list[Any]) -> list[Any]:  # the failure the error names first
        return sorted(items, key=lambda it: f.named_host not in it[-1]) if f.named_host else items

    docs = (*SPEC.docs, nsgeval.DOC_NSG)
    if out.confirmed:
        items = first_named(out.confirmed)
        summary = items[0][0] + (f" (+{len(items) - 1} more)" if len(items) > 1 else "")
        return result(SPEC, CheckStatus.FAIL, summary, evidence=tuple(ev), docs=docs,
                      remediation="\n".join(dict.fromkeys(fx for _, fx, _ in items)))
    if out.likely:
        items = first_named(out.likely)
        summary = items[0][0] + (f" (+{len(items) - 1} more)" if len(items) > 1 else "")
        return result(SPEC, CheckStatus.FAIL, summary, evidence=tuple(ev), docs=docs, confidence="likely",
                      remediation="\n".join(dict.fromkeys(fx for _, fx, _, _ in items)),
                      confirm_by=" | ".join(dict.fromkeys(c for _, _, c, _ in items)))
    if out.unknown:
        why = " | ".join(dict.fromkeys(out.unknown))
        return result(SPEC, CheckStatus.SKIPPED, f"skipped: cannot tell whether the egress path is open: {why}",
                      evidence=tuple(ev), reason=why)
    routes = "; ".join(dict.fromkeys(p.route.describe() for p in f.subnets if p.route is not None))
    return result(SPEC, CheckStatus.PASS,
                  f"NSGs on the node path allow TCP 443 to the {len(f.endpoints)} required endpoints and the route "
                  f"to the internet is usable ({routes or 'no route read'})", evidence=tuple(ev))


SPEC: CheckSpec[Facts] = CheckSpec(
    id="egress_bootstrap",
    title="Node egress path to the required AKS endpoints (NSGs, routes, next hop)",
    docs=(nu.DOC_OUTBOUND, egress.DOC),
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.EGRESS}),
    relevance={"egress": 95, "egress/timeout": 100, "egress/no_route": 100, "egress/refused": 70,
               "egress/dns": 20, "egress/tls": 35, "egress/certificate": 35, "egress/proxy": 40},
    resource_kinds=frozenset({ResourceKind.NSG, ResourceKind.ROUTE_TABLE}),
    predicts={"default": "VMExtensionError_OutboundConnFail"},
)
