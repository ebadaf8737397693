"""resource_locks over the ManagementLocks_ListAtResourceGroupLevel (2020-05-01) spec body, re-pointed:
ReadOnly blocks writes, CanNotDelete only deletes; decoy locks (CanNotDelete on a scale, locks on
sibling resources) are not blamed."""

from __future__ import annotations

from typing import Any

import pytest

from shared.checks.resource_locks import SPEC, lock_scope
from shared.models import CheckStatus
from tests.unit.checks.platform_support import (
    CLUSTER_ID,
    NODE_RG_ID,
    NODE_SUBNET,
    RG,
    SUB,
    VNET_ID,
    body,
    deny,
    make_ctx,
    run,
)

CLUSTER_RG_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}"
NET_RG_ID = f"/subscriptions/{SUB}/resourceGroups/rg-network"
SUB_ID = f"/subscriptions/{SUB}"
VMSS = f"{NODE_RG_ID}/providers/Microsoft.Compute/virtualMachineScaleSets/aks-system-12345678-vmss"
STORAGE = f"{CLUSTER_RG_ID}/providers/Microsoft.Storage/storageAccounts/stbackups"
OTHER_VNET = f"{NET_RG_ID}/providers/Microsoft.Network/virtualNetworks/vnet-hub"


def lock(scope: str, level: str, name: str = "testlock") -> dict[str, Any]:
    """value[0] of the spec example, placed on `scope`."""
    item: dict[str, Any] = body("locks.rg")["value"][0]
    item["id"] = f"{scope}/providers/Microsoft.Authorization/locks/{name}"
    item["name"] = name
    item["properties"]["level"] = level
    return item


def locks_path(scope: str) -> str:
    return f"{scope}/providers/Microsoft.Authorization/locks"


def world(**placed: list[dict[str, Any]]) -> dict[str, Any]:
    """Lock lists per scope keyword: cluster, crg, nrg, net. A lock above a group is listed for it too."""
    scopes = {"cluster": CLUSTER_ID, "crg": CLUSTER_RG_ID, "nrg": NODE_RG_ID, "net": NET_RG_ID}
    res: dict[str, Any] = {CLUSTER_ID: body("cluster.vnetint-uai")}
    for key, scope in scopes.items():
        res[locks_path(scope)] = {"value": placed.get(key, [])}
    return res


def scope_locked(scope: str, target: str = VMSS, op: str = "write") -> str:
    return (f"The scope '{target}' cannot perform {op} operation because following scope(s) are locked: '{scope}'. "
            "Please remove the lock and try again.")


QUOTA = ("Operation could not be completed as it results in exceeding approved standardDDSv5Family Cores quota. "
         "Additional details - Deployment Model: Resource Manager, Location: westeurope, Current Limit: 10, "
         "Current Usage: 8, Additional Required: 4, (Minimum) New Limit Required: 12.")

