"""RBAC evaluation shared by the identity checks: which targets an identity must reach with which
actions, the role assignments that cover each target (inherited scopes included), and the verdicts.

Reads `{target}/providers/Microsoft.Authorization/roleAssignments` (2022-04-01; the list for a scope
includes assignments inherited from every parent scope) and custom role definitions by id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.checklib import azrefs as az
from shared.checklib.base import API, CheckContext, CheckSpec, Skip, result
from shared.models import CheckResult, CheckStatus, Evidence
from shared.ports import ArmForbidden, ArmNotFound


@dataclass(frozen=True)
class Target:
    resource_id: str
    label: str  # "API server subnet", "node subnet", "route table", "private DNS zone"
    actions: tuple[str, ...]  # what the identity must be allowed to do on it
    role: str  # built-in role to grant in the remediation


@dataclass(frozen=True)
class TargetGrants:
    target: Target
    assignments: tuple[az.Assignment, ...]  # this principal's assignments covering the target


@dataclass(frozen=True)
class Grants:
    principal: az.ClusterPrincipal
    targets: tuple[TargetGrants, ...]
    # role guid -> definition; None when the custom definition could not be read
    roles: Mapping[str, az.RoleDef | None] = field(default_factory=dict)


async def gather_grants(ctx: CheckContext, principal: az.ClusterPrincipal, targets: list[Target]) -> Grants:
    """Read role assignments for every target (in parallel) and the custom roles they use."""
    assert principal.principal_id is not None
    pid = principal.principal_id
    bodies = await asyncio.gather(*(
        ctx.get(f"{t.resource_id}/providers/Microsoft.Authorization/roleAssignments", API["authorization"])
        for t in targets))
    per_target = [TargetGrants(t, tuple(az.assignments_for(b, pid, t.resource_id)))
                  for t, b in zip(targets, bodies, strict=True)]
    custom: dict[str, str] = {}
    for tg in per_target:
        for a in tg.assignments:
            if a.role_guid not in az.BUILTIN_ROLES:
                custom.setdefault(a.role_guid, a.role_definition_id)

    async def read_role(rdid: str) -> az.RoleDef | None:
        try:
            return az.role_def_from_body(await ctx.get(rdid, API["authorization"]))
        except (ArmNotFound, ArmForbidden):
            return None

    defs = await asyncio.gather(*(read_role(r) for r in custom.values()))
    roles: dict[str, az.RoleDef | None] = dict(az.BUILTIN_ROLES)
    roles.update(zip(custom.keys(), defs, strict=True))
    return Grants(principal, tuple(per_target), roles)


@dataclass(frozen=True)
class TargetVerdict:
    target: Target
    status: str  # "granted" | "missing" | "undetermined"
    evidence: Evidence


def _role_name(grants: Grants, a: az.Assignment) -> str:
    rd = grants.roles.get(a.role_guid)
    return rd.name if rd else a.role_guid


def evaluate_grants(grants: Grants) -> list[TargetVerdict]:
    out = []
    pid = grants.principal.principal_id
    for tg in grants.targets:
        t = tg.target
        ok = [a for a in tg.assignments
              if (rd := grants.roles.get(a.role_guid)) is not None and az.grants_all(rd, t.actions)]
        unknown = [a for a in tg.assignments if grants.roles.get(a.role_guid) is None]
        if ok:
            a = ok[0]
            out.append(TargetVerdict(t, "granted", Evidence(
                resource_id=a.id or t.resource_id, property="properties.roleDefinitionId", value=_role_name(grants, a),
                note=f"principal {pid} has {_role_name(grants, a)} at {az.scope_level(a.scope)} scope {a.scope} "
                     f"covering {t.label} {t.resource_id}")))
        elif unknown:
            out.append(TargetVerdict(t, "undetermined", Evidence(
                resource_id=t.resource_id, property="roleAssignments.roleDefinitionId",
                value=[a.role_definition_id for a in unknown],
                note="custom role definition(s) could not be read; cannot tell whether they allow "
                     f"{', '.join(t.actions)}")))
        else:
            held = sorted({_role_name(grants, a) for a in tg.assignments})
            out.append(TargetVerdict(t, "missing", Evidence(
                resource_id=t.resource_id, property=f"roleAssignments[principalId={pid}]",
                value=held,
                note=(f"no role assignment for principal {pid} at this {t.label}, its parent, resource group or "
                      f"subscription grants {', '.join(t.actions)}"
                      + (f" (holds only: {', '.join(held)})" if held else "")))))
    return out


def grant_command(principal_id: str, role: str, scope: str) -> str:
    return (f'az role assignment create --assignee-object-id {principal_id} '
            f'--assignee-principal-type ServicePrincipal --role "{role}" --scope {scope}')


@dataclass(frozen=True)
class GrantOutcome:
    """Verdicts of a grants read, split the way both identity checks report them."""

    verdicts: list[TargetVerdict]
    evidence: tuple[Evidence, ...]
    missing: list[TargetVerdict]
    unknown: list[TargetVerdict]

    @classmethod
    def of(cls, grants: Grants) -> GrantOutcome:
        verdicts = evaluate_grants(grants)
        return cls(verdicts, tuple(v.evidence for v in verdicts),
                   [v for v in verdicts if v.status == "missing"],
                   [v for v in verdicts if v.status == "undetermined"])

    def grant_commands(self, principal_id: str) -> str:
        return "\n".join(grant_command(principal_id, v.target.role, v.target.resource_id) for v in self.missing)

    def undetermined(self, spec: CheckSpec[Any]) -> CheckResult:
        why = "custom role definitions could not be read for: " + ", ".join(
            az.name_of(v.target.resource_id) for v in self.unknown)
        return result(spec, CheckStatus.ERROR, f"cannot check: {why}", evidence=self.evidence, reason=why)


def principal_or_skip(cluster: dict[str, Any]) -> az.ClusterPrincipal:
    p = az.cluster_principal(cluster)
    if p.kind == "ServicePrincipal":
        raise Skip(f"the cluster uses service principal (appId {p.client_id}); role assignments carry its object id, "
                   f"which ARM does not show - run `az ad sp show --id {p.client_id} --query id -o tsv` and "
                   "check `az role assignment list --assignee <that id> --all`")
    if p.principal_id is None:
        raise Skip("the cluster body shows no identity principalId (identity.principalId / "
                   "identity.userAssignedIdentities[*].principalId)")
    return p
