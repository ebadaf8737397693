"""NSGs evaluated the way Azure evaluates them, at both levels, for one flow.

Owns: the levels a node's traffic crosses (the NIC's NSG, which AKS attaches through the scale
set's `virtualMachineProfile.networkProfile.networkInterfaceConfigurations[].properties.
networkSecurityGroup` - the AKS-managed `aks-agentpool-*-nsg` in the node resource group - and the
subnet's NSG), the order Azure applies them (outbound: NIC, then subnet; inbound: subnet, then NIC;
both must allow), the priority walk of each level over `securityRules` + `defaultSecurityRules`
(protocol, destination port lists and ranges, prefixes, address ranges, service tags resolved from
the service tag list), and what a check reports: the deciding rule per level, rules it could not
evaluate (application security groups: "cannot evaluate: ASG membership"; a CIDR rule while the
address is unknown) and denies decided only by what a tag means (likely, with what confirms it).

Pure except the gather helpers at the bottom (reads through ctx, cached and coalesced).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from shared.checklib import netread, servicetags
from shared.checklib import netutil as nu
from shared.checklib.base import API, CheckContext
from shared.checklib.clusterview import ClusterView
from shared.models import Evidence
from shared.ports import ArmError, ArmNotFound

ASG_REASON = "cannot evaluate: ASG membership (application security groups are not resolved)"
DOC_NSG = "https://learn.microsoft.com/azure/virtual-network/network-security-group-how-it-works"
VMSS_LIST = "providers/Microsoft.Compute/virtualMachineScaleSets"
POOL_TAG = "aks-managed-poolname"


class Match(StrEnum):
    YES = "yes"
    NO = "no"
    LIKELY = "likely"  # by what a service tag means, not proven from its prefixes
    UNLIKELY = "unlikely"  # the endpoint is documented in other service tags than this one
    UNKNOWN = "unknown"


_RANK = {Match.NO: 0, Match.UNLIKELY: 1, Match.UNKNOWN: 2, Match.LIKELY: 3, Match.YES: 4}


# --- matching ----------------------------------------------------------------------------------


def match_prefix(prefix: str, ep: nu.Endpoint, tc: servicetags.TagContext) -> tuple[Match, str]:
    """Does one rule prefix cover the endpoint? (match, why) - why is empty for plain answers."""
    text = prefix.strip()
    low = text.lower()
    if not servicetags.is_service_tag(text):  # wildcard, CIDR, address range
        m = nu.prefix_matches(text, ep)
        if m is None:
            return Match.UNKNOWN, f"{text} may or may not contain {ep.describe()} (its address is not known exactly)"
        return (Match.YES if m else Match.NO), ""
    if low == "internet":
        return (Match.YES if ep.public else Match.NO), ""
    if low in ("virtualnetwork", "azureloadbalancer"):
        return (Match.YES if low in ep.tags else Match.NO), ""
    # a service tag with prefixes: the list decides when both it and the address are known
    why_unread = tc.unreadable or "the exact address of the endpoint is not known"
    if ep.net is not None and tc.tags is not None:
        m2 = tc.tags.membership(text, ep.net)
        if m2 is True:
            return Match.YES, f"{ep.net} is in service tag {text} (service tag list change {tc.tags.change_number})"
        if m2 is False:
            return Match.NO, ""
        if tc.tags.get(text) is not None:
            return Match.UNKNOWN, f"{ep.net} is only partly inside service tag {text}"
        why_unread = f"service tag {text} is not in the service tag list read" + (
            " (the list has more pages)" if tc.tags.partial else "")
    if not ep.public:
        return Match.NO, ""  # Azure service tags hold public prefixes; VNet addresses are in none
    if low in ep.tags:
        if low in ep.meaning:
            return Match.LIKELY, (f"{ep.describe()} is in {text} by what the tag means ({why_unread}); "
                                  f"confirm: {servicetags.confirm_command(tc.region, text, _addr(ep))}")
        return Match.YES, ""
    base = low.split(".", 1)[0]
    if "." in low and any(t.split(".", 1)[0] == base and "." in t for t in ep.tags):
        return Match.NO, ""  # another region's variant of a regional tag the endpoint is in
    if ep.host and ep.meaning:
        # A required endpoint the AKS outbound rules name by its service tags: another product's tag
        # (AzureActiveDirectory for mcr.microsoft.com) does not hold it, as far as the docs say.
        documented = ", ".join(sorted(ep.meaning))
        return Match.UNLIKELY, (f"{ep.host} is documented in service tags {documented}, not in {text} "
                                f"({why_unread}); confirm: {servicetags.confirm_command(tc.region, text, _addr(ep))}")
    return Match.UNKNOWN, f"cannot tell whether {ep.describe()} is in service tag {text} ({why_unread})"


def _addr(ep: nu.Endpoint) -> str | None:
    return str(ep.net.network_address) if ep.net is not None and ep.net.num_addresses == 1 else (
        str(ep.net) if ep.net is not None else ep.host)


def match_side(prefixes: Sequence[str], has_asg: bool, ep: nu.Endpoint,
               tc: servicetags.TagContext) -> tuple[Match, str]:
    if has_asg and not prefixes:
        return Match.UNKNOWN, ASG_REASON
    best, why = Match.NO, ""
    for p in prefixes:
        m, reason = match_prefix(p, ep, tc)
        if m is Match.YES:
            return m, reason
        if _RANK[m] > _RANK[best]:
            best, why = m, reason
    return best, why


# --- one level ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NsgLevel:
    """One NSG a flow crosses: `level` nic | subnet, `via` where it is attached (subnet or VMSS id)."""

    nsg_id: str
    level: str
    rules: tuple[nu.NsgRule, ...]
    via: str = ""

    def describe(self) -> str:
        return f"{'NIC' if self.level == 'nic' else 'subnet'} NSG {nu.name_of(self.nsg_id)}"


@dataclass(frozen=True)
class Flow:
    direction: str  # inbound | outbound
    protocol: str  # tcp | udp
    port: int
    source: nu.Endpoint
    destination: nu.Endpoint

    def describe(self) -> str:
        return (f"{self.direction} {self.protocol.upper()} {self.port} "
                f"{self.source.describe()} -> {self.destination.describe()}")


@dataclass(frozen=True)
class Doubt:
    rule: nu.NsgRule
    match: Match
    reason: str


@dataclass(frozen=True)
class LevelVerdict:
    level: NsgLevel
    access: str  # allow | deny | unknown
    confidence: str  # confirmed | likely
    rule: nu.NsgRule | None  # the deciding rule (for unknown: the one that decides if the doubts don't apply)
    doubts: tuple[Doubt, ...] = ()
    why: str = ""  # how the deciding rule's prefixes were matched (e.g. resolved from the service tag list)

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(d.reason for d in self.doubts if d.reason))


def walk(level: NsgLevel, flow: Flow, tc: servicetags.TagContext) -> LevelVerdict:
    """Rules of the flow's direction in priority order; the first rule that matches decides.

    A rule that only may match (ASG, unknown address: UNKNOWN; tag by meaning: LIKELY) is passed
    and remembered. If the first remembered rule of the other access is LIKELY, it likely decides;
    if it is UNKNOWN, the level cannot be decided."""
    doubts: list[Doubt] = []
    rules = sorted((r for r in level.rules if r.direction == flow.direction), key=lambda r: (r.priority, r.default))
    for rule in rules:
        if not nu.protocol_matches(rule.protocol, flow.protocol) or not nu.port_matches(rule.ports, flow.port):
            continue
        src, src_why = match_side(rule.sources, rule.source_asgs, flow.source, tc)
        if src is Match.NO:
            continue
        dst, dst_why = match_side(rule.destinations, rule.destination_asgs, flow.destination, tc)
        if dst is Match.NO:
            continue
        if not any(p.strip() in ("*", "0-65535") for p in rule.source_ports):
            # the flow leaves from an ephemeral port: a rule limited to source ports may or may not apply
            doubts.append(Doubt(rule, Match.UNKNOWN, f"the rule matches only source ports {','.join(rule.source_ports)}"
                                                     " and the flow's source port is ephemeral"))
            continue
        if src is Match.YES and dst is Match.YES:
            return _decide(level, rule, doubts, "; ".join(w for w in (src_why, dst_why) if w))
        if Match.UNLIKELY in (src, dst):
            m = Match.UNLIKELY
        else:
            m = Match.UNKNOWN if Match.UNKNOWN in (src, dst) else Match.LIKELY
        why = src_why if src is m else dst_why
        doubts.append(Doubt(rule, m, why or src_why or dst_why))
    return LevelVerdict(level, "unknown", "likely", None, tuple(doubts))


def _decide(level: NsgLevel, rule: nu.NsgRule, doubts: list[Doubt], why: str) -> LevelVerdict:
    opposite = [d for d in doubts if d.rule.access != rule.access]
    if not opposite:
        return LevelVerdict(level, rule.access, "confirmed", rule, tuple(doubts), why)
    first = next((d for d in opposite if d.match is not Match.UNLIKELY), None)
    if first is None:  # the earlier rules of the other access most likely do not apply
        return LevelVerdict(level, rule.access, "likely", rule, tuple(doubts), why)
    if first.match is Match.LIKELY:
        return LevelVerdict(level, first.rule.access, "likely", first.rule, tuple(doubts))
    return LevelVerdict(level, "unknown", "likely", rule, tuple(doubts))


# --- both levels -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlowVerdict:
    flow: Flow
    levels: tuple[LevelVerdict, ...]
    notes: tuple[str, ...] = ()  # levels that could not be read

    @property
    def blocking(self) -> LevelVerdict | None:
        """The level that drops the flow: the first certain deny in Azure's order, else the first likely one."""
        certain = [v for v in self.levels if v.access == "deny" and v.confidence == "confirmed"]
        if certain:
            return certain[0]
        return next((v for v in self.levels if v.access == "deny"), None)

    @property
    def undecided(self) -> tuple[LevelVerdict, ...]:
        return tuple(v for v in self.levels if v.access == "unknown")

    @property
    def status(self) -> str:
        """deny | deny_likely | unknown | allow."""
        b = self.blocking
        if b is not None and b.confidence == "confirmed":
            return "deny"
        if b is not None:
            return "deny_likely"
        if self.undecided or self.notes:
            return "unknown"
        return "allow"


