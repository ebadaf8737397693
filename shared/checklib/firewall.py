"""Azure Firewall rules as the firewall evaluates them. Pure: no I/O (the reads are in firewallread).

Owns: the typed rule model parsed from firewall policy rule collection groups (the `basePolicy`
chain included) or from the classic collections on the firewall body (`natRuleCollections`,
`networkRuleCollections`, `applicationRuleCollections`), IP Group resolution
(`Microsoft.Network/ipGroups` `properties.ipAddresses`), and the verdict for one flow.

Processing, as Microsoft documents it ("Azure Firewall rule processing logic", "Azure Firewall
Policy rule sets"):
- DNAT rules first, then network rules, then application rules; every rule is terminating.
- Within one rule type: the parent (base) policy's rule collection groups before the child's,
  whatever their priorities; then groups by priority, collections by priority, rules in order.
- Application rules see a flow only when no network rule matched and the protocol is HTTP/HTTPS.
- No match: the firewall's default deny.
- DNAT rules match traffic addressed to the firewall's own public IPs; node egress to another
  address never matches one.
- FQDNs in network rules (`destinationFqdns`) need DNS proxy (policy `dnsSettings.enableProxy`,
  classic `additionalProperties["Network.DNS.EnableProxy"]`); without it the rule does not match.
- Premium TLS inspection: an allowing application rule with `terminateTLS: true` decrypts and
  re-signs the server certificate with the policy's intermediate CA
  (`transportSecurity.certificateAuthority`), which the client must trust.

Tri-state matching: a rule matches (True), does not (False) or may (None: an unreadable IP group,
a web category that may hold Microsoft endpoints, a service tag that may hold the endpoint, a
public range and an API server whose IP is not known, a source range covering part of the node
subnet). Addresses are not matched against FQDN endpoints whose IP is unknown (mcr, packages ...):
Azure documents FQDN and service-tag rules for them. A verdict keeps the rules that may have
matched before the deciding one, so a check can tell a proven outcome from a likely one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from shared.checklib import netutil as nu

Kind = Literal["dnat", "network", "application"]
KINDS: tuple[Kind, ...] = ("dnat", "network", "application")
AKS_FQDN_TAG = "azurekubernetesservice"
DOC_RULE_PROCESSING = "https://learn.microsoft.com/azure/firewall/rule-processing"
DOC_DNS_PROXY = "https://learn.microsoft.com/azure/firewall/dns-settings"
DOC_TLS_INSPECTION = "https://learn.microsoft.com/azure/firewall/premium-features#tls-inspection"
DOC_IP_GROUPS = "https://learn.microsoft.com/azure/firewall/ip-groups"
# Web categories that may hold Microsoft's own service FQDNs (MCR, ARM, Entra ID, package feeds).
# A rule naming only other categories (Hacking, Gambling, ...) does not match them.
CATEGORIES_WITH_MICROSOFT = frozenset({"computersandtechnology", "business", "informationtechnology"})
MAX_POLICY_DEPTH = 5  # basePolicy hops followed (a loop or a longer chain stops here)


def _strs(v: Any) -> tuple[str, ...]:
    return tuple(str(x).strip() for x in v if str(x).strip()) if isinstance(v, list) else ()


def _props(body: Any) -> dict[str, Any]:
    p = body.get("properties") if isinstance(body, dict) else None
    return p if isinstance(p, dict) else {}


def _int(v: Any, default: int = 65000) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


# --- rules ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    kind: Kind
    action: str  # allow | deny | dnat
    order: tuple[int, int, int, int]  # (policy tier: base first, group priority, collection priority, position)
    where: str  # the resource holding it: rule collection group id, or the firewall id (classic)
    collection: str  # "group/collection" or the classic collection name
    name: str
    sources: tuple[str, ...] = ()
    source_ip_groups: tuple[str, ...] = ()
    protocols: tuple[str, ...] = ()  # network/DNAT: TCP UDP Any ICMP; application: "Https:443"
    ports: tuple[str, ...] = ()
    destinations: tuple[str, ...] = ()  # addresses, ranges, service tags, "*"
    destination_ip_groups: tuple[str, ...] = ()
    fqdns: tuple[str, ...] = ()  # network destinationFqdns / application targetFqdns
    fqdn_tags: tuple[str, ...] = ()  # lower case
    target_urls: tuple[str, ...] = ()
    web_categories: tuple[str, ...] = ()
    terminate_tls: bool = False

    @property
    def ip_groups(self) -> tuple[str, ...]:
        return (*self.source_ip_groups, *self.destination_ip_groups)

    @property
    def effect(self) -> tuple[str, bool]:
        """What it does to a flow it matches: (allow|deny, TLS terminated)."""
        allow = self.action in ("allow", "dnat")
        return ("allow" if allow else "deny", allow and self.kind == "application" and self.terminate_tls)

    def describe(self) -> str:
        target = (
            ",".join(
                self.fqdns
                or self.target_urls
                or self.destinations
                or self.fqdn_tags
                or self.web_categories
                or self.destination_ip_groups
            )
            or "-"
        )
        tls = ", terminateTLS" if self.terminate_tls else ""
        return (
            f"{self.kind} rule {self.collection}/{self.name} ({self.action} {','.join(self.protocols) or '-'}"
            f" -> {target}{tls})"
        )


_RULE_TYPES: dict[str, Kind] = {"applicationrule": "application", "networkrule": "network", "natrule": "dnat"}


def _kind_of(rule_type: str) -> Kind | None:
    return _RULE_TYPES.get(rule_type.lower())


def _app_protocols(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list):
        return ()
    return tuple(f"{p.get('protocolType', '')}:{p.get('port', '')}" for p in v if isinstance(p, dict))


def _rule(kind: Kind, action: str, order: tuple[int, int, int, int], where: str, coll: str, r: dict[str, Any]) -> Rule:
    rp = _props(r) or r
    common: dict[str, Any] = {
        "kind": kind,
        "action": action,
        "order": order,
        "where": where,
        "collection": coll,
        "name": str(r.get("name") or "?"),
        "sources": _strs(rp.get("sourceAddresses")),
        "source_ip_groups": _strs(rp.get("sourceIpGroups")),
        "destinations": _strs(rp.get("destinationAddresses")),
    }
    if kind == "application":
        return Rule(
            **common,
            protocols=_app_protocols(rp.get("protocols")),
            fqdns=_strs(rp.get("targetFqdns")),
            fqdn_tags=tuple(t.lower() for t in _strs(rp.get("fqdnTags"))),
            target_urls=_strs(rp.get("targetUrls")),
            web_categories=_strs(rp.get("webCategories")),
            terminate_tls=rp.get("terminateTLS") is True,
        )
    return Rule(
        **common,
        protocols=_strs(rp.get("ipProtocols") or rp.get("protocols")),
        ports=_strs(rp.get("destinationPorts")),
        fqdns=_strs(rp.get("destinationFqdns")),
        destination_ip_groups=_strs(rp.get("destinationIpGroups")),
    )


def policy_rules(groups: Sequence[dict[str, Any]], tier: int) -> list[Rule]:
    """Rules of one policy's rule collection groups (`tier` 0 = the top of the basePolicy chain)."""
    out: list[Rule] = []
    for g in groups:
        gp = _props(g)
        gid = str(g.get("id") or g.get("name") or "?")
        for ci, c in enumerate(gp.get("ruleCollections") or []):
            if not isinstance(c, dict):
                continue
            ctype = str(c.get("ruleCollectionType", "")).lower()
            if ctype not in ("firewallpolicyfilterrulecollection", "firewallpolicynatrulecollection"):
                continue
            action = str((c.get("action") or {}).get("type") or "").lower()
            for ri, r in enumerate(c.get("rules") or []):
                kind = _kind_of(str(r.get("ruleType", ""))) if isinstance(r, dict) else None
                if kind is None:
                    continue
                order = (tier, _int(gp.get("priority")), _int(c.get("priority")), ci * 1000 + ri)
                out.append(_rule(kind, action, order, gid, f"{g.get('name', '?')}/{c.get('name', '?')}", r))
    return out


