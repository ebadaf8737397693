"""compose.build_recheck: the escalation timer re-reads the cluster before it escalates.

Real ArmReader port over a snapshot (the same reader the CLI uses), so a 403 replays as a 403 and a
missing cluster as ARM's 404.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.compose import build_recheck
from shared.local.snapshot import Snapshot, SnapshotArmReader
from tests.factories import make_finding, make_operation


def state(value: str) -> dict[str, Any]:
    return {"properties": {"provisioningState": value}}


def recheck(resources: dict[str, Any], failed: dict[str, Any] | None = None):
    snap = Snapshot.from_obj({"format_version": 2, "resources": resources, "failed_reads": failed or {}})
    return build_recheck(SnapshotArmReader(snap))


OP = make_operation(cluster="aks-a")
POOL_OP = make_operation(cluster="aks-a", agent_pool="np1")
POOL = f"{OP.cluster_id}/agentPools/np1"


@pytest.mark.parametrize(
    ("resources", "op", "failing"),
    [
        ({OP.cluster_id: state("Failed")}, OP, True),
        ({OP.cluster_id: state("Updating")}, OP, True),  # still in flight: not proven fixed
        ({OP.cluster_id: state("Succeeded")}, OP, False),  # fixed by a later operation
        ({}, OP, False),  # the cluster is gone
        ({OP.cluster_id: state("Succeeded"), POOL: state("Failed")}, POOL_OP, True),  # the pool still failed
        ({OP.cluster_id: state("Succeeded"), POOL: state("Succeeded")}, POOL_OP, False),
        ({OP.cluster_id: state("Succeeded")}, POOL_OP, False),  # the pool was deleted
    ],
)
async def test_still_failing_follows_the_provisioning_state(resources, op, failing) -> None:
    assert await recheck(resources)(make_finding(op=op)) is failing


async def test_a_read_that_fails_cannot_tell_so_the_group_still_counts_as_failing() -> None:
    failed = {OP.cluster_id: {"status": 403, "code": "AuthorizationFailed", "message": "no Reader"}}
    assert await recheck({}, failed)(make_finding(op=OP)) is True
    failed = {OP.cluster_id: {"status": 503, "code": "ServiceUnavailable", "message": "try later"}}
    assert await recheck({}, failed)(make_finding(op=OP)) is True
