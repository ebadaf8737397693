"""vcpu_quota: the vCPUs the operation asks for against the VM family's and the region's vCPU quota.

What was asked for, in order of trust: ErrorFacts (quota family / requested / remaining, VM sizes,
region; shared/classify/facts.py: a synchronous 400 leaves the cluster Succeeded, so the error is
the only record of the request), then the cluster through ClusterView (or the planned body of a
pre-flight): the target pool's vmSize, count and maxSurge. vCPUs and the family counter come from
the region's Compute SKUs (shared/checklib/skus.py: capabilities vCPUs, family), else a built-in
size table. Need = the error's "Additional Required" / "requested quota", else vCPUs x (count for a
create, surge nodes for an upgrade, one node otherwise). Reads GET /subscriptions/{s}/providers/
Microsoft.Compute/locations/{region}/usages (compute 2024-07-01) -> value[name.value == family |
"cores"].{currentValue, limit}; the family and the total regional counter must both have room
(a Spot pool: lowPriorityCores, "Total Regional Low-priority vCPUs", instead of both).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.checklib import azrefs as az
from shared.checklib.base import API, CheckContext, CheckSpec, Skip, result
from shared.checklib.clusterview import PoolView
from shared.checklib.netread import in_order
from shared.checklib.skus import RegionSkus, read_region_skus
from shared.models import CheckResult, CheckStatus, Evidence, Family

DOCS = (
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/create-upgrade-delete/quota-exceeded-during-creation-upgrade",
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/quota-exceeded-error",
    "https://learn.microsoft.com/azure/aks/quotas-skus-regions",
)
SPOT_COUNTER = "lowPriorityCores"  # Compute usages: "Total Regional Low-priority vCPUs"
QUOTA_PORTAL = "https://portal.azure.com/#view/Microsoft_Azure_Capacity/QuotaMenuBlade/~/myQuotas"


@dataclass(frozen=True)
class SizeNeed:
    vm_size: str | None
    pool: str | None
    family: str | None
    family_source: str  # "error facts" | "Compute SKUs" | "table" | "name pattern" | "unknown"
    vcpus: int | None
    need: int | None  # vCPUs the operation needs beyond current usage
    need_source: str
    spot: bool = False  # Spot pools count against lowPriorityCores, not the family or the regional vCPUs
    known: bool = True  # the need is the error's or follows from the operation; False: assumed (one node)


@dataclass(frozen=True)
class Facts:
    subscription_id: str
    region: str
    usages_id: str
    regional: az.Usage | None
    families: tuple[tuple[SizeNeed, az.Usage | None], ...]
    regional_need: int | None
    regional_need_source: str
    skus_id: str | None
    regional_known: bool = True  # the regional need is known (not assumed from one node)
    other_quota: bool = False  # the error is about a quota that is not vCPUs (its quota facts say so)


def _nodes(p: PoolView, verb: str, cluster_version: str | None) -> tuple[int | None, str, bool]:
    """(new nodes, why, whether that number is known rather than assumed)."""
    if verb == "upgrade":
        n = p.surge_nodes(cluster_version=cluster_version)
        return n, f"{n} surge node(s) (maxSurge {p.max_surge or 'unset: AKS default'})", True
    if verb == "create":  # a new cluster or a new pool: every node is new (the autoscaler starts at minCount)
        n = max(p.count or 0, p.min_count or 0) if p.autoscaling else (p.count or 0)
        return max(n, 1), f"{max(n, 1)} node(s) of pool {p.name}", True
    if verb == "scale":
        return 1, "at least one new node (the requested count is not in the error)", False
    return None, "no node count change known (the error gives no vCPU need)", False


async def gather(ctx: CheckContext) -> Facts:
    facts = ctx.facts
    quota = facts.quota
    view = await ctx.view_or_none()
    region = az.normalize_region(facts.region or (view.region if view else "") or "")
    if not region:
        raise Skip("region unknown: the cluster could not be read and the error names no location")
    usages_id = f"/subscriptions/{ctx.operation.subscription_id}/providers/Microsoft.Compute/locations/{region}/usages"
    usages, skus = await in_order(ctx.get(usages_id, API["compute"]), read_region_skus(ctx, region))

    pools: list[PoolView] = list(view.pools) if view else []
    named = ctx.operation.agent_pool
    # the pool the operation names; absent from the body (a rejected `nodepool add`): no other pool stands in
    target = (view.pool(named) if named else view.target_pool) if view else None
    chosen = [target] if target else ([] if named else pools)
    if facts.vm_sizes:
        sized = [p for p in chosen if (p.vm_size or "").casefold() in {s.casefold() for s in facts.vm_sizes}]
        chosen = sized or [PoolView(name=ctx.operation.agent_pool or "?", vm_size=facts.vm_sizes[0])]
    fact_family = quota.family if quota and quota.family and quota.family.casefold().endswith("family") else None
    # the error's quota is another kind (e.g. PublicIPAddresses): a vCPU shortage here is at most likely
    fam = (quota.family or "").replace(" ", "").casefold() if quota else ""
    other_quota = bool(quota and fam and not quota.regional and not fam.endswith("family")
                       and fam not in ("cores", "lowprioritycores", "regionalvcpu", "totalregionalcores"))
    fact_need = quota.requested if quota else None
    needs: list[SizeNeed] = []
    seen: set[str] = set()
    version = view.kubernetes_version if view else None
    for p in chosen or [PoolView(name="?")]:
        key = f"{(p.vm_size or '').casefold()}|{p.spot}"
        if key in seen:
            continue
        seen.add(key)
        family, fsrc, vcpus = _size(p.vm_size, skus)
        if p.spot:
            family, fsrc = SPOT_COUNTER, "Spot pool (scaleSetPriority Spot)"
        elif fact_family:
            family, fsrc = fact_family, "error facts"
        nodes, why, known = _nodes(p, ctx.operation.verb, version)
        need: int | None
        if fact_need is not None:
            need, nsrc, known = int(fact_need), "error: requested / Additional Required", True
        elif vcpus is not None and nodes is not None:
            need, nsrc = vcpus * max(nodes, 1), f"{vcpus} vCPUs x {why}"
        elif vcpus is None:
            need, nsrc = None, "vCPUs of the size unknown"
        else:
            need, nsrc = None, why
        needs.append(SizeNeed(p.vm_size, p.name, family, fsrc, vcpus, need, nsrc, p.spot, known))
    counted = [n.need for n in needs if n.need is not None and not n.spot]
    if fact_need is not None and not all(n.spot for n in needs):
        regional_need, rsrc = int(fact_need), "error: requested / Additional Required"
    elif counted or any(n.spot for n in needs):
        regional_need, rsrc = sum(counted), " + ".join(f"{n.need} ({n.vm_size})" for n in needs
                                                     if n.need is not None and not n.spot)
    else:
        regional_need, rsrc = None, "unknown"
    regional = az.find_usage(usages, "cores", "Total Regional vCPUs")
    fams = tuple((n, az.find_usage(usages, n.family) if n.family else None) for n in needs)
    return Facts(ctx.operation.subscription_id, region, usages_id, regional, fams, regional_need, rsrc,
                 skus.source_id if skus else None,
                 regional_known=all(n.known for n in needs if not n.spot and n.need is not None),
                 other_quota=other_quota)


def _size(size: str | None, skus: RegionSkus | None) -> tuple[str | None, str, int | None]:
    """(usage family, where it came from, vCPUs) of a VM size."""
    if not size:
        return None, "unknown", None
    sku = skus.get(size) if skus else None
    if sku is not None and sku.vcpus is not None:
        return sku.family, "Compute SKUs", sku.vcpus
    info = az.vm_size_info(size)
    return info.family, info.source, info.vcpus


def _increase(f: Facts, resource: str, new_limit: int) -> str:
    return (f"az quota update --resource-name {resource} --scope /subscriptions/{f.subscription_id}/providers/"
            f"Microsoft.Compute/locations/{f.region} --limit-object value={new_limit} --resource-type dedicated"
            f"  # or request it in the portal: {QUOTA_PORTAL}")


def _shortage(f: Facts, usage: az.Usage, need: int | None, known: bool, label: str, short: list[str],
              fixes: list[str]) -> bool:
    """Adds the shortage of one quota (if any) to `short` / `fixes`; True when it rests on an assumed need."""
    if need is not None and usage.free < need:
        short.append(f"{usage.localized} in {f.region}: {usage.current}/{usage.limit} used, {label} needs {need} more")
        fixes.append(_increase(f, usage.name, usage.current + need))
        return not known
    if need is None and usage.free <= 0:
        short.append(f"{usage.localized} in {f.region} is exhausted ({usage.current}/{usage.limit})")
        fixes.append(_increase(f, usage.name, usage.limit + 10))
        return True
    return False


def evaluate(f: Facts) -> CheckResult:
    ev: list[Evidence] = []
    short: list[str] = []
    fixes: list[str] = []
    undecided: list[str] = []
    assumed = f.other_quota  # a shortage found only against an assumed need, or not the error's quota: likely
    reg = f.regional
    if reg:
        reg_need = f.regional_need if f.regional_need is not None else "?"
        ev.append(Evidence(resource_id=f.usages_id, property="value[name.value=='cores']",
                           value={"currentValue": reg.current, "limit": reg.limit},
                           note=f"Total Regional vCPUs in {f.region}: {reg.free} free; need {reg_need} "
                                f"({f.regional_need_source})"))
    for need, usage in f.families:
        label = need.vm_size or need.family or "requested size"
        if need.vcpus is not None and need.family_source == "Compute SKUs":
            ev.append(Evidence(resource_id=f.skus_id, property=f"value[name=='{need.vm_size}'].capabilities.vCPUs",
                               value=need.vcpus, note=f"family {need.family}"))
        if usage:
            ev.append(Evidence(resource_id=f.usages_id, property=f"value[name.value=='{usage.name}']",
                               value={"currentValue": usage.current, "limit": usage.limit},
                               note=f"{usage.localized}: {usage.free} free; family from {need.family_source}; "
                                    f"need {need.need if need.need is not None else '?'} ({need.need_source})"))
        elif need.family:
            ev.append(Evidence(resource_id=f.usages_id, property=f"value[name.value=='{need.family}']", value=None,
                               note=f"family {need.family} (from {need.family_source}) not in the usages list"))
        if usage is not None:
            assumed = _shortage(f, usage, need.need, need.known, label, short, fixes) or assumed
        if need.need is None and usage is None:
            undecided.append(f"{label}: VM size not in the region's SKUs or the built-in table and the error gave "
                             "no quota family")
        elif usage is None and need.family is None:
            undecided.append(f"{label}: family unknown, only the regional quota was checked")
    if reg is not None and f.regional_need != 0:
        labels = ", ".join(n.vm_size or "?" for n, _ in f.families if not n.spot)
        assumed = _shortage(f, reg, f.regional_need, f.regional_known, labels, short, fixes) or assumed
    if short:
        text = "vCPU quota too low: " + "; ".join(dict.fromkeys(short))
        if assumed:
            return result(SPEC, CheckStatus.FAIL, text, evidence=tuple(ev), remediation="\n".join(dict.fromkeys(fixes)),
                          confidence="likely",
                          confirm_by="the vCPUs the operation asks for are not in the error or the cluster body: "
                                     "compare (new nodes x vCPUs of the size) with the free quota above, or look "
                                     "for QuotaExceeded in the node resource group's Activity Log")
        return result(SPEC, CheckStatus.FAIL, text, evidence=tuple(ev), remediation="\n".join(dict.fromkeys(fixes)),
                      blocks_request=True)
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
    predicts={"default": "QuotaExceeded"},
)