CLASSIC: tuple[tuple[str, Kind], ...] = (
    ("natRuleCollections", "dnat"),
    ("networkRuleCollections", "network"),
    ("applicationRuleCollections", "application"),
)


def classic_rules(fw: dict[str, Any]) -> list[Rule]:
    out: list[Rule] = []
    fid = str(fw.get("id") or "")
    for key, kind in CLASSIC:
        for ci, c in enumerate(_props(fw).get(key) or []):
            cp = _props(c)
            action = str((cp.get("action") or {}).get("type") or "").lower()
            if kind == "dnat" and action != "dnat":
                continue  # Snat collections translate, they do not admit
            for ri, r in enumerate(cp.get("rules") or []):
                if isinstance(r, dict):
                    out.append(
                        _rule(
                            kind,
                            action,
                            (0, 0, _int(cp.get("priority")), ci * 1000 + ri),
                            fid,
                            str(c.get("name") or "?"),
                            r,
                        )
                    )
    return out


def ip_group_ids(rules: Iterable[Rule]) -> list[str]:
    seen: dict[str, str] = {}
    for r in rules:
        for g in r.ip_groups:
            seen.setdefault(nu.norm_id(g), g)
    return list(seen.values())


def ip_group_addresses(body: dict[str, Any]) -> tuple[str, ...]:
    return _strs(_props(body).get("ipAddresses"))


