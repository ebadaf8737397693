"""shared.checklib.grants: RBAC evaluation as Azure does it (actions minus notActions per permission block,
`*` wildcards, case-insensitive; actions may come from different roles; assignments at the resource and
every parent scope; group assignments only make a cause likely)."""

from __future__ import annotations

import pytest

from shared.checklib import azrefs as az
from shared.checklib.grants import Grants, Principal, Target, TargetGrants, evaluate_target

SUB = "00000000-0000-0000-0000-000000000000"
RT = f"/subscriptions/{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/routeTables/rt"
PID = "33333333-3333-3333-3333-333333333333"
TARGET = Target(RT, "route table", az.ROUTE_TABLE_ACTIONS, "Network Contributor")


def role(guid: str, *blocks: tuple[tuple[str, ...], tuple[str, ...]]) -> az.RoleDef:
    return az.RoleDef(guid, f"role {guid[:4]}", tuple(az.Permission(a, n) for a, n in blocks))


def assignment(guid: str, scope: str, principal: str = PID) -> az.Assignment:
    return az.Assignment(f"{scope}/providers/Microsoft.Authorization/roleAssignments/{guid}", scope, guid,
                         f"/providers/Microsoft.Authorization/roleDefinitions/{guid}", principal)


def verdict(roles: dict[str, az.RoleDef | None], *assignments: az.Assignment,
            groups: tuple[az.Assignment, ...] = ()) -> str:
    grants = Grants(Principal("UserAssigned", PID), (TargetGrants(TARGET, assignments, groups),),
                    {**az.BUILTIN_ROLES, **roles})
    v = evaluate_target(grants, grants.targets[0])
    return v.status + ("/group" if v.via_group else "")


A = "aaaaaaaa-0000-0000-0000-000000000000"
B = "bbbbbbbb-0000-0000-0000-000000000000"
ALL_RT = ("Microsoft.Network/routeTables/*",)


@pytest.mark.parametrize(("roles", "assignments", "expected"), [
    ({A: role(A, (ALL_RT, ()))}, [assignment(A, RT)], "granted"),
    ({A: role(A, (("microsoft.network/ROUTETABLES/*",), ()))}, [assignment(A, RT)], "granted"),  # any casing
    ({A: role(A, (("*",), ("Microsoft.Network/routeTables/*/write",)))}, [assignment(A, RT)], "missing"),
    # notActions only subtract inside their own block: another block grants it again
    ({A: role(A, (("*",), ("Microsoft.Network/*",)), (ALL_RT, ()))}, [assignment(A, RT)], "granted"),
    ({A: role(A, (("Microsoft.Network/*/read",), ()))}, [assignment(A, RT)], "missing"),  # reads only
    # read from one role, write from another: the union counts
    ({A: role(A, (("Microsoft.Network/*/read",), ())),
      B: role(B, (("Microsoft.Network/routeTables/write", "Microsoft.Network/routeTables/routes/write"), ()))},
     [assignment(A, f"/subscriptions/{SUB}"), assignment(B, f"/subscriptions/{SUB}/resourceGroups/rg-net")],
     "granted"),
    ({}, [assignment(az.NETWORK_CONTRIBUTOR, "/providers/Microsoft.Management/managementGroups/mg")], "granted"),
    ({}, [assignment(az.NETWORK_CONTRIBUTOR, "/")], "granted"),  # root scope
    ({}, [assignment(az.CONTRIBUTOR, f"/subscriptions/{SUB}/resourceGroups/rg-net")], "granted"),
    ({}, [assignment(az.READER, RT)], "missing"),
    ({A: None}, [assignment(A, RT)], "undetermined"),  # custom definition unreadable
    ({A: None}, [assignment(A, RT), assignment(az.NETWORK_CONTRIBUTOR, RT)], "granted"),  # decided anyway
])
def test_evaluation(roles: dict[str, az.RoleDef | None], assignments: list[az.Assignment], expected: str) -> None:
    assert verdict(roles, *assignments) == expected


def test_group_assignment_is_only_likely() -> None:
    group = assignment(az.NETWORK_CONTRIBUTOR, RT, principal="99999999-0000-0000-0000-000000000000")
    assert verdict({}, groups=(group,)) == "missing/group"
    assert verdict({}, assignment(az.READER, RT), groups=(group,)) == "missing/group"


def test_missing_lists_only_the_actions_not_granted() -> None:
    grants = Grants(Principal("UserAssigned", PID),
                    (TargetGrants(TARGET, (assignment(A, RT),)),),
                    {**az.BUILTIN_ROLES, A: role(A, (("Microsoft.Network/*/read",), ()))})
    v = evaluate_target(grants, grants.targets[0])
    assert v.not_granted == ("Microsoft.Network/routeTables/write", "Microsoft.Network/routeTables/routes/write")


def test_a_wildcard_segment_may_match_no_segment() -> None:
    mio = az.BUILTIN_ROLES[az.MANAGED_IDENTITY_OPERATOR]
    assert az.grants(mio, "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action")
    assert az.grants(mio, "microsoft.managedidentity/userassignedidentities/federatedcredentials/assign/action")
    assert not az.grants(mio, "Microsoft.ManagedIdentity/userAssignedIdentities/write")
