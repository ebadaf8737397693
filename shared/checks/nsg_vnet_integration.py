"""nsg_vnet_integration: do NSGs allow the traffic API Server VNet Integration needs?

Why: with API Server VNet Integration the API server sits behind an ILB in the delegated subnet.
The AKS doc: if NSGs restrict traffic, allow cluster (node) subnet -> API-server subnet TCP 443 and
4443, and AzureLoadBalancer -> API-server subnet TCP 9988. Walks, in priority order
(securityRules + defaultSecurityRules):
- Outbound on each node-subnet NSG: TCP 443/4443 to the API-server subnet CIDR.
- Inbound on the API-server subnet NSG: TCP 443/4443 from each node subnet CIDR, TCP 9988 from
  the AzureLoadBalancer tag (168.63.129.16).
Not applicable without VNet integration or when the API-server subnet is AKS-managed
(`apiServerAccessProfile.subnetId` empty).
Doc: https://learn.microsoft.com/azure/aks/api-server-vnet-integration
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.armid import ResourceKind
from shared.checklib import netread
from shared.checklib import netutil as nu
from shared.checklib.base import CheckContext, CheckSpec, NotApplicable, Skip, result
from shared.checks.nsg_apiserver_egress import SubnetNsg, source_endpoint, subnet_nsgs
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
    node_subnets: tuple[SubnetNsg, ...]


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

    async def apiserver_side() -> tuple[dict[str, Any], str | None, tuple[nu.NsgRule, ...] | Exception]:
        subnet = await ctx.get_or_none(api_subnet_id, netread.NET)
        if subnet is None:
            raise Skip(f"the API server subnet {api_subnet_id} does not exist (see apiserver_subnet)")
        nsg_id = nu.ref_id(nu.props(subnet).get("networkSecurityGroup"))
        # An error reading this NSG surfaced after the node side's before: keep it for unwrap below.
        return subnet, nsg_id, (await netread.captured(nsg_rules(nsg_id)) if nsg_id else ())

    # The API-server subnet -> NSG chain does not wait for the node subnets and their NSGs.
    (subnet, nsg_id, rules), nodes = await netread.in_order(apiserver_side(), subnet_nsgs(ctx, view))
    return Facts(view.id, api_subnet_id, tuple(nu.prefixes_of(nu.props(subnet))), nsg_id,
                 netread.unwrap(rules), nodes)


@dataclass(frozen=True)
class _Flow:
    nsg_id: str
    rules: tuple[nu.NsgRule, ...]
    direction: str
    port: int
    source: nu.Endpoint
    destination: nu.Endpoint
    source_prefixes: tuple[str, ...]
    destination_prefixes: tuple[str, ...]


def _flows(f: Facts) -> list[_Flow]:
    nets = [n for n in (nu.parse_net(p) for p in f.apiserver_prefixes) if n is not None]
    api = nu.vnet_endpoint(f"API server subnet {nu.name_of(f.apiserver_subnet_id)}",
                           nets[0] if len(nets) == 1 else None)
    out: list[_Flow] = []
    for s in f.node_subnets:
        src = source_endpoint(s)
        for port in NODE_PORTS:
            if s.nsg_id:
                out.append(_Flow(s.nsg_id, s.rules, "outbound", port, src, api, s.prefixes, f.apiserver_prefixes))
            if f.apiserver_nsg_id:
                out.append(_Flow(f.apiserver_nsg_id, f.apiserver_rules, "inbound", port, src, api, s.prefixes,
                                 f.apiserver_prefixes))
    if f.apiserver_nsg_id:
        out.append(_Flow(f.apiserver_nsg_id, f.apiserver_rules, "inbound", LB_PORT, nu.LOAD_BALANCER_PROBE, api,
                         ("AzureLoadBalancer",), f.apiserver_prefixes))
    return out


def evaluate(f: Facts) -> CheckResult:
    ev: list[Evidence] = [Evidence(resource_id=f.apiserver_subnet_id, property="properties.addressPrefix",
                                   value=list(f.apiserver_prefixes), note="API server subnet")]
    if not f.apiserver_nsg_id:
        ev.append(Evidence(resource_id=f.apiserver_subnet_id, property="properties.networkSecurityGroup",
                           value=None, note="no NSG on the API server subnet"))
    denied: list[tuple[_Flow, nu.NsgVerdict]] = []
    undecided: list[str] = []
    for fl in _flows(f):
        v = nu.nsg_walk(fl.rules, direction=fl.direction, protocol="tcp", port=fl.port, source=fl.source,
                        destination=fl.destination)
        what = f"{fl.direction} TCP {fl.port} {fl.source.describe()} -> {fl.destination.describe()}"
        if v.rule is not None:
            ev.append(Evidence(resource_id=v.rule.id or fl.nsg_id,
                               property="properties.defaultSecurityRules" if v.rule.default
                               else "properties.securityRules", value=v.rule.as_value(),
                               note=f"NSG {nu.name_of(fl.nsg_id)} {v.access}s {what}"))
        if v.access == "deny" and v.certain:
            denied.append((fl, v))
        elif not v.certain:
            undecided.append(f"NSG {nu.name_of(fl.nsg_id)} {what}: "
                             + ("; ".join(r.describe() for r in v.undecided) or "no rule decided"))
    if denied:
        lines = []
        for fl, v in denied:
            assert v.rule is not None
            lines.append(nu.nsg_allow_command(
                fl.nsg_id, fl.rules, direction=fl.direction, before=v.rule.priority,
                name=f"AllowAksApiServer{fl.port}{'In' if fl.direction == 'inbound' else 'Out'}", protocol="Tcp",
                sources=list(fl.source_prefixes) or ["VirtualNetwork"],
                destinations=list(fl.destination_prefixes) or ["VirtualNetwork"], ports=[str(fl.port)]))
        fl, v = denied[0]
        assert v.rule is not None
        more = f" (+{len(denied) - 1} more blocked flow(s))" if len(denied) > 1 else ""
        return result(SPEC, CheckStatus.FAIL,
                      f"NSG {nu.name_of(fl.nsg_id)} blocks {fl.direction} TCP {fl.port} from {fl.source.describe()} "
                      f"to the {fl.destination.describe()}: {v.rule.describe()}{more}",
                      evidence=tuple(ev), remediation="\n".join(dict.fromkeys(lines)))
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
)
