"""resource_locks: a management lock on a scope the failed operation has to change.

Reads `GET {scope}/providers/Microsoft.Authorization/locks` (api 2020-05-01,
ManagementLocks_ListAtResourceGroupLevel / ListAtResourceLevel: value[].{id, name,
properties.level, properties.notes}) on the cluster resource itself, the cluster's resource group,
the node resource group (ClusterView.node_resource_group), the resource groups of the BYO subnets
(node, pod, API server) and of a BYO private DNS zone. Without `$filter=atScope()` ARM lists the
locks at the scope, those inherited from above it and those on resources below it; a lock's own
scope is the part of its id before `/providers/Microsoft.Authorization/locks/`, and it applies to
everything at or below that scope (a lock on a sibling resource is listed but changes nothing).

What blocks what (Azure Resource Manager lock semantics):
- `ReadOnly` blocks every write and delete: on the cluster, its group or the node resource group it
  blocks create / update / upgrade / scale / start / stop (AKS writes VMSS, NICs, load balancer and
  disks in the node resource group); on the network's group it blocks the subnet / route table
  writes AKS makes (likely, unless the error names a resource under it).
- `CanNotDelete` blocks deletes only: deleting the cluster or a node pool (AKS deletes the node
  resource group / the pool's VMSS). It does not block a scale or an upgrade, unless the error is
  itself a lock error (ScopeLocked, ResourceGroupLocked, LockedResource ...) naming a resource under
  the lock: then the operation tried to delete there (scale-down, surge node removal).
A 403 on a locks list is "cannot decide" (the app needs Microsoft.Authorization/locks/read), not a
pass; with a lock error it is a likely cause.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

from shared import armid
from shared.armid import ResourceKind
from shared.checklib import azrefs as az
from shared.checklib.base import API, CheckContext, CheckSpec, result
from shared.models import CheckResult, CheckStatus, Evidence, Family
from shared.ports import ArmForbidden, ArmNotFound

DOCS = (
    "https://learn.microsoft.com/azure/azure-resource-manager/management/lock-resources",
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/availability-performance/cluster-node-virtual-machine-failed-state",
    "https://learn.microsoft.com/azure/aks/node-resource-group-lockdown",
)
LOCK_CODES = frozenset(c.casefold() for c in (
    "ScopeLocked", "ResourceGroupLocked", "LockedResource", "ResourceLocked", "SubscriptionLocked"))
LOCKS_SEGMENT = "/providers/microsoft.authorization/locks/"
Area = Literal["cluster", "node resource group", "network"]


@dataclass(frozen=True)
class Scope:
    id: str
    area: Area
    label: str  # "cluster", "cluster resource group", "node resource group", "network resource group"
    resources: tuple[str, ...] = ()  # network: the BYO resources in the group (a lock on a sibling is no matter)


@dataclass(frozen=True)
class Lock:
    id: str
    name: str
    level: str
    notes: str | None
    scope: str  # the scope the lock is placed on


@dataclass(frozen=True)
class Facts:
    cluster_id: str
    verb: str
    scopes: tuple[Scope, ...]
    locks: tuple[Lock, ...]
    unreadable: tuple[tuple[str, str], ...]  # (scope id, why)
    lock_error: bool  # the error is a lock error (ScopeLocked, ...)
    error_ids: tuple[str, ...]  # ARM ids the error names
    kubenet: bool


def lock_scope(lock_id: str) -> str:
    i = lock_id.casefold().find(LOCKS_SEGMENT)
    return lock_id[:i] if i >= 0 else lock_id


def _locks(body: dict[str, object] | None) -> list[Lock]:
    out = []
    for item in az.as_list((body or {}).get("value")):
        if not isinstance(item, dict):
            continue
        lid = az.as_str(item.get("id"))
        level = az.as_str(az.dig(item, "properties.level"))
        if lid and level:
            out.append(Lock(lid, az.as_str(item.get("name")) or armid.name_of(lid), level,
                            az.as_str(az.dig(item, "properties.notes")), lock_scope(lid)))
    return out


async def gather(ctx: CheckContext) -> Facts:
    op = ctx.operation
    view = await ctx.view_or_none()
    sub = view.subscription if view and view.subscription else op.subscription_id
    scopes: list[Scope] = [Scope(op.cluster_id, "cluster", "cluster"),
                           Scope(az.rg_id(sub, op.resource_group), "cluster", "cluster resource group")]

    def add(rid: str | None, area: Area, label: str, resource: str | None = None) -> None:
        if not rid:
            return
        for i, s in enumerate(scopes):
            if armid.same(rid, s.id):
                if resource:
                    scopes[i] = Scope(s.id, s.area, s.label, (*s.resources, resource))
                return
        scopes.append(Scope(rid, area, label, (resource,) if resource else ()))

    if view is not None:
        if view.node_resource_group:
            add(az.rg_id(sub, view.node_resource_group), "node resource group", "node resource group")
        for subnet in view.subnet_ids():
            parsed = armid.parse(subnet)
            add(parsed.scope if parsed else None, "network", "network resource group", subnet)
        zone = view.private_dns_zone
        if zone and armid.is_kind(zone, ResourceKind.PRIVATE_DNS_ZONE):
            parsed = armid.parse(zone)
            add(parsed.scope if parsed else None, "network", "private DNS zone resource group", zone)

    async def read(scope: Scope) -> tuple[list[Lock], str | None]:
        try:
            body = await ctx.get(f"{scope.id}/providers/Microsoft.Authorization/locks", API["locks"])
        except ArmForbidden as err:
            return [], (f"the app may not read locks on {scope.id} (ARM {err.status} {err.code}): it needs "
                        "Microsoft.Authorization/locks/read (Reader)")
        except ArmNotFound:
            return [], None  # the scope does not exist (a deleted node resource group is another check's)
        return _locks(body), None

    answers = await asyncio.gather(*(read(s) for s in scopes))
    locks: list[Lock] = []
    for found, _ in answers:
        for lk in found:
            if not any(armid.same(lk.id, x.id) for x in locks):
                locks.append(lk)
    unreadable = tuple((s.id, why) for s, (_, why) in zip(scopes, answers, strict=True) if why)
    facts = ctx.facts
    codes = {c.casefold() for c in (*facts.codes, facts.specific_code or "", facts.outer_code or "",
                                    ctx.classification.code)}
    lock_error = bool(codes & LOCK_CODES)
    if ctx.planned is None:
        # a failure's families are the error's; in pre-flight they are the ones the planned operation can
        # fail in (nothing has failed yet), so only a lock code makes it a lock error
        lock_error = lock_error or Family.LOCKS in ctx.classification.families
    return Facts(op.cluster_id, op.verb, tuple(scopes), tuple(locks), unreadable, lock_error, facts.ids(),
                 bool(view and view.network_plugin.casefold() == "kubenet"))


@dataclass(frozen=True)
class Verdict:
    lock: Lock
    area: Area | None  # what the lock covers among the scopes the operation changes
    blocks: bool
    confirmed: bool
    why: str


def _area(lock: Lock, scopes: tuple[Scope, ...]) -> tuple[Area | None, Scope | None]:
    """The area a lock covers: a lock at or above a scope, or on a resource inside one."""
    for area in ("cluster", "node resource group", "network"):
        for s in scopes:
            if s.area != area:
                continue
            if area == "cluster" and s.label == "cluster resource group":
                # the cluster's group: only a lock at or above it covers the cluster (not one on a sibling)
                if armid.within(s.id, lock.scope):
                    return "cluster", s
                continue
            if armid.within(s.id, lock.scope):
                return area, s
            if armid.within(lock.scope, s.id) and (area != "network"
                                                    or any(armid.within(r, lock.scope) for r in s.resources)):
                return area, s
    return None, None


def judge(f: Facts, lock: Lock) -> Verdict:
    area, scope = _area(lock, f.scopes)
    deleting = f.verb == "delete"
    named = any(armid.within(i, lock.scope) for i in f.error_ids)
    where = f"{lock.level} lock {lock.name} on {az.scope_level(lock.scope)} {lock.scope}"
    if area is None:
        return Verdict(lock, None, False, False, f"{where} covers nothing this operation changes")
    covers = f"covers the {scope.label if scope else area}"
    if az.state_is(lock.level, "ReadOnly"):
        if area == "network":
            if deleting:
                return Verdict(lock, area, False, False, f"{where} {covers}; AKS deletes nothing there")
            what = "the route table and subnet writes AKS makes (kubenet)" if f.kubenet else \
                "the subnet writes AKS makes when it joins NICs"
            return Verdict(lock, area, True, named and f.lock_error, f"{where} {covers}: ReadOnly blocks {what}")
        if area == "node resource group" and scope is not None and not armid.within(scope.id, lock.scope) \
                and not deleting:
            # on one resource inside the node resource group: it blocks the operation if the operation
            # writes that resource (the pool's VMSS, the load balancer ...), which only the error can show
            return Verdict(lock, area, True, named, f"{where} is on a resource AKS manages in the node resource "
                                                    f"group: ReadOnly blocks the {f.verb} if it writes it")
        return Verdict(lock, area, True, True, f"{where} {covers}: ReadOnly blocks every write and delete "
                                               f"({f.verb} included)")
    if az.state_is(lock.level, "CanNotDelete"):
        if area == "network":
            return Verdict(lock, area, False, False, f"{where} {covers}; AKS deletes nothing there")
        if deleting:
            return Verdict(lock, area, True, True, f"{where} {covers}: CanNotDelete blocks the delete")
        if f.lock_error and named:
            return Verdict(lock, area, True, True, f"{where} {covers}: the lock error names a resource under it "
                                                   f"(the {f.verb} deletes instances, NICs or disks there)")
        return Verdict(lock, area, False, False, f"{where} {covers}; CanNotDelete does not block a {f.verb}")
    return Verdict(lock, area, False, False, f"{where}: level not enforced")


def _recreate(lock: Lock) -> str:
    parsed = armid.parse(lock.scope)
    if parsed and parsed.namespace:
        target = f"--resource {lock.scope}"
    elif parsed and parsed.resource_group:
        target = f"--resource-group {parsed.resource_group}"
    else:
        target = f"--subscription {parsed.subscription if parsed else lock.scope}"
    return f"az lock create --name {lock.name} --lock-type {lock.level} {target}"


def evaluate(f: Facts) -> CheckResult:
    verdicts = [judge(f, lk) for lk in f.locks]
    ev = [Evidence(resource_id=v.lock.id, property="properties.level", value=v.lock.level,
                   note=v.why + (f"; notes: {v.lock.notes}" if v.lock.notes else ""))
          for v in verdicts]
    ev += [Evidence(resource_id=s, property="locks", value=None, note=why) for s, why in f.unreadable]
    blocking = [v for v in verdicts if v.blocks]
    if blocking:
        first = next((v for v in blocking if v.confirmed), blocking[0])
        likely = not any(v.confirmed for v in blocking)
        fixes = [f"az lock delete --ids {v.lock.id}" for v in blocking]
        fixes.append(f"# then retry the {f.verb}; put the lock back afterwards if it is still wanted:")
        fixes += [_recreate(v.lock) for v in blocking]
        if any(v.area == "node resource group" for v in blocking):
            fixes.append("# to keep people out of the node resource group, use node resource group lockdown instead "
                         "of a lock: az aks update --nrg-lockdown-restriction-level ReadOnly")
        more = f" (+{len(blocking) - 1} more)" if len(blocking) > 1 else ""
        return result(SPEC, CheckStatus.FAIL, f"{first.lock.level} lock {first.lock.name} on {first.lock.scope} "
                      f"blocks the {f.verb}{more}", evidence=tuple(ev), remediation="\n".join(fixes),
                      confidence="likely" if likely else "confirmed",
                      confirm_by=("the lock error's 'following scope(s) are locked' names "
                                  f"{first.lock.scope}, or the {f.verb} succeeds after `az lock delete`")
                      if likely else None)
    if f.lock_error and f.unreadable:
        scopes = ", ".join(s for s, _ in f.unreadable)
        return result(SPEC, CheckStatus.FAIL, f"the error reports a lock; the locks on {scopes} could not be read",
                      evidence=tuple(ev), confidence="likely",
                      confirm_by="; ".join(f"az lock list --resource-group {armid.resource_group_of(s) or s} -o table"
                                           for s, _ in f.unreadable),
                      remediation="az lock delete --ids <the lock id `az lock list` shows>",
                      reason="; ".join(why for _, why in f.unreadable))
    if f.unreadable:
        why = "; ".join(why for _, why in f.unreadable)
        return result(SPEC, CheckStatus.ERROR, f"cannot check: {why}", evidence=tuple(ev), reason=why)
    if f.lock_error:
        why = ("the error reports a lock, but none of the scopes read has one that blocks a "
               f"{f.verb}: " + ", ".join(s.id for s in f.scopes))
        return result(SPEC, CheckStatus.ERROR, f"cannot check: {why}", evidence=tuple(ev), reason=why)
    summary = (f"no lock blocks the {f.verb}" + (f" ({len(verdicts)} lock(s) found, none blocking)" if verdicts else
                                                 f" (no locks on {len(f.scopes)} scope(s))"))
    return result(SPEC, CheckStatus.PASS, summary, evidence=tuple(ev))


SPEC: CheckSpec[Facts] = CheckSpec(
    id="resource_locks",
    title="Management locks on the cluster, node and network resource groups",
    docs=DOCS,
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.LOCKS}),
    relevance={"locks": 100},
    resource_kinds=frozenset({ResourceKind.LOCK}),
    predicts={"default": "ScopeLocked"},
)
