"""ArmErrorSource: cluster status -> Activity Log (REST / AzureActivity) -> deployment operations."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from shared.errors import ArmErrorSource, deployment_ids
from shared.local.snapshot import Snapshot, SnapshotArmReader
from shared.models import OperationError
from shared.ports import ArmError, ArmForbidden, ArmNotFound, ErrorNotYetAvailable
from shared.settings import Settings
from tests.conftest import load_json
from tests.emulators.arm_emulator import ArmEmulator
from tests.emulators.plugin import FakeAsyncCredential, arm_emulator, arm_server, fake_credential  # noqa: F401
from tests.emulators.sample_data import (
    CLUSTER_ID,
    CORRELATION,
    DEPLOYMENT_ID,
    EVENT_TIME,
    POOL_ID,
    deployment_event,
    deployment_operations,
    failed_world,
    operation,
)

NOW = EVENT_TIME + timedelta(minutes=10)
WORKSPACE = "12345678-1234-1234-1234-123456789abc"


def source(world: dict[str, Any], **kw: Any) -> tuple[ArmErrorSource, SnapshotArmReader]:
    reader = SnapshotArmReader(Snapshot.from_obj(world))
    return ArmErrorSource(reader, now=lambda: NOW, **kw), reader


def without_cluster_error(world: dict[str, Any]) -> dict[str, Any]:
    w = copy.deepcopy(world)
    for rid, body in w["resources"].items():
        if rid.lower() == CLUSTER_ID.lower():
            body["properties"].pop("status", None)
    return w


def leafs(err: OperationError) -> list[str]:
    return [n.code for n in err.walk() if not n.details]


@pytest.fixture
def world() -> dict[str, Any]:
    return failed_world()


async def test_cluster_provisioning_error_first(world: dict[str, Any]) -> None:
    src, reader = source(world)
    err = await src.fetch(operation())
    assert (err.code, err.source) == ("VMExtensionProvisioningError", "cluster_status")
    assert "outbound connection" in err.message
    assert reader.reads_made == 1  # no Activity Log read needed


async def test_stale_provisioning_error_of_a_succeeded_cluster_is_ignored(world: dict[str, Any]) -> None:
    for body in world["resources"].values():
        if body.get("name") == "aks-prod-01":
            body["properties"]["provisioningState"] = "Succeeded"
    src, _ = source(world)
    err = await src.fetch(operation())
    assert err.source == "activity_log"
    assert err.code == "ResourceOperationFailure"
    assert leafs(err) == ["VMExtensionProvisioningError"]


async def test_agent_pool_status_then_cluster_status(world: dict[str, Any]) -> None:
    op = operation(agent_pool="user1", resource_id=POOL_ID)
    src, _ = source(world)
    err = await src.fetch(op)  # the pool is Failed without provisioningError -> the cluster's
    assert err.source == "cluster_status"
    for rid, body in world["resources"].items():
        if rid.lower() == POOL_ID.lower():
            body["properties"]["status"] = {"provisioningError": {
                "code": "ReconcileAgentPoolIdentityError", "message": "pool identity", "target": "user1",
                "details": [{"code": "LinkedAuthorizationFailed", "message": "no access"}],
                "additionalInfo": [{"type": "x", "info": {}}]}}
    src, _ = source(world)
    err = await src.fetch(op)
    assert (err.code, err.source, err.target) == ("ReconcileAgentPoolIdentityError", "agentpool_status", "user1")
    assert err.details[0].code == "LinkedAuthorizationFailed"


async def test_activity_log_status_message_nested_json(world: dict[str, Any]) -> None:
    src, _ = source(without_cluster_error(world))
    err = await src.fetch(operation())
    assert err.source == "activity_log"
    assert [n.code for n in err.walk()] == ["ResourceOperationFailure", "VMExtensionProvisioningError"]
    assert all(n.source == "activity_log" for n in err.walk())


async def test_prefers_the_most_specific_entry(world: dict[str, Any]) -> None:
    w = without_cluster_error(world)
    wrapper = deployment_event()
    wrapper["eventTimestamp"] = "2024-11-21T12:35:00Z"
    code_only = copy.deepcopy(w["activity_log"][0])
    code_only["eventDataId"] = "code-only"
    code_only["properties"] = {"statusCode": "Conflict"}
    w["activity_log"] = [wrapper, code_only, *w["activity_log"]]
    src, _ = source(w)
    err = await src.fetch(operation())
    assert leafs(err) == ["VMExtensionProvisioningError"]
    assert err.source == "activity_log"


async def test_three_levels_of_json_strings_in_status_message(world: dict[str, Any]) -> None:
    leaf = {"code": "InvalidResourceReference", "message": "Resource /subscriptions/x/.../subnets/s was not found."}
    level3 = json.dumps({"status": "Failed", "error": {"code": "BadRequest", "message": json.dumps({"error": leaf})}})
    level2 = json.dumps({"status": "Failed", "error": {"code": "ResourceDeploymentFailure", "message": "m",
                                                       "details": [{"code": "DeploymentFailed", "message": level3}]}})
    w = without_cluster_error(world)
    w["activity_log"][0]["properties"]["statusMessage"] = json.dumps(
        {"status": "Failed", "error": {"code": "DeploymentFailed", "message": "At least one...",
                                       "details": [{"code": "Conflict", "message": level2}]}})
    src, _ = source(w)
    err = await src.fetch(operation())
    assert leafs(err) == ["InvalidResourceReference"]


async def test_status_code_only_when_nothing_better(world: dict[str, Any]) -> None:
    w = without_cluster_error(world)
    w["activity_log"][0]["properties"] = {"statusCode": "Conflict", "statusMessage": "not json"}
    src, _ = source(w)
    err = await src.fetch(operation())
    assert (err.code, err.source) == ("Conflict", "activity_log")


async def test_deployment_operations_when_a_deployment_was_the_caller(world: dict[str, Any]) -> None:
    w = without_cluster_error(world)
    w["activity_log"] = [deployment_event()]  # the cluster's own entry has not landed yet
    w["activity_log"][0]["eventTimestamp"] = "2024-11-21T12:35:00Z"
    w["resources"][f"{DEPLOYMENT_ID}/operations"] = deployment_operations()
    src, _ = source(w)
    err = await src.fetch(operation())
    assert (err.code, err.source, err.target) == ("InvalidParameter", "deployment", "vnetSubnetID")
    assert "vnetSubnetID" in err.message


async def test_nested_deployment_is_followed(world: dict[str, Any]) -> None:
    w = without_cluster_error(world)
    w["activity_log"] = [deployment_event()]
    w["activity_log"][0]["eventTimestamp"] = "2024-11-21T12:35:00Z"
    inner = DEPLOYMENT_ID + "-inner"
    outer_ops = deployment_operations(target=inner)
    w["resources"][f"{DEPLOYMENT_ID}/operations"] = outer_ops
    w["resources"][f"{inner}/operations"] = deployment_operations()
    src, _ = source(w)
    err = await src.fetch(operation())
    assert (err.code, err.source) == ("InvalidParameter", "deployment")


def test_deployment_ids_are_validated() -> None:
    ok = deployment_event()
    bad = dict(ok, resourceId=DEPLOYMENT_ID + "/../../x")
    weird = dict(ok, resourceId=DEPLOYMENT_ID + "' or 1 eq 1")
    assert deployment_ids([ok, bad, weird, dict(ok)]) == [DEPLOYMENT_ID]


async def test_not_yet_available_lists_what_was_tried(world: dict[str, Any]) -> None:
    w = without_cluster_error(world)
    w["activity_log"] = []
    src, _ = source(w)
    with pytest.raises(ErrorNotYetAvailable) as info:
        await src.fetch(operation())
    assert info.value.tried == ("cluster_status", "activity_log")


async def test_without_correlation_id(world: dict[str, Any]) -> None:
    src, _ = source(without_cluster_error(world))
    with pytest.raises(ErrorNotYetAvailable) as info:
        await src.fetch(operation(correlation_id=None))
    assert info.value.tried == ("cluster_status", "activity_log (no correlation id)")


async def test_deleted_cluster_falls_through_to_activity_log(world: dict[str, Any]) -> None:
    w = copy.deepcopy(world)
    w["resources"] = {}
    src, _ = source(w)
    err = await src.fetch(operation())
    assert err.source == "activity_log"


class _Forbidden:
    reads_made = 0

    async def get(self, resource_id: str, api_version: str) -> dict[str, Any]:
        raise ArmForbidden(resource_id, 403, "AuthorizationFailed", "needs role Reader")

    async def activity_log(self, subscription_id: str, **kw: Any) -> list[dict[str, Any]]:
        raise ArmForbidden(f"/subscriptions/{subscription_id}", 403, "AuthorizationFailed", "needs role Reader")


async def test_all_sources_failing_hard_raises_the_arm_error() -> None:
    src = ArmErrorSource(_Forbidden(), now=lambda: NOW)
    with pytest.raises(ArmForbidden):
        await src.fetch(operation())


async def test_one_hard_failure_and_one_empty_answer_is_not_yet_available(world: dict[str, Any]) -> None:
    class Mixed(_Forbidden):
        async def activity_log(self, subscription_id: str, **kw: Any) -> list[dict[str, Any]]:
            return []

    with pytest.raises(ErrorNotYetAvailable):
        await ArmErrorSource(Mixed(), now=lambda: NOW).fetch(operation())


@pytest.mark.security
@pytest.mark.parametrize("status_message", [
    "{" * 200_000, "[" * 10_000 + "]" * 10_000, json.dumps({"error": {"code": "X" * 10_000}}), 12, None,
    {"error": {"details": [{"code": "A"}] * 10_000}}, "\x00\x01", json.dumps("just a string"),
])
async def test_hostile_status_messages_never_crash(world: dict[str, Any], status_message: Any) -> None:
    w = without_cluster_error(world)
    w["activity_log"][0]["properties"]["statusMessage"] = status_message
    src, _ = source(w)
    err = await src.fetch(operation())  # falls back to statusCode "Conflict" at worst
    assert err.code
    assert len(err.walk()) <= 201


async def test_activity_window_is_around_the_event(world: dict[str, Any]) -> None:
    seen: dict[str, Any] = {}

    class Spy(SnapshotArmReader):
        async def activity_log(self, subscription_id: str, **kw: Any) -> list[dict[str, Any]]:
            seen.update(kw)
            return []

    src = ArmErrorSource(Spy(Snapshot.from_obj(without_cluster_error(world))), now=lambda: NOW)
    with pytest.raises(ErrorNotYetAvailable):
        await src.fetch(operation())
    assert seen["correlation_id"] == CORRELATION
    assert seen["start"] == EVENT_TIME - timedelta(hours=6)
    assert seen["end"] == NOW  # never in the future


# --- over the real SDK and the emulator -------------------------------------------------------


@pytest.fixture
async def azure_reader(arm_emulator: ArmEmulator,  # noqa: F811
                       fake_credential: FakeAsyncCredential) -> AsyncIterator[Any]:  # noqa: F811
    from shared.azure.arm import AzureArmReader

    reader = AzureArmReader(Settings(arm_retry_total=0), credential=fake_credential, base_url=arm_emulator.base_url,
                            connection_verify=arm_emulator.ca_file)
    yield reader
    await reader.aclose()


async def test_same_error_online_and_offline(arm_emulator: ArmEmulator, azure_reader: Any) -> None:  # noqa: F811
    w = without_cluster_error(failed_world())
    w["activity_log"].append(deployment_event())
    w["resources"][f"{DEPLOYMENT_ID}/operations"] = deployment_operations()
    arm_emulator.serve(w)
    online = await ArmErrorSource(azure_reader.for_run(), now=lambda: NOW).fetch(operation())
    offline = await ArmErrorSource(SnapshotArmReader(Snapshot.from_obj(w)),
                                   now=lambda: NOW).fetch(operation())
    assert online == offline
    assert online.source == "activity_log"


# --- AzureActivity (Log Analytics) ------------------------------------------------------------


def azure_activity_row() -> dict[str, Any]:
    row: dict[str, Any] = load_json("loganalytics/AzureActivity.row.aks-managedclusters-write-failed.constructed.json")[
        "row"]
    return row


@pytest.fixture
async def workspace(arm_emulator: ArmEmulator,  # noqa: F811
                    fake_credential: FakeAsyncCredential) -> AsyncIterator[Any]:  # noqa: F811
    from shared.azure.activity_workspace import WorkspaceActivitySource

    ws = WorkspaceActivitySource(WORKSPACE, credential=fake_credential, endpoint=arm_emulator.base_url,
                                 connection_verify=arm_emulator.ca_file, retry_total=0)
    yield ws
    await ws.aclose()


async def test_workspace_source(world: dict[str, Any], arm_emulator: ArmEmulator, workspace: Any,  # noqa: F811
                                fake_credential: FakeAsyncCredential) -> None:  # noqa: F811
    other = dict(azure_activity_row(), CorrelationId="66666666-6666-6666-6666-666666666666")
    arm_emulator.workspace_tables[WORKSPACE] = [azure_activity_row(), other]
    w = without_cluster_error(world)
    w["activity_log"] = []
    src, _ = source(w, workspace_query=workspace, activity_log_source="workspace")
    err = await src.fetch(operation())
    assert err.source == "azure_activity"
    assert [n.code for n in err.walk()] == ["ResourceOperationFailure", "VMExtensionProvisioningError"]
    assert "vmssCSE exit status=50" in err.details[0].message
    sent = arm_emulator.workspace_queries[0]
    assert f"CorrelationId =~ '{CORRELATION}'" in sent["query"]
    assert "in~ ('Failure', 'Failed')" in sent["query"]
    assert sent["timespan"].startswith("2024-11-21T06:35:10")
    assert fake_credential.scopes[-1] == ("https://api.loganalytics.io/.default",)
    assert arm_emulator.log[-1].path == f"/v1/workspaces/{WORKSPACE}/query"


async def test_workspace_partial_error_still_uses_the_rows(world: dict[str, Any], arm_emulator: ArmEmulator,  # noqa: F811
                                                           workspace: Any) -> None:
    arm_emulator.workspace_tables[WORKSPACE] = [azure_activity_row()]
    arm_emulator.workspace_partial_error = {"code": "PartialError", "message": "There were some errors",
                                            "details": [{"code": "EntityFrameworkException", "message": "x"}]}
    events = await workspace.events(CORRELATION, start=EVENT_TIME - timedelta(hours=1), end=NOW)
    assert len(events) == 1
    assert events[0]["status"] == {"value": "Failed"}  # Failure -> REST vocabulary
    assert events[0]["resourceId"].endswith("/managedclusters/aks-prod-01")
    assert isinstance(events[0]["properties"], dict)
    assert workspace.last_partial_error.startswith("PartialError")


async def test_workspace_forbidden_and_missing(arm_emulator: ArmEmulator, workspace: Any) -> None:  # noqa: F811
    arm_emulator.add_fault(403, resource_id=f"/v1/workspaces/{WORKSPACE}/query", body={"error": {
        "code": "InsufficientAccessError", "message": "The provided credentials have insufficient access."}})
    with pytest.raises(ArmForbidden) as err:
        await workspace.events(CORRELATION, start=EVENT_TIME, end=NOW)
    assert "Reader on table AzureActivity" in err.value.message
    arm_emulator.faults.clear()
    with pytest.raises(ArmNotFound):
        await workspace.events(CORRELATION, start=EVENT_TIME, end=NOW)  # no such workspace
    with pytest.raises(ArmError):
        await workspace.events("x' or 1==1 or CorrelationId == 'y", start=EVENT_TIME, end=NOW)


async def test_both_sources_rest_empty_workspace_has_it(world: dict[str, Any], arm_emulator: ArmEmulator,  # noqa: F811
                                                        workspace: Any) -> None:
    arm_emulator.workspace_tables[WORKSPACE] = [azure_activity_row()]
    w = without_cluster_error(world)
    w["activity_log"] = []
    src, _ = source(w, workspace_query=workspace, activity_log_source="both")
    err = await src.fetch(operation())
    assert err.source == "azure_activity"


async def test_workspace_not_configured(world: dict[str, Any]) -> None:
    src, _ = source(without_cluster_error(world), activity_log_source="workspace")
    with pytest.raises(ErrorNotYetAvailable) as info:
        await src.fetch(operation())
    assert info.value.tried == ("cluster_status", "azure_activity (not configured)")


def test_module_imports_no_sdk() -> None:
    import subprocess
    import sys

    code = ("import sys, shared.errors, shared.errortree, shared.snapshot_collect, shared.azure.arm; "
            "print([m for m in sys.modules if m.startswith('azure')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"




async def test_process_wide_workspace_source_shares_the_arm_credential(
        arm_emulator: ArmEmulator, fake_credential: FakeAsyncCredential) -> None:  # noqa: F811
    from shared.azure import activity_workspace, arm

    assert activity_workspace.get_workspace_source(Settings(activity_log_source="rest")) is None
    assert activity_workspace.get_workspace_source(Settings(activity_log_source="both")) is None  # no workspace id
    settings = Settings(activity_log_source="workspace", activity_workspace_id=WORKSPACE)
    try:
        reader = arm.get_arm_reader(settings, credential=fake_credential, base_url=arm_emulator.base_url,
                                    connection_verify=arm_emulator.ca_file)
        ws = activity_workspace.get_workspace_source(settings, endpoint=arm_emulator.base_url,
                                                     connection_verify=arm_emulator.ca_file)
        assert ws is not None and ws is activity_workspace.get_workspace_source(settings)
        assert ws._credential is reader.credential is fake_credential
    finally:
        await arm.aclose()
    assert activity_workspace._SOURCE is None and arm._READER is None


def _vmss_event(status_message: str) -> dict[str, Any]:
    """The node resource group's failed VMSS write of the same correlation id."""
    from tests.emulators.sample_data import SUB, failed_write_event

    node_rg = cluster_node_rg()
    vmss = (f"/subscriptions/{SUB}/resourceGroups/{node_rg}/providers/Microsoft.Compute/"
            "virtualMachineScaleSets/aks-user1-12345678-vmss")
    event = copy.deepcopy(failed_write_event())
    event.update({"eventDataId": "99999999-0000-0000-0000-0000000000aa", "resourceId": vmss,
                  "operationName": {"value": "Microsoft.Compute/virtualMachineScaleSets/write"}})
    event["properties"] = {**event["properties"], "statusMessage": status_message, "entity": vmss}
    return event


