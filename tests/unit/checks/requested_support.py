"""Plumbing for the tests of what an operation asks for (SKUs, quota, versions, subnet IPs): the
Compute SKU list of westeurope (tests/fixtures/arm/requested) and the ids the checks read."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from shared.checklib.base import CheckContext
from shared.checklib.skus import region_skus_id
from tests.unit.checks.platform_support import SUB, make_ctx

REQUESTED = Path(__file__).resolve().parents[2] / "fixtures" / "arm" / "requested"
SKUS_ID = region_skus_id(SUB, "westeurope")
COMPUTE_USAGES = f"/subscriptions/{SUB}/providers/Microsoft.Compute/locations/westeurope/usages"
NETWORK_USAGES = f"/subscriptions/{SUB}/providers/Microsoft.Network/locations/westeurope/usages"
VERSIONS_ID = f"/subscriptions/{SUB}/providers/Microsoft.ContainerService/locations/westeurope/kubernetesVersions"


def skus() -> dict[str, Any]:
    """A fresh copy of the westeurope SKU list (ResourceSkus_List shape)."""
    obj = json.loads((REQUESTED / "compute-skus.westeurope.json").read_text(encoding="utf-8"))
    return copy.deepcopy(obj["body"])


def classified_ctx(resources: dict[str, dict[str, Any]], **kw: Any) -> CheckContext:
    """platform_support.make_ctx with the classification the real classifier gives the error (families,
    category and causes from the catalog), the way production selects and runs checks."""
    from shared.classify import classify_error

    ctx = make_ctx(resources, **kw)
    real = classify_error(ctx.error)
    ctx.classification = real.model_copy(update={"facts": ctx.classification.facts})
    return ctx
