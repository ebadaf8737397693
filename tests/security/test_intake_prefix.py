"""The operation-name prefix the Event Grid filter and intake share matches AKS clusters and their
agent pools only, not sibling types whose names merely begin the same way."""

from __future__ import annotations

from shared import events
from shared.events import Ignored, parse_event

SUB = "00000000-0000-0000-0000-000000000000"


def _matches(operation: str) -> bool:
    return any(operation.lower().startswith(p.lower()) for p in events.ACCEPTED_OPERATION_PREFIXES)


def test_prefix_does_not_match_cluster_snapshots() -> None:
    assert _matches("Microsoft.ContainerService/managedClusters/write")
    assert _matches("Microsoft.ContainerService/managedClusters/agentPools/write")
    assert not _matches("Microsoft.ContainerService/managedClusterSnapshots/write")


def test_intake_ignores_a_cluster_snapshot_failure() -> None:
    uri = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusterSnapshots/s1"
    event = {"id": "e1", "eventType": "Microsoft.Resources.ResourceWriteFailure",
             "eventTime": "2024-11-21T12:35:10Z", "subject": uri,
             "data": {"resourceUri": uri, "operationName": "Microsoft.ContainerService/managedClusterSnapshots/write",
                      "subscriptionId": SUB}}
    assert isinstance(parse_event(event), Ignored)
