"""node_resource_group: the AKS node resource group (MC_*) exists, is not locked, and still looks
AKS-managed.

Reads: cluster (2025-05-01) properties.nodeResourceGroup; GET /subscriptions/{s}/resourceGroups/{nrg}
(resources 2021-04-01: managedBy, tags.aks-managed-cluster-name / aks-managed-cluster-rg,
properties.provisioningState); GET {nrg}/providers/Microsoft.Authorization/locks (locks 2020-05-01:
value[].properties.level CanNotDelete|ReadOnly, inherited locks included), and the same list for the
cluster's own resource group (ReadOnly there blocks every cluster write, CanNotDelete blocks delete).
A 404 on the group is itself the finding (deleted node resource group).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from shared.armid import ResourceKind
from shared.checklib import azrefs as az
from shared.checklib.base import API, CheckContext, CheckSpec, Skip, result
from shared.checklib.netread import in_order
from shared.models import CheckResult, CheckStatus, Evidence, Family
from shared.ports import ArmForbidden

DOCS = (
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/availability-performance/cluster-node-virtual-machine-failed-state",
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/create-upgrade-delete/cannot-scale-cluster-autoscaler-enabled-node-pool",
)


@dataclass(frozen=True)
class Lock:
    id: str
    level: str | None


@dataclass(frozen=True)
class Facts:
    cluster_id: str
    cluster_name: str
    resource_group: str
    verb: str
    node_rg_id: str
    exists: bool
    managed_by: str | None
    state: str | None
    tag_cluster: str | None
    tag_rg: str | None
    locks: tuple[Lock, ...]
    locks_readable: bool = True
    cluster_rg_locks: tuple[Lock, ...] = ()  # on the cluster's own resource group (not inherited duplicates)


async def _locks(ctx: CheckContext, rid: str) -> dict[str, Any] | bool | None:
    """The locks list, None on 404, False when the app may not read locks."""
    try:
        return await ctx.get_or_none(f"{rid}/providers/Microsoft.Authorization/locks", API["locks"])
    except ArmForbidden:
        return False


def _tag(tags: Any, key: str) -> str | None:
    if not isinstance(tags, dict):
        return None
    for k, v in tags.items():
        if isinstance(k, str) and k.casefold() == key and isinstance(v, str):
            return v
    return None


async def gather(ctx: CheckContext) -> Facts:
    crg = az.rg_id(ctx.operation.subscription_id, ctx.operation.resource_group)

    async def node_rg() -> tuple[str, list[Any]]:
        cluster = await ctx.cluster()
        nrg = az.as_str(az.dig(cluster, "properties.nodeResourceGroup"))
        if not nrg:
            raise Skip("the cluster body has no properties.nodeResourceGroup")
        rid = az.rg_id(ctx.operation.subscription_id, nrg)
        return rid, await asyncio.gather(ctx.get_or_none(rid, API["resources"]), _locks(ctx, rid))

    # The cluster resource group's locks do not depend on the cluster body.
    (rid, (rg, locks_body)), crg_locks_body = await in_order(node_rg(), _locks(ctx, crg))
    readable = locks_body is not False and crg_locks_body is not False
    locks = _lock_list(locks_body)
    seen = {lk.id.casefold() for lk in locks}
    crg_locks = tuple(lk for lk in _lock_list(crg_locks_body) if lk.id.casefold() not in seen)
    tags = (rg or {}).get("tags")
    return Facts(ctx.operation.cluster_id, ctx.operation.cluster_name, ctx.operation.resource_group,
                 ctx.operation.verb, rid, rg is not None, az.as_str((rg or {}).get("managedBy")),
                 az.as_str(az.dig(rg, "properties.provisioningState")),
                 _tag(tags, "aks-managed-cluster-name"), _tag(tags, "aks-managed-cluster-rg"),
                 locks if rg else (), readable, crg_locks)


def _lock_list(body: dict[str, Any] | bool | None) -> tuple[Lock, ...]:
    items = az.as_list(body.get("value")) if isinstance(body, dict) else []
    return tuple(Lock(str(item.get("id") or ""), az.as_str(az.dig(item, "properties.level")))
                 for item in items if isinstance(item, dict))


def evaluate(f: Facts) -> CheckResult:
    rg, name = f.resource_group, f.cluster_name
    if not f.exists:
        ev = (Evidence(resource_id=f.node_rg_id, property="resourceGroup", value=None,
                       note="properties.nodeResourceGroup names a group that does not exist (404)"),)
        if f.verb == "delete":
            return result(SPEC, CheckStatus.PASS, "node resource group already deleted (expected while deleting)",
                          evidence=ev)
        return result(SPEC, CheckStatus.FAIL, f"node resource group {az.name_of(f.node_rg_id)} was deleted",
                      evidence=ev,
                      remediation=("the cluster cannot be repaired without its node resource group; recreate it:\n"
                                   f"az aks delete -g {rg} -n {name}\naz aks create -g {rg} -n {name} ..."))
    problems: list[str] = []
    fixes: list[str] = []
    ev_list = [Evidence(resource_id=f.node_rg_id, property="managedBy", value=f.managed_by,
                        note=f"expected {f.cluster_id}")]
    if az.state_is(f.state, "Deleting"):
        problems.append("node resource group is being deleted")
        ev_list.append(Evidence(resource_id=f.node_rg_id, property="properties.provisioningState", value=f.state))
    if not az.same(f.managed_by, f.cluster_id):
        problems.append("managedBy no longer points at the cluster" if f.managed_by else "managedBy was removed")
        fixes.append(f"az aks update -g {rg} -n {name}  # reconcile; if managedBy stays wrong, open a support request")
    for key, val, want in (("aks-managed-cluster-name", f.tag_cluster, name), ("aks-managed-cluster-rg", f.tag_rg, rg)):
        if val is None:
            ev_list.append(Evidence(resource_id=f.node_rg_id, property=f"tags.{key}", value=None,
                                    note="AKS-managed tag absent"))
        elif not az.same(val, want):
            problems.append(f"tag {key} changed to {val!r}")
            ev_list.append(Evidence(resource_id=f.node_rg_id, property=f"tags.{key}", value=val,
                                    note=f"expected {want}"))
            fixes.append(f"az tag update --resource-id {f.node_rg_id} --operation Merge --tags {key}={want}")
    for lk in f.locks:
        lk_scope = lk.id.casefold().split("/providers/microsoft.authorization/locks/")[0] if lk.id else ""
        scope = lk.id[:len(lk_scope)] if lk_scope else f.node_rg_id
        problems.append(f"{lk.level or 'a'} lock {az.name_of(lk.id)} at {scope}")
        ev_list.append(Evidence(resource_id=lk.id, property="properties.level", value=lk.level,
                                note="locks block the writes/deletes AKS makes in the node resource group"))
        fixes.append(f"az lock delete --ids {lk.id}")
    for lk in f.cluster_rg_locks:
        # ReadOnly blocks every write to the cluster; CanNotDelete only blocks deleting it.
        blocking = az.state_is(lk.level, "ReadOnly") or (az.state_is(lk.level, "CanNotDelete") and f.verb == "delete")
        ev_list.append(Evidence(resource_id=lk.id, property="properties.level", value=lk.level,
                                note="lock on the cluster's resource group"
                                     + ("; blocks this operation" if blocking else "; does not block this operation")))
        if blocking:
            problems.append(f"{lk.level} lock {az.name_of(lk.id)} on the cluster's resource group {rg}")
            fixes.append(f"az lock delete --ids {lk.id}")
    if problems:
        return result(SPEC, CheckStatus.FAIL, f"node resource group {az.name_of(f.node_rg_id)}: " + "; ".join(problems),
                      evidence=tuple(ev_list), remediation="\n".join(fixes))
    if not f.locks_readable:
        why = (f"cannot read management locks on {f.node_rg_id} / the cluster's resource group: the app identity "
               "needs Microsoft.Authorization/locks/read")
        return result(SPEC, CheckStatus.ERROR, f"cannot check: {why}", evidence=tuple(ev_list), reason=why)
    return result(SPEC, CheckStatus.PASS,
                  f"node resource group {az.name_of(f.node_rg_id)} exists, is managed by the cluster and has no locks",
                  evidence=tuple(ev_list))


SPEC: CheckSpec[Facts] = CheckSpec(
    id="node_resource_group",
    title="Node resource group exists, unlocked and AKS-managed",
    docs=DOCS,
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.NODE_RESOURCE_GROUP, Family.LOCKS, Family.VERSIONS, Family.CLUSTER_STATE,
                        Family.NETWORK_CONFIG}),
    relevance={"node_resource_group": 100, "locks": 90, "versions": 30, "cluster_state": 30,
               "network_config": 40},
    targets=("nodeResourceGroup",),
    resource_kinds=frozenset({ResourceKind.LOCK, ResourceKind.VMSS, ResourceKind.LOAD_BALANCER}),
)
