"""firewall_aks_fqdns: does the Azure Firewall on the egress path allow what AKS nodes need?

Why: with outboundType userDefinedRouting (0.0.0.0/0 -> VirtualAppliance) an Azure Firewall that
lacks the AKS rules drops node bootstrap traffic (exit 50 OutboundConnFail, exit 51 timeout for the
public API server `*.hcp.<region>.azmk8s.io`). Applies only when the node subnet's default route
points at a device that is an Azure Firewall (located through the node VNet / its peerings).
Evaluates the firewall as Azure does (shared.checklib.firewall): the firewall policy with its
`basePolicy` chain (the base policy's rule collection groups first, whatever their priority), or
the classic collections on the firewall body; DNAT, then network, then application rules, by group
and collection priority; IP Groups in sources and destinations resolved from
`Microsoft.Network/ipGroups`; the `AzureKubernetesService` FQDN tag; FQDNs in network rules only
with DNS proxy on; service tags in network rules. Nothing matching = the default deny.
Required (AKS "outbound network and FQDN rules", global Azure): the API server (public, or the
private endpoint when the nodes' route to it leads to the firewall), mcr.microsoft.com,
*.data.mcr.microsoft.com, management.azure.com, login.microsoftonline.com, packages.microsoft.com,
acs-mirror.azureedge.net, packages.aks.azure.com; TCP 443.
A deny that holds only if an unreadable IP Group (or a web category, a service tag whose prefixes
are not known) does not match is a FAIL with confidence "likely" and what would confirm it.
Doc: https://learn.microsoft.com/azure/aks/outbound-rules-control-egress
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.armid import ResourceKind
from shared.checklib import firewall as fw
from shared.checklib import firewallread
from shared.checklib import netutil as nu
from shared.checklib.base import CheckContext, CheckSpec, result
from shared.models import CheckResult, CheckStatus, Evidence, Family


@dataclass(frozen=True)
class Facts:
    firewall_id: str
    rules: fw.RuleSet
    flows: tuple[fw.Flow, ...]
    node_prefixes: tuple[str, ...]


async def gather(ctx: CheckContext) -> Facts:
    path = await firewallread.firewall_on_path(ctx)
    rules = await firewallread.load_rules(ctx, path)
    sources = firewallread.flow_sources(path, ctx.facts.node_ip)
    dests = []
    if path.api_via_firewall:
        dests.append(firewallread.apiserver_destination(path, ctx.facts.api_server_ip))
    dests += fw.aks_required(path.view.region)
    return Facts(path.firewall_id, rules, tuple(fw.Flow(sources, d) for d in dests), path.node_prefixes)


def rule_evidence(rule: fw.Rule, note: str) -> Evidence:
    return Evidence(
        resource_id=rule.where,
        property=f"{rule.kind} rule {rule.collection}/{rule.name}",
        value=rule.describe(),
        note=note,
    )


def ip_group_evidence(rs: fw.RuleSet, rules: list[fw.Rule]) -> list[Evidence]:
    out: list[Evidence] = []
    seen: set[str] = set()
    for r in rules:
        for g in r.ip_groups:
            key = nu.norm_id(g)
            if key in seen:
                continue
            seen.add(key)
            if key in rs.ip_groups:
                out.append(
                    Evidence(
                        resource_id=g,
                        property="properties.ipAddresses",
                        value=list(rs.ip_groups[key]),
                        note=f"IP group used by {r.collection}/{r.name}",
                    )
                )
            else:
                out.append(
                    Evidence(
                        resource_id=g,
                        property="GET ipGroup",
                        value=rs.unreadable_ip_groups.get(key),
                        note=f"IP group used by {r.collection}/{r.name} could not be read",
                    )
                )
    return out


def confirm_text(undecided: tuple[fw.Undecided, ...], rs: fw.RuleSet) -> str:
    parts = []
    for u in undecided[:4]:
        unread = [g for g in u.rule.ip_groups if nu.norm_id(g) in rs.unreadable_ip_groups]
        how = "; ".join(f"az network ip-group show --ids {g} --query ipAddresses" for g in unread)
        parts.append(f"whether {u.rule.describe()} matches ({u.why})" + (f": {how}" if how else ""))
    parts.append("or the firewall's AZFWNetworkRule / AZFWApplicationRule logs for the node subnet's traffic")
    return "; ".join(parts)


def allow_commands(f: Facts, blocker: fw.Rule | None) -> str:
    sources = " ".join(f.node_prefixes) or "<node-subnet-cidr>"
    rs = f.rules
    if rs.policy_id:
        # An allow must be in the policy holding the deny (a base policy's rules come first) and in
        # a group evaluated before it.
        target = rs.policy_id
        priority = 200
        if blocker is not None:
            target = next(
                (p for p in rs.policy_chain if blocker.where.lower().startswith(p.lower() + "/")), rs.policy_id
            )
            priority = max(100, blocker.order[1] - 1)
        rg, pol = nu.resource_group_of(target), nu.name_of(target)
        cmds = [
            f"az network firewall policy rule-collection-group create -g {rg} --policy-name {pol} "
            f"-n aks-egress --priority {priority}",
            f"az network firewall policy rule-collection-group collection add-filter-collection -g {rg} "
            f"--policy-name {pol} --rule-collection-group-name aks-egress -n aks-fqdns "
            f"--collection-priority 100 --action Allow --rule-type ApplicationRule --rule-name aks-required "
            f"--protocols Https=443 --source-addresses {sources} --fqdn-tags AzureKubernetesService",
        ]
    else:
        rg, name = nu.resource_group_of(f.firewall_id), nu.name_of(f.firewall_id)
        cmds = [
            f"az network firewall application-rule create -g {rg} -f {name} -c aks-fqdns -n aks-required "
            f"--priority 100 --action Allow --protocols Https=443 --source-addresses {sources} "
            f"--fqdn-tags AzureKubernetesService"
        ]
    if blocker is not None and blocker.kind == "network":
        cmds.insert(
            0,
            f"# {blocker.describe()} in {blocker.where} is a network rule: it is evaluated before every "
            "application rule, so narrow it to exclude the node subnet first",
        )
    return "\n".join(cmds)


def dns_proxy_command(f: Facts) -> str:
    if f.rules.policy_id:
        pid = f.rules.policy_id
        rg, name = nu.resource_group_of(pid), nu.name_of(pid)
        return f"az network firewall policy update -g {rg} -n {name} --enable-dns-proxy true"
    return (
        f"az network firewall update -g {nu.resource_group_of(f.firewall_id)} -n {nu.name_of(f.firewall_id)} "
        "--enable-dns-proxy true"
    )


def evaluate(f: Facts) -> CheckResult:
    rs = f.rules
    holder = rs.policy_id or f.firewall_id
    ev: list[Evidence] = [
        Evidence(
            resource_id=holder,
            property="ruleCollectionGroups" if rs.policy_id else "rule collections",
            value=len(rs.rules),
            note="Azure Firewall on the node subnet's 0.0.0.0/0 route",
        )
    ]
    if len(rs.policy_chain) > 1:
        ev.append(
            Evidence(
                resource_id=rs.policy_chain[0],
                property="properties.basePolicy.id",
                value=list(rs.policy_chain[1:]),
                note="base policy rules are evaluated first",
            )
        )
    blocked: list[str] = []
    likely: list[str] = []
    confirm: list[str] = []
    notes: list[str] = []
    deciders: list[fw.Rule] = []
    blocker: fw.Rule | None = None
    for flow in f.flows:
        v = fw.decide(rs, flow)
        label = flow.dest.label
        if v.rule is not None:
            deciders.append(v.rule)
            ev.append(rule_evidence(v.rule, f"{v.action}s {label} (TCP/HTTPS {flow.port})"))
        for u in v.undecided:
            deciders.append(u.rule)
        notes += [n for n in v.notes if n not in notes]
        if v.action == "deny":
            if v.rule is None:
                ev.append(
                    Evidence(
                        resource_id=holder,
                        property="rules",
                        value=label,
                        note="no rule allows it: the firewall's default deny applies",
                    )
                )
            if v.may_allow or v.notes:
                likely.append(label)
                if v.may_allow:
                    confirm.append(confirm_text(v.may_allow, rs))
            else:
                blocked.append(label)
                blocker = blocker or v.rule
        elif v.may_deny:
            likely.append(label)
            confirm.append(confirm_text(v.may_deny, rs))
    ev += ip_group_evidence(rs, [*deciders, *(r for r in rs.rules if r.ip_groups)])
    ev += [
        Evidence(resource_id=holder, property="dnsSettings.enableProxy", value=rs.settings.dns_proxy, note=n)
        for n in notes
    ]
    name = nu.name_of(f.firewall_id)
    if blocked or likely:
        fix = allow_commands(f, blocker)
        if notes:
            fix = f"{dns_proxy_command(f)}  # FQDNs in network rules need DNS proxy\n{fix}"
        what = ", ".join(blocked or likely)
        extra = f" (and maybe {', '.join(likely)})" if blocked and likely else ""
        confidence = "confirmed" if blocked else "likely"
        summary = (
            f"Azure Firewall {name} does not allow {what} from the node subnet{extra}"
            if blocked
            else f"Azure Firewall {name} likely does not allow {what} from the node subnet"
        )
        return result(
            SPEC,
            CheckStatus.FAIL,
            summary,
            evidence=tuple(ev),
            remediation=fix,
            confidence=confidence,
            confirm_by=None
            if blocked
            else ("; ".join(dict.fromkeys(confirm)) or "the firewall's AZFWNetworkRule logs for the node subnet"),
            docs=(
                *SPEC.docs,
                fw.DOC_RULE_PROCESSING,
                *((fw.DOC_DNS_PROXY,) if notes else ()),
                *((fw.DOC_IP_GROUPS,) if rs.ip_groups or rs.unreadable_ip_groups else ()),
            ),
        )
    return result(
        SPEC,
        CheckStatus.PASS,
        f"Azure Firewall {name} allows the {len(f.flows)} required AKS endpoints",
        evidence=tuple(ev),
    )


SPEC: CheckSpec[Facts] = CheckSpec(
    id="firewall_aks_fqdns",
    title="Azure Firewall allows the AKS required FQDNs",
    docs=(nu.DOC_EGRESS_RULES, nu.DOC_EGRESS, nu.DOC_OUTBOUND),
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.API_SERVER_CONNECTIVITY, Family.EGRESS}),
    relevance={
        "api_server_connectivity": 40,
        "api_server_connectivity/none": 85,
        "api_server_connectivity/timeout": 85,
        "api_server_connectivity/no_route": 60,
        "api_server_connectivity/tls": 100,
        "api_server_connectivity/certificate": 100,
        "egress": 95,
        "egress/proxy": 60,
        "egress/tls": 100,
    },
    resource_kinds=frozenset({ResourceKind.FIREWALL}),
    predicts={"default": "VMExtensionError_OutboundConnFail"},
)
