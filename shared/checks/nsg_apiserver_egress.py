"""nsg_apiserver_egress: does the node subnet's NSG let TCP 443 out to the API server?

Why: an outbound Deny hit before any Allow silently drops the node -> API server connection
(exit 51 "Connection timed out"; UpgradeBlockedByNSG). The walk is the NSG's own: `securityRules`
and `defaultSecurityRules` of direction Outbound in priority order, protocol Tcp/*, destination
port 443 in `destinationPortRange(s)` (lists, ranges "400-500", "*"), destination prefix(es) as
CIDRs or service tags (Internet, VirtualNetwork, AzureCloud[.region], AzureLoadBalancer). The
destination is the API server as the nodes see it: the ILB in the API-server subnet (VNet
integration), the kube-apiserver private endpoint (private cluster) or the public endpoint (IP from
the error when quoted, else only its service tags are known). A UDR 0.0.0.0/0 puts every address
in the VirtualNetwork tag (documented), which the default AllowVnetOutBound then matches.
Doc: https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/vmextensionerror-k8sapiserverconnfail
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from shared.armid import ResourceKind
from shared.checklib import netread
from shared.checklib import netutil as nu
from shared.checklib.base import CheckContext, CheckSpec, result
from shared.checklib.clusterview import ClusterView
from shared.models import CheckResult, CheckStatus, Evidence, Family

PORT = 443


@dataclass(frozen=True)
class SubnetNsg:
    subnet_id: str
    prefixes: tuple[str, ...]
    nsg_id: str | None
    rules: tuple[nu.NsgRule, ...] = ()
    udr_prefixes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Facts:
    cluster_id: str
    region: str
    path_kind: str
    destination: nu.Endpoint
    path_evidence: tuple[Evidence, ...]
    subnets: tuple[SubnetNsg, ...]


async def subnet_nsgs(ctx: CheckContext, view: ClusterView) -> tuple[SubnetNsg, ...]:
    """NSG and route prefixes of every node subnet (shared with nsg_vnet_integration)."""
    netread.require_byo_vnet(view, "the node subnet NSG")
    subnets = await netread.node_subnets(ctx, view)
    nsg_ids = [nu.ref_id(nu.props(s).get("networkSecurityGroup")) for s in subnets]
    rt_ids = [nu.ref_id(nu.props(s).get("routeTable")) for s in subnets]
    nsgs, rts = await netread.in_order(netread.get_all(ctx, [i for i in nsg_ids if i]),
                                       netread.get_all_or_none(ctx, [i for i in rt_ids if i]))
    by_nsg = {nu.norm_id(i): b for i, b in zip([i for i in nsg_ids if i], nsgs, strict=True)}
    by_rt = {nu.norm_id(i): b for i, b in zip([i for i in rt_ids if i], rts, strict=True)}
    out: list[SubnetNsg] = []
    for sid, sn, nsg_id, rt_id in zip(view.node_subnet_ids, subnets, nsg_ids, rt_ids, strict=True):
        rules = tuple(nu.nsg_rules(by_nsg[nu.norm_id(nsg_id)])) if nsg_id else ()
        routes = nu.udr_routes(by_rt.get(nu.norm_id(rt_id)) or {}) if rt_id else []
        out.append(SubnetNsg(sid, tuple(nu.prefixes_of(nu.props(sn))), nsg_id, rules,
                             tuple(r.prefix for r in routes)))
    return tuple(out)


async def gather(ctx: CheckContext) -> Facts:
    view = await netread.load_cluster(ctx)
    subnets, path = await netread.in_order(subnet_nsgs(ctx, view), netread.apiserver_path(ctx, view))
    return Facts(view.id, view.region, path.kind, path.endpoint, path.evidence, subnets)


def source_endpoint(s: SubnetNsg) -> nu.Endpoint:
    nets = [n for n in (nu.parse_net(p) for p in s.prefixes) if n is not None]
    return nu.vnet_endpoint(f"node subnet {nu.name_of(s.subnet_id)}", nets[0] if len(nets) == 1 else None)


def with_udr_tags(dest: nu.Endpoint, udr_prefixes: tuple[str, ...]) -> nu.Endpoint:
    """UDR prefixes are part of the VirtualNetwork service tag."""
    for p in udr_prefixes:
        net = nu.parse_net(p)
        if net is not None and (net.prefixlen == 0 or (dest.net is not None and nu.contains(net, dest.net))):
            return replace(dest, tags=dest.tags | {"virtualnetwork"})
    return dest


def rule_destination(f: Facts) -> str:
    if f.destination.net is not None:
        return str(f.destination.net)
    return f"AzureCloud.{f.region}" if f.path_kind == "public" and f.region else "VirtualNetwork"


def evaluate(f: Facts) -> CheckResult:
    ev: list[Evidence] = list(f.path_evidence)
    denied: list[tuple[SubnetNsg, nu.NsgVerdict]] = []
    undecided: list[str] = []
    for s in f.subnets:
        if s.nsg_id is None:
            ev.append(Evidence(resource_id=s.subnet_id, property="properties.networkSecurityGroup", value=None,
                               note="no NSG on the node subnet"))
            continue
        dest = with_udr_tags(f.destination, s.udr_prefixes)
        v = nu.nsg_walk(s.rules, direction="outbound", protocol="tcp", port=PORT,
                        source=source_endpoint(s), destination=dest)
        if v.rule is not None:
            ev.append(Evidence(resource_id=v.rule.id or s.nsg_id, property="properties.securityRules"
                               if not v.rule.default else "properties.defaultSecurityRules",
                               value=v.rule.as_value(),
                               note=f"decides TCP {PORT} from {nu.name_of(s.subnet_id)} to {dest.describe()}"))
        for r in v.undecided:
            ev.append(Evidence(resource_id=r.id or s.nsg_id, property="properties.securityRules", value=r.as_value(),
                               note="may apply: the destination address is not known exactly"))
        if v.access == "deny" and v.certain:
            denied.append((s, v))
        elif not v.certain:
            undecided.append(f"NSG {nu.name_of(s.nsg_id)}: " + "; ".join(r.describe() for r in v.undecided))
    if denied:
        s, v = denied[0]
        assert v.rule is not None and s.nsg_id is not None
        cmd = nu.nsg_allow_command(s.nsg_id, s.rules, direction="outbound", before=v.rule.priority,
                                   name="AllowAksApiServer443", protocol="Tcp",
                                   sources=list(s.prefixes) or ["VirtualNetwork"],
                                   destinations=[rule_destination(f)], ports=[str(PORT)])
        return result(SPEC, CheckStatus.FAIL,
                      f"NSG {nu.name_of(s.nsg_id)} on subnet {nu.name_of(s.subnet_id)} denies TCP {PORT} to the "
                      f"{f.destination.describe()}: {v.rule.describe()}",
                      evidence=tuple(ev), remediation=cmd)
    if undecided:
        why = " | ".join(undecided)
        return result(SPEC, CheckStatus.SKIPPED, f"skipped: cannot tell whether these rules apply: {why}",
                      evidence=tuple(ev), reason=why)
    with_nsg = [s for s in f.subnets if s.nsg_id]
    return result(SPEC, CheckStatus.PASS,
                  f"TCP {PORT} to the {f.destination.describe()} is allowed"
                  + (f" by {len(with_nsg)} node-subnet NSG(s)" if with_nsg else " (no NSG on the node subnets)"),
                  evidence=tuple(ev))


SPEC: CheckSpec[Facts] = CheckSpec(
    id="nsg_apiserver_egress",
    title="Node subnet NSG allows TCP 443 to the API server",
    docs=(nu.DOC_CONNFAIL, nu.DOC_EGRESS),
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.API_SERVER_CONNECTIVITY, Family.EGRESS, Family.DNS}),
    relevance={"api_server_connectivity": 70, "api_server_connectivity/none": 95, "api_server_connectivity/timeout": 95,
               "api_server_connectivity/no_route": 50, "api_server_connectivity/refused": 30, "egress": 70,
               "dns": 25},
    resource_kinds=frozenset({ResourceKind.NSG}),
)