@dataclass(frozen=True)
class PolicySettings:
    """What the evaluation needs from the policy chain (child first: the child's value wins)."""

    dns_proxy: bool = False
    tier: str | None = None  # Standard | Premium | Basic
    tls_ca: str | None = None  # transportSecurity.certificateAuthority.name


def policy_settings(chain: Sequence[dict[str, Any]]) -> PolicySettings:
    proxy: bool | None = None
    tier: str | None = None
    ca: str | None = None
    for body in chain:
        p = _props(body)
        dns = p.get("dnsSettings") if isinstance(p.get("dnsSettings"), dict) else {}
        if proxy is None and isinstance(dns, dict) and isinstance(dns.get("enableProxy"), bool):
            proxy = dns["enableProxy"]
        sku = p.get("sku") if isinstance(p.get("sku"), dict) else {}
        tier = tier or (str(sku.get("tier")) if isinstance(sku, dict) and sku.get("tier") else None)
        ts = p.get("transportSecurity") if isinstance(p.get("transportSecurity"), dict) else {}
        cert = ts.get("certificateAuthority") if isinstance(ts, dict) else None
        if ca is None and isinstance(cert, dict):
            ca = str(cert.get("name") or cert.get("keyVaultSecretId") or "configured")
    return PolicySettings(bool(proxy), tier, ca)


def classic_dns_proxy(fw: dict[str, Any]) -> bool:
    extra = _props(fw).get("additionalProperties")
    value = extra.get("Network.DNS.EnableProxy") if isinstance(extra, dict) else None
    return str(value).lower() == "true"


@dataclass(frozen=True)
class RuleSet:
    firewall_id: str
    policy_chain: tuple[str, ...]  # the firewall's policy first, then its basePolicy, ...
    rules: tuple[Rule, ...]
    settings: PolicySettings = PolicySettings()
    ip_groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # norm id -> ipAddresses
    unreadable_ip_groups: Mapping[str, str] = field(default_factory=dict)  # norm id -> why
    public_ips: tuple[str, ...] = ()  # the firewall's own public addresses (DNAT destinations)

    @property
    def policy_id(self) -> str | None:
        return self.policy_chain[0] if self.policy_chain else None

    def ordered(self, kind: Kind) -> list[Rule]:
        return sorted((r for r in self.rules if r.kind == kind), key=lambda r: r.order)


