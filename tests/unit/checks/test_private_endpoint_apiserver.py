"""private_endpoint_apiserver over the PrivateEndpointGet spec example and the constructed pending PE."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checks.private_endpoint_apiserver import SPEC
from shared.models import CheckStatus
from tests.unit.checks.net_support import CLUSTER_ID, NODE_RG, SUB, cluster, load, make_ctx, run

LISTING = f"/subscriptions/{SUB}/resourceGroups/{NODE_RG}/providers/Microsoft.Network/privateEndpoints"


def pe(kind: str = "spec", *, state: str | None = None, status: str | None = None) -> dict[str, Any]:
    if kind == "spec":
        b = load("network/PrivateEndpointGet.2024-05-01.spec-example.json")
        conns = b["properties"]["privateLinkServiceConnections"]
    else:  # constructed: manual connection, Pending
        b = load("network/PrivateEndpoint.get.pending-manual-connection.constructed.json")
        conns = b["properties"]["manualPrivateLinkServiceConnections"]
    b["name"] = "kube-apiserver"
    b["id"] = f"{LISTING}/kube-apiserver"
    if state:
        b["properties"]["provisioningState"] = state
    if status:
        conns[0]["properties"]["privateLinkServiceConnectionState"]["status"] = status
    return b


PRIVATE = {"private": True, "vnet_integration": False}


@pytest.mark.parametrize(("body", "status", "needle"), [
    (pe(), CheckStatus.PASS, "Succeeded and Approved"),
    (pe("constructed"), CheckStatus.FAIL, "Pending"),
    (pe(status="Disconnected"), CheckStatus.FAIL, "Disconnected"),
    (pe(state="Failed"), CheckStatus.FAIL, "is Failed"),
    (None, CheckStatus.FAIL, "no kube-apiserver private endpoint"),
])
async def test_pe_states(body: dict[str, Any] | None, status: CheckStatus, needle: str) -> None:
    other = load("network/PrivateEndpointGet.2024-05-01.spec-example.json")  # an unrelated PE in the RG
    value = [other] + ([body] if body else [])
    r = await run(SPEC, make_ctx({CLUSTER_ID: cluster(**PRIVATE), LISTING: {"value": value}}, subcategory="no-route"))
    assert r.status is status and needle in r.summary
    if status is CheckStatus.FAIL:
        assert (r.remediation or "").startswith("az aks update -g rg-aks-prod -n aks-prod-01")


@pytest.mark.parametrize("kw", [{"private": False, "vnet_integration": False}, {"private": True}])
async def test_not_applicable(kw: dict[str, Any]) -> None:
    r = await run(SPEC, make_ctx({CLUSTER_ID: cluster(**kw)}))
    assert r.status is CheckStatus.NOT_APPLICABLE


async def test_missing_node_rg_is_skipped_with_why() -> None:
    r = await run(SPEC, make_ctx({CLUSTER_ID: cluster(**PRIVATE)}))
    assert r.status is CheckStatus.SKIPPED and NODE_RG in r.summary