CASES = [
    # (id, locks, verb, code, message, status, confidence, blamed lock scope)
    ("readonly-node-rg-scale", dict(nrg=[lock(NODE_RG_ID, "ReadOnly")]), "scale", "ScopeLocked",
     scope_locked(NODE_RG_ID), CheckStatus.FAIL, "confirmed", NODE_RG_ID),
    ("readonly-node-rg-upgrade-no-lock-code", dict(nrg=[lock(NODE_RG_ID, "ReadOnly")]), "upgrade",
     "InternalOperationError", "", CheckStatus.FAIL, "confirmed", NODE_RG_ID),
    ("decoy-cannotdelete-node-rg-on-quota-scale", dict(nrg=[lock(NODE_RG_ID, "CanNotDelete")]), "scale",
     "QuotaExceeded", QUOTA, CheckStatus.PASS, None, None),
    ("cannotdelete-node-rg-on-delete", dict(nrg=[lock(NODE_RG_ID, "CanNotDelete")]), "delete", "ScopeLocked",
     scope_locked(NODE_RG_ID, op="delete"), CheckStatus.FAIL, "confirmed", NODE_RG_ID),
    ("cannotdelete-node-rg-named-by-lock-error-on-scale", dict(nrg=[lock(NODE_RG_ID, "CanNotDelete")]), "scale",
     "ScopeLocked", scope_locked(NODE_RG_ID, op="delete"), CheckStatus.FAIL, "confirmed", NODE_RG_ID),
    ("cannotdelete-on-cluster-delete", dict(cluster=[lock(CLUSTER_ID, "CanNotDelete")],
                                            crg=[lock(CLUSTER_ID, "CanNotDelete")]), "delete", "InternalOperationError",
     "", CheckStatus.FAIL, "confirmed", CLUSTER_ID),
    ("decoy-cannotdelete-on-cluster-upgrade", dict(cluster=[lock(CLUSTER_ID, "CanNotDelete")]), "upgrade",
     "InternalOperationError", "", CheckStatus.PASS, None, None),
    ("readonly-cluster-rg-update", dict(crg=[lock(CLUSTER_RG_ID, "ReadOnly")]), "update", "InternalOperationError", "",
     CheckStatus.FAIL, "confirmed", CLUSTER_RG_ID),
    ("readonly-subscription-listed-in-groups", dict(crg=[lock(SUB_ID, "ReadOnly", "sub-freeze")],
                                                    nrg=[lock(SUB_ID, "ReadOnly", "sub-freeze")]), "scale",
     "InternalOperationError", "", CheckStatus.FAIL, "confirmed", SUB_ID),
    ("decoy-readonly-on-sibling-resource-in-cluster-rg", dict(crg=[lock(STORAGE, "ReadOnly")]), "update",
     "InternalOperationError", "", CheckStatus.PASS, None, None),
    ("readonly-on-network-vnet-likely", dict(net=[lock(VNET_ID, "ReadOnly")]), "create", "InternalOperationError", "",
     CheckStatus.FAIL, "likely", VNET_ID),
    ("readonly-on-network-named-by-scope-locked", dict(net=[lock(VNET_ID, "ReadOnly")]), "create", "ScopeLocked",
     scope_locked(VNET_ID, NODE_SUBNET), CheckStatus.FAIL, "confirmed", VNET_ID),
    ("decoy-readonly-on-another-vnet-in-network-rg", dict(net=[lock(OTHER_VNET, "ReadOnly")]), "create",
     "InternalOperationError", "", CheckStatus.PASS, None, None),
    ("decoy-cannotdelete-on-network-rg-delete", dict(net=[lock(NET_RG_ID, "CanNotDelete")]), "delete",
     "InternalOperationError", "", CheckStatus.PASS, None, None),
    ("no-locks", dict(), "scale", "InternalOperationError", "", CheckStatus.PASS, None, None),
]


