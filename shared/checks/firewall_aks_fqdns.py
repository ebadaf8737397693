"""firewall_aks_fqdns: does the Azure Firewall on the egress path allow what AKS nodes need?

Why: with outboundType userDefinedRouting (0.0.0.0/0 -> VirtualAppliance) an Azure Firewall that
lacks the AKS rules drops node bootstrap traffic (exit 50 OutboundConnFail, exit 51 timeout for the
public API server `*.hcp.<region>.azmk8s.io`). Applies only when the node subnet's default route
points at a device that is an Azure Firewall (located through the node VNet / its peerings).
Reads the firewall policy's rule collection groups (base policy first) or the classic
`applicationRuleCollections` / `networkRuleCollections`, and for each required endpoint walks network
rules, then application rules, in priority order: an Allow/Deny whose source covers the node subnet
and whose protocol/port cover TCP 443 decides; nothing matching = the firewall's default deny.
An application rule with `fqdnTags: [AzureKubernetesService]` covers the whole required list.
Required (AKS "outbound network and FQDN rules", global Azure): the API server FQDN (public, or
`*.privatelink.<region>.azmk8s.io` when the private path is routed through the firewall),
mcr.microsoft.com, *.data.mcr.microsoft.com, management.azure.com, login.microsoftonline.com,
packages.microsoft.com, acs-mirror.azureedge.net.
Doc: https://learn.microsoft.com/azure/aks/outbound-rules-control-egress
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.armid import ResourceKind
from shared.checklib import netread
from shared.checklib import netutil as nu
from shared.checklib.base import CheckContext, CheckSpec, NotApplicable, Skip, result
from shared.checklib.clusterview import ClusterView
from shared.models import CheckResult, CheckStatus, Evidence, Family

AKS_FQDN_TAG = "azurekubernetesservice"


@dataclass(frozen=True)
class FwRule:
    kind: str  # network | application
    action: str  # allow | deny
    order: tuple[int, int, int, int]
    collection: str
    name: str
    sources: tuple[str, ...]
    source_ip_groups: bool
    protocols: tuple[str, ...]  # network: TCP/UDP/Any/ICMP; application: Https:443 style
    ports: tuple[str, ...]  # network rules
    destinations: tuple[str, ...]  # network rules: addresses / service tags
    fqdns: tuple[str, ...]  # network destinationFqdns or application targetFqdns
    fqdn_tags: tuple[str, ...] = ()
    destination_ip_groups: bool = False

    def describe(self) -> str:
        target = ",".join(self.fqdns or self.destinations or self.fqdn_tags) or "-"
        return f"{self.kind} rule {self.collection}/{self.name} ({self.action} {','.join(self.protocols)} -> {target})"


@dataclass(frozen=True)
class Required:
    label: str
    host: str
    endpoint: nu.Endpoint


@dataclass(frozen=True)
class Facts:
    firewall_id: str
    policy_id: str | None
    rules: tuple[FwRule, ...]
    node_prefixes: tuple[str, ...]
    required: tuple[Required, ...]
    region: str


def _strs(v: Any) -> tuple[str, ...]:
    return tuple(str(x).strip() for x in v if str(x).strip()) if isinstance(v, list) else ()


def _rule(kind: str, action: str, order: tuple[int, int, int, int], coll: str, r: dict[str, Any]) -> FwRule:
    rp = nu.props(r) or r
    if kind == "application":
        protos = tuple(f"{p.get('protocolType', '')}:{p.get('port', '')}" for p in rp.get("protocols") or []
                       if isinstance(p, dict))
        return FwRule(kind, action, order, coll, str(r.get("name") or "?"), _strs(rp.get("sourceAddresses")),
                      bool(rp.get("sourceIpGroups")), protos, (), _strs(rp.get("destinationAddresses")),
                      _strs(rp.get("targetFqdns")), tuple(t.lower() for t in _strs(rp.get("fqdnTags"))))
    protos = _strs(rp.get("ipProtocols") or rp.get("protocols"))
    return FwRule(kind, action, order, coll, str(r.get("name") or "?"), _strs(rp.get("sourceAddresses")),
                  bool(rp.get("sourceIpGroups")), protos, _strs(rp.get("destinationPorts")),
                  _strs(rp.get("destinationAddresses")), _strs(rp.get("destinationFqdns")), (),
                  bool(rp.get("destinationIpGroups")))


def policy_rules(groups: list[dict[str, Any]], tier: int) -> list[FwRule]:
    out: list[FwRule] = []
    for g in groups:
        gp = nu.props(g)
        for ci, c in enumerate(gp.get("ruleCollections") or []):
            if str(c.get("ruleCollectionType", "")).lower() != "firewallpolicyfilterrulecollection":
                continue
            action = str((c.get("action") or {}).get("type") or "").lower()
            for ri, r in enumerate(c.get("rules") or []):
                kind = {"applicationrule": "application", "networkrule": "network"}.get(
                    str(r.get("ruleType", "")).lower())
                if kind:
                    order = (tier, int(gp.get("priority") or 65000), int(c.get("priority") or 65000), ci * 1000 + ri)
                    out.append(_rule(kind, action, order, f"{g.get('name', '?')}/{c.get('name', '?')}", r))
    return out


def classic_rules(fw: dict[str, Any]) -> list[FwRule]:
    out: list[FwRule] = []
    for key, kind in (("networkRuleCollections", "network"), ("applicationRuleCollections", "application")):
        for ci, c in enumerate(nu.props(fw).get(key) or []):
            cp = nu.props(c)
            action = str((cp.get("action") or {}).get("type") or "").lower()
            for ri, r in enumerate(cp.get("rules") or []):
                out.append(_rule(kind, action, (0, 0, int(cp.get("priority") or 65000), ci * 1000 + ri),
                                 str(c.get("name") or "?"), r))
    return out


def required_endpoints(view: ClusterView, api_via_firewall: nu.Endpoint | None) -> list[Required]:
    region = view.region or "<region>"
    out: list[Required] = []
    if not view.private and not view.vnet_integration:
        out.append(Required(f"*.hcp.{region}.azmk8s.io", view.fqdn or f"apiserver.hcp.{region}.azmk8s.io",
                            nu.public_endpoint("API server", view.region)))
    elif api_via_firewall is not None:
        out.append(Required(f"*.privatelink.{region}.azmk8s.io",
                            view.private_fqdn or f"apiserver.privatelink.{region}.azmk8s.io", api_via_firewall))
    for label, host in (("mcr.microsoft.com", "mcr.microsoft.com"),
                        ("*.data.mcr.microsoft.com", f"{region}.data.mcr.microsoft.com"),
                        ("management.azure.com", "management.azure.com"),
                        ("login.microsoftonline.com", "login.microsoftonline.com"),
                        ("packages.microsoft.com", "packages.microsoft.com"),
                        ("acs-mirror.azureedge.net", "acs-mirror.azureedge.net")):
        out.append(Required(label, host, nu.Endpoint(label, None, frozenset({"internet"}), public=True)))
    return out


async def gather(ctx: CheckContext) -> Facts:
    view = await netread.load_cluster(ctx)
    if not view.byo_vnet:
        raise NotApplicable("AKS-managed VNet: no customer route table, so no firewall on the egress path")
    # The node VNet ids come from the cluster body: read them with the subnets.
    subnets, vnet_bodies = await netread.in_order(netread.node_subnets(ctx, view),
                                                  netread.get_all(ctx, view.node_vnet_ids))
    vnets = dict(zip((nu.norm_id(v) for v in view.node_vnet_ids), vnet_bodies, strict=True))
    hop: netread.NextHop | None = None
    sid = ""
    for sid, sn in zip(view.node_subnet_ids, subnets, strict=True):
        rt_id = nu.ref_id(nu.props(sn).get("routeTable"))
        rt = await ctx.get_or_none(rt_id, netread.NET) if rt_id else None
        default = next((r for r in nu.udr_routes(rt or {}) if r.prefix == "0.0.0.0/0"), None)
        if default and default.next_hop_type.lower() == "virtualappliance" and default.next_hop_ip:
            hop = await netread.locate_next_hop(ctx, vnets[nu.norm_id(nu.vnet_id_of(sid))], default.next_hop_ip)
            break
    if hop is None:
        raise NotApplicable("no node subnet sends 0.0.0.0/0 to a virtual appliance")
    if hop.kind == "unknown":
        raise Skip(f"cannot tell what the next hop {hop.ip} is: {hop.note}")
    if hop.kind != "azureFirewall" or hop.body is None or not hop.resource_id:
        raise NotApplicable(f"the next hop {hop.ip} is not an Azure Firewall ({hop.kind}); its rules are not in ARM")
    fw = hop.body
    policy_id = nu.ref_id(nu.props(fw).get("firewallPolicy"))

    async def firewall_rules() -> list[FwRule]:
        if not policy_id:
            return classic_rules(fw)

        async def base_rules() -> list[FwRule]:
            policy = await ctx.get(policy_id, netread.NET)
            base_id = nu.ref_id(nu.props(policy).get("basePolicy"))
            if not base_id:
                return []
            return policy_rules(netread.collection(await ctx.get(f"{base_id}/ruleCollectionGroups", netread.NET)), 0)

        # The policy's own rule collection groups do not depend on the policy body (only the base does).
        base, own = await netread.in_order(base_rules(), ctx.get(f"{policy_id}/ruleCollectionGroups", netread.NET))
        return base + policy_rules(netread.collection(own), 1)  # parent policy rules come first

    rules, path = await netread.in_order(firewall_rules(), netread.apiserver_path(ctx, view))
    api_via_fw: nu.Endpoint | None = None
    if path.kind != "public":
        sn_vnet = vnets[nu.norm_id(nu.vnet_id_of(sid))]
        rt_id = nu.ref_id(nu.props(subnets[0]).get("routeTable"))
        udrs = nu.udr_routes(await ctx.get(rt_id, netread.NET)) if rt_id else []
        own = [str(x) for x in (nu.props(sn_vnet).get("addressSpace") or {}).get("addressPrefixes") or []]
        m = nu.route_for([*udrs, *nu.system_routes(own)], path.endpoint)
        if m.route is not None and m.route.next_hop_ip == hop.ip:
            api_via_fw = path.endpoint
    prefixes = tuple(p for s in subnets for p in nu.prefixes_of(nu.props(s)))
    return Facts(hop.resource_id, policy_id, tuple(rules), prefixes,
                 tuple(required_endpoints(view, api_via_fw)), view.region)


def _host_matches(pattern: str, host: str) -> bool:
    p, h = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if p == "*":
        return True
    if p.startswith("*."):
        return h.endswith(p[1:])
    return p == h


def _source_matches(rule: FwRule, prefixes: tuple[str, ...]) -> bool | None:
    if not rule.sources:
        return None if rule.source_ip_groups else False
    nets = [n for n in (nu.parse_net(p) for p in prefixes) if n is not None]
    if any(s in ("*", "0.0.0.0/0") for s in rule.sources):
        return True
    ranges = [n for s in rule.sources for n in nu.parse_nets(s)]
    if nets and all(nu.covered_by(n, ranges) for n in nets):
        return True
    return None if rule.source_ip_groups else False


def _rule_matches(rule: FwRule, req: Required, prefixes: tuple[str, ...]) -> bool | None:
    src = _source_matches(rule, prefixes)
    if src is False:
        return False
    if rule.kind == "network":
        if not any(p.lower() in ("tcp", "any") for p in rule.protocols) or not nu.port_matches(rule.ports, 443):
            return False
        if any(_host_matches(f, req.host) for f in rule.fqdns):
            dst: bool | None = True
        else:
            dst = nu.any_prefix_matches(rule.destinations, req.endpoint) if rule.destinations else False
            if dst is False and rule.destination_ip_groups:
                dst = None
    else:
        if not any(p.lower() in ("https:443", "https:") or p.lower().startswith("https:443") for p in rule.protocols):
            return False
        dst = AKS_FQDN_TAG in rule.fqdn_tags or any(_host_matches(f, req.host) for f in rule.fqdns)
    if dst is False:
        return False
    return True if (src and dst) else None


def decide(f: Facts, req: Required) -> tuple[str, FwRule | None, list[FwRule]]:
    """('allow'|'deny'|'unknown', deciding rule, undecided rules above it). Network rules first."""
    undecided: list[FwRule] = []
    for kind in ("network", "application"):
        for rule in sorted((r for r in f.rules if r.kind == kind), key=lambda r: r.order):
            m = _rule_matches(rule, req, f.node_prefixes)
            if m is None:
                undecided.append(rule)
            elif m:
                return rule.action, rule, undecided
    return ("unknown" if undecided else "deny"), None, undecided


def evaluate(f: Facts) -> CheckResult:
    ev: list[Evidence] = [Evidence(resource_id=f.policy_id or f.firewall_id,
                                   property="ruleCollectionGroups" if f.policy_id else "rule collections",
                                   value=len(f.rules), note="Azure Firewall on the node subnet's 0.0.0.0/0 route")]
    blocked: list[str] = []
    unsure: list[str] = []
    for req in f.required:
        action, rule, undecided = decide(f, req)
        if rule is not None:
            ev.append(Evidence(resource_id=f.policy_id or f.firewall_id, property=f"{rule.kind} rule",
                               value=rule.describe(), note=f"{action}s {req.label} (TCP/HTTPS 443)"))
        if action == "deny" and not any(r.action == "allow" for r in undecided):
            blocked.append(req.label)
            if rule is None:
                ev.append(Evidence(resource_id=f.policy_id or f.firewall_id, property="rules", value=req.label,
                                   note="no rule allows it: the firewall's default deny applies"))
        elif action != "allow":
            unsure.append(f"{req.label}: " + "; ".join(r.describe() for r in undecided))
    if blocked:
        sources = " ".join(f.node_prefixes) or "<node-subnet-cidr>"
        if f.policy_id:
            rg, pol = nu.resource_group_of(f.policy_id), nu.name_of(f.policy_id)
            fix = (f"az network firewall policy rule-collection-group create -g {rg} --policy-name {pol} "
                   f"-n aks-egress --priority 200\n"
                   f"az network firewall policy rule-collection-group collection add-filter-collection -g {rg} "
                   f"--policy-name {pol} --rule-collection-group-name aks-egress -n aks-fqdns "
                   f"--collection-priority 100 --action Allow --rule-type ApplicationRule --rule-name aks-required "
                   f"--protocols Https=443 --source-addresses {sources} --fqdn-tags AzureKubernetesService")
        else:
            rg, fw = nu.resource_group_of(f.firewall_id), nu.name_of(f.firewall_id)
            fix = (f"az network firewall application-rule create -g {rg} -f {fw} -c aks-fqdns -n aks-required "
                   f"--priority 100 --action Allow --protocols Https=443 --source-addresses {sources} "
                   f"--fqdn-tags AzureKubernetesService")
        return result(SPEC, CheckStatus.FAIL,
                      f"Azure Firewall {nu.name_of(f.firewall_id)} does not allow {', '.join(blocked)} from the node "
                      "subnet", evidence=tuple(ev), remediation=fix)
    if unsure:
        why = " | ".join(unsure)
        return result(SPEC, CheckStatus.SKIPPED, f"skipped: rules with IP groups may decide: {why}",
                      evidence=tuple(ev), reason=why)
    return result(SPEC, CheckStatus.PASS,
                  f"Azure Firewall {nu.name_of(f.firewall_id)} allows the {len(f.required)} required AKS endpoints",
                  evidence=tuple(ev))


SPEC: CheckSpec[Facts] = CheckSpec(
    id="firewall_aks_fqdns",
    title="Azure Firewall allows the AKS required FQDNs",
    docs=(nu.DOC_EGRESS_RULES, nu.DOC_EGRESS, nu.DOC_OUTBOUND),
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.API_SERVER_CONNECTIVITY, Family.EGRESS}),
    relevance={"api_server_connectivity": 40, "api_server_connectivity/none": 85, "api_server_connectivity/timeout": 85,
               "api_server_connectivity/no_route": 60, "api_server_connectivity/tls": 100,
               "api_server_connectivity/certificate": 100, "egress": 95, "egress/proxy": 60,
               "egress/tls": 100},
    resource_kinds=frozenset({ResourceKind.FIREWALL}),
)