# --- flows and destinations ---------------------------------------------------------------------


@dataclass(frozen=True)
class Destination:
    """Where a flow goes: its name, address when known, and service tag membership.

    `tags`: tags it is in (lower case, regional variants included); `maybe_tags`: tags that may
    contain it (base names: a regional variant of one also 'may'). Any other tag does not.
    """

    label: str
    host: str | None = None
    net: nu.IPNet | None = None
    public: bool = True
    tags: frozenset[str] = frozenset()
    maybe_tags: frozenset[str] = frozenset()
    aks_tag: bool = False  # covered by the AzureKubernetesService FQDN tag
    apiserver: bool = False  # the cluster's API server (the node pins its CA: no TLS interception)
    # Rules may name its address: true for the API server (one stable IP, the documented network
    # rule); the FQDN endpoints' addresses change, so a rule naming specific addresses is not taken
    # to hold them when the address is not known.
    addressable: bool = False


@dataclass(frozen=True)
class Flow:
    sources: tuple[str, ...]  # node subnet prefixes (or the node's address)
    dest: Destination
    port: int = 443
    protocol: str = "TCP"
    scheme: str | None = "https"  # http | https: application rules apply; None: they don't


@dataclass(frozen=True)
class Undecided:
    rule: Rule
    why: str


@dataclass(frozen=True)
class Verdict:
    flow: Flow
    action: str  # allow | deny
    rule: Rule | None  # None: the default deny
    undecided: tuple[Undecided, ...] = ()  # rules before it that may have matched
    notes: tuple[str, ...] = ()  # e.g. network FQDN rules that cannot match without DNS proxy

    @property
    def intercepted(self) -> bool:
        return self.rule is not None and self.rule.effect[1]

    @property
    def effect(self) -> tuple[str, bool]:
        return self.rule.effect if self.rule is not None else ("deny", False)

    @property
    def certain(self) -> bool:
        """No rule that may have matched earlier would have done something else."""
        return all(u.rule.effect == self.effect for u in self.undecided)

    @property
    def may_allow(self) -> tuple[Undecided, ...]:
        return tuple(u for u in self.undecided if u.rule.effect[0] == "allow")

    @property
    def may_deny(self) -> tuple[Undecided, ...]:
        return tuple(u for u in self.undecided if u.rule.effect[0] == "deny")


Tri = bool | None


def host_matches(pattern: str, host: str) -> bool:
    """Azure Firewall FQDN patterns: exact, `*`, `*.contoso.com`, `*contoso.com`."""
    p, h = pattern.lower().strip().rstrip("."), host.lower().strip().rstrip(".")
    if p == "*":
        return True
    if p.startswith("*"):
        return h.endswith(p[1:])  # "*.contoso.com": subdomains only; "*contoso.com": contoso.com too
    return p == h


def _nets(texts: Iterable[str]) -> list[nu.IPNet]:
    return [n for t in texts for n in nu.parse_nets(t)]


def _expand(addresses: Sequence[str], groups: Sequence[str], rs: RuleSet) -> tuple[list[str], list[str]]:
    """(addresses with the IP groups' addresses added, ids of groups that could not be read)."""
    out = list(addresses)
    unread: list[str] = []
    for g in groups:
        key = nu.norm_id(g)
        if key in rs.ip_groups:
            out.extend(rs.ip_groups[key])
        else:
            unread.append(g)
    return out, unread


def _unread_why(unread: Sequence[str], rs: RuleSet) -> str:
    return "; ".join(
        f"IP group {nu.name_of(g)} could not be read ({rs.unreadable_ip_groups.get(nu.norm_id(g), 'not read')})"
        for g in unread
    )