@pytest.mark.parametrize(("locks", "verb", "code", "msg", "status", "confidence", "blamed"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_table(locks: dict[str, list[dict[str, Any]]], verb: str, code: str, msg: str, status: CheckStatus,
                     confidence: str | None, blamed: str | None) -> None:
    res = await run(SPEC, make_ctx(world(**locks), verb=verb, code=code, message=msg))
    assert res.status is status, res
    if blamed:
        assert res.confidence == confidence
        assert f"on {blamed} blocks the {verb}" in res.summary
        lock_ids = [e.resource_id for e in res.evidence if e.resource_id and lock_scope(e.resource_id) == blamed]
        assert lock_ids
        assert f"az lock delete --ids {lock_ids[0]}" in (res.remediation or "")
    else:
        assert "az lock delete" not in (res.remediation or "")


async def test_decoy_lock_is_shown_but_not_blamed() -> None:
    res = await run(SPEC, make_ctx(world(nrg=[lock(NODE_RG_ID, "CanNotDelete")]), verb="scale", code="QuotaExceeded",
                                   message=QUOTA))
    assert res.status is CheckStatus.PASS
    (ev,) = [e for e in res.evidence if e.value == "CanNotDelete"]
    assert "does not block a scale" in (ev.note or "")


async def test_recreate_command_for_a_resource_group_lock() -> None:
    res = await run(SPEC, make_ctx(world(nrg=[lock(NODE_RG_ID, "ReadOnly")]), verb="scale"))
    node_rg = NODE_RG_ID.rsplit("/", 1)[1]
    assert f"az lock create --name testlock --lock-type ReadOnly --resource-group {node_rg}" in (res.remediation or "")
    assert "--nrg-lockdown-restriction-level ReadOnly" in (res.remediation or "")


async def test_every_scope_is_read() -> None:
    ctx = make_ctx(world(), verb="scale")
    res = await run(SPEC, ctx)
    assert res.status is CheckStatus.PASS
    assert "no locks on 4 scope(s)" in res.summary  # cluster, its group, node group, network group


async def test_locks_unreadable_is_an_error_not_a_pass() -> None:
    res = await run(SPEC, deny(make_ctx(world(), verb="scale"), "/locks"))
    assert res.status is CheckStatus.ERROR
    assert "locks/read" in (res.reason or "")


async def test_locks_unreadable_with_a_lock_error_is_likely() -> None:
    res = await run(SPEC, deny(make_ctx(world(), verb="scale", code="ScopeLocked", message=scope_locked(NODE_RG_ID)),
                               "/locks"))
    assert res.status is CheckStatus.FAIL
    assert res.confidence == "likely"
    assert "az lock list --resource-group" in (res.confirm_by or "")


async def test_lock_error_without_a_lock_found_cannot_decide() -> None:
    res = await run(SPEC, make_ctx(world(), verb="scale", code="ScopeLocked", message=scope_locked(NODE_RG_ID)))
    assert res.status is CheckStatus.ERROR
    assert "reports a lock" in res.summary


async def test_readonly_on_one_resource_in_the_node_rg() -> None:
    disk = f"{NODE_RG_ID}/providers/Microsoft.Compute/disks/pvc-1234"
    res = await run(SPEC, make_ctx(world(nrg=[lock(disk, "ReadOnly")]), verb="scale"))
    assert res.status is CheckStatus.FAIL
    assert res.confidence == "likely"  # blocks the scale only if the scale writes that disk
    res = await run(SPEC, make_ctx(world(nrg=[lock(VMSS, "ReadOnly")]), verb="scale", code="ScopeLocked",
                                   message=scope_locked(VMSS)))
    assert (res.status, res.confidence) == (CheckStatus.FAIL, "confirmed")  # the error names the locked VMSS


async def _locks_family_ctx(planned: bool) -> Any:
    """A create whose classification carries the locks family but no lock code (what pre-flight builds)."""
    from shared.checklib.clusterview import ClusterView
    from shared.models import Family

    ctx = make_ctx(world(crg=[lock(CLUSTER_RG_ID, "CanNotDelete")]), verb="create", code="PreflightPrediction")
    ctx.classification = ctx.classification.model_copy(update={"families": (Family.LOCKS,)})
    if planned:
        ctx.planned = ClusterView.from_body(body("cluster.vnetint-uai"), CLUSTER_ID, planned=True)
    return ctx


async def test_planned_mode_takes_a_lock_error_only_from_lock_codes() -> None:
    res = await run(SPEC, await _locks_family_ctx(planned=True))
    assert res.status is CheckStatus.PASS, res.summary
    assert "CanNotDelete does not block a create" in " ".join(e.note or "" for e in res.evidence)


async def test_failure_mode_still_reads_the_locks_family_as_a_lock_error() -> None:
    res = await run(SPEC, await _locks_family_ctx(planned=False))
    assert res.status is CheckStatus.ERROR and "the error reports a lock" in res.summary
