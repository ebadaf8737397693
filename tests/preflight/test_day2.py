"""Day-2 pre-flight against live ARM: the real azure-mgmt-resource client (AzureArmReader with an injected
credential) over HTTPS to the local ARM emulator serving the world with the cluster running.
`--upgrade-to`, `--scale POOL=COUNT`, `--add-pool FILE`, and an update detected from a template."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from shared.azure.arm import AzureArmReader
from shared.local.snapshot import Snapshot, normalize_id
from shared.preflight.inputs import PlanInputError
from shared.preflight.session import Day2Input, TemplateInput, preflight
from shared.settings import Settings
from tests.emulators.arm_emulator import ArmEmulator
from tests.emulators.plugin import FakeAsyncCredential, arm_emulator, arm_server, fake_credential  # noqa: F401
from tests.preflight import worlds as w
from tests.preflight.support import FIXTURES, NOW


@pytest.fixture
async def live(arm_emulator: ArmEmulator,  # noqa: F811
               fake_credential: FakeAsyncCredential) -> AsyncIterator[tuple[ArmEmulator, AzureArmReader]]:  # noqa: F811
    reader = AzureArmReader(Settings(arm_retry_after_cap_s=0.2, arm_retry_total=1, arm_cache_ttl_s=0),
                            credential=fake_credential, base_url=arm_emulator.base_url,
                            connection_verify=arm_emulator.ca_file, retry_backoff_factor=0.01, clock=time.monotonic)
    try:
        yield arm_emulator, reader
    finally:
        await reader.aclose()


def running_world(**over: Any) -> dict[str, Any]:
    return w.with_existing(w.world(), w.existing_cluster(**over))


async def test_upgrade_to_a_version_two_minors_ahead_is_predicted_to_fail(
        live: tuple[ArmEmulator, AzureArmReader]) -> None:
    emulator, reader = live
    world = running_world(properties__kubernetesVersion="1.29.9",
                          properties__agentPoolProfiles__0__orchestratorVersion="1.29.9")
    emulator.serve(world)
    report = await preflight(Day2Input(cluster_id=w.CLUSTER_ID, upgrade_to="1.31.2"), arm=reader, now=NOW)
    assert report.operation == "upgrade" and report.changes[0] == "control plane 1.29.9 -> 1.31.2"
    assert report.verdict == "will_fail"
    first = report.predictions[0]
    assert first.id == "kubernetes_version" and first.predicted_code == "OperationNotAllowed"
    assert "skips" in first.summary
    assert emulator.requests_for(w.CLUSTER_ID), "the cluster was read from ARM"
    # a one-minor upgrade of the same cluster is fine
    ok = await preflight(Day2Input(cluster_id=w.CLUSTER_ID, upgrade_to="1.30.6"), arm=reader, now=NOW)
    assert ok.verdict == "ok", [(p.id, p.summary) for p in ok.predictions]


async def test_scale_beyond_the_node_subnet(live: tuple[ArmEmulator, AzureArmReader]) -> None:
    emulator, reader = live
    world = running_world()
    world["resources"][w.NODE_SUBNET]["properties"]["addressPrefix"] = "10.42.0.0/27"
    emulator.serve(world)
    report = await preflight(Day2Input(cluster_id=w.CLUSTER_ID, scale=("system", 40)), arm=reader, now=NOW)
    assert report.operation == "scale" and report.target.agent_pool == "system"
    assert report.predictions[0].id == "node_subnet_capacity"
    assert report.predictions[0].predicted_code == "SubnetIsFull"
    small = await preflight(Day2Input(cluster_id=w.CLUSTER_ID, scale=("system", 5)), arm=reader, now=NOW)
    assert small.verdict == "ok", [(p.id, p.summary) for p in small.predictions]


async def test_add_pool_that_exceeds_the_vcpu_quota(live: tuple[ArmEmulator, AzureArmReader]) -> None:
    emulator, reader = live
    emulator.serve(running_world())
    pool = {"name": "big", "properties": {"count": 35, "vmSize": "Standard_D16ds_v5", "mode": "User",
                                          "vnetSubnetID": w.NODE_SUBNET, "orchestratorVersion": "1.30.5"}}
    report = await preflight(Day2Input(cluster_id=w.CLUSTER_ID, add_pool=pool), arm=reader, now=NOW)
    assert report.operation == "add_pool" and report.target.agent_pool == "big"
    assert report.verdict == "will_fail"
    assert report.predictions[0].id == "vcpu_quota" and report.predictions[0].predicted_code == "QuotaExceeded"
    first = report.predictions[0]
    assert any("560" in str(e.value) or "560" in (e.note or "") for e in first.evidence), first


async def test_a_template_for_an_existing_cluster_is_an_update_or_upgrade(
        live: tuple[ArmEmulator, AzureArmReader]) -> None:
    emulator, reader = live
    emulator.serve(running_world())
    body = w.planned_cluster()
    same = await preflight(TemplateInput(doc=body, text="{}", file="c.json"), arm=reader, now=NOW)
    assert same.operation == "update" and same.verdict == "ok"
    newer = copy.deepcopy(body)
    newer["properties"]["kubernetesVersion"] = "1.31.1"
    up = await preflight(TemplateInput(doc=newer, text="{}", file="c.json"), arm=reader, now=NOW)
    assert up.operation == "upgrade" and up.verdict == "ok"


async def test_day2_on_a_cluster_that_does_not_exist_is_bad_input(live: tuple[ArmEmulator, AzureArmReader]) -> None:
    emulator, reader = live
    emulator.serve(w.world())
    with pytest.raises(PlanInputError, match="does not exist"):
        await preflight(Day2Input(cluster_id=w.CLUSTER_ID, upgrade_to="1.31.1"), arm=reader, now=NOW)
    emulator.serve(running_world())
    with pytest.raises(PlanInputError, match="no node pool 'nope'"):
        await preflight(Day2Input(cluster_id=w.CLUSTER_ID, scale=("nope", 3)), arm=reader, now=NOW)


async def test_record_writes_a_snapshot_that_replays_the_same_prediction(
        live: tuple[ArmEmulator, AzureArmReader], tmp_path: Path) -> None:
    """`snapshot` for pre-flight: what a create reads (the resource group, subnets, VNet, NSGs, quotas,
    versions ...) is recorded; the planned cluster itself is not (it does not exist)."""
    emulator, reader = live
    emulator.serve(w.world())
    body = w.planned_cluster(properties__apiServerAccessProfile__authorizedIPRanges=["203.0.113.0/24"])
    out = tmp_path / "recorded.json"
    source = TemplateInput(doc=body, text="{}", file="c.json")
    online = await preflight(source, arm=reader, now=NOW, record=out)
    recorded = Snapshot.load(out)
    keys = set(recorded.resources)
    assert {normalize_id(w.NODE_SUBNET), normalize_id(w.API_SUBNET), normalize_id(w.VNET_ID),
            normalize_id(w.NODE_NSG)} <= keys
    assert normalize_id(f"/subscriptions/{w.SUB}/providers/Microsoft.Compute/locations/westeurope/usages") in keys
    assert normalize_id(w.CLUSTER_ID) not in keys
    offline = await preflight(source, snapshot=str(out))
    assert [p.id for p in offline.predictions] == [p.id for p in online.predictions] == ["api_authorized_ranges"]
    assert offline.verdict == online.verdict == "will_fail"


async def test_a_terraform_plan_adding_a_pool_to_a_running_cluster_is_a_pool_add(
        live: tuple[ArmEmulator, AzureArmReader]) -> None:
    """The plan holds the cluster unchanged and a new pool on a planned /27 subnet: the operation is the pool
    add (found by comparing with ARM), and its subnet is too small for 30 nodes + surge."""
    emulator, reader = live
    emulator.serve(running_world())
    doc = json.loads((FIXTURES / "tfplan.json").read_text(encoding="utf-8"))
    report = await preflight(TemplateInput(doc=doc, text="{}", file="tfplan.json"), arm=reader, now=NOW)
    assert report.operation == "add_pool" and report.target.agent_pool == "user1"
    assert report.changes == ("add node pool user1 (30 x Standard_D4ds_v5)",)
    assert report.predictions[0].id == "node_subnet_capacity"
