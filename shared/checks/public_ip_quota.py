"""public_ip_quota: Public IP address usage vs limit in the cluster's region.

Reads GET /subscriptions/{s}/providers/Microsoft.Network/locations/{region}/usages (network 2024-05-01)
-> value[name.value == "PublicIPAddresses" | "StandardSkuPublicIpAddresses"].{currentValue, limit},
and the cluster (2025-05-01) for what consumes public IPs: networkProfile.loadBalancerProfile
.managedOutboundIPs.count and agentPoolProfiles[].enableNodePublicIP (one IP per node, surge included).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.armid import ResourceKind
from shared.checklib import azrefs as az
from shared.checklib.base import API, CheckContext, CheckSpec, Skip, result
from shared.models import CheckResult, CheckStatus, Evidence, Family

DOCS = (
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/publicipcountlimitreached-error",
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/create-upgrade-delete/error-code-publicipcountlimitreached",
)
COUNTERS = ("PublicIPAddresses", "StandardSkuPublicIpAddresses")


@dataclass(frozen=True)
class Facts:
    subscription_id: str
    cluster_id: str
    region: str
    usages_id: str
    usages: tuple[az.Usage, ...]
    need: int
    need_why: str
    managed_outbound_ips: int | None


def _need(ctx: CheckContext, cluster: dict[str, Any]) -> tuple[int, str]:
    pools = [p for p in az.as_list(az.dig(cluster, "properties.agentPoolProfiles")) if isinstance(p, dict)]
    target = ctx.operation.agent_pool
    for p in pools:
        if p.get("enableNodePublicIP") is True and (target is None or az.same(az.as_str(p.get("name")), target)):
            count = az.as_int(p.get("count")) or 0
            upgrading = ctx.operation.verb == "upgrade"
            step = az.surge_nodes(az.dig(p, "upgradeSettings.maxSurge"), count) if upgrading else 1
            return max(step, 1), f"pool {p.get('name')} gives every node a public IP (enableNodePublicIP)"
    return 1, "at least one new public IP (load balancer frontend / outbound IP)"


async def gather(ctx: CheckContext) -> Facts:
    cluster = await ctx.get_or_none(ctx.operation.cluster_id, API["managedClusters"]) or {}
    region_raw = (az.as_str(cluster.get("location"))
                  or az.as_str(az.fact(ctx.facts, "region")))
    if not region_raw:
        raise Skip("region unknown: the cluster could not be read and the error names no location")
    region = az.normalize_region(region_raw)
    uid = f"/subscriptions/{ctx.operation.subscription_id}/providers/Microsoft.Network/locations/{region}/usages"
    body = await ctx.get(uid, API["network"])
    found = tuple(u for u in (az.find_usage(body, c) for c in COUNTERS) if u is not None)
    need, why = _need(ctx, cluster)
    mob = az.as_int(az.dig(cluster, "properties.networkProfile.loadBalancerProfile.managedOutboundIPs.count"))
    return Facts(ctx.operation.subscription_id, ctx.operation.cluster_id, region, uid, found, need, why, mob)


def evaluate(f: Facts) -> CheckResult:
    if not f.usages:
        why = f"no PublicIPAddresses counter in {f.usages_id}"
        return result(SPEC, CheckStatus.SKIPPED, f"skipped: {why}", reason=why)
    ev = [Evidence(resource_id=f.usages_id, property=f"value[name.value=='{u.name}']",
                   value={"currentValue": u.current, "limit": u.limit},
                   note=f"{u.free} free; need {f.need}: {f.need_why}")
          for u in f.usages]
    if f.managed_outbound_ips is not None:
        ev.append(Evidence(resource_id=f.cluster_id,
                           property="properties.networkProfile.loadBalancerProfile.managedOutboundIPs.count",
                           value=f.managed_outbound_ips))
    short = [u for u in f.usages if u.free < f.need]
    if short:
        u = short[0]
        return result(
            SPEC, CheckStatus.FAIL,
            f"public IP quota reached in {f.region}: {u.localized} {u.current}/{u.limit}, need {f.need} more",
            evidence=tuple(ev),
            remediation=(
                "find unattached public IPs and delete the ones you do not need:\n"
                f"az network public-ip list --subscription {f.subscription_id} --query "
                f"\"[?location=='{f.region}' && ipConfiguration==null && natGateway==null].id\" -o tsv\n"
                "or raise the limit:\n"
                f"az quota update --resource-name {u.name} --scope /subscriptions/{f.subscription_id}/providers/"
                f"Microsoft.Network/locations/{f.region} --limit-object value={u.limit + max(f.need, 10)} "
                f"--resource-type PublicIpAddresses"))
    u = f.usages[0]
    return result(SPEC, CheckStatus.PASS, f"public IP quota has room in {f.region}: {u.current}/{u.limit} used",
                  evidence=tuple(ev))


SPEC: CheckSpec[Facts] = CheckSpec(
    id="public_ip_quota",
    title="Public IP address quota",
    docs=DOCS,
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.QUOTA, Family.EGRESS}),
    relevance={"quota": 95, "egress": 30},
    resource_kinds=frozenset({ResourceKind.PUBLIC_IP, ResourceKind.PUBLIC_IP_PREFIX}),
)
