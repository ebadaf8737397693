"""node_resource_group over a node resource group GET body; locks on it are resource_locks' (a lock
here is a decoy for this check)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checks.node_resource_group import SPEC
from shared.models import CheckStatus
from tests.unit.checks.platform_support import CLUSTER_ID, NODE_RG_ID, body, make_ctx, run

LOCKS = f"{NODE_RG_ID}/providers/Microsoft.Authorization/locks"


def world(rg_edit: dict[str, Any] | None = None, locks: bool = False, rg: bool = True) -> dict[str, Any]:
    res: dict[str, Any] = {CLUSTER_ID: body("cluster.vnetint-uai")}
    if rg:
        g = body("resourcegroup.node")
        for k, v in (rg_edit or {}).items():
            if v is None:
                g.pop(k, None)
            else:
                g[k] = v
        res[NODE_RG_ID] = g
        res[LOCKS] = body("locks.rg") if locks else {"value": []}
    return res


CASES = [
    ("healthy", dict(), "update", CheckStatus.PASS, "exists and is managed by the cluster"),
    ("managed-by-other-casing", dict(rg_edit={"managedBy": CLUSTER_ID.upper()}), "update", CheckStatus.PASS, "exists"),
    ("lock-is-not-this-checks-finding", dict(locks=True), "scale", CheckStatus.PASS, "exists"),
    ("deleted", dict(rg=False), "scale", CheckStatus.FAIL, "was deleted"),
    ("deleted-while-deleting-cluster", dict(rg=False), "delete", CheckStatus.PASS, "already deleted"),
    ("managed-by-removed", dict(rg_edit={"managedBy": None}), "update", CheckStatus.FAIL, "managedBy was removed"),
    ("managed-by-other-cluster", dict(rg_edit={"managedBy": CLUSTER_ID.replace("aks-prod-01", "aks-old")}), "update",
     CheckStatus.FAIL, "no longer points at the cluster"),
    ("tag-changed", dict(rg_edit={"tags": {"aks-managed-cluster-name": "someone-else",
                                           "aks-managed-cluster-rg": "rg-aks-prod"}}),
     "upgrade", CheckStatus.FAIL, "tag aks-managed-cluster-name changed to 'someone-else'"),
    ("tags-absent-is-only-noted", dict(rg_edit={"tags": None}), "update", CheckStatus.PASS, "exists"),
    ("being-deleted", dict(rg_edit={"properties": {"provisioningState": "Deleting"}}), "update", CheckStatus.FAIL,
     "being deleted"),
]


@pytest.mark.parametrize(("kw", "verb", "status", "text"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_table(kw: dict[str, Any], verb: str, status: CheckStatus, text: str) -> None:
    res = await run(SPEC, make_ctx(world(**kw), verb=verb))
    assert res.status is status, res
    assert text in res.summary


async def test_tag_fix_command() -> None:
    res = await run(SPEC, make_ctx(world(rg_edit={"tags": {"aks-managed-cluster-name": "x",
                                                           "aks-managed-cluster-rg": "rg-aks-prod"}})))
    assert (f"az tag update --resource-id {NODE_RG_ID} --operation Merge --tags aks-managed-cluster-name=aks-prod-01"
            in (res.remediation or ""))


async def test_reads_only_the_cluster_and_the_group() -> None:
    ctx = make_ctx(world(locks=True))
    res = await run(SPEC, ctx)
    assert res.status is CheckStatus.PASS
    assert ctx.arm.reads_made == 2


async def test_cluster_without_node_resource_group_is_skipped() -> None:
    c = body("cluster.vnetint-uai")
    del c["properties"]["nodeResourceGroup"]
    res = await run(SPEC, make_ctx({CLUSTER_ID: c}))
    assert res.status is CheckStatus.SKIPPED