def _source(rule: Rule, flow: Flow, rs: RuleSet) -> tuple[Tri, str]:
    addrs, unread = _expand(rule.sources, rule.source_ip_groups, rs)
    if any(a.strip() in ("*", "0.0.0.0/0") for a in addrs):
        return True, ""
    ranges = _nets(addrs)
    flow_nets = _nets(flow.sources)
    if not flow_nets:
        return (None, "the node addresses are not known") if addrs or unread else (False, "")
    if all(nu.covered_by(n, ranges) for n in flow_nets):
        return True, ""
    if unread:
        return None, _unread_why(unread, rs)
    if any(nu.overlaps(n, r) for n in flow_nets for r in ranges):
        return None, "its sources cover part of the node subnet"
    return False, ""


def tag_matches(tag: str, dest: Destination) -> Tri:
    low = tag.strip().lower()
    if low in dest.tags:
        return True
    base = low.split(".", 1)[0]
    if not dest.public:
        return low == "virtualnetwork"
    if base in {t.split(".", 1)[0] for t in dest.tags} and "." in low:
        return False  # another region's variant of a tag it is in
    if low in dest.maybe_tags or base in dest.maybe_tags:
        return None
    return False


def _address(text: str, dest: Destination) -> Tri:
    t = text.strip()
    if t in ("*", "0.0.0.0/0", "::/0"):
        return True
    nets = nu.parse_nets(t)
    if not nets:
        return tag_matches(t, dest)
    if dest.net is not None:
        if nu.covered_by(dest.net, nets):
            return True
        return None if any(nu.overlaps(dest.net, n) for n in nets) else False
    if all(n.is_private for n in nets) == dest.public:
        return False  # private ranges never hold a public endpoint and vice versa
    return None if dest.addressable else False


def _destination(rule: Rule, flow: Flow, rs: RuleSet, notes: list[str]) -> tuple[Tri, str]:
    dest = flow.dest
    addrs, unread = _expand(rule.destinations, rule.destination_ip_groups, rs)
    seen_none: list[str] = []
    for a in addrs:
        m = _address(a, dest)
        if m:
            return True, ""
        if m is None:
            seen_none.append(a)
    if dest.host and any(host_matches(f, dest.host) for f in rule.fqdns):
        if rs.settings.dns_proxy:
            return True, ""
        notes.append(
            f"{rule.describe()} names {dest.host} but DNS proxy is off: FQDNs in network rules "
            "need DNS proxy, so it does not match"
        )
    if unread:
        return None, _unread_why(unread, rs)
    if seen_none:
        what = ", ".join(seen_none[:3])
        return None, (
            f"cannot tell whether {what} contains {dest.label}"
            + ("" if dest.net is not None else " (its address is not known)")
        )
    return False, ""


def _app_destination(rule: Rule, flow: Flow) -> tuple[Tri, str]:
    dest = flow.dest
    host = dest.host or ""
    if dest.aks_tag and AKS_FQDN_TAG in rule.fqdn_tags:
        return True, ""
    if host and any(host_matches(f, host) for f in rule.fqdns):
        return True, ""
    for url in rule.target_urls:
        u = url.lower().split("://", 1)[-1]
        h, _, path = u.partition("/")
        if host and host_matches(h, host):
            return (True, "") if path in ("", "*") else (None, f"URL {url}: the path requested is not known")
    maybe = [c for c in rule.web_categories if c.lower().replace(" ", "") in CATEGORIES_WITH_MICROSOFT]
    if maybe and dest.public:
        return None, f"web categories {', '.join(maybe)} may include {host or dest.label} (not evaluated here)"
    return False, ""


def _app_protocol(rule: Rule, flow: Flow) -> bool:
    want = (flow.scheme or "").lower()
    for p in rule.protocols:
        proto, _, port = p.partition(":")
        if proto.lower() == want and (not port or port == str(flow.port)):
            return True
    return False


