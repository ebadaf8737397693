"""The pure helpers behind the platform checks (ids, scopes, roles, sizes, error text)."""

from __future__ import annotations

import pytest

from shared.checklib import azrefs as az

SUB = "00000000-0000-0000-0000-000000000000"
SUBNET = f"/subscriptions/{SUB}/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/v/subnets/s"


@pytest.mark.parametrize(("scope", "covers"), [
    (SUBNET, True),
    (SUBNET.upper() + "/", True),
    (f"/subscriptions/{SUB}/resourcegroups/RG-NETWORK/providers/Microsoft.Network/virtualNetworks/v", True),
    (f"/subscriptions/{SUB}/resourceGroups/rg-network", True),
    (f"/subscriptions/{SUB}", True),
    ("/providers/Microsoft.Management/managementGroups/mg", True),
    ("/", True),
    (f"/subscriptions/{SUB}/resourceGroups/rg-net", False),  # prefix of a name, not of a segment
    (SUBNET + "2", False),
    ("/subscriptions/11111111-1111-1111-1111-111111111111", False),
])
def test_scope_covers(scope: str, covers: bool) -> None:
    assert az.scope_covers(scope, SUBNET) is covers


def test_id_parts() -> None:
    assert az.subscription_of(SUBNET) == SUB
    assert az.resource_group_of(SUBNET.replace("resourceGroups", "resourcegroups")) == "rg-network"
    assert az.parent_of(SUBNET).endswith("/virtualNetworks/v")
    assert az.name_of(SUBNET + "/") == "s"
    assert az.scope_level(f"/subscriptions/{SUB}/resourceGroups/x") == "resource group"


@pytest.mark.parametrize(("actions", "not_actions", "granted"), [
    (["*"], [], True),
    (["Microsoft.Network/*"], [], True),
    (["microsoft.network/virtualnetworks/subnets/*"], [], True),
    (["*/read"], [], False),
    (["Microsoft.Network/*"], ["Microsoft.Network/virtualNetworks/subnets/join/action"], False),
    (["Microsoft.Network/virtualNetworks/subnets/join/action"], [], False),  # read missing
])
def test_role_grants_subnet_join(actions: list[str], not_actions: list[str], granted: bool) -> None:
    role = az.RoleDef("x", "x", (az.Permission(tuple(actions), tuple(not_actions)),))
    assert az.grants_all(role, az.SUBNET_JOIN_ACTIONS) is granted


def test_builtin_roles() -> None:
    assert az.grants_all(az.BUILTIN_ROLES[az.NETWORK_CONTRIBUTOR], az.ROUTE_TABLE_ACTIONS)
    assert az.grants_all(az.BUILTIN_ROLES[az.PRIVATE_DNS_ZONE_CONTRIBUTOR], az.PRIVATE_DNS_ZONE_ACTIONS)
    assert not az.grants_all(az.BUILTIN_ROLES[az.PRIVATE_DNS_ZONE_CONTRIBUTOR], az.SUBNET_JOIN_ACTIONS)
    assert not az.grants(az.BUILTIN_ROLES[az.CONTRIBUTOR], "Microsoft.Authorization/roleAssignments/write")


@pytest.mark.parametrize(("size", "family", "vcpus"), [
    ("Standard_D4ds_v5", "standardDDSv5Family", 4),
    ("standard_d16s_v5", "standardDSv5Family", 16),
    ("Standard_E8-4ds_v5", "standardEDSv5Family", 8),
    ("Standard_D4as_v5", "standardDASv5Family", 4),
    ("Standard_DS3_v2", "standardDSv2Family", 4),
    ("Standard_B2ms", "standardBSFamily", 2),
    ("Standard_NC24ads_A100_v4", None, None),
])
def test_vm_sizes(size: str, family: str | None, vcpus: int | None) -> None:
    info = az.vm_size_info(size)
    assert (info.family, info.vcpus) == (family, vcpus)


@pytest.mark.parametrize(("surge", "count", "nodes"), [
    ("33%", 3, 1), ("33%", 10, 4), ("100%", 7, 7), ("1", 5, 1), (5, 5, 5), (None, 3, 1), ("0", 3, 0), ("50%", 0, 0),
])
def test_surge(surge: object, count: int, nodes: int) -> None:
    """Surge arithmetic lives on the pool view (the one place it is computed)."""
    from shared.checklib.clusterview import PoolView

    pool = PoolView(name="p", max_surge=None if surge is None else str(surge), count=count)
    assert pool.surge_nodes() == nodes


def test_quota_message_numbers() -> None:
    msg = ("Operation could not be completed as it results in exceeding approved standardDSv3Family Cores quota. "
           "Additional details - Deployment Model: Resource Manager, Location: East US, Current Limit: 10, "
           "Current Usage: 8, Additional Required: 4, (Minimum) New Limit Required: 12.")
    assert az.quota_from_message(msg) == {"limit": 10, "usage": 8, "required": 4, "new_limit": 12,
                                          "family": "standardDSv3Family", "location": "eastus"}
    regional = ("Operation results in exceeding approved Total Regional Cores quota. Location: westeurope, "
                "Current Limit: 20")
    assert az.quota_from_message(regional).get("regional") is True
    assert "family" not in az.quota_from_message(regional)


def test_text_extractors() -> None:
    assert az.features_from_text("since feature 'Microsoft.ContainerService/EnableOIDCIssuerPreview' is not enabled") \
        == [("Microsoft.ContainerService", "EnableOIDCIssuerPreview")]
    assert az.namespaces_from_text("The subscription is not registered to use namespace 'Microsoft.Insights'.") \
        == ["Microsoft.Insights"]
    mg = "/providers/Microsoft.Management/managementGroups/mg1/providers/Microsoft.Authorization/policyAssignments/a1"
    text = f'{{"policyAssignment":{{"id":"{mg}"}}}} and "/subscriptions/{SUB}/providers/Microsoft.Authorization/' \
           'policyAssignments/NoPublicIP".'
    assert az.policy_assignment_ids(text) == [mg, f"/subscriptions/{SUB}/providers/Microsoft.Authorization/"
                                                  "policyAssignments/NoPublicIP"]


def test_status_message_codes_parse_nested_json_strings() -> None:
    inner = ('{"status":"Failed","error":{"code":"ResourceOperationFailure",'
             '"details":[{"code":"AKSCapacityHeavyUsage"}]}}')
    assert az.status_message_codes({"properties": {"statusMessage": inner}}) == {
        "ResourceOperationFailure", "AKSCapacityHeavyUsage"}
    assert az.status_message_codes({"properties": {}}) == set()


def test_find_usage_matches_value_or_localized_name() -> None:
    body = {"value": [{"name": {"value": "cores", "localizedValue": "Total Regional vCPUs"}, "currentValue": "3",
                       "limit": 10}]}
    assert az.find_usage(body, "Total Regional vCPUs") == az.Usage("cores", "Total Regional vCPUs", 3, 10)
    assert az.find_usage(body, "standardDSv5Family") is None

