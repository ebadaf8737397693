"""policy_denial: the policy assignment named in RequestDisallowedByPolicy, where it is scoped, and how to
exempt the cluster.

Assignment ids come from classifier facts (`policy_assignment_id`, `policy_assignment_ids`, from the
error's additionalInfo PolicyViolation) or from the message ("Policy identifiers: ... policyAssignment
... id: /subscriptions/.../providers/Microsoft.Authorization/policyAssignments/x").
Reads: each assignment (policy 2023-04-01: properties.scope, notScopes, enforcementMode,
policyDefinitionId, displayName), its policy definition when readable (policyRule.then.effect, with
"[parameters('effect')]" resolved from the assignment or the definition default), and the cluster
(ClusterView.node_resource_group) to tell "on the node resource group (MC_*)" from "above it".

Planned mode (pre-flight, `ctx.planned`): no error names an assignment, so it lists the assignments
that apply to the cluster: `GET {cluster resource group}/providers/Microsoft.Authorization/
policyAssignments` (PolicyAssignments_ListForResourceGroup, 2023-04-01; the subscription's list when
the group does not exist yet). ArmReader reads ids, so the list is the unfiltered one and the
`$filter=atScope()` cut (drop the assignments on resources inside the group) is applied here: an
assignment counts when its scope covers the cluster id. Each assignment's definition (or set
definition and its members) is read and its rule evaluated by checklib.policyeval against the planned
PUT body and, for a create, against what AKS then writes in the node resource group under the same
assignments (a scale set per pool with its VM size, the Standard load balancer and managed outbound
public IP, or the managed NAT gateway; only their type, location and SKU are known, any other field is
undecidable): a deny whose `if` matches is the cause (confirmed); a deny rule it cannot evaluate, on a
rule that names the evaluated resource's type, is a likely cause; Audit / Modify / DeployIfNotExists effects,
DoNotEnforce assignments, notScopes covering the cluster, unexpired policy exemptions
(`{group}/providers/Microsoft.Authorization/policyExemptions`, 2022-07-01-preview) of the assignment (or of
the set members they name) and `Microsoft.Kubernetes.Data` mode definitions (in-cluster admission, not
ARM) deny nothing here.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.armid import ResourceKind
from shared.checklib import azrefs as az
from shared.checklib import policyeval as pe
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


CLUSTER_TYPE = "Microsoft.ContainerService/managedClusters"
_ASSIGNMENTS = "/providers/Microsoft.Authorization/policyAssignments"
MAX_DEFINITIONS = 300  # definitions read per pre-flight (a large initiative is cut, and says so)


@dataclass(frozen=True)
class RuleVerdict:
    """One policy definition of an assignment, evaluated against the planned body."""

    assignment_id: str
    assignment_name: str
    scope: str
    definition_id: str
    definition_name: str
    effect: str | None  # resolved; None: could not be resolved
    matches: bool | None  # the rule's `if` on the planned body; None: cannot decide
    why: str
    targets_cluster: bool  # the rule names the evaluated resource's type (so an undecided one concerns it)
    resource: str = "the cluster"  # what was evaluated: the cluster, or a resource AKS creates for it


@dataclass(frozen=True)
class PlannedFacts:
    cluster_id: str
    resource_group: str
    cluster_name: str
    listed_at: str
    verdicts: tuple[RuleVerdict, ...]
    skipped: tuple[tuple[str, str], ...]  # (assignment id, why it denies nothing here)
    truncated: bool = False


def _targets(rule_if: Any, rtype: str) -> bool:
    """A `type` condition naming `rtype` anywhere in the rule."""
    if isinstance(rule_if, dict):
        if str(rule_if.get("field", "")).casefold() == "type":
            vals = [v for k, v in rule_if.items() if k.casefold() in ("equals", "in", "like")]
            flat = [x for v in vals for x in (v if isinstance(v, list) else [v])]
            return any(isinstance(x, str) and x.casefold() == rtype.casefold() for x in flat)
        return any(_targets(v, rtype) for v in rule_if.values())
    if isinstance(rule_if, list):
        return any(_targets(v, rtype) for v in rule_if)
    return False


def created_resources(view: Any, sub: str, op_rg: str, only_pool: str | None = None) -> list[pe.Resource]:
    """What a create makes AKS write in the node resource group, with the fields known before it does: a scale set
    per pool (sku.name = vmSize), and for outboundType loadBalancer the Standard load balancer plus, with managed
    outbound IPs, a Standard public IP (managedNATGateway: the NAT gateway and its public IP)."""
    nrg = view.node_resource_group or f"MC_{op_rg}_{view.name}_{view.region}"
    base = f"{az.rg_id(sub, nrg)}/providers"
    out: list[pe.Resource] = []

    def add(rtype: str, body: dict[str, Any], label: str) -> None:
        out.append(pe.Resource(f"{base}/{rtype}/(created by AKS)", rtype, {"location": view.region, **body}, {},
                               partial=True, label=f"{label} in node resource group {nrg}"))

    for pool in view.pools:
        if only_pool and pool.name.casefold() != only_pool.casefold():
            continue
        if pool.vm_size:
            add("Microsoft.Compute/virtualMachineScaleSets", {"sku": {"name": pool.vm_size}},
                f"scale set of pool {pool.name}")
    ot = "" if only_pool else view.outbound_type.casefold()
    if ot == "loadbalancer":
        add("Microsoft.Network/loadBalancers", {"sku": {"name": "Standard"}}, "load balancer 'kubernetes'")
        if not view.lb_outbound_ip_ids and not view.lb_outbound_prefix_ids:
            add("Microsoft.Network/publicIPAddresses", {"sku": {"name": "Standard"}}, "managed outbound public IP")
    elif ot == "managednatgateway":
        add("Microsoft.Network/natGateways", {}, "managed NAT gateway")
        add("Microsoft.Network/publicIPAddresses", {"sku": {"name": "Standard"}}, "NAT gateway public IP")
    return out


_EXEMPTIONS = "/providers/Microsoft.Authorization/policyExemptions"
EXEMPTIONS_API = "2022-07-01-preview"


@dataclass(frozen=True)
class Exemption:
    """A policy exemption (PolicyExemptions_ListForResourceGroup, 2022-07-01-preview): it waives its assignment
    (or only the set's definitions it names) for everything at or below its scope until expiresOn."""

    id: str
    name: str
    assignment_id: str
    reference_ids: tuple[str, ...]
    category: str
    expires: datetime | None

    @property
    def scope(self) -> str:
        i = self.id.casefold().find(_EXEMPTIONS.casefold() + "/")
        return self.id[:i] if i >= 0 else self.id

    def covers(self, assignment_id: str, reference_id: str | None, resource_id: str, now: datetime) -> bool:
        if not az.same(self.assignment_id, assignment_id) or not az.scope_covers(self.scope, resource_id):
            return False
        if self.expires is not None and self.expires <= now:
            return False
        return not self.reference_ids or (reference_id is not None and any(
            r.casefold() == reference_id.casefold() for r in self.reference_ids))


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        out = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return out if out.tzinfo else out.replace(tzinfo=UTC)


async def _exemptions(ctx: CheckContext, scope: str) -> tuple[list[Exemption], str | None]:
    try:
        body = await ctx.get(scope + _EXEMPTIONS, EXEMPTIONS_API)
    except ArmNotFound:
        return [], None
    except ArmForbidden as err:
        return [], (f"policy exemptions on {scope} not readable (ARM {err.status} {err.code}): a deny found here may "
                    "be waived")
    out = []
    for item in az.as_list(body.get("value")):
        if not isinstance(item, dict):
            continue
        p = item.get("properties") if isinstance(item.get("properties"), dict) else {}
        assert isinstance(p, dict)
        eid, aid = az.as_str(item.get("id")), az.as_str(p.get("policyAssignmentId"))
        if eid and aid:
            out.append(Exemption(eid, az.as_str(item.get("name")) or az.name_of(eid), aid,
                                 tuple(str(r) for r in az.as_list(p.get("policyDefinitionReferenceIds"))),
                                 az.as_str(p.get("exemptionCategory")) or "Waiver",
                                 _when(az.as_str(p.get("expiresOn")))))
    return out, None


async def _listing(ctx: CheckContext, sub: str, rg: str) -> tuple[str, list[dict[str, Any]]]:
    rg_scope = az.rg_id(sub, rg)
    for scope in (rg_scope, f"/subscriptions/{sub}"):
        try:
            body = await ctx.get(scope + _ASSIGNMENTS, API["policy"])
        except ArmNotFound:
            continue
        except ArmForbidden as err:
            raise Skip(f"the app may not list policy assignments on {scope} (ARM {err.status} {err.code}): it needs "
                       "Microsoft.Authorization/policyAssignments/read (Reader)") from err
        return scope, [a for a in az.as_list(body.get("value")) if isinstance(a, dict)]
    raise Skip(f"no policy assignment list readable at {rg_scope} or /subscriptions/{sub}")


async def _planned(ctx: CheckContext) -> PlannedFacts:
    op = ctx.operation
    view = await ctx.view()
    sub = view.subscription or op.subscription_id
    try:  # the provider body carries resourceTypes[].aliases when read with $expand (a recorded snapshot may)
        provider = await ctx.get_or_none(f"/subscriptions/{sub}/providers/Microsoft.ContainerService",
                                         API["providers"])
    except ArmForbidden:
        provider = None
    aliases = pe.alias_table([provider] if provider else [])
    if op.agent_pool:  # a node-pool PUT (add, scale): the pool is the request, a new pool's scale set follows
        pool_id = f"{op.cluster_id}/agentPools/{op.agent_pool}"
        pool_body = await ctx.get_or_none(pool_id, API["agentPools"])
        if pool_body is None:
            raise Skip(f"the planned node pool {op.agent_pool} is not in the plan")
        targets = [pe.Resource(pool_id, pe.AGENT_POOL_TYPE, pool_body, aliases, label=f"node pool {op.agent_pool}",
                               indexed=False)]
        pool = view.pool(op.agent_pool)
        if pool is not None and not pool.provisioning_state:
            targets += [r for r in created_resources(view, sub, op.resource_group, only_pool=op.agent_pool)]
    else:
        body = await ctx.cluster()
        targets = [pe.Resource(op.cluster_id, CLUSTER_TYPE, body, aliases, label="the cluster")]
        if not view.provisioning_state:  # a create: AKS writes the node resource group's resources, same policy
            targets += created_resources(view, sub, op.resource_group)
    listed_at, items = await _listing(ctx, sub, op.resource_group)
    exemptions, exemptions_note = await _exemptions(ctx, listed_at)
    verdicts: list[RuleVerdict] = []
    skipped: list[tuple[str, str]] = []
    budget = [MAX_DEFINITIONS]

    async def definition(did: str) -> dict[str, Any] | None:
        if budget[0] <= 0:
            return None
        budget[0] -= 1
        try:
            return await ctx.get(did, API["policy"])
        except (ArmNotFound, ArmForbidden):
            return None

    async def one(a: dict[str, Any]) -> None:
        aid = az.as_str(a.get("id")) or "?"
        props = a.get("properties") if isinstance(a.get("properties"), dict) else {}
        assert isinstance(props, dict)
        scope = az.as_str(props.get("scope")) or aid.split("/providers/Microsoft.Authorization/")[0]
        aname = az.as_str(props.get("displayName")) or az.name_of(aid)
        covered = [r for r in targets if az.scope_covers(scope, r.id)]
        if not covered:
            return  # on a resource inside the group: atScope() leaves it out
        if az.state_is(az.as_str(props.get("enforcementMode")), "DoNotEnforce"):
            skipped.append((aid, f"'{aname}' is DoNotEnforce"))
            return
        if any(az.scope_covers(str(n), op.cluster_id) for n in az.as_list(props.get("notScopes"))):
            skipped.append((aid, f"'{aname}' excludes the cluster in notScopes"))
            return
        selectors = az.as_list(props.get("resourceSelectors"))
        overrides = [o for o in az.as_list(props.get("overrides")) if isinstance(o, dict)]
        override = next((o.get("value") for o in overrides if str(o.get("kind", "")).casefold() == "policyeffect"
                         and not o.get("selectors")), None)
        undecided_note = ("resource selectors" if selectors else
                          "effect overrides with selectors" if any(o.get("selectors") for o in overrides) else None)
        did = az.as_str(props.get("policyDefinitionId")) or ""
        assigned = props.get("parameters") if isinstance(props.get("parameters"), dict) else {}
        # (definition id, its parameters, set params, the set's policyDefinitionReferenceId)
        refs: list[tuple[str, Any, dict[str, Any] | None, str | None]] = []
        if "/policysetdefinitions/" in did.casefold():
            pset = await definition(did)
            if pset is None:
                verdicts.append(RuleVerdict(aid, aname, scope, did, az.name_of(did), None, None,
                                            "the set definition could not be read", True))
                return
            sp = pset.get("properties") if isinstance(pset.get("properties"), dict) else {}
            assert isinstance(sp, dict)
            set_params = pe.parameter_values(assigned, sp.get("parameters"))
            for ref in az.as_list(sp.get("policyDefinitions")):
                if isinstance(ref, dict) and ref.get("policyDefinitionId"):
                    refs.append((str(ref["policyDefinitionId"]), ref.get("parameters"), set_params,
                                 az.as_str(ref.get("policyDefinitionReferenceId"))))
        elif did:
            refs.append((did, assigned, None, None))
        for def_id, params_in, outer, ref_id in refs:
            d = await definition(def_id)
            if d is None:
                verdicts.append(RuleVerdict(aid, aname, scope, def_id, az.name_of(def_id), None, None,
                                            "the policy definition could not be read", False))
                continue
            dp = d.get("properties") if isinstance(d.get("properties"), dict) else {}
            assert isinstance(dp, dict)
            mode = str(dp.get("mode") or "All")
            if "." in mode:  # a resource provider mode (Microsoft.Kubernetes.Data): in-cluster, not ARM
                continue
            rule = dp.get("policyRule") if isinstance(dp.get("policyRule"), dict) else {}
            assert isinstance(rule, dict)
            params = pe.parameter_values(params_in if isinstance(params_in, dict) else {}, dp.get("parameters"),
                                         outer)
            effect = override if isinstance(override, str) else pe.effect_of(rule.get("then"), params)
            if effect is not None and effect.casefold() != "deny":
                continue  # audit / modify / append / deployIfNotExists / disabled / denyAction: no denial
            for res in covered:
                if mode.casefold() == "indexed" and not res.indexed:
                    continue  # Indexed mode: only resource types with tags and location
                waiver = next((x for x in exemptions if x.covers(aid, ref_id, res.id, ctx.now)), None)
                if waiver is not None:
                    skipped.append((waiver.id, f"exemption '{waiver.name}' ({waiver.category}) waives "
                                               f"'{aname}' for {res.label}"))
                    continue
                outcome = pe.evaluate_rule(rule.get("if"), res, params)
                matches, why = outcome.matches, outcome.why
                if undecided_note and matches:
                    matches, why = None, f"{why}; the assignment's {undecided_note} are not evaluated"
                verdicts.append(RuleVerdict(aid, aname, scope, def_id,
                                            az.as_str(dp.get("displayName")) or az.name_of(def_id), effect, matches,
                                            why, _targets(rule.get("if"), res.type), res.label))

    await asyncio.gather(*(one(a) for a in items))
    order = {az.as_str(a.get("id")): i for i, a in enumerate(items)}
    verdicts.sort(key=lambda v: order.get(v.assignment_id, 0))
    if exemptions_note:
        skipped.append((listed_at + _EXEMPTIONS, exemptions_note))
    return PlannedFacts(op.cluster_id, op.resource_group, op.cluster_name, listed_at, tuple(verdicts),
                        tuple(skipped), budget[0] <= 0)


def evaluate_planned(f: PlannedFacts) -> CheckResult:
    ev: list[Evidence] = []
    for v in f.verdicts:
        state = {True: "matches the planned body", False: "does not match", None: "cannot decide"}[v.matches]
        ev.append(Evidence(resource_id=v.assignment_id, property="policyRule.if", value=v.definition_id,
                           note=f"'{v.definition_name}' (effect {v.effect or 'unresolved'}, assigned at {v.scope}) on "
                                f"{v.resource}: {state}: {v.why}"))
    ev += [Evidence(resource_id=aid, property="properties", value=None, note=why) for aid, why in f.skipped]
    ev.append(Evidence(resource_id=f.listed_at + _ASSIGNMENTS, property="value", value=len(f.verdicts),
                       note="deny rules evaluated against the planned body"))
    docs = (*SPEC.docs, pe.DOC_RULE)
    denied = [v for v in f.verdicts if v.matches and v.effect and v.effect.casefold() == "deny"]
    maybe = [v for v in f.verdicts if (v.matches and not v.effect) or (v.matches is None and v.targets_cluster)]
    exempt = [f"az policy exemption create --name aks-{f.cluster_name}-{az.name_of(v.assignment_id)}"[:80]
              + f" --policy-assignment {v.assignment_id} --exemption-category Waiver --scope {f.cluster_id}"
              for v in (denied or maybe)]
    if denied:
        first = denied[0]
        more = f" (+{len(denied) - 1} more)" if len(denied) > 1 else ""
        return result(SPEC, CheckStatus.FAIL,
                      f"policy '{first.definition_name}' of assignment '{first.assignment_name}' denies "
                      f"{first.resource}: {first.why}{more}", evidence=tuple(ev), docs=docs,
                      remediation="change the planned body so the rule no longer matches, or (if allowed) exempt "
                                  "the cluster:\n" + "\n".join(dict.fromkeys(exempt)))
    if maybe:
        first = maybe[0]
        return result(SPEC, CheckStatus.FAIL,
                      f"policy '{first.definition_name}' of assignment '{first.assignment_name}' may deny "
                      f"{first.resource}: {first.why}", evidence=tuple(ev), docs=docs, confidence="likely",
                      confirm_by=f"az policy definition show --name {az.name_of(first.definition_id)}  # read the "
                                 "rule; or run the deployment's what-if / validate: a deny answers "
                                 "RequestDisallowedByPolicy", remediation="\n".join(dict.fromkeys(exempt)))
    cut = " (definitions read stopped at the limit: some were not evaluated)" if f.truncated else ""
    undecided = [v for v in f.verdicts if v.matches is None]
    if undecided:
        return result(SPEC, CheckStatus.PASS,
                      f"no deny rule matches the planned cluster; {len(undecided)} rule evaluation(s) that do not "
                      f"name the evaluated resource's type could not be decided{cut}", evidence=tuple(ev), docs=docs)
    return result(SPEC, CheckStatus.PASS, f"no deny rule of {len({v.assignment_id for v in f.verdicts})} "
                  f"assignment(s) matches the planned cluster{cut}", evidence=tuple(ev), docs=docs)


async def gather(ctx: CheckContext) -> Facts | PlannedFacts:
    if ctx.planned is not None:
        return await _planned(ctx)
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


def evaluate(f: Facts | PlannedFacts) -> CheckResult:
    if isinstance(f, PlannedFacts):
        return evaluate_planned(f)
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


SPEC: CheckSpec[Facts | PlannedFacts] = CheckSpec(
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
