"""policy_denial: the policy assignment named in RequestDisallowedByPolicy, where it is scoped, and how to
exempt the cluster.

Assignment ids come from classifier facts (`policy_assignment_id`, `policy_assignment_ids`, from the
error's additionalInfo PolicyViolation) or from the message ("Policy identifiers: ... policyAssignment
... id: /subscriptions/.../providers/Microsoft.Authorization/policyAssignments/x").
Reads: each assignment (policy 2023-04-01: properties.scope, notScopes, enforcementMode,
policyDefinitionId, displayName), its policy definition when readable (policyRule.then.effect, with
"[parameters('effect')]" resolved from the assignment or the definition default), and the cluster
(ClusterView.node_resource_group) to tell "on the node resource group (MC_*)" from "above it".
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from shared.armid import ResourceKind
from shared.checklib import azrefs as az
from shared.checklib.base import API, CheckContext, CheckSpec, Skip, result
from shared.checklib.netread import in_order
from shared.models import CheckResult, CheckStatus, Evidence, Family
from shared.ports import ArmForbidden, ArmNotFound

DOCS = (
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/error-codes/requestdisallowedbypolicy-error",
    "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/create-upgrade-delete/error-code-requestdisallowedbypolicy",
)


@dataclass(frozen=True)
class AssignmentFacts:
    id: str
    exists: bool
    scope: str | None
    display_name: str | None
    enforcement: str | None
    not_scopes: tuple[str, ...]
    definition_id: str | None
    effect: str | None


@dataclass(frozen=True)
class Facts:
    cluster_id: str
    resource_group: str
    cluster_name: str
    node_rg_id: str | None
    cluster_rg_id: str
    assignments: tuple[AssignmentFacts, ...]


def _effect(assignment: dict[str, Any], definition: dict[str, Any] | None) -> str | None:
    if definition is None:
        return None
    effect = az.dig(definition, "properties.policyRule.then.effect")
    if not isinstance(effect, str):
        return None
    m = re.fullmatch(r"\[parameters\('([^']+)'\)\]", effect.strip())
    if not m:
        return effect
    pname = m.group(1)
    val = az.dig(assignment, f"properties.parameters.{pname}.value")
    if isinstance(val, str):
        return val
    dflt = az.dig(definition, f"properties.parameters.{pname}.defaultValue")
    return dflt if isinstance(dflt, str) else None


async def _read(ctx: CheckContext, aid: str) -> AssignmentFacts:
    body = await ctx.get_or_none(aid, API["policy"])
    if body is None:
        return AssignmentFacts(aid, False, None, None, None, (), None, None)
    props = body.get("properties") or {}
    def_id = az.as_str(props.get("policyDefinitionId"))
    definition = None
    if def_id and "/policydefinitions/" in def_id.casefold():
        try:
            definition = await ctx.get(def_id, API["policy"])
        except (ArmNotFound, ArmForbidden):
            definition = None
    return AssignmentFacts(
        id=az.as_str(body.get("id")) or aid, exists=True, scope=az.as_str(props.get("scope")),
        display_name=az.as_str(props.get("displayName")), enforcement=az.as_str(props.get("enforcementMode")),
        not_scopes=tuple(str(s) for s in az.as_list(props.get("notScopes"))), definition_id=def_id,
        effect=_effect(body, definition))


async def gather(ctx: CheckContext) -> Facts:
    ids = az.fact_strings(ctx.facts, "policy_assignment_ids")
    ids = [i for i in ids if "/providers/microsoft.authorization/policyassignments/" in i.casefold()]
    if not ids:
        raise Skip("the error names no policy assignment id (no 'Policy identifiers' / additionalInfo in it)")
    view, assignments = await in_order(ctx.view_or_none(), asyncio.gather(*(_read(ctx, i) for i in ids)))
    nrg = view.node_resource_group if view is not None else None
    sub = ctx.operation.subscription_id
    return Facts(ctx.operation.cluster_id, ctx.operation.resource_group, ctx.operation.cluster_name,
                 az.rg_id(sub, nrg) if nrg else None, az.rg_id(sub, ctx.operation.resource_group),
                 tuple(assignments))


def placement(a: AssignmentFacts, node_rg: str | None, cluster_rg: str) -> str:
    scope = a.scope or ""
    level = az.scope_level(scope)
    if node_rg and az.scope_covers(node_rg, scope):
        return "on the node resource group (AKS-managed)"
    if az.same(scope, cluster_rg):
        return "on the cluster's resource group (does not cover the node resource group)"
    if node_rg and az.scope_covers(scope, node_rg):
        return f"at {level} scope {scope}, above the node resource group"
    return f"at {level} scope {scope}"


def evaluate(f: Facts) -> CheckResult:
    ev: list[Evidence] = []
    active: list[AssignmentFacts] = []
    for a in f.assignments:
        if not a.exists:
            ev.append(Evidence(resource_id=a.id, property="policyAssignment", value=None,
                               note="named by the error; no longer exists (404)"))
            continue
        where = placement(a, f.node_rg_id, f.cluster_rg_id)
        excluded = bool(f.node_rg_id) and any(az.scope_covers(n, f.node_rg_id or "") for n in a.not_scopes)
        ev.append(Evidence(resource_id=a.id, property="properties.scope", value=a.scope,
                           note=f"'{a.display_name or az.name_of(a.id)}' {where}; enforcementMode "
                                f"{a.enforcement or 'Default'}; effect {a.effect or 'unknown'}"
                                + ("; node resource group is in notScopes" if excluded else "")))
        if not az.state_is(a.enforcement, "DoNotEnforce"):
            active.append(a)
    if not active:
        gone = all(not a.exists for a in f.assignments)
        summary = ("the denying policy assignment no longer exists" if gone
                   else "the denying policy assignment is no longer enforced (DoNotEnforce)")
        return result(SPEC, CheckStatus.PASS, f"{summary}: retry the operation", evidence=tuple(ev),
                      remediation=f"az aks update -g {f.resource_group} -n {f.cluster_name}  # reconcile")
    fixes = []
    for a in active:
        on_node_rg = bool(f.node_rg_id) and az.scope_covers(f.node_rg_id or "", a.scope or "")
        target = f.node_rg_id if f.node_rg_id and az.scope_covers(a.scope or "", f.node_rg_id) else f.cluster_id
        name = f"aks-{f.cluster_name}-{az.name_of(a.id)}"[:64]  # exemption names: max 64 chars
        fixes.append(f"az policy exemption create --name {name} --policy-assignment {a.id} "
                     f"--exemption-category Waiver --scope {target}")
        if on_node_rg:
            fixes.append(f"# assigned directly on the AKS-managed group; or remove it: "
                         f"az policy assignment delete --name {az.name_of(a.id)} --scope {a.scope}")
    fixes.append(f"az aks update -g {f.resource_group} -n {f.cluster_name}  # reconcile after the exemption")
    first = active[0]
    return result(SPEC, CheckStatus.FAIL,
                  f"denied by policy assignment '{first.display_name or az.name_of(first.id)}' "
                  f"{placement(first, f.node_rg_id, f.cluster_rg_id)}"
                  + (f" (+{len(active) - 1} more)" if len(active) > 1 else ""),
                  evidence=tuple(ev), remediation="\n".join(fixes))


SPEC: CheckSpec[Facts] = CheckSpec(
    id="policy_denial",
    title="Azure Policy assignment that denied the request",
    docs=DOCS,
    gather=gather,
    evaluate=evaluate,
    families=frozenset({Family.POLICY, Family.PERMISSIONS}),
    relevance={"policy": 100, "permissions": 60},
    resource_kinds=frozenset({ResourceKind.POLICY_ASSIGNMENT, ResourceKind.POLICY_DEFINITION,
                              ResourceKind.POLICY_SET_DEFINITION}),
    predicts={"default": "RequestDisallowedByPolicy"},
)
