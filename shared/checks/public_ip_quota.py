"""public_ip_quota: the public IPs the operation asks for against the region's Public IP address quota.

Reads GET /subscriptions/{s}/providers/Microsoft.Network/locations/{region}/usages (network
2024-05-01) -> value[name.value == "PublicIPAddresses" | "StandardSkuPublicIpAddresses"]
.{currentValue, limit}, and the cluster through ClusterView (or the planned body of a pre-flight)
for what asks for public IPs: the requested managed outbound IP count of the load balancer
(networkProfile.loadBalancerProfile.managedOutboundIPs.count) or of the managed NAT gateway
(natGatewayProfile.managedOutboundIPProfile.count) beyond the IPs already in effectiveOutboundIPs
(all of them for a create), and pools with enableNodePublicIP (one IP per node: the pool's count
for a create, the surge nodes for an upgrade, one node for a scale).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.armid import ResourceKind
from shared.checklib import azrefs as az
from shared.checklib.base import API, CheckContext, CheckSpec, Skip, result
from shared.checklib.clusterview import ClusterView
from shared.models import CheckResult, CheckStatus, Evidence, Family

DOCS = (
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/publicipcountlimitreached-error",
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/create-upgrade-delete/error-code-publicipcountlimitreached",
    "https://learn.microsoft.com/azure/aks/load-balancer-standard#scale-the-number-of-managed-outbound-public-ips",
)
COUNTERS = ("PublicIPAddresses", "StandardSkuPublicIpAddresses")


@dataclass(frozen=True)
class Need:
    count: int
    why: str
    property: str | None = None
    value: int | None = None


@dataclass(frozen=True)
class Facts:
    subscription_id: str
    cluster_id: str
    resource_group: str
    cluster_name: str
    region: str
    usages_id: str
    usages: tuple[az.Usage, ...]
    needs: tuple[Need, ...]
    managed_outbound_ips: int | None

    vcpu_error: bool = False  # the error's quota facts are a vCPU family / regional vCPUs: not public IPs
    pip_error: bool = False  # the error's quota facts name a public IP counter (PublicIPCountLimitReached)

    @property
    def need(self) -> int:
        return sum(n.count for n in self.needs)


def _needs(v: ClusterView | None, verb: str, target: str | None) -> list[Need]:
    if v is None:
        return []
    new = verb == "create" and target is None  # a new cluster: every outbound IP is new
    out: list[Need] = []
    lb_prop = "properties.networkProfile.loadBalancerProfile.managedOutboundIPs.count"
    if v.outbound_type.casefold() == "loadbalancer":
        asked = v.lb_managed_outbound_ips if v.lb_managed_outbound_ips is not None else (
            1 if new and not v.lb_outbound_ip_ids and not v.lb_outbound_prefix_ids else None)
        have = 0 if new else len(v.lb_effective_outbound_ip_ids)
        if asked is not None and asked > have:
            out.append(Need(asked - have, f"load balancer managed outbound IPs: {asked} requested, {have} in effect",
                            lb_prop, asked))
    nat_prop = "properties.networkProfile.natGatewayProfile.managedOutboundIPProfile.count"
    if v.outbound_type.casefold() == "managednatgateway":
        asked = v.nat_managed_outbound_ips if v.nat_managed_outbound_ips is not None else (1 if new else None)
        have = 0 if new else len(v.nat_effective_outbound_ip_ids)
        if asked is not None and asked > have:
            out.append(Need(asked - have, f"NAT gateway managed outbound IPs: {asked} requested, {have} in effect",
                            nat_prop, asked))
    for p in v.pools:
        if not p.node_public_ip or (target and p.name.casefold() != target.casefold()):
            continue
        if verb == "create":  # a new cluster or a new pool
            n, how = p.count or 1, f"{p.count or 1} node(s)"
        elif verb == "upgrade":
            n = p.surge_nodes(cluster_version=v.kubernetes_version)
            how = f"{n} surge node(s) (maxSurge {p.max_surge or 'unset: AKS default'})"
        else:
            n, how = 1, "at least one new node"
        out.append(Need(max(n, 1), f"pool {p.name} gives every node a public IP (enableNodePublicIP): {how}",
                        f"properties.agentPoolProfiles[{p.name}].enableNodePublicIP", None))
    return out


def _vcpu_quota_error(ctx: CheckContext) -> bool:
    q = ctx.facts.quota
    fam = (q.family or "").replace(" ", "").casefold() if q else ""
    return bool(q) and (bool(q and q.regional) or fam.endswith("family") or fam in ("cores", "lowprioritycores"))


def _pip_quota_error(ctx: CheckContext) -> bool:
    q = ctx.facts.quota
    fam = (q.family or "").replace(" ", "").casefold() if q else ""
    return fam in {c.casefold() for c in COUNTERS}


async def gather(ctx: CheckContext) -> Facts:
    v = await ctx.view_or_none()
    region = az.normalize_region((v.region if v else "") or ctx.facts.region or "")
    if not region:
        raise Skip("region unknown: the cluster could not be read and the error names no location")
    uid = f"/subscriptions/{ctx.operation.subscription_id}/providers/Microsoft.Network/locations/{region}/usages"
    body = await ctx.get(uid, API["network"])
    found = tuple(u for u in (az.find_usage(body, c) for c in COUNTERS) if u is not None)
    target = ctx.operation.agent_pool
    if target is None and v is not None and v.target_pool is not None and ctx.operation.verb != "create":
        target = v.target_pool.name  # a cluster create makes every pool; otherwise the pool that failed
    return Facts(ctx.operation.subscription_id, v.id if v else ctx.operation.cluster_id, ctx.operation.resource_group,
                 ctx.operation.cluster_name, region, uid, found, tuple(_needs(v, ctx.operation.verb, target)),
                 v.lb_managed_outbound_ips if v else None,
                 vcpu_error=_vcpu_quota_error(ctx), pip_error=_pip_quota_error(ctx))


def _fix(f: Facts, u: az.Usage, need: int, lower: str) -> str:
    return ("find unattached public IPs and delete the ones you do not need:\n"
            f"az network public-ip list --subscription {f.subscription_id} --query "
            f"\"[?location=='{f.region}' && ipConfiguration==null && natGateway==null].id\" -o tsv\n"
            f"{lower}"
            "or raise the limit:\n"
            f"az quota update --resource-name {u.name} --scope /subscriptions/{f.subscription_id}/providers/"
            f"Microsoft.Network/locations/{f.region} --limit-object value={u.current + max(need, 10)} "
            f"--resource-type PublicIpAddresses")


def evaluate(f: Facts) -> CheckResult:
    if not f.usages:
        why = f"no PublicIPAddresses counter in {f.usages_id}"
        return result(SPEC, CheckStatus.SKIPPED, f"skipped: {why}", reason=why)
    why = "; ".join(n.why for n in f.needs) or "nothing in the cluster body asks for a new public IP"
    ev = [Evidence(resource_id=f.usages_id, property=f"value[name.value=='{u.name}']",
                   value={"currentValue": u.current, "limit": u.limit}, note=f"{u.free} free; need {f.need}: {why}")
          for u in f.usages]
    if f.managed_outbound_ips is not None and not any(n.value == f.managed_outbound_ips for n in f.needs):
        ev.append(Evidence(resource_id=f.cluster_id,
                           property="properties.networkProfile.loadBalancerProfile.managedOutboundIPs.count",
                           value=f.managed_outbound_ips))
    for n in f.needs:
        if n.property:
            ev.append(Evidence(resource_id=f.cluster_id, property=n.property,
                               value=n.value if n.value is not None else True, note=n.why))
    if f.need == 0:
        full = [u for u in f.usages if u.free <= 0]
        if full and f.vcpu_error:
            u = full[0]
            return result(SPEC, CheckStatus.PASS, f"the error is about vCPU quota and nothing in this operation asks "
                                                  f"for a public IP ({u.localized} {u.current}/{u.limit} in "
                                                  f"{f.region})", evidence=tuple(ev))
    if f.need == 0 and (full := [u for u in f.usages if u.free <= 0]):
        u = full[0]
        if f.pip_error:  # the error names this counter and ARM shows it full: proven
            return result(SPEC, CheckStatus.FAIL,
                          f"public IP quota reached in {f.region}: {u.localized} {u.current}/{u.limit}, need 1 more",
                          evidence=tuple(ev), blocks_request=True, remediation=_fix(f, u, 1, ""))
        return result(
            SPEC, CheckStatus.FAIL,
            f"public IP quota reached in {f.region}: {u.localized} {u.current}/{u.limit}, need 1 more",
            evidence=tuple(ev), confidence="likely",
            confirm_by="what asks for the public IP is not in the cluster body (a rejected request's outbound IP "
                       "count, a Service of type LoadBalancer): the quota is exhausted, so any new one fails",
            remediation=_fix(f, u, 1, ""))
    short = [u for u in f.usages if u.free < f.need]
    if short:
        u = short[0]
        asked = [n for n in f.needs if n.value is not None]
        lower = ""
        if asked and asked[0].property and "loadBalancerProfile" in asked[0].property:
            lower = (f"or ask for fewer outbound IPs: az aks update -g {f.resource_group} -n {f.cluster_name} "
                     f"--load-balancer-managed-outbound-ip-count {max(1, asked[0].value - (f.need - u.free))}\n"
                     if asked[0].value is not None and asked[0].value - (f.need - u.free) >= 1 else "")
        return result(
            SPEC, CheckStatus.FAIL,
            f"public IP quota reached in {f.region}: {u.localized} {u.current}/{u.limit}, need {f.need} more",
            evidence=tuple(ev), blocks_request=bool(f.needs),
            remediation=_fix(f, u, f.need, lower))
    u = f.usages[0]
    return result(SPEC, CheckStatus.PASS, f"public IP quota has room in {f.region}: {u.current}/{u.limit} used, "
                                          f"need {f.need}", evidence=tuple(ev))


SPEC: CheckSpec[Facts] = CheckSpec(
    id="public_ip_quota",
    title="Public IP address quota",
    docs=DOCS,
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.QUOTA, Family.EGRESS}),
    relevance={"quota": 95, "egress": 30},
    targets=("loadBalancerProfile.managedOutboundIPs.count", "managedOutboundIPProfile.count",
             "agentPoolProfiles.enableNodePublicIP"),
    resource_kinds=frozenset({ResourceKind.PUBLIC_IP, ResourceKind.PUBLIC_IP_PREFIX}),
    predicts={"default": "PublicIPCountLimitReached"},
)
