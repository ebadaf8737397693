"""nsg_apiserver_egress: do the NSGs on the node's path let TCP 443 out to the API server?

Why: an outbound Deny hit before any Allow silently drops the node -> API server connection
(exit 51 "Connection timed out"; UpgradeBlockedByNSG). Azure applies two NSGs to a node's outbound
traffic, the NIC's first (the AKS-managed `aks-agentpool-*-nsg`, attached through the scale set's
network interface configuration), then the subnet's; both must allow (checklib.nsgeval). Each is
walked in priority order over `securityRules` + `defaultSecurityRules`: protocol Tcp/*, port 443 in
`destinationPortRange(s)`, destination prefixes as CIDRs, ranges or service tags (resolved from the
service tag list when a rule names one). The destination is the API server as the nodes see it:
the ILB in the API-server subnet (VNet integration), the kube-apiserver private endpoint (private
cluster) or the public endpoint (its IP from the error when quoted). A deny decided only by what a
tag means (the list unreadable, or the address unknown) is a likely cause, with the command that
confirms it. A UDR 0.0.0.0/0 puts every address in the VirtualNetwork tag (documented).
Doc: https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/vmextensionerror-k8sapiserverconnfail
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.armid import ResourceKind
from shared.checklib import netread, nsgeval, servicetags
from shared.checklib import netutil as nu
from shared.checklib.base import CheckContext, CheckSpec, result
from shared.models import CheckResult, CheckStatus, Evidence, Family

PORT = 443


@dataclass(frozen=True)
class Facts:
    cluster_id: str
    region: str
    path_kind: str
    destination: nu.Endpoint
    path_evidence: tuple[Evidence, ...]
    subnets: tuple[nsgeval.NodeSubnetNsgs, ...]
    tags: servicetags.TagContext


async def gather(ctx: CheckContext) -> Facts:
    view = await netread.load_cluster(ctx)
    subnets, path = await netread.in_order(nsgeval.node_subnet_nsgs(ctx, view), netread.apiserver_path(ctx, view))
    tags = await nsgeval.tag_context(ctx, view, [r for s in subnets for r in s.all_rules()])
    return Facts(view.id, view.region, path.kind, path.endpoint, path.evidence, subnets, tags)


def rule_destination(f: Facts) -> str:
    if f.destination.net is not None:
        return str(f.destination.net)
    return f"AzureCloud.{f.region}" if f.path_kind == "public" and f.region else "VirtualNetwork"


def evaluate(f: Facts) -> CheckResult:
    ev: list[Evidence] = list(f.path_evidence)
    if f.tags.unreadable:
        ev.append(Evidence(resource_id=f.tags.source_id or None, property="values[].properties.addressPrefixes",
                           value=None, note=f.tags.unreadable))
    blocked: list[tuple[nsgeval.NodeSubnetNsgs, nsgeval.FlowVerdict]] = []
    undecided: list[str] = []
    for s in f.subnets:
        if not s.levels():
            ev.append(Evidence(resource_id=s.subnet_id, property="properties.networkSecurityGroup", value=None,
                               note="no NSG on the node subnet or the node NICs"))
        flow = nsgeval.Flow("outbound", "tcp", PORT, s.source(), nsgeval.with_udr_tags(f.destination, s.udr_prefixes))
        v = nsgeval.evaluate_flow(flow, s.levels(), f.tags, s.notes)
        ev += nsgeval.evidence(v, f"TCP {PORT} from {nu.name_of(s.subnet_id)} to the {f.destination.describe()}")
        if v.status in ("deny", "deny_likely"):
            blocked.append((s, v))
        elif v.status == "unknown":
            undecided.append(nsgeval.doubt_text(v))
    blocked.sort(key=lambda sv: sv[1].status != "deny")  # proven denies first
    if blocked:
        s, v = blocked[0]
        b = v.blocking
        assert b is not None and b.rule is not None
        cmd = nsgeval.fix_command(b, v.flow, name="AllowAksApiServer443",
                                  sources=list(s.prefixes) or ["VirtualNetwork"], destinations=[rule_destination(f)])
        likely = b.confidence == "likely"
        return result(SPEC, CheckStatus.FAIL,
                      f"{b.level.describe()} on node subnet {nu.name_of(s.subnet_id)} "
                      f"{'likely denies' if likely else 'denies'} TCP {PORT} to the {f.destination.describe()}: "
                      f"{b.rule.describe()}",
                      evidence=tuple(ev), remediation=cmd, confidence="likely" if likely else "confirmed",
                      confirm_by=nsgeval.confirm_text(b) if likely else None, docs=(*SPEC.docs, nsgeval.DOC_NSG))
    if undecided:
        why = " | ".join(undecided)
        return result(SPEC, CheckStatus.SKIPPED, f"skipped: cannot tell whether these rules apply: {why}",
                      evidence=tuple(ev), reason=why)
    levels = sum(len(s.levels()) for s in f.subnets)
    return result(SPEC, CheckStatus.PASS,
                  f"TCP {PORT} to the {f.destination.describe()} is allowed"
                  + (f" by {levels} NSG(s) on the node path" if levels else " (no NSG on the node subnets or NICs)"),
                  evidence=tuple(ev))


SPEC: CheckSpec[Facts] = CheckSpec(
    id="nsg_apiserver_egress",
    title="Node NSGs (NIC and subnet) allow TCP 443 to the API server",
    docs=(nu.DOC_CONNFAIL, nu.DOC_EGRESS),
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.API_SERVER_CONNECTIVITY, Family.EGRESS, Family.DNS}),
    relevance={"api_server_connectivity": 70, "api_server_connectivity/none": 95, "api_server_connectivity/timeout": 95,
               "api_server_connectivity/no_route": 50, "api_server_connectivity/refused": 30, "egress": 70,
               "dns": 25},
    resource_kinds=frozenset({ResourceKind.NSG}),
    predicts={"default": "VMExtensionError_K8SAPIServerConnFail"},
)
