"""RBAC evaluation shared by the identity checks: which targets the cluster's control-plane identity
must reach with which actions, the role assignments that cover each target (inherited scopes
included), the role definitions behind them, and the verdicts.

Reads, per target: `{target}/providers/Microsoft.Authorization/roleAssignments` (2022-04-01). The
list-for-scope answer (RoleAssignments_ListForScope) holds the assignments at the scope, above it
(resource group, subscription, management groups, root) and below it; only those whose
`properties.scope` is the target or one of its parents count, and only for the identity's
principalId. Each role definition that is not in the built-in table is read by its
`roleDefinitionId` (RoleDefinitions_Get), custom roles included.

Decides per action, as Azure does: an action is allowed when some assignment's role has a
permission block whose `actions` match it (`*` wildcards, case-insensitive) and whose `notActions`
do not; actions may come from different roles. Assignments to groups are listed by ARM but their
membership is not (that is Microsoft Graph): when only a group assignment would grant it, the
verdict is "missing" with confidence likely. Deny assignments and ABAC conditions are not evaluated.

A 403 on the assignments list is "cannot decide" (the app needs Reader on the scope), never a pass;
when the error itself names that target, it is a likely cause instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from shared import armid
from shared.checklib import azrefs as az
from shared.checklib.base import API, CheckContext, CheckSpec, Skip, result
from shared.checklib.clusterview import ClusterView, IdentityView
from shared.models import CheckResult, CheckStatus, ErrorFacts, Evidence
from shared.ports import ArmForbidden, ArmNotFound

DOCS_PERMISSIONS = "https://learn.microsoft.com/azure/aks/concepts-identity"


@dataclass(frozen=True)
class Target:
    resource_id: str
    label: str  # "API server subnet", "node subnet", "route table", "private DNS zone"
    actions: tuple[str, ...]  # what the identity must be allowed to do on it
    role: str  # built-in role to grant in the remediation
    named_by_error: bool = False  # the failed operation's error names this resource


@dataclass(frozen=True)
class Principal:
    """The control-plane identity whose assignments are evaluated (never the kubelet identity)."""

    kind: str  # SystemAssigned | UserAssigned | ServicePrincipal
    principal_id: str  # object id: what role assignments carry
    client_id: str | None = None
    source: str = "cluster"  # "cluster" | "error" (a service principal's object id from the error text)


@dataclass(frozen=True)
class TargetGrants:
    target: Target
    assignments: tuple[az.Assignment, ...]  # this principal's assignments covering the target
    group_assignments: tuple[az.Assignment, ...] = ()  # group assignments covering it (membership unknown)
    unreadable: str | None = None  # why the assignments could not be read (403 / 404)


@dataclass(frozen=True)
class Grants:
    principal: Principal
    targets: tuple[TargetGrants, ...]
    # role guid -> definition; None when the definition could not be read
    roles: Mapping[str, az.RoleDef | None] = field(default_factory=dict)


def _group_assignments(body: Mapping[str, Any], target: str) -> list[az.Assignment]:
    out = []
    for item in az.as_list(body.get("value")):
        props = item.get("properties") if isinstance(item, Mapping) else None
        if not isinstance(props, Mapping) or not az.state_is(props.get("principalType"), "Group"):
            continue
        rdid, scope = az.as_str(props.get("roleDefinitionId")), props.get("scope")
        pid = az.as_str(props.get("principalId"))
        if rdid and isinstance(scope, str) and pid and az.scope_covers(scope, target):
            out.append(az.Assignment(str(item.get("id") or ""), scope, az.role_guid(rdid), rdid, pid))
    return out


async def _read_target(ctx: CheckContext, pid: str, t: Target) -> TargetGrants:
    path = f"{t.resource_id}/providers/Microsoft.Authorization/roleAssignments"
    try:
        body = await ctx.get(path, API["authorization"])
    except ArmForbidden as err:
        scope = armid.parse(t.resource_id)
        at = scope.scope if scope else t.resource_id
        return TargetGrants(t, (), (), f"the app may not list role assignments on {t.resource_id} "
                                       f"(ARM {err.status} {err.code}): it needs Reader "
                                       f"(Microsoft.Authorization/roleAssignments/read) on {at}")
    except ArmNotFound:
        return TargetGrants(t, (), (), f"{t.resource_id} was not found (404): the {t.label} does not exist")
    return TargetGrants(t, tuple(az.assignments_for(body, pid, t.resource_id)),
                        tuple(_group_assignments(body, t.resource_id)))


async def gather_grants(ctx: CheckContext, principal: Principal, targets: list[Target]) -> Grants:
    """Read role assignments for every target (in parallel) and the role definitions they use."""
    facts = ctx.facts
    marked = [Target(t.resource_id, t.label, t.actions, t.role, t.named_by_error or facts.mentions(t.resource_id))
              for t in targets]
    per_target = await asyncio.gather(*(_read_target(ctx, principal.principal_id, t) for t in marked))
    wanted: dict[str, str] = {}
    for tg in per_target:
        for a in (*tg.assignments, *tg.group_assignments):
            if a.role_guid not in az.BUILTIN_ROLES:
                wanted.setdefault(a.role_guid, a.role_definition_id)

    async def read_role(rdid: str) -> az.RoleDef | None:
        try:
            return az.role_def_from_body(await ctx.get(rdid, API["authorization"]))
        except (ArmNotFound, ArmForbidden):
            return None

    defs = await asyncio.gather(*(read_role(r) for r in wanted.values()))
    roles: dict[str, az.RoleDef | None] = dict(az.BUILTIN_ROLES)
    roles.update(zip(wanted.keys(), defs, strict=True))
    return Grants(principal, tuple(per_target), roles)


Verdict = Literal["granted", "missing", "undetermined"]


@dataclass(frozen=True)
class TargetVerdict:
    target: Target
    status: Verdict
    evidence: Evidence
    not_granted: tuple[str, ...] = ()  # the required actions no assignment allows
    via_group: bool = False  # a group assignment might grant them (membership unknown)
    why: str | None = None  # for undetermined


def _role_name(grants: Grants, a: az.Assignment) -> str:
    rd = grants.roles.get(a.role_guid)
    return rd.name if rd else a.role_guid


def _granting(grants: Grants, assignments: tuple[az.Assignment, ...], action: str) -> az.Assignment | None:
    return next((a for a in assignments
                 if (rd := grants.roles.get(a.role_guid)) is not None and az.grants(rd, action)), None)


def evaluate_target(grants: Grants, tg: TargetGrants) -> TargetVerdict:
    t = tg.target
    pid = grants.principal.principal_id
    if tg.unreadable:
        return TargetVerdict(t, "undetermined", Evidence(
            resource_id=t.resource_id, property="roleAssignments", value=None, note=tg.unreadable),
            t.actions, why=tg.unreadable)
    by_action = {action: _granting(grants, tg.assignments, action) for action in t.actions}
    missing = tuple(a for a, by in by_action.items() if by is None)
    if not missing:
        used = list(dict.fromkeys(by for by in by_action.values() if by is not None))
        first = used[0]
        held = "; ".join(f"{_role_name(grants, a)} at {az.scope_level(a.scope)} scope {a.scope}" for a in used)
        return TargetVerdict(t, "granted", Evidence(
            resource_id=first.id or t.resource_id, property="properties.roleDefinitionId",
            value=[_role_name(grants, a) for a in used],
            note=f"principal {pid} has {held}, covering {t.label} {t.resource_id} "
                 f"({', '.join(t.actions)})"))
    unknown = [a for a in tg.assignments if grants.roles.get(a.role_guid) is None]
    if unknown:
        why = (f"role definition(s) {', '.join(a.role_definition_id for a in unknown)} could not be read; "
               f"cannot tell whether they allow {', '.join(missing)}")
        return TargetVerdict(t, "undetermined", Evidence(
            resource_id=t.resource_id, property="roleAssignments.roleDefinitionId",
            value=[a.role_definition_id for a in unknown], note=why), missing, why=why)
    via_group = all(_granting(grants, tg.group_assignments, action) is not None for action in missing)
    holds = sorted({_role_name(grants, a) for a in tg.assignments})
    note = (f"no role assignment of principal {pid} at this {t.label} or any parent scope (resource group, "
            f"subscription, management group) allows {', '.join(missing)}"
            + (f"; it holds only {', '.join(holds)} here" if holds else ""))
    if via_group:
        groups = sorted({a.principal_id for a in tg.group_assignments})
        note += f"; group(s) {', '.join(groups)} have a role that allows it (membership is not visible in ARM)"
    return TargetVerdict(t, "missing", Evidence(
        resource_id=t.resource_id, property=f"roleAssignments[principalId={pid}]", value=holds, note=note),
        missing, via_group)


def evaluate_grants(grants: Grants) -> list[TargetVerdict]:
    return [evaluate_target(grants, tg) for tg in grants.targets]


def grant_command(principal_id: str, role: str, scope: str) -> str:
    return (f'az role assignment create --assignee-object-id {principal_id} '
            f'--assignee-principal-type ServicePrincipal --role "{role}" --scope {scope}')


def check_command(principal_id: str, scope: str) -> str:
    return f"az role assignment list --assignee {principal_id} --scope {scope} --include-inherited -o table"


@dataclass(frozen=True)
class GrantOutcome:
    """Verdicts of a grants read, split the way the identity checks report them."""

    principal: Principal
    verdicts: list[TargetVerdict]
    evidence: tuple[Evidence, ...]
    missing: list[TargetVerdict]
    unknown: list[TargetVerdict]

    @classmethod
    def of(cls, grants: Grants) -> GrantOutcome:
        verdicts = evaluate_grants(grants)
        return cls(grants.principal, verdicts, tuple(v.evidence for v in verdicts),
                   [v for v in verdicts if v.status == "missing"],
                   [v for v in verdicts if v.status == "undetermined"])

    def grant_commands(self, verdicts: list[TargetVerdict] | None = None) -> str:
        pid = self.principal.principal_id
        return "\n".join(grant_command(pid, v.target.role, v.target.resource_id)
                         for v in (self.missing if verdicts is None else verdicts))

    def report(self, spec: CheckSpec[Any], what: str) -> CheckResult:
        """FAIL (confirmed / likely), ERROR (cannot decide) or PASS (`what` completes "<identity> ...")."""
        p = self.principal
        who = f"cluster {p.kind} identity {p.principal_id}"
        src = " (object id taken from the error)" if p.source == "error" else ""
        if self.missing:
            desc = ", ".join(f"{v.target.role} on {v.target.label} {az.name_of(v.target.resource_id)}"
                             f" ({', '.join(v.not_granted)})" for v in self.missing)
            likely = all(v.via_group for v in self.missing)
            return result(spec, CheckStatus.FAIL, f"{who}{src} is missing {desc}", evidence=self.evidence,
                          remediation=self.grant_commands(),
                          confidence="likely" if likely else "confirmed",
                          confirm_by=(f"az ad group member check --group <group id> --member-id {p.principal_id}: "
                                      "the identity is granted only if it is a member" if likely else None))
        named = [v for v in self.unknown if v.target.named_by_error]
        if named:
            v = named[0]
            return result(
                spec, CheckStatus.FAIL,
                f"{who}{src} likely lacks {v.target.role} on {v.target.label} {az.name_of(v.target.resource_id)} "
                "(the error names it; its role assignments could not be evaluated)",
                evidence=self.evidence, remediation=self.grant_commands(named), confidence="likely",
                confirm_by="; ".join(f"{check_command(p.principal_id, x.target.resource_id)} shows no role allowing "
                                     f"{', '.join(x.target.actions)}" for x in named),
                reason="; ".join(x.why or "" for x in named))
        if self.unknown:
            why = "; ".join(v.why or v.target.resource_id for v in self.unknown)
            return result(spec, CheckStatus.ERROR, f"cannot check: {why}", evidence=self.evidence, reason=why)
        labels = ", ".join(sorted({v.target.label for v in self.verdicts}))
        return result(spec, CheckStatus.PASS, f"{who}{src} {what} ({labels})", evidence=self.evidence)


def control_plane_principal(view: ClusterView, facts: ErrorFacts) -> Principal:
    """The control-plane identity's object id (the kubelet identity is not what AKS uses for these).

    A service principal's object id is not in the cluster body; an AuthorizationFailed error names
    it ("client '<appId>' with object id '<objectId>'"), so it is used when the appId matches.
    """
    ident: IdentityView = view.identity
    if ident.kind in ("SystemAssigned", "UserAssigned"):
        if not ident.principal_id:
            raise Skip("the cluster body shows no identity principalId (identity.principalId / "
                       "identity.userAssignedIdentities[*].principalId)")
        return Principal(ident.kind, ident.principal_id, ident.client_id)
    if ident.kind == "ServicePrincipal":
        if facts.principal_id and facts.client_id and az.same(facts.client_id, ident.client_id):
            return Principal("ServicePrincipal", facts.principal_id, ident.client_id, source="error")
        raise Skip(f"the cluster uses service principal (appId {ident.client_id}); role assignments carry its "
                   "object id, which ARM does not show - run "
                   f"`az ad sp show --id {ident.client_id} --query id -o tsv` and check "
                   "`az role assignment list --assignee <that id> --all`")
    raise Skip("the cluster body shows neither a managed identity nor a service principal")
