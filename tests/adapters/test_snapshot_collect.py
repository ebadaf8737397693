"""collect_snapshot: emulator -> Azure reader -> recorder -> file -> SnapshotArmReader returns the same."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from shared.azure.arm import AzureArmReader
from shared.errors import ArmErrorSource
from shared.local.snapshot import Snapshot, SnapshotArmReader
from shared.ports import ArmForbidden, ArmNotFound, ArmReader
from shared.settings import Settings
from shared.snapshot_collect import RecordingArmReader, collect_snapshot
from tests.emulators.arm_emulator import ArmEmulator
from tests.emulators.plugin import FakeAsyncCredential, arm_emulator, arm_server, fake_credential  # noqa: F401
from tests.emulators.sample_data import (
    CLUSTER_ID,
    CORRELATION,
    DEPLOYMENT_ID,
    EVENT_TIME,
    SUB,
    SUBNET_ID,
    deployment_event,
    deployment_operations,
    failed_world,
    operation,
)

NOW = EVENT_TIME + timedelta(hours=1)
ROUTE_TABLE = f"/subscriptions/{SUB}/resourceGroups/rg-network/providers/Microsoft.Network/routeTables/rt-aks"
MISSING_NSG = f"/subscriptions/{SUB}/resourceGroups/rg-network/providers/Microsoft.Network/networkSecurityGroups/nsg"


@pytest.fixture
async def reader(arm_emulator: ArmEmulator,  # noqa: F811
                 fake_credential: FakeAsyncCredential) -> AsyncIterator[AzureArmReader]:  # noqa: F811
    w = failed_world()
    # newest first, as the service lists them: the deployment fails after the cluster it deployed
    w["activity_log"].insert(0, deployment_event())
    w["resources"][f"{DEPLOYMENT_ID}/operations"] = deployment_operations()
    w["resources"][ROUTE_TABLE] = {"id": ROUTE_TABLE, "properties": {"routes": []}}
    del w["resources"][f"{CLUSTER_ID}/agentPools"]  # served as a collection built from the children
    arm_emulator.serve(w)
    arm_emulator.page_size = 1  # prove paged collections and Activity Log are joined in the snapshot
    r = AzureArmReader(Settings(arm_retry_total=0), credential=fake_credential, base_url=arm_emulator.base_url,
                       connection_verify=arm_emulator.ca_file)
    yield r
    await r.aclose()


async def fake_checks(arm: ArmReader) -> None:
    """Stands in for the registry: reads what network checks read (subnet, its route table, an NSG)."""
    cluster = await arm.get(CLUSTER_ID, "2025-05-01")
    subnet_id = cluster["properties"]["agentPoolProfiles"][0]["vnetSubnetID"]
    subnet = await arm.get(subnet_id, "2024-05-01")
    await arm.get(subnet["properties"]["routeTable"]["id"], "2024-05-01")
    with contextlib.suppress(ArmNotFound):
        await arm.get(MISSING_NSG, "2024-05-01")


async def test_round_trip_through_a_file(reader: AzureArmReader, tmp_path: Path,
                                         arm_emulator: ArmEmulator) -> None:  # noqa: F811
    snap = await collect_snapshot(CLUSTER_ID, reader.for_run(), fake_checks, now=NOW)
    out = tmp_path / "snap.json"
    out.write_text(json.dumps(snap.to_obj(), indent=1), encoding="utf-8")

    offline = SnapshotArmReader.from_file(out)
    online = reader.for_run()
    reads = [(CLUSTER_ID, "2025-05-01"), (f"{CLUSTER_ID}/agentPools", "2025-05-01"), (SUBNET_ID, "2024-05-01"),
             (ROUTE_TABLE, "2024-05-01"), (f"{DEPLOYMENT_ID}/operations", "2021-04-01")]
    for rid, api in reads:
        assert await offline.get(rid, api) == await online.get(rid, api), rid
    assert len((await offline.get(f"{CLUSTER_ID}/agentPools", "2025-05-01"))["value"]) == 2
    with pytest.raises(ArmNotFound):
        await offline.get(MISSING_NSG, "2024-05-01")  # recorded as absent
    # exactly what was read: nothing else from the emulator's world
    assert {k.lower() for k in json.loads(out.read_text())["resources"]} == {r.lower() for r, _ in reads}
    # the cluster's Activity Log and its failure's whole correlation (deployment entry included)
    related = await offline.activity_log(SUB, correlation_id=CORRELATION)
    assert {e["resourceId"].lower() for e in related} == {CLUSTER_ID.lower(), DEPLOYMENT_ID.lower()}
    assert len(snap.activity_log) == 2  # deduplicated by eventDataId


async def test_offline_error_retrieval_from_the_collected_snapshot(reader: AzureArmReader) -> None:
    snap = await collect_snapshot(CLUSTER_ID, reader.for_run(), fake_checks, now=NOW)
    obj = snap.to_obj()
    for body in obj["resources"].values():
        if body.get("name") == "aks-prod-01":
            body["properties"].pop("status")  # force the Activity Log path
    err = await ArmErrorSource(SnapshotArmReader(Snapshot.from_obj(obj)), now=lambda: NOW).fetch(operation())
    assert err.source == "activity_log"
    assert [n.code for n in err.walk()] == ["ResourceOperationFailure", "VMExtensionProvisioningError"]


async def test_recorder_keeps_newest_api_version_and_skips_errors(arm_emulator: ArmEmulator,  # noqa: F811
                                                                  reader: AzureArmReader) -> None:
    rec = RecordingArmReader(reader.for_run())
    await rec.get(SUBNET_ID, "2023-09-01")
    await rec.get(SUBNET_ID, "2024-05-01")
    arm_emulator.forbid(ROUTE_TABLE)
    with pytest.raises(Exception):  # noqa: B017 - ArmForbidden, asserted below
        await rec.get(ROUTE_TABLE, "2024-05-01")
    snap = rec.snapshot()
    assert list(snap.resources) == [SUBNET_ID.lower()]
    # The 403 is recorded in the file and replays as the same error offline, not as a 404.
    assert {k: (v.status, v.code) for k, v in snap.failed_reads.items()} == {
        ROUTE_TABLE.lower(): (403, "AuthorizationFailed")}
    with pytest.raises(ArmForbidden):
        await SnapshotArmReader(Snapshot.from_obj(snap.to_obj())).get(ROUTE_TABLE, "2024-05-01")
    assert rec._api_versions[SUBNET_ID.lower()] == "2024-05-01"


async def test_missing_cluster_is_an_error(arm_emulator: ArmEmulator, reader: AzureArmReader) -> None:  # noqa: F811
    async def no_checks(_arm: ArmReader) -> None:
        raise AssertionError("checks must not run when the cluster does not exist")

    with pytest.raises(ArmNotFound):
        await collect_snapshot(CLUSTER_ID + "-nope", reader.for_run(), no_checks, now=NOW)



async def test_cli_snapshot_records_the_reads_a_recent_failure_s_own_error_needs(tmp_path: Path) -> None:
    """`aks-triage snapshot` runs the checks for the cluster's recent failure with its own error too:
    a preview feature the error names is read (and so recorded) only then."""
    from shared.offline import snapshot_cluster

    w = failed_world()
    for rid, body in w["resources"].items():
        if rid.lower() == CLUSTER_ID.lower():
            body["properties"]["status"] = {"provisioningError": {
                "code": "BadRequest", "message": "Feature Microsoft.ContainerService/AutoUpgradePreview is not "
                "enabled. Please see https://aka.ms/aks/previews for how to enable features."}}
    feature = (f"/subscriptions/{SUB}/providers/Microsoft.Features/providers/Microsoft.ContainerService/"
               "features/AutoUpgradePreview")
    w["resources"][feature] = {"id": feature, "name": "Microsoft.ContainerService/AutoUpgradePreview",
                               "properties": {"state": "NotRegistered"}}
    out = tmp_path / "snap.json"
    await snapshot_cluster(CLUSTER_ID, out, arm=SnapshotArmReader(Snapshot.from_obj(w)), now=NOW)
    recorded = {k.lower() for k in json.loads(out.read_text(encoding="utf-8"))["resources"]}
    assert feature.lower() in recorded