def ordered(flow: Flow, levels: Iterable[NsgLevel]) -> list[NsgLevel]:
    """Azure's order: outbound NIC then subnet; inbound subnet then NIC."""
    first = "nic" if flow.direction == "outbound" else "subnet"
    lv = list(levels)
    return [x for x in lv if x.level == first] + [x for x in lv if x.level != first]


def evaluate_flow(flow: Flow, levels: Iterable[NsgLevel], tc: servicetags.TagContext,
                  notes: Sequence[str] = ()) -> FlowVerdict:
    return FlowVerdict(flow, tuple(walk(lv, flow, tc) for lv in ordered(flow, levels)), tuple(notes))


def evidence(v: FlowVerdict, what: str = "") -> list[Evidence]:
    """The deciding rule of every level and each rule that may have applied, with why."""
    out: list[Evidence] = []
    label = what or v.flow.describe()
    for lv in v.levels:
        if lv.rule is not None:
            word = {"allow": "allows", "deny": "denies"}.get(lv.access, "would decide")
            out.append(Evidence(resource_id=lv.rule.id or lv.level.nsg_id,
                                property="properties.defaultSecurityRules" if lv.rule.default
                                else "properties.securityRules", value=lv.rule.as_value(),
                                note=f"{lv.level.describe()} {word} {label}"
                                     + (" (likely)" if lv.access != "unknown" and lv.confidence == "likely" else "")
                                     + (f": {lv.why}" if lv.why else "")))
        for d in lv.doubts:
            out.append(Evidence(resource_id=d.rule.id or lv.level.nsg_id, property="properties.securityRules",
                                value=d.rule.as_value(), note=f"{lv.level.describe()}: {d.match} match: {d.reason}"))
    return out


