"""node_resource_group: the AKS node resource group (MC_*) exists and still looks AKS-managed.

Reads: the cluster through ClusterView (properties.nodeResourceGroup); GET
/subscriptions/{s}/resourceGroups/{nrg} (resources 2021-04-01: managedBy, tags.aks-managed-cluster-name /
aks-managed-cluster-rg, properties.provisioningState). A 404 on the group is itself the finding
(deleted node resource group). Management locks on it are resource_locks' (which knows which lock
level blocks which operation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.armid import ResourceKind
from shared.checklib import azrefs as az
from shared.checklib.base import API, CheckContext, CheckSpec, NotApplicable, Skip, result
from shared.models import CheckResult, CheckStatus, Evidence, Family

DOCS = (
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/availability-performance/cluster-node-virtual-machine-failed-state",
    "https://learn.microsoft.com/azure/aks/faq#can-i-modify-tags-and-other-properties-of-the-aks-resources-in-the-node-resource-group",
)


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
    planned_create: bool = False  # pre-flight of a create: AKS creates the group


def _tag(tags: Any, key: str) -> str | None:
    if not isinstance(tags, dict):
        return None
    for k, v in tags.items():
        if isinstance(k, str) and k.casefold() == key and isinstance(v, str):
            return v
    return None


async def gather(ctx: CheckContext) -> Facts:
    view = await ctx.view()
    if not view.node_resource_group:
        raise Skip("the cluster body has no properties.nodeResourceGroup")
    rid = az.rg_id(view.subscription or ctx.operation.subscription_id, view.node_resource_group)
    rg = await ctx.get_or_none(rid, API["resources"])
    planned_create = view.planned and not view.provisioning_state
    if rg is None and planned_create:
        raise NotApplicable(f"planned create: node resource group {view.node_resource_group} does not exist yet "
                            "(AKS creates it)")
    tags = (rg or {}).get("tags")
    return Facts(view.id, ctx.operation.cluster_name, ctx.operation.resource_group, ctx.operation.verb, rid,
                 rg is not None,
                 az.as_str((rg or {}).get("managedBy")), az.as_str(az.dig(rg, "properties.provisioningState")),
                 _tag(tags, "aks-managed-cluster-name"), _tag(tags, "aks-managed-cluster-rg"), planned_create)


def _evaluate_planned_create(f: Facts) -> CheckResult:
    """A create makes the node resource group; one that exists already must be this cluster's own."""
    name = az.name_of(f.node_rg_id)
    ev = (Evidence(resource_id=f.node_rg_id, property="managedBy", value=f.managed_by,
                   note="the planned create names it in properties.nodeResourceGroup; expected absent or "
                        f"{f.cluster_id}"),
          Evidence(resource_id=f.node_rg_id, property="tags.aks-managed-cluster-name", value=f.tag_cluster))
    if az.same(f.managed_by, f.cluster_id):  # left by an earlier cluster of the same id
        return result(SPEC, CheckStatus.PASS, f"node resource group {name} exists and is already managed by this "
                      "cluster id", evidence=ev)
    owner = f"managed by {f.managed_by}" if f.managed_by else "not managed by any cluster (no managedBy)"
    return result(SPEC, CheckStatus.FAIL,
                  f"node resource group {name} already exists and is {owner}: AKS creates the node resource group "
                  "and cannot use an existing one", evidence=ev,
                  remediation=(f"set properties.nodeResourceGroup to a name no resource group has (or leave it unset "
                               f"for MC_{f.resource_group}_{f.cluster_name}_<region>); or delete the group if "
                               f"nothing in it is needed: az group delete -n {name}"))


def evaluate(f: Facts) -> CheckResult:
    if f.planned_create:
        return _evaluate_planned_create(f)
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
    if problems:
        return result(SPEC, CheckStatus.FAIL, f"node resource group {az.name_of(f.node_rg_id)}: " + "; ".join(problems),
                      evidence=tuple(ev_list), remediation="\n".join(fixes))
    return result(SPEC, CheckStatus.PASS,
                  f"node resource group {az.name_of(f.node_rg_id)} exists and is managed by the cluster",
                  evidence=tuple(ev_list))


SPEC: CheckSpec[Facts] = CheckSpec(
    id="node_resource_group",
    title="Node resource group exists and is AKS-managed",
    docs=DOCS,
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.NODE_RESOURCE_GROUP, Family.VERSIONS, Family.CLUSTER_STATE, Family.NETWORK_CONFIG}),
    relevance={"node_resource_group": 100, "versions": 30, "cluster_state": 30, "network_config": 40},
    targets=("nodeResourceGroup",),
    resource_kinds=frozenset({ResourceKind.VMSS, ResourceKind.LOAD_BALANCER}),
)
