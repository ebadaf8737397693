"""service_principal_credentials: managed identity present / SP credential problems the error confirms."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checks.service_principal_credentials import SPEC
from shared.models import CheckStatus
from tests.unit.checks.platform_support import CLUSTER_ID, PRINCIPAL, UAI_ID, body, make_ctx, run

EXPIRED = ("The credentials in ServicePrincipalProfile were invalid. Please see https://aka.ms/aks-sp-help for more "
           "details. (Details: adal: Refresh request failed. Status Code = '401'. Response body: "
           "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000222: The provided client secret keys for "
           "app 'clientid' are expired. Visit the Azure portal to create new keys for your app.\"})")
INVALID = ("AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client "
           "secret value, not the client secret ID, for a secret added to app 'clientid'.")


def uai(principal: str = PRINCIPAL) -> dict[str, Any]:
    """GET Microsoft.ManagedIdentity/userAssignedIdentities (2023-01-31) for the fixture cluster's identity."""
    return {"id": UAI_ID, "name": "id-aks-prod-01", "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
            "location": "westeurope",
            "properties": {"tenantId": "11111111-1111-1111-1111-111111111111", "principalId": principal,
                           "clientId": "22222222-2222-2222-2222-222222222222"}}


def sp_cluster() -> dict[str, Any]:
    c = body("cluster.spec-kubenet-sp")  # servicePrincipalProfile.clientId "clientid", no identity block
    c["id"] = CLUSTER_ID
    return c


CASES = [
    ("uai-present", body("cluster.vnetint-uai"), {UAI_ID: uai()}, "InternalOperationError", "", CheckStatus.PASS,
     "UserAssigned managed identity"),
    ("uai-deleted", body("cluster.vnetint-uai"), {}, "InternalOperationError", "", CheckStatus.FAIL,
     "id-aks-prod-01 no longer exists"),
    ("uai-recreated", body("cluster.vnetint-uai"), {UAI_ID: uai("77777777-7777-7777-7777-777777777777")},
     "InternalOperationError", "", CheckStatus.FAIL, "principalId changed"),
    ("sp-secret-expired", sp_cluster(), {}, "BadRequest", EXPIRED, CheckStatus.FAIL, "secret has expired"),
    ("sp-secret-invalid", sp_cluster(), {}, "ServicePrincipalValidationClientError", INVALID, CheckStatus.FAIL,
     "invalid secret"),
    ("sp-not-found", sp_cluster(), {}, "ServicePrincipalNotFound", "", CheckStatus.FAIL, "was not found"),
    ("sp-no-signal", sp_cluster(), {}, "InternalOperationError", "", CheckStatus.SKIPPED, "not ARM"),
]


@pytest.mark.parametrize(("cluster", "extra", "code", "msg", "status", "text"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
async def test_table(cluster: dict[str, Any], extra: dict[str, Any], code: str, msg: str, status: CheckStatus,
                     text: str) -> None:
    res = await run(SPEC, make_ctx({CLUSTER_ID: cluster, **extra}, code=code, message=msg))
    assert res.status is status, res
    assert text in res.summary


async def test_expired_secret_remediation_resets_with_real_names() -> None:
    res = await run(SPEC, make_ctx({CLUSTER_ID: sp_cluster()}, code="BadRequest", message=EXPIRED))
    rem = res.remediation or ""
    assert "az ad app credential reset --id clientid" in rem
    assert ("az aks update-credentials -g rg-aks-prod -n aks-prod-01 --reset-service-principal "
            "--service-principal clientid") in rem
    assert any("AADSTS7000222" in str(e.value) for e in res.evidence)


async def test_skip_says_how_to_check_expiry() -> None:
    res = await run(SPEC, make_ctx({CLUSTER_ID: sp_cluster()}))
    assert 'az ad app credential list --id clientid --query "[].endDateTime"' in (res.reason or "")


async def test_system_assigned_passes_without_reads() -> None:
    c = body("cluster.vnetint-uai")
    c["identity"] = {"type": "SystemAssigned", "principalId": PRINCIPAL,
                     "tenantId": "11111111-1111-1111-1111-111111111111"}
    ctx = make_ctx({CLUSTER_ID: c})
    res = await run(SPEC, ctx)
    assert res.status is CheckStatus.PASS
    assert ctx.arm.reads_made == 1


async def test_msi_without_identity_block_is_skipped() -> None:
    c = sp_cluster()
    c["properties"]["servicePrincipalProfile"]["clientId"] = "MSI"
    res = await run(SPEC, make_ctx({CLUSTER_ID: c}))
    assert res.status is CheckStatus.SKIPPED


async def test_no_identity_at_all_fails() -> None:
    c = sp_cluster()
    del c["properties"]["servicePrincipalProfile"]
    res = await run(SPEC, make_ctx({CLUSTER_ID: c}))
    assert res.status is CheckStatus.FAIL
    assert "--enable-managed-identity" in (res.remediation or "")


async def test_identity_failure_without_a_specific_code_is_a_likely_expired_secret() -> None:
    from shared.models import Classification

    ctx = make_ctx({CLUSTER_ID: sp_cluster()}, code="InternalOperationError")
    ctx.classification = Classification.model_validate({**ctx.classification.model_dump(), "families": ["identity"]})
    res = await run(SPEC, ctx)
    assert res.status is CheckStatus.FAIL
    assert res.confidence == "likely"
    assert 'az ad app credential list --id clientid --query "[].endDateTime"' in (res.confirm_by or "")
    fix = "az aks update-credentials -g rg-aks-prod -n aks-prod-01 --reset-service-principal"
    assert fix in (res.remediation or "")
