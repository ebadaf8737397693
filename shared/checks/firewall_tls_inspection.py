"""firewall_tls_inspection: does Azure Firewall Premium TLS inspection break the nodes' TLS?

Why: an allowing application rule with `terminateTLS: true` makes the firewall end the TLS session
and present a certificate it signs with the policy's intermediate CA
(`transportSecurity.certificateAuthority`). The kubelet and the node bootstrap (CSE) verify the API
server against the cluster CA, so when such a rule is the first match for the API server
(`*.hcp.<region>.azmk8s.io`, `*.azmk8s.io`, `*`, ...) bootstrap fails with exit 51 and a TLS or
certificate error (x509: certificate signed by unknown authority). For the other required
endpoints (mcr.microsoft.com, packages.microsoft.com, ...) the nodes fail the same way unless the
cluster trusts the firewall's CA (`securityProfile.customCATrustCertificates`).
Evaluated like firewall_aks_fqdns (shared.checklib.firewall): network rules come before every
application rule, so a network rule allowing the endpoint is a bypass; otherwise the first
matching application rule decides (base policy rules first). Applies only when the node subnet's
default route leads to an Azure Firewall whose rules have an application rule with terminateTLS.
A rule that may match (unreadable IP group, web category) gives a FAIL with confidence "likely".
Doc: https://learn.microsoft.com/azure/firewall/premium-features#tls-inspection
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.armid import ResourceKind
from shared.checklib import firewall as fw
from shared.checklib import firewallread
from shared.checklib import netutil as nu
from shared.checklib.base import CheckContext, CheckSpec, NotApplicable, result
from shared.models import CheckResult, CheckStatus, Evidence, Family


@dataclass(frozen=True)
class Facts:
    cluster_id: str
    firewall_id: str
    rules: fw.RuleSet
    flows: tuple[fw.Flow, ...]
    node_prefixes: tuple[str, ...]
    custom_ca_trust: bool  # securityProfile.customCATrustCertificates set: nodes trust extra CAs
    region: str


def _custom_ca(body: Mapping[str, Any]) -> bool:
    props = body.get("properties") if isinstance(body.get("properties"), Mapping) else {}
    sec = props.get("securityProfile") if isinstance(props, Mapping) else None
    certs = sec.get("customCATrustCertificates") if isinstance(sec, Mapping) else None
    return isinstance(certs, list) and len(certs) > 0


async def gather(ctx: CheckContext) -> Facts:
    path = await firewallread.firewall_on_path(ctx)
    rules = await firewallread.load_rules(ctx, path)
    tls_rules = [r for r in rules.rules if r.kind == "application" and r.terminate_tls]
    if not tls_rules:
        raise NotApplicable(f"no application rule of Azure Firewall {nu.name_of(path.firewall_id)} terminates TLS")
    sources = firewallread.flow_sources(path, ctx.facts.node_ip)
    dests = []
    if path.api_via_firewall:
        dests.append(firewallread.apiserver_destination(path, ctx.facts.api_server_ip))
    dests += fw.aks_required(path.view.region)
    body = await ctx.cluster() if not path.view.planned else {}
    return Facts(
        path.view.id,
        path.firewall_id,
        rules,
        tuple(fw.Flow(sources, d) for d in dests),
        path.node_prefixes,
        _custom_ca(body),
        path.view.region,
    )


def _policy_of(rule: fw.Rule, rs: fw.RuleSet) -> str | None:
    return next((p for p in rs.policy_chain if rule.where.lower().startswith(p.lower() + "/")), rs.policy_id)


def _bypass(f: Facts, rule: fw.Rule, dest: fw.Destination) -> str:
    sources = " ".join(f.node_prefixes) or "<node-subnet-cidr>"
    rs = f.rules
    if dest.apiserver and dest.public:
        target = f"AzureCloud.{f.region}" if f.region else "AzureCloud"
        what = "--destination-addresses " + target
    elif dest.apiserver:
        what = "--destination-addresses " + (str(dest.net) if dest.net is not None else "<api-server-subnet-cidr>")
    else:
        what = f"--target-fqdns {dest.label}"
    pid = _policy_of(rule, rs)
    if pid:
        rg, pol = nu.resource_group_of(pid), nu.name_of(pid)
        if dest.apiserver:
            # Network rules are evaluated before every application rule: a network allow bypasses the
            # inspection in any policy of the chain.
            return (
                f"az network firewall policy rule-collection-group create -g {rg} --policy-name {pol} "
                f"-n aks-apiserver-bypass --priority 150\n"
                f"az network firewall policy rule-collection-group collection add-filter-collection -g {rg} "
                f"--policy-name {pol} --rule-collection-group-name aks-apiserver-bypass -n aks-apiserver "
                f"--collection-priority 100 --action Allow --rule-type NetworkRule --rule-name apiserver-443 "
                f"--ip-protocols TCP --source-addresses {sources} {what} --destination-ports 443\n"
                f"# or turn TLS inspection off on {rule.collection}/{rule.name} in {rule.where}"
            )
        return (
            f"# turn TLS inspection off on {rule.collection}/{rule.name} in {rule.where} for {dest.label}, or add "
            f"before it (same policy {pol}, lower group priority than {rule.order[1]}):\n"
            f"az network firewall policy rule-collection-group create -g {rg} --policy-name {pol} "
            f"-n aks-tls-bypass --priority {max(100, rule.order[1] - 1)}\n"
            f"az network firewall policy rule-collection-group collection add-filter-collection -g {rg} "
            f"--policy-name {pol} --rule-collection-group-name aks-tls-bypass -n aks-no-tls "
            f"--collection-priority 100 --action Allow --rule-type ApplicationRule --rule-name aks-required "
            f"--protocols Https=443 --source-addresses {sources} --fqdn-tags AzureKubernetesService"
        )
    return f"# classic rules cannot terminate TLS; move {rule.collection}/{rule.name} off the node subnet"


def evaluate(f: Facts) -> CheckResult:
    rs = f.rules
    ev: list[Evidence] = []
    if rs.settings.tls_ca:
        ev.append(
            Evidence(
                resource_id=rs.policy_id,
                property="properties.transportSecurity.certificateAuthority",
                value=rs.settings.tls_ca,
                note=f"policy tier {rs.settings.tier or '?'}",
            )
        )
    broken: list[tuple[fw.Flow, fw.Rule, bool]] = []  # (flow, the TLS rule, proven)
    confirm: list[str] = []
    spared: list[str] = []
    for flow in f.flows:
        v = fw.decide(rs, flow)
        maybe = [u for u in v.undecided if u.rule.effect == ("allow", True)]
        if v.intercepted and v.rule is not None:
            tls_rule, proven = v.rule, v.certain
            if not proven:
                confirm += [f"whether {u.rule.describe()} matches first ({u.why})" for u in v.undecided]
        elif maybe and v.action == "allow":
            tls_rule, proven = maybe[0].rule, False
            confirm.append(f"whether {tls_rule.describe()} matches {flow.dest.label} ({maybe[0].why})")
        else:
            if v.rule is not None and flow.dest.apiserver:
                ev.append(
                    Evidence(
                        resource_id=v.rule.where,
                        property=f"{v.rule.kind} rule {v.rule.collection}/{v.rule.name}",
                        value=v.rule.describe(),
                        note=f"decides {flow.dest.label} without TLS inspection",
                    )
                )
            continue
        if not flow.dest.apiserver and f.custom_ca_trust:
            spared.append(flow.dest.label)
            continue
        broken.append((flow, tls_rule, proven))
    by_rule: dict[tuple[str, str, str], list[fw.Flow]] = {}
    for flow, rule, _ in broken:
        by_rule.setdefault((rule.where, rule.collection, rule.name), []).append(flow)
    for (where, coll, rname), flows in by_rule.items():
        ev.append(
            Evidence(
                resource_id=where,
                property=f"application rule {coll}/{rname}.terminateTLS",
                value=True,
                note="first match for "
                + ", ".join(f"{x.dest.label} ({x.dest.host})" for x in flows)
                + ": the firewall re-signs the server certificate",
            )
        )
    if spared:
        ev.append(
            Evidence(
                resource_id=f.cluster_id,
                property="properties.securityProfile.customCATrustCertificates",
                value="set",
                note=f"nodes may trust the firewall CA for {', '.join(spared)}",
            )
        )
    name = nu.name_of(f.firewall_id)
    if not broken:
        return result(
            SPEC,
            CheckStatus.PASS,
            f"Azure Firewall {name} does not inspect TLS of the API server or the AKS required endpoints "
            "(a network rule or a non-inspecting application rule decides first)",
            evidence=tuple(ev),
        )
    broken.sort(key=lambda b: (not b[0].dest.apiserver, not b[2]))
    first_flow, first_rule, _ = broken[0]
    any_proven = any(b[2] for b in broken)
    labels = ", ".join(b[0].dest.label for b in broken)
    api = first_flow.dest.apiserver
    summary = (
        f"Azure Firewall {name} terminates TLS for {labels} ({first_rule.describe()}): nodes get a "
        f"certificate signed by the firewall's CA{' instead of the cluster CA' if api else ''}, "
        "so their TLS handshake fails"
    )
    if not any_proven:
        summary = "likely: " + summary
    fixes = list(dict.fromkeys(_bypass(f, rule, flow.dest) for flow, rule, _ in broken[:3]))
    return result(
        SPEC,
        CheckStatus.FAIL,
        summary,
        evidence=tuple(ev),
        remediation="\n".join(fixes),
        confidence="confirmed" if any_proven else "likely",
        confirm_by=None
        if any_proven
        else "; ".join(
            dict.fromkeys([*confirm, "the firewall's AZFWApplicationRule logs (IsTlsInspected) for the node subnet"])
        ),
    )


SPEC: CheckSpec[Facts] = CheckSpec(
    id="firewall_tls_inspection",
    title="Azure Firewall Premium TLS inspection does not intercept the nodes' TLS",
    docs=(fw.DOC_TLS_INSPECTION, nu.DOC_EGRESS_RULES, nu.DOC_CONNFAIL),
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.API_SERVER_CONNECTIVITY, Family.EGRESS}),
    relevance={
        "api_server_connectivity": 30,
        "api_server_connectivity/tls": 95,
        "api_server_connectivity/certificate": 100,
        "api_server_connectivity/refused": 40,
        "egress": 40,
        "egress/tls": 95,
        "egress/certificate": 100,
    },
    resource_kinds=frozenset({ResourceKind.FIREWALL}),
)
