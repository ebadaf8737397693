"""A failed-cluster world built from the public fixtures, for the ARM emulator and snapshot tests."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

from shared.models import FailedOperation, OperationKind
from tests.conftest import load_json

SUB = "00000000-0000-0000-0000-000000000000"
RG = "rg-aks-prod"
CLUSTER_ID = (f"/subscriptions/{SUB}/resourcegroups/{RG}/providers/Microsoft.ContainerService/"
              "managedClusters/aks-prod-01")
POOL_ID = f"{CLUSTER_ID}/agentPools/user1"
SYSTEM_POOL_ID = f"{CLUSTER_ID}/agentPools/system"
SUBNET_ID = (f"/subscriptions/{SUB}/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/"
             "vnet-spoke-aks/subnets/snet-aks-nodes")
CORRELATION = "55555555-5555-5555-5555-555555555555"
EVENT_TIME = datetime(2024, 11, 21, 12, 35, 10, tzinfo=UTC)
DEPLOYMENT_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Resources/deployments/aks-deploy-1"


def cluster_body() -> dict[str, Any]:
    body: dict[str, Any] = load_json(
        "arm/aks/ManagedCluster.get.failed-private-vnetintegration-udr.2025-05-01.constructed.json")["body"]
    return body


def pool_body() -> dict[str, Any]:
    body: dict[str, Any] = load_json("arm/aks/AgentPool.get.failed.2025-05-01.constructed.json")["body"]
    return body


def system_pool_body() -> dict[str, Any]:
    body = copy.deepcopy(pool_body())
    body["id"] = SYSTEM_POOL_ID
    body["name"] = "system"
    body["properties"]["mode"] = "System"
    return body


def failed_write_event() -> dict[str, Any]:
    event: dict[str, Any] = load_json(
        "arm/activitylog/ActivityLog.Administrative.aks-managedclusters-write-failed.constructed.json")["value"][0]
    return event


def deployment_event(*, status: str = "Failed", event_id: str = "99999999-0000-0000-0000-000000000001",
                     status_message: str | None = None) -> dict[str, Any]:
    """The caller's deployment entry, same correlation id, DeploymentFailed wrapper only."""
    event = copy.deepcopy(failed_write_event())
    event.update({
        "eventDataId": event_id,
        "resourceId": DEPLOYMENT_ID,
        "id": f"{DEPLOYMENT_ID}/events/{event_id}/ticks/1",
        "operationName": {"value": "Microsoft.Resources/deployments/write", "localizedValue": "Create Deployment"},
        "resourceType": {"value": "Microsoft.Resources/deployments", "localizedValue": "deployments"},
        "status": {"value": status, "localizedValue": status},
    })
    event["properties"] = dict(event["properties"])
    event["properties"]["statusMessage"] = status_message if status_message is not None else json.dumps(
        {"error": {"code": "DeploymentFailed", "message": "At least one resource deployment operation failed."}})
    event["properties"]["entity"] = DEPLOYMENT_ID
    return event


def deployment_operations(target: str = CLUSTER_ID) -> dict[str, Any]:
    """GET {deployment}/operations: one failed op on the cluster (statusCode int), one on storage."""
    ops: dict[str, Any] = load_json("arm/resources/DeploymentOperationsList.failed.docs-deployment-history.json")
    aks_op = copy.deepcopy(ops["value"][0])
    aks_op["id"] = f"{DEPLOYMENT_ID}/operations/AAAA"
    aks_op["operationId"] = "AAAA"
    aks_op["properties"]["statusCode"] = 400
    aks_op["properties"]["statusMessage"] = {"status": "Failed", "error": {
        "code": "InvalidParameter", "message": "Provisioning of resource(s) for container service aks-prod-01 "
        "failed. Message: The value of parameter agentPoolProfile.vnetSubnetID is invalid.", "target": "vnetSubnetID"}}
    aks_op["properties"]["targetResource"] = {
        "id": target, "resourceType": "Microsoft.ContainerService/managedClusters", "resourceName": "aks-prod-01"}
    return {"value": [ops["value"][0], aks_op]}


def failed_world() -> dict[str, Any]:
    """Snapshot object: failed cluster (with provisioningError), failed pool, subnet, activity log."""
    subnet = {
        "id": SUBNET_ID, "name": "snet-aks-nodes", "type": "Microsoft.Network/virtualNetworks/subnets",
        "properties": {"addressPrefix": "10.240.0.0/22", "provisioningState": "Succeeded",
                       "routeTable": {"id": f"/subscriptions/{SUB}/resourceGroups/rg-network/providers/"
                                            "Microsoft.Network/routeTables/rt-aks"}}}
    return {
        "resources": {
            CLUSTER_ID: cluster_body(),
            POOL_ID: pool_body(),
            SYSTEM_POOL_ID: system_pool_body(),
            f"{CLUSTER_ID}/agentPools": {"value": [system_pool_body(), pool_body()]},
            SUBNET_ID: subnet,
        },
        "activity_log": [failed_write_event()],
    }


def operation(**overrides: Any) -> FailedOperation:
    fields: dict[str, Any] = {
        "event_id": "e-1", "event_type": "Microsoft.Resources.ResourceWriteFailure", "event_time": EVENT_TIME,
        "kind": OperationKind.WRITE_FAILURE, "cluster_id": CLUSTER_ID, "subscription_id": SUB,
        "resource_group": RG, "cluster_name": "aks-prod-01", "resource_id": CLUSTER_ID,
        "operation_name": "Microsoft.ContainerService/managedClusters/write", "verb": "update",
        "correlation_id": CORRELATION,
    }
    fields.update(overrides)
    return FailedOperation(**fields)
