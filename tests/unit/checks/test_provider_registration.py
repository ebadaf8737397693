"""provider_registration over provider GET bodies in the GetProviders (2021-04-01) spec shape."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checks.provider_registration import SPEC
from shared.models import CheckStatus
from tests.unit.checks.platform_support import CLUSTER_ID, SUB, body, make_ctx, run

CS = f"/subscriptions/{SUB}/providers/Microsoft.ContainerService"
OM = f"/subscriptions/{SUB}/providers/Microsoft.OperationsManagement"
MSG = ("The subscription is not registered to use namespace 'Microsoft.OperationsManagement'. "
       "See https://aka.ms/rps-not-found for how to register subscriptions.")


def cs(state: str = "Registered") -> dict[str, Any]:
    b = body("provider.containerservice")
    b["registrationState"] = state
    return b


def cluster(location: str = "westeurope") -> dict[str, Any]:
    c = body("cluster.vnetint-uai")
    c["location"] = location
    return c


CASES = [
    ("aks-registered", "InternalOperationError", "", {}, {CS: cs()}, CheckStatus.PASS, None),
    ("aks-lower-case-registered", "InternalOperationError", "", {}, {CS: cs("registered")}, CheckStatus.PASS, None),
    ("aks-registering", "MissingSubscriptionRegistration", "", {}, {CS: cs("Registering")}, CheckStatus.FAIL,
     "Microsoft.ContainerService"),
    ("named-namespace-not-registered", "MissingSubscriptionRegistration", MSG, {},
     {CS: cs(), OM: body("provider.operationsmanagement")}, CheckStatus.FAIL, "Microsoft.OperationsManagement"),
    ("namespace-from-facts-any-casing", "MissingSubscriptionRegistration", "",
     {"provider_namespaces": ["microsoft.operationsmanagement"]},
     {CS: cs(), OM: body("provider.operationsmanagement")}, CheckStatus.FAIL, "Microsoft.OperationsManagement"),
    ("named-namespace-404", "MissingSubscriptionRegistration", MSG, {}, {CS: cs()}, CheckStatus.ERROR, None),
]


@pytest.mark.parametrize(("code", "msg", "facts", "providers", "status", "ns"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
async def test_table(code: str, msg: str, facts: dict[str, Any], providers: dict[str, Any], status: CheckStatus,
                     ns: str | None) -> None:
    res = await run(SPEC, make_ctx({CLUSTER_ID: cluster(), **providers}, code=code, message=msg, facts=facts))
    assert res.status is status, res
    if ns:
        assert f"az provider register --namespace {ns} --subscription {SUB} --wait" in (res.remediation or "")
        assert any(e.property == "registrationState" and e.resource_id.endswith(ns) for e in res.evidence
                   if e.resource_id)


async def test_region_not_offered_for_managed_clusters() -> None:
    res = await run(SPEC, make_ctx({CLUSTER_ID: cluster("qatarcentral"), CS: cs()}))
    assert res.status is CheckStatus.FAIL
    assert "qatarcentral is not offered" in res.summary


async def test_display_name_locations_match_region_names() -> None:
    res = await run(SPEC, make_ctx({CLUSTER_ID: cluster("northeurope"), CS: cs()}))
    assert res.status is CheckStatus.PASS  # "North Europe" in the provider body == northeurope


NET_SUB = "22222222-0000-0000-0000-000000000000"
DNS_SUB = "11111111-0000-0000-0000-000000000000"
NET_OM = f"/subscriptions/{NET_SUB}/providers/Microsoft.OperationsManagement"
NET_NS_MSG = MSG.replace("Microsoft.OperationsManagement", "Microsoft.Network")


def provider(sub: str, ns: str, state: str) -> tuple[str, dict[str, Any]]:
    """The GetProviders element shape, re-pointed to `ns` in `sub`."""
    b = body("provider.operationsmanagement")
    b["id"] = f"/subscriptions/{sub}/providers/{ns}"
    b["namespace"] = ns
    b["registrationState"] = state
    return b["id"], b


def cross_sub_cluster() -> dict[str, Any]:
    """The VNet-integrated fixture cluster with its VNet in another subscription."""
    c = cluster()
    p = c["properties"]
    p["agentPoolProfiles"][0]["vnetSubnetID"] = p["agentPoolProfiles"][0]["vnetSubnetID"].replace(SUB, NET_SUB)
    p["apiServerAccessProfile"]["subnetId"] = p["apiServerAccessProfile"]["subnetId"].replace(SUB, NET_SUB)
    return c


async def test_named_namespace_unregistered_only_in_the_network_subscription() -> None:
    res = await run(SPEC, make_ctx({CLUSTER_ID: cross_sub_cluster(), CS: cs(),
                                    **dict([provider(SUB, "Microsoft.Network", "Registered"),
                                            provider(NET_SUB, "Microsoft.Network", "NotRegistered")])},
                                   code="MissingSubscriptionRegistration", message=NET_NS_MSG))
    assert res.status is CheckStatus.FAIL, res
    assert res.confidence == "likely"
    assert res.remediation == f"az provider register --namespace Microsoft.Network --subscription {NET_SUB} --wait"
    assert f"in subscription {NET_SUB}" in res.summary


async def test_home_subscription_is_blamed_not_the_network_one() -> None:
    world = {CLUSTER_ID: cross_sub_cluster(), CS: cs(), OM: body("provider.operationsmanagement"),
             **dict([provider(NET_SUB, "Microsoft.OperationsManagement", "NotRegistered")])}
    res = await run(SPEC, make_ctx(world,
                                   code="MissingSubscriptionRegistration", message=MSG))
    assert res.status is CheckStatus.FAIL
    assert res.confidence == "confirmed"
    assert res.remediation == (f"az provider register --namespace Microsoft.OperationsManagement --subscription {SUB} "
                               "--wait")


async def test_unneeded_unregistered_namespace_is_not_read() -> None:
    ctx = make_ctx({CLUSTER_ID: cluster(), CS: cs(),
                    **dict([provider(SUB, "Microsoft.Kusto", "NotRegistered")])})
    res = await run(SPEC, ctx)
    assert res.status is CheckStatus.PASS
    assert all("Kusto" not in (e.resource_id or "") for e in res.evidence)


async def test_private_dns_zone_subscription_needs_container_service() -> None:
    c = cluster()
    c["properties"]["apiServerAccessProfile"]["privateDNSZone"] = (
        f"/subscriptions/{DNS_SUB}/resourceGroups/rg-dns/providers/Microsoft.Network/privateDnsZones/"
        "privatelink.westeurope.azmk8s.io")
    res = await run(SPEC, make_ctx({CLUSTER_ID: c, CS: cs(),
                                    **dict([provider(DNS_SUB, "Microsoft.ContainerService", "NotRegistered")])}))
    assert res.status is CheckStatus.FAIL
    assert res.confidence == "confirmed"
    assert f"--namespace Microsoft.ContainerService --subscription {DNS_SUB}" in (res.remediation or "")


async def test_named_but_unreadable_is_likely() -> None:
    from tests.unit.checks.platform_support import deny

    ctx = deny(make_ctx({CLUSTER_ID: cluster(), CS: cs()}, code="MissingSubscriptionRegistration", message=MSG),
               "/providers/Microsoft.OperationsManagement")
    res = await run(SPEC, ctx)
    assert res.status is CheckStatus.FAIL
    assert res.confidence == "likely"
    assert "az provider show --namespace Microsoft.OperationsManagement" in (res.confirm_by or "")
