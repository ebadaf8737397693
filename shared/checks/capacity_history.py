"""capacity_history: transient regional capacity (AKSCapacityHeavyUsage / AKSCapacityError / allocation
failures; also SkuNotAvailable / AvailabilityZoneNotSupported): how often this cluster and region failed
lately, and what to try instead.

The capacity code itself confirms the cause, so the status is FAIL whenever it applies; the check adds
the facts that decide what to do next:
- `ctx.extras["failure_history"]`: [{time, cluster_id, region, code}] supplied by an adapter (our own
  findings table / alert state store); failures in the last 24 h for this cluster and this region, and
  whether the cluster has been failing with this code for more than 24 h (escalate);
- the Activity Log for the cluster over the last 24 h: earlier failed operations whose statusMessage
  carries the same code (other correlation ids);
- the cluster (2025-05-01): location, apiServerAccessProfile.enablePrivateCluster, sku.tier, and for
  allocation codes the failing pool's vmSize / availabilityZones / upgradeSettings.maxSurge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.checklib import azrefs as az
from shared.checklib.base import API, CheckContext, CheckSpec, NotApplicable, result
from shared.checklib.netread import in_order
from shared.models import CheckResult, CheckStatus, Evidence, Family
from shared.ports import ArmError

DOCS = (
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/akscapacityheavyusage",
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/create-upgrade-delete/akscapacityerror",
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/create-upgrade-delete/error-code-zonalallocationfailed-allocationfailed",
)
REGIONAL = ("akscapacityheavyusage", "akscapacityerror")
ALLOCATION = ("zonalallocationfailed", "allocationfailed", "overconstrainedallocationrequest")
OFFERING = ("skunotavailable", "availabilityzonenotsupported")  # size/zone not offered to the subscription
CAPACITY_CODES = REGIONAL + ALLOCATION + OFFERING
WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Facts:
    cluster_id: str
    cluster_name: str
    resource_group: str
    code: str
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


def _capacity_code(ctx: CheckContext) -> str | None:
    codes = [ctx.classification.code, *(e.code for e in ctx.error.walk())]
    for c in codes:
        if c and c.casefold() in CAPACITY_CODES:
            return c
    return None


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
        if t is None or rcode.casefold() not in CAPACITY_CODES:
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


async def _activity_failures(ctx: CheckContext, code: str) -> int | None:
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
        if any(az.same(c, code) for c in az.status_message_codes(e)):
            seen.add(corr)
    return len(seen)


async def gather(ctx: CheckContext) -> Facts:
    code = _capacity_code(ctx)
    if code is None:
        raise NotApplicable("not a capacity or allocation error")
    # The Activity Log query needs only the operation, not the cluster body: both at once.
    cluster_body, activity = await in_order(ctx.get_or_none(ctx.operation.cluster_id, API["managedClusters"]),
                                            _activity_failures(ctx, code))
    cluster = cluster_body or {}
    region_raw = (az.as_str(cluster.get("location"))
                  or az.as_str(az.fact(ctx.facts, "region")))
    region = az.normalize_region(region_raw) if region_raw else None
    pool_body: dict[str, Any] = {}
    pools = [p for p in az.as_list(az.dig(cluster, "properties.agentPoolProfiles")) if isinstance(p, dict)]
    if ctx.operation.agent_pool:
        pool_body = next((p for p in pools if az.same(az.as_str(p.get("name")), ctx.operation.agent_pool)), {})
    elif len(pools) == 1:
        pool_body = pools[0]
    hist = _history(ctx, code, region)
    private = az.dig(cluster, "properties.apiServerAccessProfile.enablePrivateCluster")
    return Facts(
        cluster_id=ctx.operation.cluster_id, cluster_name=ctx.operation.cluster_name,
        resource_group=ctx.operation.resource_group, code=code, verb=ctx.operation.verb, region=region,
        private_cluster=private if isinstance(private, bool) else None,
        tier=az.as_str(az.dig(cluster, "sku.tier")),
        pool=az.as_str(pool_body.get("name")) or ctx.operation.agent_pool,
        vm_size=az.as_str(pool_body.get("vmSize")),
        zones=tuple(str(z) for z in az.as_list(pool_body.get("availabilityZones"))),
        max_surge=az.as_str(az.dig(pool_body, "upgradeSettings.maxSurge")),
        history_available=hist is not None,
        cluster_failures_24h=hist[0] if hist else None,
        region_failures_24h=hist[1] if hist else None,
        first_seen=hist[2] if hist else None,
        now=ctx.now,
        activity_failures_24h=activity,
    )


def _advice(f: Facts, persisting: bool) -> list[str]:
    rg, name = f.resource_group, f.cluster_name
    alt = az.REGION_PAIRS.get(f.region or "")
    lines: list[str] = []
    if f.code.casefold() in REGIONAL:
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
    elif f.code.casefold() in OFFERING:
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


def evaluate(f: Facts) -> CheckResult:
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
    what = ("VM size / zone not offered" if f.code.casefold() in OFFERING else "capacity shortage")
    summary = f"{f.code}: {what}{where}"
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
)