def doubt_text(v: FlowVerdict) -> str:
    parts = [f"{lv.level.describe()}: " + ("; ".join(f"{d.rule.describe()} - {d.reason}" for d in lv.doubts)
                                          or "no rule decided") for lv in v.undecided]
    return " | ".join([*parts, *v.notes])


def confirm_text(v: LevelVerdict) -> str:
    return " ; ".join(v.reasons) or "read the NSG's effective rules: az network nic list-effective-nsg"


def fix_command(v: LevelVerdict, flow: Flow, *, name: str, sources: Sequence[str],
                destinations: Sequence[str]) -> str:
    """A custom rule someone added denies: delete it when it sits in the AKS-managed NIC NSG (AKS
    owns that NSG), else add an allow that wins over it."""
    rule = v.rule
    assert rule is not None
    nsg_id = v.level.nsg_id
    rg = nu.resource_group_of(nsg_id) or "<nsg-resource-group>"
    if v.level.level == "nic" and not rule.default and nu.name_of(nsg_id).lower().startswith("aks-"):
        return (f"az network nsg rule delete -g {rg} --nsg-name {nu.name_of(nsg_id)} -n {rule.name}"
                "  # a custom deny in the AKS-managed NSG of the node NICs")
    return nu.nsg_allow_command(nsg_id, v.level.rules, direction=flow.direction, before=rule.priority, name=name,
                                protocol=flow.protocol.capitalize(), sources=sources, destinations=destinations,
                                ports=[str(flow.port)])


