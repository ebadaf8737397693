"""Deps.history: the failure history the capacity check reads, from our own findings.

Local: the SQLite findings store. Azure: the findings table through the real `LogsQueryClient` against
the local HTTPS emulator. Both fold a finding's several rows (open, updated, escalated) into one and
keep this cluster's rows over the lookback plus other clusters' capacity rows of the last 24 h.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.azure.findings_history import FindingsHistory, history_query
from shared.compose import Parts, build_deps, capacity_codes
from shared.local.sqlite_sink import SqliteFailureHistory, SqliteFindingsSink
from shared.ports import ArmError, ArmForbidden
from shared.render.rows import finding_to_row
from shared.settings import Settings
from tests.emulators.arm_emulator import ArmEmulator
from tests.emulators.plugin import FakeAsyncCredential, arm_emulator, arm_server, fake_credential  # noqa: F401
from tests.factories import T0, make_finding, make_operation

WORKSPACE = "12345678-1234-1234-1234-123456789abc"


def row(cluster: str, code: str, at: Any, *, status: str = "open", event_id: str = "e1") -> dict[str, Any]:
    op = make_operation(cluster=cluster, event_id=event_id, correlation_id=f"{cluster}-{event_id}", event_time=at)
    out = finding_to_row(make_finding(op=op, code=code, diagnosed_at=at), alert_sent=False)
    out["Status"] = status
    return out


async def store(tmp_path: Path, rows: list[dict[str, Any]]) -> Path:
    db = tmp_path / "findings.db"
    await SqliteFindingsSink(db).write(rows)
    return db


async def test_local_history_folds_rows_and_keeps_this_cluster_and_regional_capacity(tmp_path: Path) -> None:
    mine = make_operation(cluster="aks-a")
    db = await store(tmp_path, [
        row("aks-a", "AKSCapacityHeavyUsage", T0 - timedelta(hours=30), event_id="old"),  # mine, > 24 h ago
        row("aks-a", "AKSCapacityHeavyUsage", T0 - timedelta(hours=29), event_id="old", status="escalated"),
        row("aks-a", "SubnetIsFull", T0 - timedelta(hours=2), event_id="net"),  # mine, any code
        row("aks-b", "AKSCapacityHeavyUsage", T0 - timedelta(hours=3), event_id="b1"),  # regional
        row("aks-c", "AKSCapacityHeavyUsage", T0 - timedelta(hours=30), event_id="c1"),  # other, too old
        row("aks-d", "SubnetIsFull", T0 - timedelta(hours=1), event_id="d1"),  # other, not capacity
        row("aks-a", "AKSCapacityHeavyUsage", T0 - timedelta(days=9), event_id="ancient"),  # past lookback
    ])
    history = SqliteFailureHistory(db, capacity_codes(), now=lambda: T0)
    got = sorted(await history(mine), key=lambda r: r["time"])
    assert [(r["cluster_id"].rsplit("/", 1)[-1], r["code"]) for r in got] == [
        ("aks-a", "AKSCapacityHeavyUsage"), ("aks-b", "AKSCapacityHeavyUsage"), ("aks-a", "SubnetIsFull")]
    assert got[0]["time"] == T0 - timedelta(hours=30)  # the first row of the folded finding
    assert got[0]["region"] == "westeurope"


async def test_local_history_without_a_store_is_unknown_not_zero(tmp_path: Path) -> None:
    history = SqliteFailureHistory(tmp_path / "none.db", capacity_codes(), now=lambda: T0)
    with pytest.raises(LookupError, match="unknown"):
        await history(make_operation())


def test_the_query_is_built_from_validated_input_only() -> None:
    op = make_operation(cluster="aks-a")
    query = history_query(op.cluster_id, ["AKSCapacityHeavyUsage", "AllocationFailed"])
    assert f"ClusterId =~ '{op.cluster_id}'" in query
    assert "ErrorCode in~ ('AKSCapacityHeavyUsage', 'AllocationFailed')" in query
    assert "summarize ['time'] = min(FirstTime) by FindingId" in query
    with pytest.raises(ArmError):
        history_query(op.cluster_id + "' or 1==1 //", ["AllocationFailed"])
    with pytest.raises(ArmError):
        history_query(op.cluster_id, ["x') or true //"])


@pytest.fixture
async def azure_history(arm_emulator: ArmEmulator, fake_credential: FakeAsyncCredential) -> Any:  # noqa: F811
    history = FindingsHistory(WORKSPACE, capacity_codes(), credential=fake_credential, endpoint=arm_emulator.base_url,
                              connection_verify=arm_emulator.ca_file, retry_total=0, now=lambda: T0)
    yield history
    await history.aclose()


async def test_azure_history_through_the_logs_query_client(arm_emulator: ArmEmulator, azure_history: Any,  # noqa: F811
                                                           fake_credential: FakeAsyncCredential) -> None:  # noqa: F811
    op = make_operation(cluster="aks-a")
    arm_emulator.workspace_tables[WORKSPACE] = [
        {"FindingId": "f1", "cluster_id": op.cluster_id, "region": "westeurope", "code": "AKSCapacityHeavyUsage",
         "time": "2026-11-20T06:00:00Z"},
    ]
    got = await azure_history(op)
    assert got == [{"time": "2026-11-20T06:00:00Z", "cluster_id": op.cluster_id, "region": "westeurope",
                    "code": "AKSCapacityHeavyUsage", "finding_id": "f1"}]
    sent = arm_emulator.workspace_queries[-1]
    assert sent["query"] == history_query(op.cluster_id, capacity_codes())
    assert sent["timespan"].startswith("2026-11-14T12:00:00")  # 7 days back from the clock
    assert fake_credential.scopes[-1] == ("https://api.loganalytics.io/.default",)
    assert arm_emulator.log[-1].path == f"/v1/workspaces/{WORKSPACE}/query"


async def test_azure_history_forbidden_names_the_table_grant(arm_emulator: ArmEmulator,  # noqa: F811
                                                             azure_history: Any) -> None:
    arm_emulator.workspace_tables[WORKSPACE] = []
    arm_emulator.add_fault(403, resource_id=f"/v1/workspaces/{WORKSPACE}/query", body={"error": {
        "code": "InsufficientAccessError", "message": "The provided credentials have insufficient access."}})
    with pytest.raises(ArmForbidden) as err:
        await azure_history(make_operation())
    assert "Reader on table AKSTriageFindings_CL" in err.value.message


def test_compose_wires_the_history_for_each_edge(tmp_path: Path, fake_credential: FakeAsyncCredential) -> None:  # noqa: F811
    from shared.local.snapshot import Snapshot, SnapshotArmReader

    arm = SnapshotArmReader(Snapshot.from_obj({"resources": {}}))
    local = build_deps(Settings(), Parts(arm=arm, home=tmp_path / "home", queues=False))
    assert isinstance(local.history, SqliteFailureHistory)
    assert local.history.path == tmp_path / "home" / "findings.db"
    azure = build_deps(Settings(findings_workspace_id=WORKSPACE, storage_account_url="https://a.queue.example",
                                logs_ingestion_endpoint="https://dce.example", dcr_immutable_id="dcr-1"),
                       Parts(arm=arm, credential=fake_credential, queues=False))
    assert isinstance(azure.history, FindingsHistory) and azure.history.workspace_id == WORKSPACE
    none = build_deps(Settings(storage_account_url="https://a.queue.example", logs_ingestion_endpoint="https://d.example",
                               dcr_immutable_id="dcr-1"), Parts(arm=arm, credential=fake_credential, queues=False))
    assert none.history is None


async def test_local_history_window_bounds_are_inclusive_to_the_millisecond(tmp_path: Path) -> None:
    db = await store(tmp_path, [
        row("aks-b", "AKSCapacityHeavyUsage", T0 - timedelta(hours=24), event_id="edge"),  # exactly 24 h ago
        row("aks-c", "AKSCapacityHeavyUsage", T0 - timedelta(hours=24, milliseconds=1), event_id="out"),
    ])
    got = await SqliteFailureHistory(db, capacity_codes(), now=lambda: T0)(make_operation(cluster="aks-a"))
    assert [r["cluster_id"].rsplit("/", 1)[-1] for r in got] == ["aks-b"]
