"""kubernetes_version: the requested Kubernetes version is offered in the region and reachable from the
current one, and node pools stay within the control-plane skew window.

Reads (containerservice 2025-05-01, in parallel): the cluster through ClusterView (kubernetesVersion =
requested, currentKubernetesVersion = running, pools' orchestratorVersion / currentOrchestratorVersion,
sku.tier, location; or the planned body of a pre-flight); GET {cluster}/upgradeProfiles/default
(controlPlaneProfile.upgrades[].kubernetesVersion); GET /subscriptions/{s}/providers/
Microsoft.ContainerService/locations/{region}/kubernetesVersions (values[].version, isPreview,
capabilities.supportPlan[], patchVersions{patch: {upgrades[]}}).
What was asked for: ErrorFacts.requested_version / requested_pool_version (a synchronous 400 leaves the
cluster Succeeded with the old versions, so the body alone would show nothing), else the body's
kubernetesVersion when it differs from the running one. Rules: no downgrade; target minor (and
patch, when given) offered in the region; an LTS-only minor needs the Premium tier; no skipping
minor versions unless the running minor is no longer offered; target in the upgrade profile; node
pools (and a requested pool version) not newer than the control plane and at most 3 minors behind
(2 before 1.28; AKS supported-kubernetes-versions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.checklib import azrefs as az
from shared.checklib.base import API, CheckContext, CheckSpec, Skip, result
from shared.checklib.netread import in_order
from shared.models import CheckResult, CheckStatus, Evidence, Family

DOCS = (
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/aks-upgrade-blocked",
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/nodepoolmcversionincompatible-error",
    "https://learn.microsoft.com/azure/aks/supported-kubernetes-versions",
    "https://learn.microsoft.com/azure/aks/upgrade-cluster",
)


@dataclass(frozen=True)
class PoolVersion:
    name: str
    desired: str | None
    current: str | None
    requested: bool = False  # the version comes from the error (what the pool operation asked for)


@dataclass(frozen=True)
class Offered:
    patches: tuple[str, ...]
    preview: bool
    support_plans: tuple[str, ...]


@dataclass(frozen=True)
class Facts:
    cluster_id: str
    resource_group: str
    cluster_name: str
    region: str | None
    tier: str | None
    current: str | None  # control plane, running
    target: str | None
    target_source: str
    pools: tuple[PoolVersion, ...]
    offered: dict[str, Offered] | None  # minor "1.29" -> what the region offers; None when unreadable
    profile_upgrades: tuple[str, ...] | None  # upgradeProfiles/default controlPlaneProfile.upgrades[]
    profile_id: str
    versions_id: str | None


def _offered(body: dict[str, Any] | None) -> dict[str, Offered] | None:
    if body is None:
        return None
    out: dict[str, Offered] = {}
    for v in az.as_list(body.get("values")):
        if not isinstance(v, dict) or not isinstance(v.get("version"), str):
            continue
        patches = v.get("patchVersions")
        plans = az.as_list(az.dig(v, "capabilities.supportPlan"))
        out[v["version"]] = Offered(tuple(str(p) for p in patches) if isinstance(patches, dict) else (),
                                    v.get("isPreview") is True, tuple(str(p) for p in plans))
    return out


async def gather(ctx: CheckContext) -> Facts:
    facts = ctx.facts
    profile_id = f"{ctx.operation.cluster_id}/upgradeProfiles/default"
    # The upgrade profile's id is the cluster id's child: it does not wait for the cluster body.
    view, profile = await in_order(ctx.view_or_none(), ctx.get_or_none(profile_id, API["managedClusters"]))
    region = (view.region if view else None) or facts.region
    if view is None and not facts.requested_version:
        raise Skip("the cluster does not exist and the error names no requested version")
    versions_id = (f"/subscriptions/{ctx.operation.subscription_id}/providers/Microsoft.ContainerService/"
                   f"locations/{region}/kubernetesVersions") if region else None
    versions = await ctx.get_or_none(versions_id, API["containerserviceMeta"]) if versions_id else None
    # a planned body of an existing cluster keeps the running version; a new cluster's has none
    current = (view.current_kubernetes_version or (None if view.planned else view.kubernetes_version)) if view else None
    desired = view.kubernetes_version if view else None
    target, source = facts.requested_version, "error: requested version"
    if not target and view is not None and view.planned and desired and (
            current is None or az.parse_version(desired) != az.parse_version(current)):
        target, source = desired, "planned properties.kubernetesVersion"
    if not target and desired and current and az.parse_version(desired) != az.parse_version(current):
        target, source = desired, "properties.kubernetesVersion (requested) vs currentKubernetesVersion"
    pools = [PoolVersion(p.name, p.orchestrator_version, p.current_orchestrator_version) for p in (view.pools if view
                                                                                                     else ())]
    if facts.requested_pool_version:
        name = ctx.operation.agent_pool or (view.target_pool.name if view and view.target_pool else "?")
        pools = [p for p in pools if p.name.casefold() != name.casefold()]
        pools.insert(0, PoolVersion(name, facts.requested_pool_version, None, requested=True))
    upgrades = None
    if profile is not None:
        upgrades = tuple(str(u.get("kubernetesVersion")) for u in
                         az.as_list(az.dig(profile, "properties.controlPlaneProfile.upgrades"))
                         if isinstance(u, dict) and u.get("kubernetesVersion"))
    return Facts(view.id if view else ctx.operation.cluster_id, ctx.operation.resource_group,
                 ctx.operation.cluster_name, region, view.sku_tier if view else None, current, target, source,
                 tuple(pools), _offered(versions), upgrades, profile_id, versions_id)


def max_skew(cp_minor: tuple[int, int]) -> int:
    return 3 if cp_minor >= (1, 28) else 2


def _next_version(f: Facts, cur: tuple[int, ...] | None) -> str | None:
    cands = [(v, az.parse_version(v)) for v in (f.profile_upgrades or ())]
    ok = [(v, p) for v, p in cands if p is not None]
    if cur is not None:
        nxt = [(v, p) for v, p in ok if az.minor_of(p) == (cur[0], cur[1] + 1)]
        if nxt:
            return max(nxt, key=lambda t: t[1])[0]
    return max(ok, key=lambda t: t[1])[0] if ok else None


def _oldest_ga_patch(f: Facts) -> str | None:
    """The newest patch of the oldest minor the region offers as GA (not preview)."""
    ga = [(az.parse_version(k), o) for k, o in (f.offered or {}).items() if not o.preview]
    ga = [(v, o) for v, o in ga if v is not None]
    if not ga:
        return None
    _, entry = min(ga, key=lambda t: t[0] or ())
    patches = sorted((p for p in entry.patches if az.parse_version(p)), key=lambda p: az.parse_version(p) or ())
    return patches[-1] if patches else None


def _target_problems(f: Facts, cur: tuple[int, ...] | None, tgt: tuple[int, ...]) -> list[str]:
    problems: list[str] = []
    offered = f.offered or {}
    minors = {az.minor_of(m): k for k, m in ((k, az.parse_version(k)) for k in offered) if m is not None}
    tmin = az.minor_of(tgt)
    cur_offered = cur is not None and (f.offered is None or az.minor_of(cur) in minors)
    entry = offered.get(minors[tmin]) if tmin in minors else None
    if cur is not None and tgt < cur[:len(tgt)]:
        problems.append(f"{f.target} is lower than the running {f.current}: downgrades are not allowed")
    elif f.offered is not None and entry is None:
        problems.append(f"{f.target} is not offered in {f.region}")
    elif entry is not None and len(tgt) == 3 and f.target not in entry.patches:
        problems.append(f"patch {f.target} is not offered in {f.region} "
                        f"(available: {', '.join(entry.patches) or 'none'})")
    elif entry is not None and entry.support_plans and "KubernetesOfficial" not in entry.support_plans and not \
            az.same(f.tier, "Premium"):
        problems.append(f"{f.target} is offered only with long-term support ({', '.join(entry.support_plans)}), "
                        f"which needs the Premium tier (tier: {f.tier or 'Free'})")
    elif cur is not None and tmin[1] - cur[1] > 1 and tmin[0] == cur[0] and cur_offered:
        problems.append(f"{f.current} -> {f.target} skips {tmin[1] - cur[1] - 1} minor version(s); "
                        "upgrade one minor version at a time")
    elif cur is not None and f.profile_upgrades is not None and tgt != cur[:len(tgt)] and not any(
            (p := az.parse_version(u)) is not None and p[:len(tgt)] == tgt for u in f.profile_upgrades):
        problems.append(f"{f.target} is not in the cluster's available upgrades")
    return problems


def evaluate(f: Facts) -> CheckResult:
    ev: list[Evidence] = [Evidence(resource_id=f.cluster_id, property="properties.currentKubernetesVersion",
                                   value=f.current)]
    problems: list[str] = []
    fixes: list[str] = []
    blocks = False
    rg, name = f.resource_group, f.cluster_name
    cur = az.parse_version(f.current)
    tgt = az.parse_version(f.target)
    offered = f.offered or {}
    minors = {az.minor_of(m) for m in (az.parse_version(k) for k in offered) if m is not None}
    if f.offered is not None:
        preview = [k for k, o in offered.items() if o.preview]
        ev.append(Evidence(resource_id=f.versions_id, property="values[].version",
                           value=sorted(offered, key=lambda s: az.parse_version(s) or ()),
                           note=f"offered in {f.region}" + (f"; preview: {', '.join(preview)}" if preview else "")))
    if cur is not None and f.offered is not None and az.minor_of(cur) not in minors:
        problems.append(f"running version {f.current} is no longer offered in {f.region}")
        # AKS: a cluster out of support upgrades to the oldest supported minor first (aks-upgrade-blocked)
        nxt = _next_version(f, cur) or _oldest_ga_patch(f)
        fixes.append(f"az aks get-upgrades -g {rg} -n {name} -o table")
        if nxt:
            fixes.append(f"az aks upgrade -g {rg} -n {name} --kubernetes-version {nxt}")
    if tgt is not None:
        ev.append(Evidence(resource_id=f.cluster_id, property="target version", value=f.target, note=f.target_source))
        found = _target_problems(f, cur, tgt)
        if found:
            blocks = True
            problems += found
        if f.profile_upgrades is not None and cur is not None:
            ev.append(Evidence(resource_id=f.profile_id, property="properties.controlPlaneProfile.upgrades[]",
                               value=list(f.profile_upgrades)))
        if problems and cur is not None:
            nxt = _next_version(f, cur)
            fixes.append(f"az aks get-upgrades -g {rg} -n {name} -o table")
            if nxt:
                fixes.append(f"az aks upgrade -g {rg} -n {name} --kubernetes-version {nxt}")
        elif found:
            fixes.append(f"az aks get-versions --location {f.region} -o table")
    # The control plane each pool version must fit under: a running pool version under the running
    # control plane; a pool's desired version under the control plane the request produces (a cluster
    # upgrade moves the control plane first, then the pools); a pool-only request under the running one.
    cps = [v for v in (cur, tgt) if v is not None]
    if cps:
        planned_cp = max(cps, key=lambda v: v[:2])
        planned_text = f.target if tgt is not None and planned_cp == tgt else f.current
        for pool in f.pools:
            labels = (("requested orchestratorVersion", pool.desired, cur or planned_cp,
                       f.current if cur else planned_text),) if pool.requested else (
                ("currentOrchestratorVersion", pool.current, cur, f.current),
                ("orchestratorVersion", pool.desired, planned_cp, planned_text))
            for label, ver, cp, cp_text in labels:
                pv = az.parse_version(ver)
                if pv is None or cp is None:
                    continue
                pm, cpm = az.minor_of(pv), az.minor_of(cp)
                bad = None
                if pm > cpm:
                    bad = f"pool {pool.name} {label} {ver} is newer than the control plane {cp_text}"
                elif cpm[0] == pm[0] and cpm[1] - pm[1] > max_skew(cpm):
                    bad = (f"pool {pool.name} {label} {ver} is {cpm[1] - pm[1]} minor versions behind the "
                           f"control plane {cp_text} (max {max_skew(cpm)})")
                if bad:
                    blocks = blocks or pool.requested
                    problems.append(bad)
                    ev.append(Evidence(resource_id=f"{f.cluster_id}/agentPools/{pool.name}",
                                       property=f"properties.{label.split()[-1]}", value=ver, note=bad))
                    if pm > cpm:
                        fixes.append(f"az aks upgrade -g {rg} -n {name} --control-plane-only --kubernetes-version "
                                     f"{ver}  # first the control plane, then the pool")
                    fixes.append(f"az aks nodepool upgrade -g {rg} --cluster-name {name} -n {pool.name} "
                                 f"--kubernetes-version {cp_text}")
                    break
    if problems:
        return result(SPEC, CheckStatus.FAIL, "; ".join(dict.fromkeys(problems)), evidence=tuple(ev),
                      remediation="\n".join(dict.fromkeys(fixes)), blocks_request=blocks)
    if cur is None and tgt is None:
        why = "the cluster body shows no Kubernetes version and the error names none"
        return result(SPEC, CheckStatus.SKIPPED, f"skipped: {why}", evidence=tuple(ev), reason=why)
    if f.offered is None and cur is None:
        why = f"the region's version list could not be read ({f.versions_id})"
        return result(SPEC, CheckStatus.SKIPPED, f"skipped: {why}", evidence=tuple(ev), reason=why)
    if tgt and cur:
        what = f"{f.current} -> {f.target} is a valid upgrade"
    elif tgt:
        what = f"{f.target} is offered in {f.region}"
    else:
        what = f"{f.current} is offered"
    return result(SPEC, CheckStatus.PASS, f"{what}; node pools within the skew window", evidence=tuple(ev))


SPEC: CheckSpec[Facts] = CheckSpec(
    id="kubernetes_version",
    title="Kubernetes version and upgrade path",
    docs=DOCS,
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.VERSIONS, Family.NODE_RESOURCE_GROUP}),
    relevance={"versions": 100, "node_resource_group": 30},
    targets=("kubernetesVersion", "orchestratorVersion",),
    predicts={"default": "OperationNotAllowed", "create": "AgentPoolK8sVersionNotSupported",
              "add_pool": "NodePoolMcVersionIncompatible"},
)