# --- endpoints --------------------------------------------------------------------------------


def with_udr_tags(dest: nu.Endpoint, udr_prefixes: Sequence[str]) -> nu.Endpoint:
    """UDR prefixes are part of the VirtualNetwork service tag (documented): a 0.0.0.0/0 UDR puts
    every address in it, which the default AllowVnetOutBound then matches."""
    for p in udr_prefixes:
        net = nu.parse_net(p)
        if net is not None and (net.prefixlen == 0 or (dest.net is not None and nu.contains(net, dest.net))):
            return replace(dest, tags=dest.tags | {"virtualnetwork"})
    return dest


# --- what the nodes cross: gather --------------------------------------------------------------


@dataclass(frozen=True)
class NodeSubnetNsgs:
    """A node subnet, its NSG and route prefixes, and the NIC-level NSGs of the pools on it."""

    subnet_id: str
    prefixes: tuple[str, ...]
    nsg_id: str | None
    rules: tuple[nu.NsgRule, ...] = ()
    udr_prefixes: tuple[str, ...] = ()
    nic: tuple[NsgLevel, ...] = ()
    notes: tuple[str, ...] = ()  # NIC-level NSGs that could not be read (the flow stays undecided)
    route_table_id: str | None = None
    routes: tuple[nu.Route, ...] = ()  # the subnet's UDRs
    route_table_missing: bool = False  # the subnet names a route table that does not exist

    def source(self) -> nu.Endpoint:
        nets = [n for n in (nu.parse_net(p) for p in self.prefixes) if n is not None]
        return nu.vnet_endpoint(f"node subnet {nu.name_of(self.subnet_id)}", nets[0] if len(nets) == 1 else None)

    def levels(self) -> tuple[NsgLevel, ...]:
        sub = (NsgLevel(self.nsg_id, "subnet", self.rules, self.subnet_id),) if self.nsg_id else ()
        return (*self.nic, *sub)

    def all_rules(self) -> list[nu.NsgRule]:
        return [r for lv in self.levels() for r in lv.rules]


@dataclass(frozen=True)
class ScaleSetNic:
    vmss_id: str
    pool: str | None
    subnet_ids: tuple[str, ...]
    nsg_id: str | None


@dataclass(frozen=True)
class ScaleSets:
    nics: tuple[ScaleSetNic, ...] = ()
    note: str | None = None  # why there is nothing (none yet) or what could not be read
    unreadable: bool = False


def scale_set_nics(body: dict[str, Any]) -> list[ScaleSetNic]:
    """NIC configurations of each scale set in a `virtualMachineScaleSets` list body."""
    out: list[ScaleSetNic] = []
    for vmss in netread.collection(body):
        tags = {str(k).lower(): str(v) for k, v in (vmss.get("tags") or {}).items()}
        profile = (nu.props(vmss).get("virtualMachineProfile") or {}).get("networkProfile") or {}
        for cfg in profile.get("networkInterfaceConfigurations") or []:
            cp = nu.props(cfg)
            subnets = [nu.ref_id(nu.props(ipc).get("subnet")) for ipc in cp.get("ipConfigurations") or []]
            out.append(ScaleSetNic(str(vmss.get("id") or ""), tags.get(POOL_TAG),
                                   tuple(s for s in subnets if s), nu.ref_id(cp.get("networkSecurityGroup"))))
    return out


async def scale_sets(ctx: CheckContext, view: ClusterView) -> ScaleSets:
    if not view.node_resource_group:
        return ScaleSets(note="the cluster has no nodeResourceGroup: no scale set to read")
    rid = f"{view.node_resource_group_id}/{VMSS_LIST}"
    try:
        body = await ctx.get(rid, API["compute"])
    except ArmNotFound:
        return ScaleSets(note=f"no scale set in node resource group {view.node_resource_group} (none created yet)")
    except ArmError as err:
        return ScaleSets(note=f"the scale sets of {view.node_resource_group} could not be read ({err.status} "
                              f"{err.code}): their NIC-level NSG (aks-agentpool-*-nsg) is not evaluated",
                         unreadable=True)
    return ScaleSets(tuple(scale_set_nics(body)))


