"""sku_availability: the VM sizes and zones the operation asks for are offered to this subscription in
the region (SkuNotAvailable, AvailabilityZoneNotSupported, zone errors).

Reads: the cluster through ClusterView (location, agentPoolProfiles[].vmSize / availabilityZones; a
planned body for pre-flight) and the region's Compute SKUs (shared/checklib/skus.py: Microsoft.Compute
/skus filtered to the region, 2021-07-01: locations[], locationInfo[].zones, restrictions[] of type
Location or Zone with reasonCode NotAvailableForSubscription / QuotaId).
Which sizes: the ones the error names (ErrorFacts.vm_sizes: a synchronous 400 leaves the cluster body
as it was), else the pool the operation targets, else every pool. A size not in the region's list,
or with a Location restriction, fails; a requested zone the size is not offered in, or that a Zone
restriction takes away, fails. Other pools' sizes are not blamed.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.checklib.base import CheckContext, CheckSpec, Skip, result
from shared.checklib.skus import NOT_AVAILABLE, SKUS_API, RegionSkus, Sku, read_region_skus, region_skus_id
from shared.models import CheckResult, CheckStatus, Evidence, Family

DOCS = (
    "https://learn.microsoft.com/azure/azure-resource-manager/troubleshooting/error-sku-not-available",
    "https://learn.microsoft.com/azure/aks/availability-zones",
    "https://learn.microsoft.com/troubleshoot/azure/general/region-access-request-process",
)


@dataclass(frozen=True)
class Asked:
    pool: str | None
    vm_size: str
    zones: tuple[str, ...]
    source: str  # "error" | "agentPoolProfiles[name].vmSize"


@dataclass(frozen=True)
class Facts:
    cluster_id: str
    resource_group: str
    cluster_name: str
    subscription: str
    region: str
    skus_id: str
    asked: tuple[Asked, ...]
    skus: RegionSkus | None


async def gather(ctx: CheckContext) -> Facts:
    v = await ctx.view_or_none()
    region = (v.region if v else "") or (ctx.facts.region or "")
    if not region:
        raise Skip("region unknown: no cluster body and the error names no location")
    pools = list(v.pools) if v else []
    named = ctx.operation.agent_pool
    # the pool the operation names; absent from the body (a rejected `nodepool add`): no other pool stands in
    target = (v.pool(named) if named else v.target_pool) if v else None
    if named and target is None:
        pools = []
    asked: list[Asked] = []
    for size in ctx.facts.vm_sizes:
        pool = next((p for p in ([target] if target else []) + pools if p and (p.vm_size or "").casefold()
                     == size.casefold()), None)
        asked.append(Asked(pool.name if pool else ctx.operation.agent_pool, size, pool.zones if pool else (), "error"))
    if not asked:
        for p in [target] if target else pools:
            if p and p.vm_size:
                asked.append(Asked(p.name, p.vm_size, p.zones, f"agentPoolProfiles[{p.name}].vmSize"))
    if not asked:
        raise Skip("no VM size to check: the error names none and the cluster has no pool with a vmSize")
    skus = await read_region_skus(ctx, region)
    return Facts(
        cluster_id=v.id if v else ctx.operation.cluster_id,
        resource_group=ctx.operation.resource_group,
        cluster_name=ctx.operation.cluster_name,
        subscription=ctx.operation.subscription_id,
        region=region,
        skus_id=region_skus_id(ctx.operation.subscription_id, region),
        asked=tuple(asked),
        skus=skus,
    )


def _problem(a: Asked, sku: Sku | None, region: str) -> tuple[str, bool] | None:
    """(what is wrong, whether it is a subscription restriction) or None."""
    if sku is None:
        return f"{a.vm_size} is not offered in {region}", False
    if sku.location_restriction:
        return f"{a.vm_size} is restricted in {region} for this subscription ({sku.location_restriction})", (
            sku.location_restriction == NOT_AVAILABLE
        )
    missing = [z for z in a.zones if z not in sku.zones]
    blocked = [z for z in a.zones if z in sku.restricted_zones]
    if missing or blocked:
        parts = []
        if missing:
            parts.append(f"not offered in zone(s) {', '.join(missing)}")
        if blocked:
            parts.append(f"restricted in zone(s) {', '.join(blocked)} ({sku.zone_restriction})")
        usable = ", ".join(sku.usable_zones) or "none"
        return f"{a.vm_size} in {region} is {' and '.join(parts)}; usable zones: {usable}", bool(blocked)
    return None


def evaluate(f: Facts) -> CheckResult:
    if f.skus is None:
        why = f"the region's SKU list could not be read ({f.skus_id}, api-version {SKUS_API} answered 404)"
        return result(SPEC, CheckStatus.ERROR, f"cannot check: {why}", reason=why)
    ev: list[Evidence] = []
    problems: list[str] = []
    fixes: list[str] = []
    restricted = False
    for a in f.asked:
        sku = f.skus.get(a.vm_size)
        found = _problem(a, sku, f.region)
        value = (
            None
            if sku is None
            else {
                "zones": list(sku.zones),
                "restrictions": {
                    "Location": sku.location_restriction,
                    "Zone": list(sku.restricted_zones) or None,
                },
            }
        )
        ev.append(
            Evidence(
                resource_id=f.skus_id,
                property=f"value[name=='{a.vm_size}']",
                value=value,
                note=f"asked by {a.source}" + (f" for pool {a.pool}, zones {','.join(a.zones)}" if a.pool else ""),
            )
        )
        if found is None:
            continue
        text, sub_restricted = found
        restricted = restricted or sub_restricted
        problems.append(text)
        pool = a.pool or "<pool>"
        if sku is not None and sku.location_restriction is None and sku.usable_zones:
            fixes.append(
                f"az aks nodepool add -g {f.resource_group} --cluster-name {f.cluster_name} -n {pool}z "
                f"--node-vm-size {a.vm_size} --zones {' '.join(sku.usable_zones)}"
            )
        alts = f.skus.alternatives(sku, a.zones) if sku is not None else []
        if alts:
            fixes.append(
                f"# sizes with the same vCPUs offered in {f.region}"
                + (f" zones {','.join(a.zones)}" if a.zones else "")
                + f": {', '.join(alts)}\n"
                f"az aks nodepool add -g {f.resource_group} --cluster-name {f.cluster_name} -n <newpool> "
                f"--node-vm-size {alts[0]}" + (f" --zones {' '.join(a.zones)}" if a.zones else "")
            )
        fixes.append(f"az vm list-skus --location {f.region} --size {a.vm_size} --all -o table")
    if restricted:
        fixes.append(
            "NotAvailableForSubscription: request access to the size / zones for this subscription "
            "(support request, see the region access request process)"
        )
    if problems:
        return result(
            SPEC,
            CheckStatus.FAIL,
            "; ".join(problems),
            evidence=tuple(ev),
            remediation="\n".join(dict.fromkeys(fixes)),
            blocks_request=True,
        )
    sizes = ", ".join(dict.fromkeys(a.vm_size for a in f.asked))
    return result(SPEC, CheckStatus.PASS, f"{sizes} offered in {f.region} with the requested zones", evidence=tuple(ev))


SPEC: CheckSpec[Facts] = CheckSpec(
    id="sku_availability",
    title="VM size and zones offered in the region",
    docs=DOCS,
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.CAPACITY, Family.VALIDATION}),
    relevance={"capacity": 95, "validation": 60},
    targets=("agentPoolProfiles.vmSize", "agentPoolProfiles.availabilityZones", "vmSize", "availabilityZones"),
    predicts={"default": "SkuNotAvailable"},
)
