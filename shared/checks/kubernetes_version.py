"""kubernetes_version: the requested Kubernetes version is offered in the region and reachable from the
current one, and node pools stay within the control-plane skew window.

Reads (containerservice 2025-05-01, in parallel): the cluster (kubernetesVersion = requested,
currentKubernetesVersion = running, agentPoolProfiles[].{orchestratorVersion,currentOrchestratorVersion},
location); GET {cluster}/upgradeProfiles/default (controlPlaneProfile.upgrades[].kubernetesVersion);
GET /subscriptions/{s}/providers/Microsoft.ContainerService/locations/{region}/kubernetesVersions
(values[].version, values[].patchVersions{patch: {upgrades[]}}).
Target: classifier facts `target_version` / `kubernetes_version` / `requested_version`, else
"<from> to <to>" in the error text, else the cluster's kubernetesVersion when it differs from the
running version. Rules: no downgrade; target minor (and patch, when given) offered in the region; no
skipping minor versions unless the running minor is no longer offered; target listed in the upgrade
profile; node pools not newer than the control plane and at most 3 minors behind (2 before 1.28).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from shared.checklib import azrefs as az
from shared.checklib.base import API, CheckContext, CheckSpec, result
from shared.checklib.netread import in_order
from shared.models import CheckResult, CheckStatus, Evidence, Family

DOCS = (
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/aks-upgrade-blocked",
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/nodepoolmcversionincompatible-error",
    "https://learn.microsoft.com/azure/aks/upgrade-cluster",
)
_FROM_TO = re.compile(r"(\d+\.\d+\.\d+)\s+to\s+(\d+\.\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class PoolVersion:
    name: str
    desired: str | None
    current: str | None


@dataclass(frozen=True)
class Facts:
    cluster_id: str
    resource_group: str
    cluster_name: str
    region: str | None
    current: str | None  # control plane, running
    target: str | None
    target_source: str
    pools: tuple[PoolVersion, ...]
    offered: dict[str, tuple[str, ...]] | None  # minor "1.29" -> patches; None when unreadable
    preview_minors: tuple[str, ...]
    profile_upgrades: tuple[str, ...] | None  # upgradeProfiles/default controlPlaneProfile.upgrades[]
    profile_id: str
    versions_id: str | None


def _offered(body: dict[str, Any] | None) -> tuple[dict[str, tuple[str, ...]] | None, tuple[str, ...]]:
    if body is None:
        return None, ()
    out: dict[str, tuple[str, ...]] = {}
    preview: list[str] = []
    for v in az.as_list(body.get("values")):
        if not isinstance(v, dict) or not isinstance(v.get("version"), str):
            continue
        patches = v.get("patchVersions")
        out[v["version"]] = tuple(str(p) for p in patches) if isinstance(patches, dict) else ()
        if v.get("isPreview") is True:
            preview.append(v["version"])
    return out, tuple(preview)


async def gather(ctx: CheckContext) -> Facts:
    profile_id = f"{ctx.operation.cluster_id}/upgradeProfiles/default"

    async def cluster_and_versions() -> tuple[dict[str, Any], str | None, str | None, dict[str, Any] | None]:
        cluster = await ctx.cluster()
        region_raw = az.as_str(cluster.get("location"))
        region = az.normalize_region(region_raw) if region_raw else None
        versions_id = (f"/subscriptions/{ctx.operation.subscription_id}/providers/Microsoft.ContainerService/"
                       f"locations/{region}/kubernetesVersions") if region else None
        versions = await ctx.get_or_none(versions_id, API["containerserviceMeta"]) if versions_id else None
        return cluster, region, versions_id, versions

    # The upgrade profile's id is the cluster id's child: it does not wait for the cluster body.
    (cluster, region, versions_id, versions), profile = await in_order(
        cluster_and_versions(), ctx.get_or_none(profile_id, API["managedClusters"]))
    props = cluster.get("properties") or {}
    current = az.as_str(props.get("currentKubernetesVersion")) or az.as_str(props.get("kubernetesVersion"))
    desired = az.as_str(props.get("kubernetesVersion"))
    target = az.as_str(az.fact(ctx.facts, "requested_version"))
    source = "error facts"
    if not target:
        for e in ctx.error.walk():
            m = _FROM_TO.search(e.message)
            if m:
                target, source = m.group(2), "error message"
                break
    if not target and desired and current and az.parse_version(desired) != az.parse_version(current):
        target, source = desired, "properties.kubernetesVersion (requested) vs currentKubernetesVersion"
    pools = tuple(PoolVersion(str(p.get("name") or "?"), az.as_str(p.get("orchestratorVersion")),
                              az.as_str(p.get("currentOrchestratorVersion")))
                  for p in az.as_list(props.get("agentPoolProfiles")) if isinstance(p, dict))
    upgrades = None
    if profile is not None:
        upgrades = tuple(str(u.get("kubernetesVersion")) for u in
                         az.as_list(az.dig(profile, "properties.controlPlaneProfile.upgrades"))
                         if isinstance(u, dict) and u.get("kubernetesVersion"))
    offered, preview = _offered(versions)
    return Facts(ctx.operation.cluster_id, ctx.operation.resource_group, ctx.operation.cluster_name, region,
                 current, target, source, pools, offered, preview, upgrades, profile_id, versions_id)


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


def evaluate(f: Facts) -> CheckResult:
    ev: list[Evidence] = [Evidence(resource_id=f.cluster_id, property="properties.currentKubernetesVersion",
                                   value=f.current)]
    problems: list[str] = []
    fixes: list[str] = []
    rg, name = f.resource_group, f.cluster_name
    cur = az.parse_version(f.current)
    tgt = az.parse_version(f.target)
    minors = {az.parse_version(m) for m in (f.offered or {})}
    offered_minors = {az.minor_of(m) for m in minors if m is not None}
    if f.offered is not None:
        ev.append(Evidence(resource_id=f.versions_id, property="values[].version",
                           value=sorted(f.offered, key=lambda s: az.parse_version(s) or ()),
                           note=f"offered in {f.region}" + (f"; preview: {', '.join(f.preview_minors)}"
                                                             if f.preview_minors else "")))
    cur_offered = cur is not None and (f.offered is None or az.minor_of(cur) in offered_minors)
    if cur is not None and f.offered is not None and not cur_offered:
        problems.append(f"running version {f.current} is no longer offered in {f.region}")
    if tgt is not None and cur is not None:
        ev.append(Evidence(resource_id=f.cluster_id, property="target version", value=f.target, note=f.target_source))
        tmin = az.minor_of(tgt)
        if tgt < cur[:len(tgt)]:
            problems.append(f"{f.target} is lower than the running {f.current}: downgrades are not allowed")
        elif f.offered is not None and tmin not in offered_minors:
            problems.append(f"{f.target} is not offered in {f.region}")
        elif f.offered is not None and len(tgt) == 3 and f.target not in f.offered.get(az.fmt_minor(tgt), ()):
            problems.append(f"patch {f.target} is not offered in {f.region} "
                            f"(available: {', '.join(f.offered.get(az.fmt_minor(tgt), ())) or 'none'})")
        elif tmin[1] - cur[1] > 1 and tmin[0] == cur[0] and cur_offered:
            problems.append(f"{f.current} -> {f.target} skips {tmin[1] - cur[1] - 1} minor version(s); "
                            "upgrade one minor version at a time")
        elif f.profile_upgrades is not None and tgt != cur[:len(tgt)] and not any(
                (p := az.parse_version(u)) is not None and p[:len(tgt)] == tgt for u in f.profile_upgrades):
            problems.append(f"{f.target} is not in the cluster's available upgrades")
        if f.profile_upgrades is not None:
            ev.append(Evidence(resource_id=f.profile_id, property="properties.controlPlaneProfile.upgrades[]",
                               value=list(f.profile_upgrades)))
        if problems:
            nxt = _next_version(f, cur)
            fixes.append(f"az aks get-upgrades -g {rg} -n {name} -o table")
            if nxt:
                fixes.append(f"az aks upgrade -g {rg} -n {name} --kubernetes-version {nxt}")
    if cur is not None:
        cpm = az.minor_of(cur)
        for pool in f.pools:
            for label, ver in (("currentOrchestratorVersion", pool.current), ("orchestratorVersion", pool.desired)):
                pv = az.parse_version(ver)
                if pv is None:
                    continue
                pm = az.minor_of(pv)
                bad = None
                if pm > cpm:
                    bad = f"pool {pool.name} {label} {ver} is newer than the control plane {f.current}"
                elif cpm[0] == pm[0] and cpm[1] - pm[1] > max_skew(cpm):
                    bad = (f"pool {pool.name} {label} {ver} is {cpm[1] - pm[1]} minor versions behind the "
                           f"control plane {f.current} (max {max_skew(cpm)})")
                if bad:
                    problems.append(bad)
                    ev.append(Evidence(resource_id=f"{f.cluster_id}/agentPools/{pool.name}",
                                       property=f"properties.{label}", value=ver, note=bad))
                    fixes.append(f"az aks nodepool upgrade -g {rg} --cluster-name {name} -n {pool.name} "
                                 f"--kubernetes-version {f.current}")
                    break
    if problems:
        return result(SPEC, CheckStatus.FAIL, "; ".join(dict.fromkeys(problems)), evidence=tuple(ev),
                      remediation="\n".join(dict.fromkeys(fixes)))
    if cur is None:
        why = "the cluster body shows no Kubernetes version"
        return result(SPEC, CheckStatus.SKIPPED, f"skipped: {why}", evidence=tuple(ev), reason=why)
    what = f"{f.current} -> {f.target} is a valid upgrade" if tgt else f"{f.current} is offered"
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
)