def _pool_nics(sets: ScaleSets, pool: str | None) -> list[ScaleSetNic]:
    mine = [n for n in sets.nics if pool and (n.pool or "").lower() == pool.lower()]
    return mine or list(sets.nics)


async def node_subnet_nsgs(ctx: CheckContext, view: ClusterView, *,
                           pool: str | None = None) -> tuple[NodeSubnetNsgs, ...]:
    """Every node subnet with its NSG, UDR prefixes and the NIC-level NSGs of the pools on it.

    Node subnets: the pools' vnetSubnetID, or (AKS-managed VNet) the subnets the scale sets use.
    With the subnets named in the cluster body, the subnet side (subnets, then their NSGs and route
    tables) and the NIC side (scale sets, then the NIC NSGs) are read side by side: neither needs
    the other, so the subnet's NSG is read one round after the subnet, not after the scale sets."""
    if view.node_subnet_ids:
        subnet_ids = list(view.node_subnet_ids)

        async def nic_side() -> tuple[ScaleSets, list[ScaleSetNic], list[str], list[_Read]]:
            sets = await scale_sets(ctx, view)
            nics = _pool_nics(sets, pool or view.failing_pool)
            if not sets.nics and not sets.unreadable:
                nics = await _nic_nsgs_from_node_rg(ctx, view, subnet_ids)
            nic_ids = list(dict.fromkeys(n.nsg_id for n in nics if n.nsg_id))
            return sets, nics, nic_ids, await netread.all_in_order(_read(ctx, i) for i in nic_ids)

        async def subnet_side() -> tuple[list[dict[str, Any]], _Refs]:
            subnets = await netread.get_all(ctx, subnet_ids)
            return subnets, await _subnet_refs(ctx, subnets)

        # in_order raises what the one-after-the-other reads raised first: the node resource group's
        # NSG list, then a subnet, then an NSG, then a route table.
        (sets, nics, nic_ids, nic_bodies), (subnets, refs) = await netread.in_order(nic_side(), subnet_side())
        return _assemble(sets, nics, subnet_ids, subnets, refs, nic_ids, nic_bodies)
    sets = await scale_sets(ctx, view)
    nics = _pool_nics(sets, pool or view.failing_pool)
    subnet_ids = []
    for n in nics:
        for s in n.subnet_ids:
            if not any(nu.same_id(s, o) for o in subnet_ids):
                subnet_ids.append(s)
    if not subnet_ids:
        netread.require_byo_vnet(view, "the node subnet NSG")
    if not sets.nics and not sets.unreadable:
        nics = await _nic_nsgs_from_node_rg(ctx, view, subnet_ids)
    # AKS-managed VNet, found through the scale sets: a subnet we cannot read is left out
    found = await netread.get_all_or_none(ctx, subnet_ids)
    subnet_ids = [i for i, b in zip(subnet_ids, found, strict=True) if b is not None]
    subnets = [b for b in found if b is not None]
    if not subnets:
        netread.require_byo_vnet(view, "the node subnet NSG")
    nic_ids = list(dict.fromkeys(n.nsg_id for n in nics if n.nsg_id))
    refs, nic_bodies = await netread.in_order(_subnet_refs(ctx, subnets),
                                              netread.all_in_order(_read(ctx, i) for i in nic_ids))
    return _assemble(sets, nics, subnet_ids, subnets, refs, nic_ids, nic_bodies)


_Read = tuple[dict[str, Any] | None, ArmError | None]


@dataclass(frozen=True)
class _Refs:
    """The NSG and route table each subnet names (None where it names none), and their bodies."""

    nsg_ids: list[str | None]
    rt_ids: list[str | None]
    nsgs: list[dict[str, Any]]
    rts: list[dict[str, Any] | None]


async def _subnet_refs(ctx: CheckContext, subnets: list[dict[str, Any]]) -> _Refs:
    nsg_ids = [nu.ref_id(nu.props(s).get("networkSecurityGroup")) for s in subnets]
    rt_ids = [nu.ref_id(nu.props(s).get("routeTable")) for s in subnets]
    nsgs, rts = await netread.in_order(netread.get_all(ctx, [i for i in nsg_ids if i]),
                                       netread.get_all_or_none(ctx, [i for i in rt_ids if i]))
    return _Refs(nsg_ids, rt_ids, nsgs, rts)


