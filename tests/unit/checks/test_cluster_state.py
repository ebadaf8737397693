"""cluster_state over the constructed 2025-05-01 cluster body with power/provisioning states planted."""

from __future__ import annotations

import pytest

from shared.checks.cluster_state import SPEC
from shared.models import CheckStatus
from tests.unit.checks.net_support import CLUSTER_ID, cluster, make_ctx, run


@pytest.mark.parametrize(("power", "state", "status", "needle", "fix"), [
    ("Stopped", "Succeeded", CheckStatus.FAIL, "Stopped", "az aks start -g rg-aks-prod -n aks-prod-01"),
    ("Running", "Creating", CheckStatus.FAIL, "still running", "az aks wait -g rg-aks-prod -n aks-prod-01"),
    ("Running", "Starting", CheckStatus.FAIL, "still running", "az aks wait"),
    ("Running", "Failed", CheckStatus.PASS, "Failed is the outcome", None),
    ("Running", "Succeeded", CheckStatus.PASS, "Running", None),
])
async def test_states(power: str, state: str, status: CheckStatus, needle: str, fix: str | None) -> None:
    c = cluster()
    c["properties"]["powerState"]["code"] = power
    c["properties"]["provisioningState"] = state
    r = await run(SPEC, make_ctx({CLUSTER_ID: c}, subcategory="refused"))
    assert r.status is status and needle in r.summary
    assert (r.remediation or "").startswith(fix) if fix else r.remediation is None
    assert {e.property for e in r.evidence} == {"properties.powerState.code", "properties.provisioningState"}


async def test_missing_cluster_is_skipped_not_error() -> None:
    r = await run(SPEC, make_ctx({}))
    assert r.status is CheckStatus.SKIPPED and "does not exist" in (r.reason or "")


async def test_body_without_states_is_skipped() -> None:
    c = cluster()
    del c["properties"]["powerState"], c["properties"]["provisioningState"]
    r = await run(SPEC, make_ctx({CLUSTER_ID: c}))
    assert r.status is CheckStatus.SKIPPED