def cluster_node_rg() -> str:
    from tests.emulators.sample_data import cluster_body

    return str(cluster_body()["properties"]["nodeResourceGroup"])


def _without_cse_detail(world: dict[str, Any]) -> dict[str, Any]:
    for rid, body in world["resources"].items():
        if rid.lower() == CLUSTER_ID.lower():
            body["properties"]["status"] = {"provisioningError": {
                "code": "ReconcileVMSSAgentPoolFailed",
                "message": "Unable to reconcile the VMSS of agent pool user1: the operation did not complete."}}
    return world


_VMSS_CSE = json.dumps({"status": "Failed", "error": {"code": "ResourceOperationFailure", "details": [{
    "code": "VMExtensionProvisioningError",
    "message": "VM has reported a failure when processing extension 'vmssCSE'. Error message: "
               "\"Enable failed: failed to execute command: command terminated with exit status=50\""}]}})


async def test_vmss_write_in_the_node_resource_group_adds_the_missing_cse_detail(world: dict[str, Any]) -> None:
    world = _without_cse_detail(world)
    world["activity_log"].append(_vmss_event(_VMSS_CSE))
    src, _ = source(world)
    err = await src.fetch(operation())
    assert (err.code, err.source) == ("ReconcileVMSSAgentPoolFailed", "cluster_status")
    assert any("exit status=50" in e.message for e in err.walk())


