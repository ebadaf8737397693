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
