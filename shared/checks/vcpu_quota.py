"""vcpu_quota: regional and VM-family vCPU usage vs limit for the VM size the operation needs.

Inputs, in order of trust: classifier facts (`quota_family`, `quota_requested`, `vm_size`, `region`;
shared/classify/facts.py), the numbers in the Compute QuotaExceeded message
("exceeding approved standardDSv3Family Cores quota ... Current Limit: 10, Current Usage: 8,
Additional Required: 4"), then the failing pool's vmSize mapped through a small built-in size table
(family usage name + vCPUs). Reads GET /subscriptions/{s}/providers/Microsoft.Compute/locations/{region}
/usages (compute 2024-07-01) -> value[name.value == family | "cores"].{currentValue, limit}.
Need = the error's "Additional Required", else vCPUs x (surge nodes for an upgrade, one node otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.checklib import azrefs as az
from shared.checklib.base import API, CheckContext, CheckSpec, Skip, result
from shared.checklib.netread import in_order
from shared.models import CheckResult, CheckStatus, Evidence, Family

DOCS = (
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/create-upgrade-delete/quota-exceeded-during-creation-upgrade",
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/quota-exceeded-error",
    "https://learn.microsoft.com/azure/aks/quotas-skus-regions",
)
QUOTA_PORTAL = "https://portal.azure.com/#view/Microsoft_Azure_Capacity/QuotaMenuBlade/~/myQuotas"


@dataclass(frozen=True)
class SizeNeed:
    vm_size: str | None
    pool: str | None
    family: str | None
    family_source: str  # "error facts" | "error message" | "table" | "name pattern" | "unknown"
    vcpus: int | None
    need: int | None  # vCPUs the operation needs beyond current usage
    need_source: str


@dataclass(frozen=True)
class Facts:
    subscription_id: str
    region: str
    usages_id: str
    regional: az.Usage | None
    families: tuple[tuple[SizeNeed, az.Usage | None], ...]


def _pools(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in az.as_list(az.dig(cluster, "properties.agentPoolProfiles")) if isinstance(p, dict)]


async def gather(ctx: CheckContext) -> Facts:
    facts = ctx.classification.facts
    quota = facts.quota
    parsed: dict[str, Any] = {}
    if quota is not None:
        parsed = {k: v for k, v in (("limit", quota.limit), ("usage", quota.usage), ("required", quota.requested),
                                    ("new_limit", quota.new_limit), ("family", quota.family)) if v is not None}
        if quota.regional:
            parsed["regional"] = True
    cluster = await ctx.get_or_none(ctx.operation.cluster_id, API["managedClusters"]) or {}
    region_raw = (az.as_str(az.fact(facts, "region")) or az.as_str(cluster.get("location"))
                  or parsed.get("location"))
    if not region_raw:
        raise Skip("region unknown: the cluster could not be read and the error names no location")
    region = az.normalize_region(region_raw)

    pools = _pools(cluster)
    target = ctx.operation.agent_pool
    chosen = [p for p in pools if target and az.same(az.as_str(p.get("name")), target)]
    usages_id = f"/subscriptions/{ctx.operation.subscription_id}/providers/Microsoft.Compute/locations/{region}/usages"

    async def pool_body() -> dict[str, Any] | None:
        if target and not chosen:
            return await ctx.get_or_none(f"{ctx.operation.cluster_id}/agentPools/{target}", API["agentPools"])
        return None

    # The usages need only the region: read them with the agent pool (when that is read at all).
    body, usages = await in_order(pool_body(), ctx.get(usages_id, API["compute"]))
    if body is not None:
        chosen = [{"name": body.get("name") or target, **(body.get("properties") or {})}]
    if not chosen:
        chosen = pools
    fact_size = az.as_str(az.fact(facts, "vm_size"))
    if fact_size:
        chosen = [p for p in chosen if az.same(az.as_str(p.get("vmSize")), fact_size)] or [
            {"name": target, "vmSize": fact_size}]

    fact_family = az.as_str(az.fact(facts, "quota_family")) or parsed.get("family")
    if fact_family and not fact_family.casefold().endswith("family"):
        fact_family = None  # "Total Regional Cores" / "regional vcpu": the regional counter, checked anyway
    fact_need = az.fact_int(facts, "quota_requested") or parsed.get("required")
    needs: list[SizeNeed] = []
    seen: set[str] = set()
    for p in chosen or [{}]:
        size = az.as_str(p.get("vmSize"))
        key = (size or "").casefold()
        if key in seen:
            continue
        seen.add(key)
        info = az.vm_size_info(size) if size else az.VmSize("", None, None, "unknown")
        family, fsrc = info.family, info.source
        if fact_family:
            family, fsrc = fact_family, "error facts" if az.fact(facts, "quota_family") else "error message"
        count = az.as_int(p.get("count")) or 0
        step = az.surge_nodes(az.dig(p, "upgradeSettings.maxSurge"), count) if ctx.operation.verb == "upgrade" else 1
        if fact_need is not None:
            need, nsrc = int(fact_need), "error: Additional Required"
        elif info.vcpus is not None:
            need, nsrc = info.vcpus * max(step, 1), f"{info.vcpus} vCPUs x {max(step, 1)} node(s)"
        else:
            need, nsrc = None, "vCPUs of the size unknown"
        needs.append(SizeNeed(size, az.as_str(p.get("name")), family, fsrc, info.vcpus, need, nsrc))

    regional = az.find_usage(usages, "cores", "Total Regional vCPUs")
    fams = tuple((n, az.find_usage(usages, n.family) if n.family else None) for n in needs)
    return Facts(ctx.operation.subscription_id, region, usages_id, regional, fams)


def _increase(f: Facts, resource: str, new_limit: int) -> str:
    return (f"az quota update --resource-name {resource} --scope /subscriptions/{f.subscription_id}/providers/"
            f"Microsoft.Compute/locations/{f.region} --limit-object value={new_limit} --resource-type dedicated"
            f"  # or request it in the portal: {QUOTA_PORTAL}")


def evaluate(f: Facts) -> CheckResult:
    ev: list[Evidence] = []
    short: list[str] = []
    fixes: list[str] = []
    undecided: list[str] = []
    reg = f.regional
    if reg:
        ev.append(Evidence(resource_id=f.usages_id, property="value[name.value=='cores']",
                           value={"currentValue": reg.current, "limit": reg.limit},
                           note=f"Total Regional vCPUs in {f.region}: {reg.free} free"))
    for need, usage in f.families:
        label = need.vm_size or need.family or "requested size"
        if usage:
            ev.append(Evidence(resource_id=f.usages_id, property=f"value[name.value=='{usage.name}']",
                               value={"currentValue": usage.current, "limit": usage.limit},
                               note=f"{usage.localized}: {usage.free} free; family from {need.family_source}; "
                                    f"need {need.need if need.need is not None else '?'} ({need.need_source})"))
        elif need.family:
            ev.append(Evidence(resource_id=f.usages_id, property=f"value[name.value=='{need.family}']", value=None,
                               note=f"family {need.family} (from {need.family_source}) not in the usages list"))
        for u, scope in ((usage, need.family), (reg, "cores")):
            if u is None or scope is None:
                continue
            if need.need is not None:
                if u.free < need.need:
                    short.append(f"{u.localized} in {f.region}: {u.current}/{u.limit} used, "
                                 f"{label} needs {need.need} more")
                    fixes.append(_increase(f, u.name, u.current + need.need))
            elif u.free <= 0:
                short.append(f"{u.localized} in {f.region} is exhausted ({u.current}/{u.limit})")
                fixes.append(_increase(f, u.name, u.limit + 10))
        if need.need is None and usage is None:
            undecided.append(f"{label}: VM size not in the built-in table and the error gave no quota family")
        elif usage is None and need.family is None:
            undecided.append(f"{label}: family unknown, only the regional quota was checked")
    if short:
        return result(SPEC, CheckStatus.FAIL, "vCPU quota too low: " + "; ".join(dict.fromkeys(short)),
                      evidence=tuple(ev), remediation="\n".join(dict.fromkeys(fixes)))
    if undecided and not any(u for _, u in f.families):
        why = "; ".join(undecided)
        return result(SPEC, CheckStatus.SKIPPED, f"skipped: {why}", evidence=tuple(ev), reason=why)
    fit = []
    for need, usage in f.families:
        if need.vcpus and usage and reg:
            fit.append(f"{min(usage.free, reg.free) // need.vcpus} more {need.vm_size} node(s) fit")
    summary = "vCPU quota has room" + (f" ({'; '.join(fit)})" if fit else "")
    if undecided:
        summary += "; " + "; ".join(undecided)
    return result(SPEC, CheckStatus.PASS, summary, evidence=tuple(ev))


SPEC: CheckSpec[Facts] = CheckSpec(
    id="vcpu_quota",
    title="Regional and VM-family vCPU quota",
    docs=DOCS,
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.QUOTA, Family.CAPACITY, Family.VALIDATION}),
    relevance={"quota": 100, "capacity": 60, "validation": 40},
    targets=("agentPoolProfiles.vmSize", "agentPoolProfiles.count",),
)