async def test_cluster_error_kept_when_no_vmss_write_has_the_detail(world: dict[str, Any]) -> None:
    world = _without_cse_detail(world)
    other = json.dumps({"error": {"code": "OperationNotAllowed", "message": "Operation could not be completed."}})
    world["activity_log"].append(_vmss_event(other))
    src, _ = source(world)
    err = await src.fetch(operation())
    assert err.code == "ReconcileVMSSAgentPoolFailed"
    assert not err.details  # an unrelated VMSS error is not attached


async def test_cluster_error_with_exit_status_reads_no_activity_log(world: dict[str, Any]) -> None:
    world = _without_cse_detail(world)
    world["resources"][next(r for r in world["resources"] if r.lower() == CLUSTER_ID.lower())][
        "properties"]["status"]["provisioningError"]["message"] += " vmssCSE exit status=51"
    world["activity_log"].append(_vmss_event(_VMSS_CSE))
    src, reader = source(world)
    err = await src.fetch(operation())
    assert not err.details and reader.reads_made == 1


# --- retries: the status and the Activity Log side by side --------------------------------------

ACTIVITY_PATH = "/providers/microsoft.insights/eventtypes/management/values"


def _status_and_activity(log: list[Any]) -> tuple[Any, Any]:
    status = [r for r in log if normalize_path(r.path) == normalize_path(CLUSTER_ID)]
    activity = [r for r in log if normalize_path(r.path).endswith(ACTIVITY_PATH)]
    assert len(status) == 1 and len(activity) == 1, [r.path for r in log]
    return status[0], activity[0]


