"""capacity_history: a failure of the capacity family (regional capacity such as AKSCapacityHeavyUsage,
allocation failures, sizes or zones not offered): how often this cluster and region failed lately, and
what to try instead.

Applies when the classification's families include `capacity` (the catalog decides, no code list
here); what kind of shortage it is comes from the catalog entry too: category `capacity` = regional
AKS capacity, causes `sku-restricted` / `zone-not-offered` = an offering restriction (the
sku_availability check proves which), anything else = a VM allocation failure. History rows count
when their code is in the capacity family of the catalog (or the row says so in `families`).

The capacity code itself confirms the cause, so the status is FAIL whenever it applies; the check adds
the facts that decide what to do next:
- `ctx.extras["failure_history"]`: [{time, cluster_id, region, code}] supplied by an adapter (our own
  findings table / alert state store); failures in the last 24 h for this cluster and this region, and
  whether the cluster has been failing with this code for more than 24 h (escalate);
- the Activity Log for the cluster over the last 24 h: earlier failed operations whose statusMessage
  carries the same code (other correlation ids);
- the cluster through ClusterView: location, apiServerAccessProfile.enablePrivateCluster, sku.tier, and for
  allocation codes the failing pool's vmSize / availabilityZones / upgradeSettings.maxSurge.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.catalog.loader import catalog_index
from shared.checklib import azrefs as az
from shared.checklib.base import CheckContext, CheckSpec, NotApplicable, result
from shared.checklib.clusterview import PoolView
from shared.checklib.netread import in_order
from shared.models import CheckResult, CheckStatus, Classification, Evidence, Family
from shared.ports import ArmError

DOCS = (
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/akscapacityheavyusage",
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/create-upgrade-delete/akscapacityerror",
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/create-upgrade-delete/error-code-zonalallocationfailed-allocationfailed",
)
OFFERING_CAUSES = frozenset({"sku-restricted", "zone-not-offered"})  # catalog cause ids
WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Facts:
    cluster_id: str
    cluster_name: str
    resource_group: str
    code: str
    kind: str  # "regional" | "offering" | "allocation" (from the catalog entry)
    verb: str
    region: str | None
    private_cluster: bool | None
    tier: str | None
    pool: str | None
    vm_size: str | None
    zones: tuple[str, ...]
    max_surge: str | None
    history_available: bool
    cluster_failures_24h: int | None
    region_failures_24h: int | None
    first_seen: datetime | None  # earliest known failure of this cluster with a capacity code
    now: datetime
    activity_failures_24h: int | None  # earlier failed operations with the same code (Activity Log)
    planned: bool = False  # pre-flight: nothing has failed yet; only recent capacity failures are a hint


def _kind(c: Classification) -> str:
    if c.category.casefold() == "capacity":
        return "regional"
    entry = catalog_index().by_id.get(c.entry_id)
    causes = {x.id.casefold() for x in entry.causes} if entry is not None else set()
    if c.facts.cause:
        causes.add(c.facts.cause.casefold())
    if OFFERING_CAUSES & causes:
        return "offering"
    return "allocation"


@functools.cache
def _code_is_capacity(code: str) -> bool:
    """Whether the catalog puts this error code in the capacity family."""
    idx = catalog_index()
    hit = idx.codes.get(code.casefold())
    entry = idx.by_id.get(hit[0]) if hit else None
    return entry is not None and Family.CAPACITY in entry.families


def _row_is_capacity(row: dict[str, Any]) -> bool:
    fams = row.get("families")
    if isinstance(fams, (list, tuple)):
        return any(str(f) == Family.CAPACITY.value for f in fams)
    code = str(row.get("code") or "")
    return bool(code) and _code_is_capacity(code)


def _time(v: Any) -> datetime | None:
    if isinstance(v, datetime):
        return v
    if isinstance(v, str):
        try:
            return datetime.fromisoformat(v.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def _history(ctx: CheckContext, code: str, region: str | None) -> tuple[int, int, datetime | None] | None:
    raw = ctx.extras.get("failure_history")
    if not isinstance(raw, list):
        return None
    since = ctx.now - WINDOW
    mine = 0
    regional = 0
    first: datetime | None = None
    for row in raw:
        if not isinstance(row, dict):
            continue
        t = _time(row.get("time"))
        rcode = str(row.get("code") or "")
        if t is None or not _row_is_capacity(row):
            continue
        if t.tzinfo is None and ctx.now.tzinfo is not None:
            t = t.replace(tzinfo=ctx.now.tzinfo)
        is_mine = az.same(str(row.get("cluster_id") or ""), ctx.operation.cluster_id)
        if is_mine and az.same(rcode, code):
            first = t if first is None or t < first else first
        if t < since or t > ctx.now:
            continue
        if is_mine:
            mine += 1
        if region and az.same(az.normalize_region(str(row.get("region") or "")), region):
            regional += 1
    return mine, regional, first


async def _activity_failures(ctx: CheckContext, code: str, any_capacity: bool = False) -> int | None:
    """Earlier failed operations (other correlation ids) with this code, or with any capacity-family code."""
    try:
        events = await ctx.arm.activity_log(ctx.operation.subscription_id, resource_id=ctx.operation.cluster_id,
                                            start=ctx.now - WINDOW, end=ctx.now)
    except ArmError:
        return None
    seen: set[str] = set()
    current = (ctx.operation.correlation_id or "").casefold()
    for e in events:
        status = az.dig(e, "status.value") or e.get("status")
        if not az.state_is(status, "Failed"):
            continue
        corr = str(e.get("correlationId") or "").casefold()
        if not corr or corr == current:
            continue
        codes = az.status_message_codes(e)
        if any(_code_is_capacity(c) for c in codes) if any_capacity else any(az.same(c, code) for c in codes):
            seen.add(corr)
    return len(seen)


async def gather(ctx: CheckContext) -> Facts:
    c = ctx.classification
    planned = ctx.planned is not None
    if Family.CAPACITY not in c.families and not planned:
        raise NotApplicable("not a failure of the capacity family (regional capacity, allocation, offering)")
    code = c.code
    # The Activity Log query needs only the operation, not the cluster body: both at once.
    view, activity = await in_order(ctx.view_or_none(), _activity_failures(ctx, code, any_capacity=planned))
    region = (view.region if view else None) or (az.normalize_region(ctx.facts.region) if ctx.facts.region
                                                  else None)
    pool: PoolView | None = None
    if view is not None:
        pool = view.pool(ctx.operation.agent_pool) or (view.pools[0] if len(view.pools) == 1 else None)
    hist = _history(ctx, code, region)
    return Facts(
        cluster_id=ctx.operation.cluster_id, cluster_name=ctx.operation.cluster_name,
        resource_group=ctx.operation.resource_group, code=code, kind=_kind(c), verb=ctx.operation.verb,
        region=region,
        private_cluster=view.private if view is not None else None,
        tier=view.sku_tier if view is not None else None,
        pool=(pool.name if pool else None) or ctx.operation.agent_pool,
        vm_size=ctx.facts.vm_size or (pool.vm_size if pool else None),
        zones=pool.zones if pool else (),
        max_surge=pool.max_surge if pool else None,
        history_available=hist is not None,
        cluster_failures_24h=hist[0] if hist else None,
        region_failures_24h=hist[1] if hist else None,
        first_seen=hist[2] if hist else None,
        now=ctx.now,
        activity_failures_24h=activity,
        planned=planned,
    )


def _advice(f: Facts, persisting: bool) -> list[str]:
    rg, name = f.resource_group, f.cluster_name
    alt = az.REGION_PAIRS.get(f.region or "")
    lines: list[str] = []
    if f.kind == "regional":
        retry = f"az aks start -g {rg} -n {name}" if f.verb == "start" else "re-run the same operation"
        lines.append(f"Retry later (capacity is reclaimed as other clusters stop or are deleted): {retry}")
        if alt:
            lines.append(f"Or create the cluster in another region, e.g. the paired region {alt} (--location {alt})")
        else:
            lines.append("Or create the cluster in another region (--location <region>)")
        if f.private_cluster is not None:
            other = ("public (without --enable-private-cluster)" if f.private_cluster
                     else "private (--enable-private-cluster)")
            lines.append(f"Private and public clusters draw on different capacity: try a {other} cluster")
        if f.code.casefold() == "akscapacityerror" and az.same(f.tier, "Free"):
            lines.append(f"Free tier is limited first: az aks update -g {rg} -n {name} --tier standard")
    elif f.kind == "offering":
        size = f.vm_size or "<vm size>"
        region = f.region or "<region>"
        lines.append(f"See where {size} is offered and restricted: az vm list-skus --location {region} "
                     f"--size {size} --all -o table  (restrictions / zones columns)")
        lines.append(f"Use an offered size or zones: az aks nodepool add -g {rg} --cluster-name {name} -n <newpool> "
                     "--node-vm-size <offered size> [--zones <offered zones>]")
        lines.append("If the subscription is restricted (NotAvailableForSubscription), request region/zone access "
                     "through a support request")
    else:
        pool = f.pool or "<pool>"
        size = f.vm_size or "<vm size>"
        lines.append(f"Retry later, or use another VM size than {size}: "
                     f"az aks nodepool add -g {rg} --cluster-name {name} -n <newpool> --node-vm-size <other size>")
        if f.zones:
            lines.append(f"Zones {','.join(f.zones)} narrow placement: add a pool with other/fewer zones (--zones)")
        if f.verb == "upgrade":
            lines.append(f"For upgrades, avoid surge capacity: az aks nodepool update -g {rg} --cluster-name {name} "
                         f"-n {pool} --max-surge 0 --max-unavailable 1")
        if alt:
            lines.append(f"Or deploy the pool's workloads in another region, e.g. {alt}")
    if persisting:
        lines.append("This has persisted past 24 h: open an Azure support request (Kubernetes Service > capacity) "
                     "with the cluster id and the correlation ids")
    else:
        lines.append("If it still fails after 24 h, open an Azure support request")
    return lines


def _evaluate_planned(f: Facts) -> CheckResult:
    """Pre-flight: capacity is only known when the operation runs; recent capacity failures of this cluster
    or in its region make a shortage likely."""
    where = f.region or "the region"
    ev = [Evidence(resource_id=f.cluster_id, property="location", value=f.region)]
    recent: list[str] = []
    if f.history_available:
        ev.append(Evidence(property="failure_history.cluster_24h", value=f.cluster_failures_24h,
                           note="capacity-family failures of this cluster in the last 24 h (findings history)"))
        ev.append(Evidence(property="failure_history.region_24h", value=f.region_failures_24h,
                           note=f"capacity-family failures in {where} in the last 24 h (findings history)"))
        if f.cluster_failures_24h or f.region_failures_24h:
            recent.append(f"{f.cluster_failures_24h} for this cluster and {f.region_failures_24h} in {where} in the "
                          "last 24 h")
    if f.activity_failures_24h is not None:
        ev.append(Evidence(resource_id=f.cluster_id, property="activityLog.statusMessage.code",
                           value=f.activity_failures_24h,
                           note="failed operations with a capacity-family code in the last 24 h"))
        if f.activity_failures_24h:
            recent.append(f"{f.activity_failures_24h} failed operation(s) of this cluster in the Activity Log")
    if recent:
        alt = az.REGION_PAIRS.get(f.region or "")
        return result(SPEC, CheckStatus.FAIL, f"recent capacity failures ({'; '.join(recent)}): the operation may "
                                              f"meet the same shortage in {where}",
                      evidence=tuple(ev), confidence="likely",
                      confirm_by="capacity is only known when the operation runs: run it, or try another VM size / "
                                 f"zones{f' or the paired region {alt}' if alt else ''}",
                      remediation="\n".join(_advice(f, False)))
    seen = "no recent capacity failures" if f.history_available or f.activity_failures_24h is not None else (
        "no failure history to look at")
    return result(SPEC, CheckStatus.PASS, f"capacity cannot be predicted; {seen} in {where}", evidence=tuple(ev))


def evaluate(f: Facts) -> CheckResult:
    if f.planned:
        return _evaluate_planned(f)
    ev = [Evidence(resource_id=f.cluster_id, property="location", value=f.region,
                   note=f"{f.code} is a capacity shortage in this region")]
    if f.private_cluster is not None:
        ev.append(Evidence(resource_id=f.cluster_id, property="properties.apiServerAccessProfile.enablePrivateCluster",
                           value=f.private_cluster))
    if f.tier:
        ev.append(Evidence(resource_id=f.cluster_id, property="sku.tier", value=f.tier))
    if f.vm_size:
        ev.append(Evidence(resource_id=f.cluster_id, property=f"agentPoolProfiles[{f.pool}].vmSize", value=f.vm_size,
                           note=f"zones {','.join(f.zones)}" if f.zones else None))
    counts: list[str] = []
    if f.history_available:
        ev.append(Evidence(property="failure_history.cluster_24h", value=f.cluster_failures_24h,
                           note="capacity failures of this cluster in the last 24 h (findings history)"))
        ev.append(Evidence(property="failure_history.region_24h", value=f.region_failures_24h,
                           note=f"capacity failures in {f.region} in the last 24 h (findings history)"))
        counts.append(f"{f.cluster_failures_24h} for this cluster and {f.region_failures_24h} in {f.region} "
                      "in the last 24 h")
    if f.activity_failures_24h is not None:
        ev.append(Evidence(resource_id=f.cluster_id, property="activityLog.statusMessage.code",
                           value=f.activity_failures_24h,
                           note=f"earlier failed operations with {f.code} in the last 24 h (other correlation ids)"))
        counts.append(f"{f.activity_failures_24h} earlier failed operation(s) with this code in the Activity Log")
    persisting = f.first_seen is not None and f.now - f.first_seen >= WINDOW
    if f.first_seen is not None:
        ev.append(Evidence(property="failure_history.first_seen", value=f.first_seen.isoformat(),
                           note="earliest known capacity failure of this cluster"))
    where = f" in {f.region}" if f.region else ""
    if f.kind == "offering":
        # a size / zone restriction, proven (or not) from the region's SKUs by sku_availability; the code
        # alone is no capacity pattern
        repeated = bool(f.cluster_failures_24h or f.activity_failures_24h)
        if not repeated:
            return result(SPEC, CheckStatus.PASS, f"{f.code} is an offering restriction, not a capacity shortage; "
                                                  f"no repeated failures of this cluster{where} in the last 24 h",
                          evidence=tuple(ev))
        return result(SPEC, CheckStatus.FAIL, f"{f.code}: VM size / zone not offered{where}, repeatedly "
                                              f"({'; '.join(counts)})",
                      evidence=tuple(ev), confidence="likely", remediation="\n".join(_advice(f, persisting)),
                      confirm_by=f"the region's SKU restrictions: az vm list-skus --location {f.region or '<region>'} "
                                 f"--size {f.vm_size or '<vm size>'} --all -o table")
    summary = f"{f.code}: capacity shortage{where}"
    summary += f" ({'; '.join(counts)})" if counts else " (failure history not available)"
    if persisting:
        summary += "; failing for more than 24 h - escalate"
    return result(SPEC, CheckStatus.FAIL, summary, evidence=tuple(ev), remediation="\n".join(_advice(f, persisting)))


SPEC: CheckSpec[Facts] = CheckSpec(
    id="capacity_history",
    title="Regional capacity and recent capacity failures",
    docs=DOCS,
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.CAPACITY, Family.QUOTA}),
    relevance={"capacity": 100, "quota": 50},
    inputs=("failure_history",),
    predicts={"default": "AllocationFailed", "create": "AKSCapacityError"},
)
