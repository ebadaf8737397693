"""identity_subnet_permissions over the constructed 2025-05-01 VNet-integration cluster and the
RoleAssignments_ListForScope / GetRoleDefinitionById spec bodies, with planted faults."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checklib import azrefs as az
from shared.checks.identity_subnet_permissions import SPEC
from shared.models import CheckStatus
from tests.unit.checks.platform_support import (
    API_SUBNET,
    CLUSTER_ID,
    NODE_SUBNET,
    PRINCIPAL,
    SUB,
    VNET_ID,
    assignments_path,
    body,
    deny,
    make_ctx,
    role_assignment,
    run,
)

READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
CUSTOM = "11111111-2222-3333-4444-555555555555"
OTHER = "44444444-4444-4444-4444-444444444444"
RG_NET = f"/subscriptions/{SUB}/resourceGroups/rg-network"


def role_def(guid: str, name: str, actions: list[str], not_actions: list[str] | None = None) -> tuple[str, Any]:
    b = body("roledefinition.custom")
    b["id"] = f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{guid}"
    b["name"] = guid
    b["properties"]["roleName"] = name
    b["properties"]["permissions"][0]["actions"] = actions
    b["properties"]["permissions"][0]["notActions"] = not_actions or []
    return b["id"], b


def resources(api: list[dict[str, Any]], node: list[dict[str, Any]], cluster: dict[str, Any] | None = None,
              extra: dict[str, Any] | None = None) -> dict[str, Any]:
    res = {
        CLUSTER_ID: cluster or body("cluster.vnetint-uai"),
        assignments_path(API_SUBNET): {"value": api},
        assignments_path(NODE_SUBNET): {"value": node},
    }
    res.update(extra or {})
    return res


def at(scope: str, role: str = az.NETWORK_CONTRIBUTOR, principal: str = PRINCIPAL) -> dict[str, Any]:
    return role_assignment(principal, role, scope)


CASES = [
    # (case id, api-subnet list, node-subnet list, extra resources, status, text expected in summary)
    ("nc-on-vnet-covers-both", [at(VNET_ID)], [at(VNET_ID)], {}, CheckStatus.PASS, "can join and read all 2"),
    ("contributor-on-rg-lowercase-scope", [at(RG_NET.replace("resourceGroups", "resourcegroups"), az.CONTRIBUTOR)],
     [at(RG_NET, az.CONTRIBUTOR)], {}, CheckStatus.PASS, "can join"),
    ("owner-at-subscription", [at(f"/subscriptions/{SUB}", az.OWNER)], [at(f"/subscriptions/{SUB}", az.OWNER)], {},
     CheckStatus.PASS, "can join"),
    ("management-group-scope", [at("/providers/Microsoft.Management/managementGroups/mg-platform")],
     [at("/providers/Microsoft.Management/managementGroups/mg-platform")], {}, CheckStatus.PASS, "can join"),
    ("principal-id-upper-case", [at(VNET_ID, principal=PRINCIPAL.upper())], [at(VNET_ID, principal=PRINCIPAL.upper())],
     {}, CheckStatus.PASS, "can join"),
    ("api-subnet-missing", [at(API_SUBNET, principal=OTHER)], [at(NODE_SUBNET)], {}, CheckStatus.FAIL,
     "API server subnet snet-aks-apiserver"),
    ("sibling-subnet-scope-does-not-cover", [at(f"{VNET_ID}/subnets/snet-other")], [at(NODE_SUBNET)], {},
     CheckStatus.FAIL, "API server subnet"),
    ("reader-only", [at(VNET_ID, READER)], [at(VNET_ID, READER)],
     dict([role_def(READER, "Reader", ["*/read"])]), CheckStatus.FAIL, "is missing Network Contributor"),
    ("custom-role-with-join-and-read", [at(VNET_ID, CUSTOM)], [at(VNET_ID, CUSTOM)],
     dict([role_def(CUSTOM, "AKS subnet joiner", ["Microsoft.Network/virtualNetworks/subnets/join/action",
                                                   "Microsoft.Network/virtualNetworks/subnets/read"])]),
     CheckStatus.PASS, "can join"),
    ("custom-role-wildcard-minus-join", [at(VNET_ID, CUSTOM)], [at(VNET_ID, CUSTOM)],
     dict([role_def(CUSTOM, "Net no join", ["Microsoft.Network/*"],
                    ["Microsoft.Network/virtualNetworks/subnets/join/*"])]),
     CheckStatus.FAIL, "is missing Network Contributor"),
    ("custom-role-unreadable", [at(VNET_ID, CUSTOM)], [at(VNET_ID, CUSTOM)], {}, CheckStatus.ERROR,
     "could not be read"),
]


@pytest.mark.parametrize(("api", "node", "extra", "status", "text"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_table(api: list[dict[str, Any]], node: list[dict[str, Any]], extra: dict[str, Any],
                     status: CheckStatus, text: str) -> None:
    res = await run(SPEC, make_ctx(resources(api, node, extra=extra)))
    assert res.status is status, res
    assert text in res.summary
    if status is CheckStatus.FAIL:
        assert res.remediation is not None
        assert f"--assignee-object-id {PRINCIPAL}" in res.remediation
        assert '--role "Network Contributor"' in res.remediation


async def test_fail_names_the_exact_subnet_and_evidence() -> None:
    res = await run(SPEC, make_ctx(resources([], [at(VNET_ID)])))
    assert res.status is CheckStatus.FAIL
    assert res.remediation == (f"az role assignment create --assignee-object-id {PRINCIPAL} --assignee-principal-type "
                               f'ServicePrincipal --role "Network Contributor" --scope {API_SUBNET}')
    by_id = {e.resource_id: e for e in res.evidence}
    assert "no role assignment" in (by_id[API_SUBNET].note or "")
    granted = [e for e in res.evidence if e.value == ["Network Contributor"]]
    assert granted and "vnet-spoke-aks" in (granted[0].note or "")
    assert res.docs and res.docs[0].startswith("https://learn.microsoft.com/")


async def test_system_assigned_identity_principal_is_used() -> None:
    cluster = body("cluster.vnetint-uai")
    cluster["identity"] = {"type": "SystemAssigned", "principalId": OTHER,
                           "tenantId": "11111111-1111-1111-1111-111111111111"}
    res = await run(SPEC, make_ctx(resources([at(VNET_ID, principal=OTHER)], [at(VNET_ID, principal=OTHER)],
                                             cluster=cluster)))
    assert res.status is CheckStatus.PASS
    assert "SystemAssigned identity 44444444" in res.summary


async def test_service_principal_cluster_is_skipped_with_why() -> None:
    cluster = body("cluster.vnetint-uai")
    del cluster["identity"]
    cluster["properties"]["servicePrincipalProfile"] = {"clientId": "5c1f8a4e-0000-4000-8000-000000000001"}
    res = await run(SPEC, make_ctx(resources([], [], cluster=cluster)))
    assert res.status is CheckStatus.SKIPPED
    assert "az ad sp show --id 5c1f8a4e-0000-4000-8000-000000000001" in (res.reason or "")


async def test_not_applicable_without_vnet_integration() -> None:
    res = await run(SPEC, make_ctx({CLUSTER_ID: body("cluster.spec-kubenet-sp")}))
    assert res.status is CheckStatus.NOT_APPLICABLE


async def test_forbidden_role_assignment_read_is_an_error_not_a_pass() -> None:
    ctx = deny(make_ctx(resources([at(VNET_ID)], [at(VNET_ID)])), "roleassignments")
    res = await run(SPEC, ctx)
    assert res.status is CheckStatus.ERROR
    assert "Reader" in res.summary


async def test_one_list_read_per_subnet() -> None:
    ctx = make_ctx(resources([at(VNET_ID)], [at(VNET_ID)]))
    await run(SPEC, ctx)
    assert ctx.arm.reads_made == 3  # cluster + two role-assignment lists (built-in roles need no read)


POD_SUBNET = f"{VNET_ID}/subnets/snet-aks-pods"


async def test_node_and_pod_subnets_without_vnet_integration() -> None:
    cluster = body("cluster.vnetint-uai")
    cluster["properties"]["apiServerAccessProfile"]["enableVnetIntegration"] = False
    cluster["properties"]["agentPoolProfiles"][0]["podSubnetID"] = POD_SUBNET
    res = await run(SPEC, make_ctx(resources([], [at(VNET_ID)], cluster=cluster,
                                             extra={assignments_path(POD_SUBNET): {"value": [at(NODE_SUBNET)]}})))
    assert res.status is CheckStatus.FAIL  # NC on the sibling node subnet does not cover the pod subnet
    assert f"--scope {POD_SUBNET}" in (res.remediation or "")
    assert f"--scope {API_SUBNET}" not in (res.remediation or "")  # not VNet-integrated: not a target
    assert "pod subnet snet-aks-pods" in res.summary


async def test_kubelet_identity_grant_does_not_count() -> None:
    cluster = body("cluster.vnetint-uai")
    cluster["properties"]["identityProfile"] = {"kubeletidentity": {"objectId": OTHER, "clientId": "c",
                                                                    "resourceId": "/subscriptions/x/rg"}}
    res = await run(SPEC, make_ctx(resources([at(VNET_ID, principal=OTHER)], [at(VNET_ID)], cluster=cluster)))
    assert res.status is CheckStatus.FAIL
    assert "API server subnet snet-aks-apiserver" in res.summary


async def test_error_names_the_subnet_and_grants_are_missing_ranks_on_evidence() -> None:
    msg = (f"LinkedAuthorizationFailed: The client '22222222-2222-2222-2222-222222222222' with object id "
           f"'{PRINCIPAL}' has permission to perform action 'Microsoft.Network/networkInterfaces/write' on scope "
           f"'/subscriptions/{SUB}/resourceGroups/MC_x/providers/Microsoft.Network/networkInterfaces/nic'; however, "
           "it does not have permission to perform action(s) 'Microsoft.Network/virtualNetworks/subnets/join/action' "
           f"on the linked scope(s) '{NODE_SUBNET}' or the linked scope(s) are invalid.")
    res = await run(SPEC, make_ctx(resources([at(VNET_ID)], [at(API_SUBNET)]), code="LinkedAuthorizationFailed",
                                   message=msg))
    assert res.status is CheckStatus.FAIL
    assert any(e.resource_id == NODE_SUBNET and "no role assignment" in (e.note or "") for e in res.evidence)