def match(rule: Rule, flow: Flow, rs: RuleSet, notes: list[str]) -> tuple[Tri, str]:
    if rule.kind in ("network", "dnat"):
        if not any(nu.protocol_matches(p, flow.protocol) for p in rule.protocols):
            return False, ""
        if not nu.port_matches(rule.ports, flow.port):
            return False, ""
    elif not _app_protocol(rule, flow):
        return False, ""
    if rule.kind == "dnat":
        # DNAT admits traffic addressed to the firewall's own public IP only.
        own = _nets(rule.destinations or rs.public_ips)
        if flow.dest.net is None or not any(nu.contains(n, flow.dest.net) for n in own):
            return False, ""
        dst: tuple[Tri, str] = (True, "")
    elif rule.kind == "network":
        dst = _destination(rule, flow, rs, notes)
    else:
        dst = _app_destination(rule, flow)
    if dst[0] is False:
        return False, ""
    src = _source(rule, flow, rs)
    if src[0] is False:
        return False, ""
    if src[0] and dst[0]:
        return True, ""
    return None, "; ".join(w for w in (src[1], dst[1]) if w)


def decide(rs: RuleSet, flow: Flow) -> Verdict:
    """Walk DNAT, network, then application rules; the first match decides, else the default deny."""
    undecided: list[Undecided] = []
    notes: list[str] = []
    for kind in KINDS:
        if kind == "application" and (flow.scheme or "").lower() not in ("http", "https"):
            continue
        for rule in rs.ordered(kind):
            m, why = match(rule, flow, rs, notes)
            if m:
                return Verdict(flow, rule.effect[0], rule, tuple(undecided), tuple(notes))
            if m is None:
                undecided.append(Undecided(rule, why))
    return Verdict(flow, "deny", None, tuple(undecided), tuple(notes))


# --- AKS required endpoints (AKS "outbound network and FQDN rules", global Azure) -----------------

# (label, host template, service tags it is in, tags that may hold it). `{region}` is the cluster's.
AKS_REQUIRED: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("mcr.microsoft.com", "mcr.microsoft.com", ("microsoftcontainerregistry",), ("azurecloud",)),
    ("*.data.mcr.microsoft.com", "{region}.data.mcr.microsoft.com", ("azurefrontdoor.firstparty",), ("azurecloud",)),
    ("management.azure.com", "management.azure.com", ("azureresourcemanager",), ("azurecloud",)),
    ("login.microsoftonline.com", "login.microsoftonline.com", ("azureactivedirectory",), ("azurecloud",)),
    ("packages.microsoft.com", "packages.microsoft.com", (), ("azurecloud", "azurefrontdoor")),
    ("acs-mirror.azureedge.net", "acs-mirror.azureedge.net", (), ("azurecloud", "azurefrontdoor")),
    ("packages.aks.azure.com", "packages.aks.azure.com", (), ("azurecloud", "azurefrontdoor")),
)


def aks_required(region: str) -> list[Destination]:
    out = []
    for label, host, tags, maybe in AKS_REQUIRED:
        out.append(
            Destination(
                label,
                host.format(region=region or "westeurope"),
                None,
                True,
                frozenset(tags),
                frozenset(maybe),
                aks_tag=True,
            )
        )
    return out


def public_apiserver(fqdn: str | None, region: str, ip: str | None) -> Destination:
    """A public AKS API server: an Azure public IP in its region (AzureCloud, AzureCloud.<region>)."""
    net = nu.parse_net(ip) if ip else None
    tags = {"azurecloud", "internet"} | ({f"azurecloud.{region}"} if region else set())
    return Destination(
        f"*.hcp.{region or '<region>'}.azmk8s.io",
        fqdn or f"apiserver.hcp.{region}.azmk8s.io",
        net if net is not None and net.num_addresses == 1 else None,
        True,
        frozenset(tags),
        aks_tag=True,
        apiserver=True,
        addressable=True,
    )


def private_apiserver(fqdn: str | None, region: str, net: nu.IPNet | None) -> Destination:
    return Destination(
        f"*.privatelink.{region or '<region>'}.azmk8s.io",
        fqdn or f"apiserver.privatelink.{region}.azmk8s.io",
        net,
        False,
        frozenset({"virtualnetwork"}),
        aks_tag=True,
        apiserver=True,
        addressable=True,
    )
