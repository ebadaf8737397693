"""Pure network helpers shared by the network/connectivity checks. No I/O.

Owns: ARM id parsing (case-insensitive, ARM ids vary in casing), address prefix math
(`addressPrefix` vs `addressPrefixes`, single IPs vs CIDRs), NSG rules normalised from
`securityRules` + `defaultSecurityRules` (`nsg_rules`), endpoints (with the service tags they are in,
and which of those only by what the tag means), longest-prefix route selection against UDRs and
system routes. The NSG evaluation the checks use (both levels, service tags resolved from the list,
likely vs unknown) is checklib.nsgeval; `nsg_walk` here is the single-level tri-state walk kept for
callers that match prefixes without a tag list.

Tri-state matching: a rule or route can match (True), not match (False) or "cannot tell" (None,
e.g. a CIDR rule when the API server IP is not known, an application security group). The walk
reports the undecidable rules it passed so a check can say why it could not decide.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared import armid

IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network

AKS_DELEGATION = "microsoft.containerservice/managedclusters"
AZURE_DNS_IP = "168.63.129.16"

# --- ARM ids -----------------------------------------------------------------------------------


def norm_id(resource_id: str | None) -> str:
    return armid.key(resource_id) or (resource_id or "").strip().rstrip("/").lower()


def same_id(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and norm_id(a) == norm_id(b)


def id_segment(resource_id: str, key: str) -> str | None:
    """Value after `key` in an ARM id (`resourceGroups`, `virtualNetworks`, …), case-insensitive."""
    parts = resource_id.strip("/").split("/")
    for i, p in enumerate(parts[:-1]):
        if p.lower() == key.lower():
            return parts[i + 1]
    return None


def subscription_of(resource_id: str) -> str | None:
    return armid.subscription_of(resource_id)


def resource_group_of(resource_id: str) -> str | None:
    return armid.resource_group_of(resource_id)


def name_of(resource_id: str) -> str:
    return armid.name_of(resource_id)


_SUBNET_RE = re.compile(r"^(?P<vnet>/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/"
                        r"virtualNetworks/[^/]+)/subnets/(?P<subnet>[^/]+)$", re.IGNORECASE)
_ANY_SUBNET_RE = re.compile(r"/subscriptions/[^/\s\"']+/resourceGroups/[^/\s\"']+/providers/"
                            r"Microsoft\.Network/virtualNetworks/[^/\s\"']+/subnets/[^/\s\"'.,;)]+",
                            re.IGNORECASE)


def is_subnet_id(resource_id: str | None) -> bool:
    return bool(resource_id) and _SUBNET_RE.match((resource_id or "").strip().rstrip("/")) is not None


def vnet_id_of(subnet_id: str) -> str:
    m = _SUBNET_RE.match(subnet_id.strip().rstrip("/"))
    if not m:
        raise ValueError(f"not a subnet id: {subnet_id[:200]}")
    return m.group("vnet")


def subnet_ids_in_text(text: str) -> list[str]:
    """Subnet ids quoted in an error message, in order, without duplicates."""
    out: list[str] = []
    for m in _ANY_SUBNET_RE.finditer(text or ""):
        if not any(same_id(m.group(0), o) for o in out):
            out.append(m.group(0))
    return out


def ref_id(obj: Any) -> str | None:
    """`{"id": "..."}` reference -> id (None/empty -> None)."""
    if isinstance(obj, dict):
        v = obj.get("id")
        return v if isinstance(v, str) and v.strip() else None
    return None


def props(body: dict[str, Any] | None) -> dict[str, Any]:
    p = (body or {}).get("properties")
    return p if isinstance(p, dict) else {}


def region_of(location: str | None) -> str:
    """'Central US' / 'centralus' -> 'centralus' (ARM location names)."""
    return (location or "").replace(" ", "").lower()


# --- prefixes ----------------------------------------------------------------------------------


def parse_net(text: Any) -> IPNet | None:
    """'10.0.0.0/24', '1.2.3.4' (-> /32) or '10.0.0.5/24' (host bits tolerated) -> network."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def parse_nets(text: Any) -> list[IPNet]:
    """Like parse_net, plus Azure Firewall ranges '10.1.4.12-10.1.4.255' (-> covering CIDRs)."""
    net = parse_net(text)
    if net is not None:
        return [net]
    if isinstance(text, str) and text.count("-") == 1:
        lo, _, hi = text.partition("-")
        try:
            first, last = ipaddress.ip_address(lo.strip()), ipaddress.ip_address(hi.strip())
            if isinstance(first, ipaddress.IPv4Address) and isinstance(last, ipaddress.IPv4Address) and first <= last:
                return list(ipaddress.summarize_address_range(first, last))
            if isinstance(first, ipaddress.IPv6Address) and isinstance(last, ipaddress.IPv6Address) and first <= last:
                return list(ipaddress.summarize_address_range(first, last))
        except ValueError:
            return []
    return []