def normalize_path(path: str) -> str:
    return path.rstrip("/").lower()


@pytest.mark.parametrize("attempt", [0, 1, 3])
async def test_a_retry_reads_the_status_and_the_activity_log_side_by_side(
        attempt: int, arm_emulator: ArmEmulator, azure_reader: Any) -> None:  # noqa: F811
    """The first attempt asks the Activity Log only after the status answered without an error; a
    retry (the status had none last time) sends both at once: one ARM round instead of two, the
    same reads, the same error."""
    arm_emulator.serve(without_cluster_error(failed_world()))
    arm_emulator.latency_s = 0.15
    err = await ArmErrorSource(azure_reader.for_run(), now=lambda: NOW).fetch(operation(), attempt=attempt)
    assert err.source == "activity_log" and err.code
    status, activity = _status_and_activity(arm_emulator.log)
    if attempt == 0:
        assert activity.started >= status.finished  # sequential: the Activity Log waited for the status
    else:
        assert activity.started < status.finished and status.started < activity.finished  # overlapping
    offline = await ArmErrorSource(SnapshotArmReader(Snapshot.from_obj(without_cluster_error(failed_world()))),
                                   now=lambda: NOW).fetch(operation(), attempt=attempt)
    assert err == offline


async def test_a_retry_whose_status_gained_the_error_returns_the_status_error(
        world: dict[str, Any], arm_emulator: ArmEmulator, azure_reader: Any) -> None:  # noqa: F811
    """The status wins over the Activity Log on a retry as on the first attempt (the most specific
    source first), and a slow Activity Log read started beside it is not waited for."""
    arm_emulator.serve(world)
    arm_emulator.latency_by_id = {f"/subscriptions/{operation().subscription_id}/providers/microsoft.insights": 2.0}
    first = await ArmErrorSource(azure_reader.for_run(), now=lambda: NOW).fetch(operation())
    retry_src = ArmErrorSource(azure_reader.for_run(), now=lambda: NOW)
    t0 = time.monotonic()
    retried = await retry_src.fetch(operation(), attempt=2)
    assert time.monotonic() - t0 < 1.5  # the status answered; the Activity Log read was dropped
    assert retried == first and retried.source == "cluster_status"


@pytest.mark.parametrize("activity", ["empty", "500"])
async def test_a_retry_that_finds_nothing_says_what_it_tried_like_the_first_attempt(
        activity: str, arm_emulator: ArmEmulator, azure_reader: Any) -> None:  # noqa: F811
    """Side by side changes the timing only: a status without an error and an Activity Log with no
    entry of the correlation (or answering 500 on every try) end in ErrorNotYetAvailable naming the
    same sources as on the first attempt."""
    w = without_cluster_error(failed_world())
    w["activity_log"] = []
    arm_emulator.serve(w)
    if activity == "500":
        arm_emulator.fail(500, resource_id=f"/subscriptions/{operation().subscription_id}/providers/microsoft.insights")
    with pytest.raises(ErrorNotYetAvailable) as first:
        await ArmErrorSource(azure_reader.for_run(), now=lambda: NOW).fetch(operation())
    with pytest.raises(ErrorNotYetAvailable) as retried:
        await ArmErrorSource(azure_reader.for_run(), now=lambda: NOW).fetch(operation(), attempt=1)
    assert retried.value.tried == first.value.tried
    assert "cluster_status" in retried.value.tried and "activity_log" in retried.value.tried
