"""feature_registration over the AKS-docs `az feature show` body and the getFeature spec example."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checks.feature_registration import SPEC, feature_id
from shared.models import CheckStatus
from tests.unit.checks.platform_support import CLUSTER_ID, SUB, body, make_ctx, run

OIDC_MSG = ("Enabling OIDC issuer is not allowed since feature 'Microsoft.ContainerService/EnableOIDCIssuerPreview' "
            "is not enabled. Please see https://aka.ms/aks/previews for how to enable features.")
AUTOUPGRADE_MSG = ("Feature Microsoft.ContainerService/AutoUpgradePreview is not enabled. Please see "
                   "https://aka.ms/aks/previews for how to enable features.")


def feature(name: str, state: str | None, ns: str = "Microsoft.ContainerService") -> tuple[str, dict[str, Any]]:
    b = body("feature.registering")
    b["id"] = feature_id(SUB, ns, name)
    b["name"] = f"{ns}/{name}"
    if state is None:
        b["properties"] = {}
    else:
        b["properties"]["state"] = state
    return b["id"], b


def spec_feature(name: str) -> tuple[str, dict[str, Any]]:
    b = body("feature.spec-lowercase")  # state "registered" (lower case) as in the spec example
    return feature_id(SUB, "Microsoft.ContainerService", name), b


CASES = [
    ("registering-is-fail", "OIDCIssuerFeatureFlagNotEnabled", OIDC_MSG, {},
     [feature("EnableOIDCIssuerPreview", "Registering")], CheckStatus.FAIL, "registration in progress"),
    ("not-registered", "OIDCIssuerFeatureFlagNotEnabled", OIDC_MSG, {},
     [feature("EnableOIDCIssuerPreview", "NotRegistered")], CheckStatus.FAIL,
     "EnableOIDCIssuerPreview is NotRegistered"),
    ("lower-case-registered-passes", "OIDCIssuerFeatureFlagNotEnabled", OIDC_MSG, {},
     [spec_feature("EnableOIDCIssuerPreview")], CheckStatus.PASS, "Registered"),
    ("badrequest-text", "BadRequest", AUTOUPGRADE_MSG, {},
     [feature("AutoUpgradePreview", "Unregistered")], CheckStatus.FAIL, "AutoUpgradePreview"),
    ("facts-bare-name", "AzureKeyvaultSecretsProviderAddonFeatureFlagNotEnabled", "",
     {"features": ["AKS-AzureKeyVaultSecretsProvider"]},
     [feature("AKS-AzureKeyVaultSecretsProvider", "Pending")], CheckStatus.FAIL, "Pending"),
    ("feature-unknown-404", "BadRequest", AUTOUPGRADE_MSG, {}, [], CheckStatus.ERROR, "feature not found"),
]


@pytest.mark.parametrize(("code", "msg", "facts", "feats", "status", "text"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
async def test_table(code: str, msg: str, facts: dict[str, Any], feats: list[tuple[str, dict[str, Any]]],
                     status: CheckStatus, text: str) -> None:
    res = await run(SPEC, make_ctx({CLUSTER_ID: body("cluster.vnetint-uai"), **dict(feats)}, code=code, message=msg,
                                   facts=facts))
    assert res.status is status, res
    assert text in res.summary
    if status is CheckStatus.FAIL:
        name = feats[0][1]["name"].split("/", 1)[1]
        assert f"az feature register --namespace Microsoft.ContainerService --name {name}" in (res.remediation or "")
        assert "az provider register --namespace Microsoft.ContainerService" in (res.remediation or "")


async def test_vnet_integration_with_preview_api_checks_the_vnet_feature() -> None:
    fid, fb = feature("EnableAPIServerVnetIntegrationPreview", "NotRegistered")
    res = await run(SPEC, make_ctx({CLUSTER_ID: body("cluster.vnetint-uai"), fid: fb},
                                   api_version="2023-11-02-preview"))
    assert res.status is CheckStatus.FAIL
    assert res.evidence[0].resource_id == fid
    assert "preview api-version 2023-11-02-preview" in (res.evidence[0].note or "")


async def test_vnet_integration_on_stable_api_is_not_applicable() -> None:
    res = await run(SPEC, make_ctx({CLUSTER_ID: body("cluster.vnetint-uai")}, api_version="2025-05-01"))
    assert res.status is CheckStatus.NOT_APPLICABLE


async def test_named_feature_unreadable_is_a_likely_cause() -> None:
    from tests.unit.checks.platform_support import deny

    ctx = deny(make_ctx({CLUSTER_ID: body("cluster.vnetint-uai")}, code="OIDCIssuerFeatureFlagNotEnabled",
                        message=OIDC_MSG), "Microsoft.Features")
    res = await run(SPEC, ctx)
    assert res.status is CheckStatus.FAIL
    assert res.confidence == "likely"
    assert "az feature show --namespace Microsoft.ContainerService --name EnableOIDCIssuerPreview" in (
        res.confirm_by or "")


async def test_other_unregistered_features_are_not_read() -> None:
    fid, fb = feature("EnableOIDCIssuerPreview", "Registered")
    decoy_id, decoy = feature("NetworkObservabilityPreview", "NotRegistered")
    ctx = make_ctx({CLUSTER_ID: body("cluster.vnetint-uai"), fid: fb, decoy_id: decoy},
                   code="OIDCIssuerFeatureFlagNotEnabled", message=OIDC_MSG)
    res = await run(SPEC, ctx)
    assert res.status is CheckStatus.PASS
    assert [e.resource_id for e in res.evidence] == [fid]
    assert "az provider register --namespace Microsoft.ContainerService" in (res.remediation or "")