def prefixes_of(p: dict[str, Any]) -> list[str]:
    """`addressPrefix` and/or `addressPrefixes[]` of a subnet/route properties object."""
    out: list[str] = []
    single = p.get("addressPrefix")
    if isinstance(single, str) and single.strip():
        out.append(single.strip())
    many = p.get("addressPrefixes")
    if isinstance(many, list):
        out.extend(x.strip() for x in many if isinstance(x, str) and x.strip() and x.strip() not in out)
    return out


def nets_of(p: dict[str, Any]) -> list[IPNet]:
    return [n for n in (parse_net(x) for x in prefixes_of(p)) if n is not None]


def contains(outer: IPNet, inner: IPNet) -> bool:
    if isinstance(outer, ipaddress.IPv4Network) and isinstance(inner, ipaddress.IPv4Network):
        return inner.subnet_of(outer)
    if isinstance(outer, ipaddress.IPv6Network) and isinstance(inner, ipaddress.IPv6Network):
        return inner.subnet_of(outer)
    return False


def overlaps(a: IPNet, b: IPNet) -> bool:
    if isinstance(a, ipaddress.IPv4Network) and isinstance(b, ipaddress.IPv4Network):
        return a.overlaps(b)
    if isinstance(a, ipaddress.IPv6Network) and isinstance(b, ipaddress.IPv6Network):
        return a.overlaps(b)
    return False


def covered_by(net: IPNet, ranges: Iterable[IPNet]) -> bool:
    """True when every address of `net` lies in the union of `ranges` (adjacent ranges merge)."""
    rs = list(ranges)
    v4 = ipaddress.collapse_addresses([r for r in rs if isinstance(r, ipaddress.IPv4Network)])
    v6 = ipaddress.collapse_addresses([r for r in rs if isinstance(r, ipaddress.IPv6Network)])
    merged: list[IPNet] = [*v4, *v6]
    return any(contains(r, net) for r in merged)


def usable_ips(net: IPNet) -> int:
    """Azure reserves 5 addresses per subnet."""
    return max(0, net.num_addresses - 5)


def is_private(net: IPNet) -> bool:
    return net.is_private