def _assemble(sets: ScaleSets, nics: list[ScaleSetNic], subnet_ids: list[str], subnets: list[dict[str, Any]],
              refs: _Refs, nic_ids: list[str], nic_bodies: list[_Read]) -> tuple[NodeSubnetNsgs, ...]:
    nsg_ids, rt_ids = refs.nsg_ids, refs.rt_ids
    by_nsg = {nu.norm_id(i): b for i, b in zip([i for i in nsg_ids if i], refs.nsgs, strict=True)}
    by_rt = {nu.norm_id(i): b for i, b in zip([i for i in rt_ids if i], refs.rts, strict=True)}
    by_nic = dict(zip((nu.norm_id(i) for i in nic_ids), (b for b, _ in nic_bodies), strict=True))
    nic_errors = dict(zip((nu.norm_id(i) for i in nic_ids), (e for _, e in nic_bodies), strict=True))
    out: list[NodeSubnetNsgs] = []
    for sid, sn, nsg_id, rt_id in zip(subnet_ids, subnets, nsg_ids, rt_ids, strict=True):
        rules = tuple(nu.nsg_rules(by_nsg[nu.norm_id(nsg_id)])) if nsg_id else ()
        routes = nu.udr_routes(by_rt.get(nu.norm_id(rt_id)) or {}) if rt_id else []
        levels: list[NsgLevel] = []
        notes: list[str] = [sets.note] if sets.unreadable and sets.note else []
        for n in nics:
            if not n.nsg_id or not any(nu.same_id(sid, s) for s in n.subnet_ids):
                continue
            if any(nu.same_id(n.nsg_id, lv.nsg_id) for lv in levels):
                continue
            body, err = by_nic[nu.norm_id(n.nsg_id)], nic_errors[nu.norm_id(n.nsg_id)]
            if isinstance(err, ArmNotFound):
                notes.append(f"scale set {nu.name_of(n.vmss_id)} references NIC NSG {n.nsg_id}, which does not exist")
            elif err is not None:
                notes.append(f"NIC NSG {nu.name_of(n.nsg_id)} of scale set {nu.name_of(n.vmss_id)} could not be "
                             f"read ({err.status} {err.code})")
            elif body is not None:
                levels.append(NsgLevel(n.nsg_id, "nic", tuple(nu.nsg_rules(body)), n.vmss_id))
        out.append(NodeSubnetNsgs(sid, tuple(nu.prefixes_of(nu.props(sn))), nsg_id, rules,
                                  tuple(r.prefix for r in routes), tuple(levels), tuple(notes), rt_id, tuple(routes),
                                  bool(rt_id) and by_rt.get(nu.norm_id(rt_id)) is None))
    return tuple(out)


async def _nic_nsgs_from_node_rg(ctx: CheckContext, view: ClusterView, subnet_ids: list[str]) -> list[ScaleSetNic]:
    """No scale set listed: the AKS-managed NSGs of the node resource group that say they are on NICs
    (`properties.networkInterfaces[]`), taken as on every node subnet's NICs."""
    if not view.node_resource_group:
        return []
    listing = await ctx.get_or_none(f"{view.node_resource_group_id}/providers/Microsoft.Network/"
                                    "networkSecurityGroups", netread.NET)
    out: list[ScaleSetNic] = []
    for body in netread.collection(listing):
        name = str(body.get("name") or "").lower()
        nics = nu.props(body).get("networkInterfaces") or []
        if name.startswith("aks-agentpool-") and name.endswith("-nsg") and nics:
            vmss = next((i for i in (nu.ref_id(n) for n in nics) if i and "/virtualmachinescalesets/" in i.lower()),
                        nu.ref_id(nics[0]) or "")
            out.append(ScaleSetNic(vmss.split("/virtualMachines/")[0] if vmss else "", None, tuple(subnet_ids),
                                   str(body.get("id") or "")))
    return out


async def _read(ctx: CheckContext, rid: str) -> tuple[dict[str, Any] | None, ArmError | None]:
    try:
        return await ctx.get(rid, netread.NET), None
    except ArmError as err:
        return None, err


async def tag_context(ctx: CheckContext, view: ClusterView, rules: Iterable[nu.NsgRule]) -> servicetags.TagContext:
    """The service tag list, read only when some rule names a tag whose prefixes matter."""
    prefixes = [p for r in rules for p in (*r.sources, *r.destinations)]
    if not servicetags.needs_list(prefixes):
        return servicetags.TagContext(view.region)
    if not view.subscription or not view.region:
        return servicetags.TagContext(view.region, None, "the cluster's subscription or region is unknown")
    return await servicetags.read(ctx, view.subscription, view.region)
