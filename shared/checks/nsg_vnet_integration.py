"""nsg_vnet_integration: do NSGs allow the traffic API Server VNet Integration needs?

Why: with API Server VNet Integration the API server sits behind an ILB in the delegated subnet.
The AKS doc: if NSGs restrict traffic, allow cluster (node) subnet -> API-server subnet TCP 443 and
4443, and AzureLoadBalancer -> API-server subnet TCP 9988. Evaluated as Azure does (checklib.nsgeval):
- outbound from each node subnet, through the node NICs' NSG (the AKS-managed aks-agentpool-*-nsg,
  attached through the scale set) and then the node subnet's NSG: TCP 443/4443 to the API-server
  subnet CIDR;
- inbound on the API-server subnet NSG: TCP 443/4443 from each node subnet CIDR, TCP 9988 from the
  AzureLoadBalancer tag (168.63.129.16).
Priorities, default rules, port ranges and protocols as the NSG walks them; an ASG rule is "cannot
evaluate: ASG membership". Not applicable without VNet integration or when the API-server subnet is
AKS-managed (`apiServerAccessProfile.subnetId` empty).
Doc: https://learn.microsoft.com/azure/aks/api-server-vnet-integration
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.armid import ResourceKind
from shared.checklib import netread, nsgeval, servicetags
from shared.checklib import netutil as nu
from shared.checklib.base import CheckContext, CheckSpec, NotApplicable, Skip, result
from shared.models import CheckResult, CheckStatus, Evidence, Family

NODE_PORTS = (443, 4443)
LB_PORT = 9988


@dataclass(frozen=True)
class Facts:
    cluster_id: str
    apiserver_subnet_id: str
    apiserver_prefixes: tuple[str, ...]
    apiserver_nsg_id: str | None
    apiserver_rules: tuple[nu.NsgRule, ...]
    node_subnets: tuple[nsgeval.NodeSubnetNsgs, ...]
    tags: servicetags.TagContext


async def gather(ctx: CheckContext) -> Facts:
    view = await netread.load_cluster(ctx)
    if not view.vnet_integration:
        raise NotApplicable("API Server VNet Integration is not enabled")
    if not view.apiserver_subnet_id:
        raise NotApplicable("the API server subnet is AKS-managed (apiServerAccessProfile.subnetId is empty); "
                            "AKS manages its NSG")
    api_subnet_id = view.apiserver_subnet_id

    async def nsg_rules(nsg_id: str) -> tuple[nu.NsgRule, ...]:
        return tuple(nu.nsg_rules(await ctx.get(nsg_id, netread.NET)))

    async def apiserver_side() -> tuple[dict[str, Any], str | None, netread.Captured[tuple[nu.NsgRule, ...]]]:
        subnet = await ctx.get_or_none(api_subnet_id, netread.NET)
        if subnet is None:
            raise Skip(f"the API server subnet {api_subnet_id} does not exist (see apiserver_subnet)")
        nsg_id = nu.ref_id(nu.props(subnet).get("networkSecurityGroup"))
        # An error reading this NSG surfaced after the node side's before: keep it for unwrap below.
        return subnet, nsg_id, (await netread.captured(nsg_rules(nsg_id)) if nsg_id else netread.Captured(value=()))

    # The API-server subnet -> NSG chain does not wait for the node subnets and their NSGs.
    (subnet, nsg_id, rules), nodes = await netread.in_order(apiserver_side(), nsgeval.node_subnet_nsgs(ctx, view))
    api_rules = netread.unwrap(rules)
    tags = await nsgeval.tag_context(ctx, view, [*api_rules, *(r for s in nodes for r in s.all_rules())])
    return Facts(view.id, api_subnet_id, tuple(nu.prefixes_of(nu.props(subnet))), nsg_id, api_rules, nodes, tags)


@dataclass(frozen=True)
class _Check:
    flow: nsgeval.Flow
    levels: tuple[nsgeval.NsgLevel, ...]
    notes: tuple[str, ...]
    source_prefixes: tuple[str, ...]
    destination_prefixes: tuple[str, ...]


def _checks(f: Facts) -> list[_Check]:
    nets = [n for n in (nu.parse_net(p) for p in f.apiserver_prefixes) if n is not None]
    api = nu.vnet_endpoint(f"API server subnet {nu.name_of(f.apiserver_subnet_id)}",
                           nets[0] if len(nets) == 1 else None)
    api_level = (nsgeval.NsgLevel(f.apiserver_nsg_id, "subnet", f.apiserver_rules, f.apiserver_subnet_id),) \
        if f.apiserver_nsg_id else ()
    out: list[_Check] = []
    for s in f.node_subnets:
        src = s.source()
        for port in NODE_PORTS:
            if s.levels() or s.notes:
                out.append(_Check(nsgeval.Flow("outbound", "tcp", port, src, api), s.levels(), s.notes,
                                  s.prefixes, f.apiserver_prefixes))
            if api_level:
                out.append(_Check(nsgeval.Flow("inbound", "tcp", port, src, api), api_level, (), s.prefixes,
                                  f.apiserver_prefixes))
    if api_level:
        out.append(_Check(nsgeval.Flow("inbound", "tcp", LB_PORT, nu.LOAD_BALANCER_PROBE, api), api_level, (),
                          ("AzureLoadBalancer",), f.apiserver_prefixes))
    return out


def evaluate(f: Facts) -> CheckResult:
    ev: list[Evidence] = [Evidence(resource_id=f.apiserver_subnet_id, property="properties.addressPrefix",
                                   value=list(f.apiserver_prefixes), note="API server subnet")]
    if not f.apiserver_nsg_id:
        ev.append(Evidence(resource_id=f.apiserver_subnet_id, property="properties.networkSecurityGroup",
                           value=None, note="no NSG on the API server subnet"))
    denied: list[tuple[_Check, nsgeval.FlowVerdict]] = []
    undecided: list[str] = []
    for c in _checks(f):
        v = nsgeval.evaluate_flow(c.flow, c.levels, f.tags, c.notes)
        ev += nsgeval.evidence(v)
        if v.status in ("deny", "deny_likely"):
            denied.append((c, v))
        elif v.status == "unknown":
            undecided.append(f"{c.flow.describe()}: {nsgeval.doubt_text(v)}")
    if denied:
        denied.sort(key=lambda cv: cv[1].status != "deny")
        lines = []
        for c, v in denied:
            b = v.blocking
            assert b is not None and b.rule is not None
            lines.append(nsgeval.fix_command(
                b, c.flow, name=f"AllowAksApiServer{c.flow.port}{'In' if c.flow.direction == 'inbound' else 'Out'}",
                sources=list(c.source_prefixes) or ["VirtualNetwork"],
                destinations=list(c.destination_prefixes) or ["VirtualNetwork"]))
        c, v = denied[0]
        b = v.blocking
        assert b is not None and b.rule is not None
        likely = b.confidence == "likely"
        more = f" (+{len(denied) - 1} more blocked flow(s))" if len(denied) > 1 else ""
        return result(SPEC, CheckStatus.FAIL,
                      f"{b.level.describe()} {'likely blocks' if likely else 'blocks'} {c.flow.direction} TCP "
                      f"{c.flow.port} from {c.flow.source.describe()} to the {c.flow.destination.describe()}: "
                      f"{b.rule.describe()}{more}",
                      evidence=tuple(ev), remediation="\n".join(dict.fromkeys(lines)),
                      confidence="likely" if likely else "confirmed",
                      confirm_by=nsgeval.confirm_text(b) if likely else None)
    if undecided:
        why = " | ".join(undecided)
        return result(SPEC, CheckStatus.SKIPPED, f"skipped: cannot tell whether these rules apply: {why}",
                      evidence=tuple(ev), reason=why)
    return result(SPEC, CheckStatus.PASS,
                  "NSGs allow node subnet -> API server subnet TCP 443/4443 and AzureLoadBalancer -> TCP 9988",
                  evidence=tuple(ev))

SPEC: CheckSpec[Facts] = CheckSpec(
    id="nsg_vnet_integration",
    title="NSGs allow API Server VNet Integration traffic (443/4443, 9988)",
    docs=(nu.DOC_VNET_INTEGRATION, nu.DOC_CONNFAIL),
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.API_SERVER_CONNECTIVITY, Family.SUBNET_IPS}),
    relevance={"api_server_connectivity": 65, "api_server_connectivity/timeout": 80,
               "api_server_connectivity/no_route": 70, "api_server_connectivity/refused": 60,
               "subnet_ips": 40},
    resource_kinds=frozenset({ResourceKind.NSG}),
    predicts={"default": "VMExtensionError_K8SAPIServerConnFail"},
)