def free_prefix(space: Sequence[IPNet], used: Sequence[IPNet], prefixlen: int) -> IPNet | None:
    """First /prefixlen inside the VNet address space that overlaps no existing subnet.

    Integer gap arithmetic over the merged used ranges: a /12 space holds 65,536 candidate /28s, and
    testing each against every subnet was most of a work item's CPU."""
    for block in space:
        if block.prefixlen > prefixlen:
            continue
        size = 1 << (block.max_prefixlen - prefixlen)
        lo, hi = int(block.network_address), int(block.broadcast_address)
        taken = sorted((max(lo, int(u.network_address)), min(hi, int(u.broadcast_address)))
                       for u in used if u.version == block.version and overlaps(block, u))
        start = lo
        for first, last in taken:
            if first - start >= size:
                break  # the gap before this range holds an aligned block at `start`
            start = max(start, -(-(last + 1) // size) * size)  # next aligned start after the range
        if start + size - 1 <= hi:
            return ipaddress.ip_network((start, prefixlen)) if block.version == 4 else \
                ipaddress.IPv6Network((start, prefixlen))
    return None


# --- endpoints (what a rule/route is matched against) ------------------------------------------

# Service tags whose membership we can decide for the endpoints we care about. Any other tag
# (Storage, AzureMonitor, …) yields "cannot tell".
KNOWN_TAGS = frozenset({"internet", "virtualnetwork", "azureloadbalancer", "azurecloud"})


@dataclass(frozen=True)
class Endpoint:
    """One side of a flow. `net` is the exact address/range when known; `tags` the service tags
    it belongs to (lower-case, regional tags like 'azurecloud.westeurope' included)."""

    label: str
    net: IPNet | None = None
    tags: frozenset[str] = frozenset()
    public: bool = False
    # The subset of `tags` held only by what the tag means (e.g. a public AKS API server address is
    # in AzureCloud.<region>), not proven from the tag's prefixes: nsgeval reports those as likely.
    meaning: frozenset[str] = frozenset()
    host: str | None = None  # the FQDN, for endpoints known by name (mcr.microsoft.com)

    def describe(self) -> str:
        return f"{self.label} ({self.net})" if self.net is not None else self.label


def public_endpoint(label: str, region: str, net: IPNet | None = None) -> Endpoint:
    """An Azure public endpoint in `region` (API server public IP, MCR …)."""
    meaning = {"azurecloud"}
    if region:
        meaning.add(f"azurecloud.{region}")
    return Endpoint(label, net, frozenset({"internet", *meaning}), public=True, meaning=frozenset(meaning))


def vnet_endpoint(label: str, net: IPNet | None = None, *, extra: Iterable[str] = ()) -> Endpoint:
    return Endpoint(label, net, frozenset({"virtualnetwork", *extra}), public=False)


LOAD_BALANCER_PROBE = Endpoint("AzureLoadBalancer (168.63.129.16)", ipaddress.ip_network("168.63.129.16/32"),
                               frozenset({"azureloadbalancer"}))


def prefix_matches(prefix: str, ep: Endpoint) -> bool | None:
    text = prefix.strip()
    low = text.lower()
    if low in ("*", "any", "0.0.0.0/0", "::/0"):
        return True
    ranged = parse_nets(text) if "-" in text else []
    if ranged:  # an address range: decide on the CIDRs that cover it exactly
        if ep.net is not None:
            if covered_by(ep.net, ranged):
                return True
            return None if any(overlaps(r, ep.net) for r in ranged) else False
        return False if ep.public != ranged[0].is_global else None
    net = parse_net(text)
    if net is None:  # a service tag, e.g. Internet, VirtualNetwork, AzureCloud.westeurope
        if low in ep.tags:
            return True
        if low.split(".", 1)[0] in KNOWN_TAGS:
            # a known tag the endpoint is not in (or another region's variant of it)
            return False
        return None
    if ep.net is not None:
        if contains(net, ep.net):
            return True
        if not overlaps(net, ep.net):
            return False
        return None
    if ep.public and net.is_private:
        return False
    if not ep.public and not net.is_private:
        return False
    return None


def any_prefix_matches(prefixes: Sequence[str], ep: Endpoint) -> bool | None:
    seen_unknown = False
    for p in prefixes:
        m = prefix_matches(p, ep)
        if m:
            return True
        if m is None:
            seen_unknown = True
    return None if seen_unknown else False


# --- ports / protocols -------------------------------------------------------------------------


def port_matches(ranges: Sequence[str], port: int) -> bool:
    for r in ranges:
        text = str(r).strip()
        if text in ("*", "0-65535"):
            return True
        if "-" in text:
            lo, _, hi = text.partition("-")
            if lo.strip().isdigit() and hi.strip().isdigit() and int(lo) <= port <= int(hi):
                return True
        elif text.isdigit() and int(text) == port:
            return True
    return False


def protocol_matches(protocol: str, wanted: str) -> bool:
    p = (protocol or "*").strip().lower()
    return p in ("*", "any", "all") or p == wanted.lower()


# --- NSG ---------------------------------------------------------------------------------------


def _list(p: dict[str, Any], single: str, many: str) -> tuple[str, ...]:
    out: list[str] = []
    v = p.get(single)
    if isinstance(v, str) and v.strip():
        out.append(v.strip())
    vs = p.get(many)
    if isinstance(vs, list):
        out.extend(str(x).strip() for x in vs if str(x).strip())
    return tuple(out)


@dataclass(frozen=True)
class NsgRule:
    name: str
    id: str
    priority: int
    direction: str  # inbound | outbound
    access: str  # allow | deny
    protocol: str
    sources: tuple[str, ...]
    destinations: tuple[str, ...]
    ports: tuple[str, ...]  # destination ports
    default: bool = False
    source_asgs: bool = False
    destination_asgs: bool = False
    source_ports: tuple[str, ...] = ("*",)  # sourcePortRange(s); a flow's source port is ephemeral

    def describe(self) -> str:
        kind = "default rule" if self.default else "rule"
        return (f"{kind} {self.name} (priority {self.priority}, {self.direction} {self.access}, "
                f"{self.protocol} {','.join(self.sources) or '-'} -> {','.join(self.destinations) or '-'}"
                f":{','.join(self.ports) or '-'})")

    def as_value(self) -> dict[str, Any]:
        return {"name": self.name, "priority": self.priority, "direction": self.direction,
                "access": self.access, "protocol": self.protocol, "source": list(self.sources),
                "destination": list(self.destinations), "destinationPorts": list(self.ports)}


def nsg_rules(nsg: dict[str, Any]) -> list[NsgRule]:
    """securityRules + defaultSecurityRules, normalised (raw ARM shape, `properties` nested)."""
    p = props(nsg)
    out: list[NsgRule] = []
    for key, default in (("securityRules", False), ("defaultSecurityRules", True)):
        for r in p.get(key) or []:
            if not isinstance(r, dict):
                continue
            rp = props(r) or r  # tolerate flattened (az CLI) rules
            try:
                priority = int(rp.get("priority"))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                continue
            out.append(NsgRule(
                name=str(r.get("name") or rp.get("name") or "?"),
                id=str(r.get("id") or ""),
                priority=priority,
                direction=str(rp.get("direction") or "").lower(),
                access=str(rp.get("access") or "").lower(),
                protocol=str(rp.get("protocol") or "*"),
                sources=_list(rp, "sourceAddressPrefix", "sourceAddressPrefixes"),
                destinations=_list(rp, "destinationAddressPrefix", "destinationAddressPrefixes"),
                ports=_list(rp, "destinationPortRange", "destinationPortRanges"),
                default=default,
                source_asgs=bool(rp.get("sourceApplicationSecurityGroups")),
                destination_asgs=bool(rp.get("destinationApplicationSecurityGroups")),
                source_ports=_list(rp, "sourcePortRange", "sourcePortRanges") or ("*",),
            ))
    return out


@dataclass(frozen=True)
class NsgVerdict:
    """Outcome of the priority walk for one flow through one NSG."""

    access: str  # allow | deny | unknown
    rule: NsgRule | None
    undecided: tuple[NsgRule, ...] = field(default=())  # rules passed that might have applied

    @property
    def allowed(self) -> bool:
        return self.access == "allow"

    @property
    def certain(self) -> bool:
        """Decided and no rule of the opposite access was left undecided above the deciding one."""
        if self.access == "unknown":
            return False
        return not any(r.access != self.access for r in self.undecided)


def nsg_walk(rules: Sequence[NsgRule], *, direction: str, protocol: str, port: int,
             source: Endpoint, destination: Endpoint) -> NsgVerdict:
    """Evaluate rules of one direction in priority order; the first rule that matches decides."""
    undecided: list[NsgRule] = []
    for rule in sorted((r for r in rules if r.direction == direction), key=lambda r: (r.priority, r.default)):
        if not protocol_matches(rule.protocol, protocol) or not port_matches(rule.ports, port):
            continue
        src = None if rule.source_asgs and not rule.sources else any_prefix_matches(rule.sources, source)
        dst = (None if rule.destination_asgs and not rule.destinations
               else any_prefix_matches(rule.destinations, destination))
        if src is False or dst is False:
            continue
        if src and dst:
            return NsgVerdict(rule.access, rule, tuple(undecided))
        undecided.append(rule)
    return NsgVerdict("unknown", None, tuple(undecided))


# --- routes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str
    prefix: str
    next_hop_type: str  # VirtualAppliance | VirtualNetworkGateway | VnetLocal | Internet | None
    next_hop_ip: str | None = None
    system: bool = False
    id: str = ""

    def describe(self) -> str:
        hop = self.next_hop_type + (f" {self.next_hop_ip}" if self.next_hop_ip else "")
        kind = "system route" if self.system else f"route {self.name}"
        return f"{kind} {self.prefix} -> {hop}"

    def as_value(self) -> dict[str, Any]:
        return {"name": self.name, "addressPrefix": self.prefix, "nextHopType": self.next_hop_type,
                "nextHopIpAddress": self.next_hop_ip, "system": self.system}


def udr_routes(route_table: dict[str, Any]) -> list[Route]:
    out: list[Route] = []
    for r in props(route_table).get("routes") or []:
        if not isinstance(r, dict):
            continue
        rp = props(r) or r
        prefix = rp.get("addressPrefix")
        if not isinstance(prefix, str):
            continue
        out.append(Route(str(r.get("name") or "?"), prefix.strip(), str(rp.get("nextHopType") or "None"),
                         rp.get("nextHopIpAddress") or None, False, str(r.get("id") or "")))
    return out


def system_routes(vnet_prefixes: Sequence[str], peered_prefixes: Sequence[str] = ()) -> list[Route]:
    out = [Route("vnet", p, "VnetLocal", system=True) for p in vnet_prefixes]
    out += [Route("peering", p, "VNetPeering", system=True) for p in peered_prefixes]
    out += [Route("default", "0.0.0.0/0", "Internet", system=True)]
    return out


@dataclass(frozen=True)
class RouteMatch:
    route: Route | None
    maybe: tuple[Route, ...] = ()  # more specific routes that may cover the (unknown) destination


def route_for(routes: Sequence[Route], destination: Endpoint) -> RouteMatch:
    """Longest prefix match; a user route wins over a system route of the same length (Azure rule).

    Service-tag prefixes in UDRs are not expanded. With an unknown public destination only
    0.0.0.0/0-style routes are certain; more specific public prefixes are reported in `maybe`.
    """
    best: tuple[int, int, Route] | None = None
    maybe: list[Route] = []
    for r in routes:
        net = parse_net(r.prefix)
        if net is None:  # service-tag route: its matching prefix length is unknown
            if prefix_matches(r.prefix, destination) is not False:
                maybe.append(r)
            continue
        m = True if net.prefixlen == 0 else prefix_matches(r.prefix, destination)
        if m is None:
            maybe.append(r)
            continue
        if not m:
            continue
        key = (net.prefixlen, 0 if r.system else 1)
        if best is None or key > best[:2]:
            best = (key[0], key[1], r)
    chosen = best[2] if best else None
    if chosen is not None:
        chosen_len = parse_net(chosen.prefix)
        maybe = [r for r in maybe if (n := parse_net(r.prefix)) is None
                 or (chosen_len is not None and n.prefixlen > chosen_len.prefixlen)]
    return RouteMatch(chosen, tuple(maybe))


# --- the cluster body --------------------------------------------------------------------------


def first_subnet_prefix(subnet: dict[str, Any]) -> IPNet | None:
    nets = nets_of(props(subnet))
    return max(nets, key=lambda n: n.num_addresses) if nets else None


def free_priority_below(rules: Sequence[NsgRule], direction: str, priority: int) -> int | None:
    """Highest unused custom-rule priority (100-4096) strictly below `priority`, for an allow rule
    that must win over a deny at `priority`."""
    used = {r.priority for r in rules if r.direction == direction and not r.default}
    for p in range(min(priority - 1, 4096), 99, -1):
        if p not in used:
            return p
    return None


# Doc URLs (from the team error catalog / AKS docs) shared by several checks.
DOC_CONNFAIL = "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/vmextensionerror-k8sapiserverconnfail"
DOC_OUTBOUND = "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/vmextensionerror-outboundconnfail"
DOC_DNS = "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/vmextensionerror-k8sapiserverdnslookupfail"
DOC_EGRESS = "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/connectivity/errors-arfter-restricting-egress-traffic"
DOC_VNET_INTEGRATION = "https://learn.microsoft.com/azure/aks/api-server-vnet-integration"
DOC_AUTHORIZED_RANGES = "https://learn.microsoft.com/azure/aks/api-server-authorized-ip-ranges"
DOC_PRIVATE_CLUSTER = "https://learn.microsoft.com/azure/aks/private-clusters"
DOC_EGRESS_RULES = "https://learn.microsoft.com/azure/aks/outbound-rules-control-egress"
DOC_VNET_LINK = "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/createorupdatevirtualnetworklinkfailed-error"
DOC_EXTERNAL_RESOURCES = "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/subnetwithexternalresourcescannotbeusedbyotherresources-error"


def nsg_allow_command(nsg_id: str, rules: Sequence[NsgRule], *, direction: str, before: int, name: str,
                      protocol: str, sources: Sequence[str], destinations: Sequence[str],
                      ports: Sequence[str]) -> str:
    """`az network nsg rule create` for an allow rule that takes precedence over priority `before`."""
    prio = free_priority_below(rules, direction, before)
    rg = resource_group_of(nsg_id) or "<nsg-resource-group>"
    cmd = (f"az network nsg rule create -g {rg} --nsg-name {name_of(nsg_id)} -n {name} "
           f"--priority {prio if prio is not None else 100} --direction {direction.capitalize()} --access Allow "
           f"--protocol {protocol} --source-address-prefixes {' '.join(sources)} "
           f"--source-port-ranges '*' --destination-address-prefixes {' '.join(destinations)} "
           f"--destination-port-ranges {' '.join(ports)}")
    if prio is None:
        cmd += f"  # priorities 100-{before - 1} are taken: first move the deny rule at {before} to a higher number"
    return cmd


def walk_summary(v: NsgVerdict) -> str:
    if v.rule is not None:
        return v.rule.describe()
    return "no rule decided"
