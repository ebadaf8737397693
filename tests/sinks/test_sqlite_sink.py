"""The embedded findings store: same rows in SQLite, read back by `aks-triage findings`."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from shared.local.card_files import FileNotifier
from shared.local.sqlite_sink import SqliteFindingsSink, list_findings
from shared.noise import NoiseControl
from shared.ports import SinkError
from shared.render.card import finding_card
from shared.render.rows import finding_to_row, table_schema
from tests.factories import make_finding, make_operation
from tests.sinks.conftest import FakeClock, NoiseTestSettings


async def test_rows_round_trip(tmp_path: Path) -> None:
    db = tmp_path / "home" / "findings.db"
    sink = SqliteFindingsSink(db)
    rows = [finding_to_row(make_finding(), alert_sent=True),
            finding_to_row(make_finding(op=make_operation(cluster="aks-b"), code="QuotaExceeded"), alert_sent=False)]
    await sink.write(rows)
    back = list_findings(db)
    assert back == rows  # dynamic columns come back as lists/dicts, booleans as bool
    assert list(back[0]) == list(table_schema().names)
    assert [r["ErrorCode"] for r in list_findings(db, cluster="AKS-B")] == ["QuotaExceeded"]
    assert len(list_findings(db, cluster=rows[0]["ClusterId"].upper())) == 1
    assert list_findings(tmp_path / "missing.db") == []


async def test_unknown_columns_are_refused(tmp_path: Path) -> None:
    sink = SqliteFindingsSink(tmp_path / "f.db")
    with pytest.raises(SinkError) as info:
        await sink.write([{**finding_to_row(make_finding(), alert_sent=True), "Bogus": 1}])
    assert info.value.retryable is False


async def test_an_older_file_gains_new_columns(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.execute('CREATE TABLE findings (_seq INTEGER PRIMARY KEY AUTOINCREMENT, "TimeGenerated" TEXT)')
        conn.execute('INSERT INTO findings ("TimeGenerated") VALUES (\'2026-01-01T00:00:00.000Z\')')
    await SqliteFindingsSink(db).write([finding_to_row(make_finding(), alert_sent=True)])
    rows = list_findings(db)
    assert len(rows) == 2 and rows[0]["ClusterName"] is None and rows[1]["ClusterName"] == "aks-prod-01"


async def test_replaying_an_event_offline_gives_one_row_and_one_card_file(tmp_path: Path) -> None:
    """The CLI composition: SQLite state + SQLite findings + card files."""
    from shared.local.state import SqliteStateStore

    cards = FileNotifier(tmp_path / "cards")
    nc = NoiseControl(SqliteStateStore(tmp_path / "state.db"), SqliteFindingsSink(tmp_path / "findings.db"), cards,
                      FakeClock(), NoiseTestSettings())
    f = make_finding(op=make_operation(event_id="evt-replay"))
    await nc.publish(f)
    await nc.publish(f)
    assert len(list_findings(tmp_path / "findings.db")) == 1
    files = sorted((tmp_path / "cards").glob("*.json"))
    expected = r"001-aks-prod-01-subnet-aks-subnet-has-0-free-ips-of-251-[0-9a-f]{8}\.json"
    assert len(files) == 1 and re.fullmatch(expected, files[0].name), files
    assert files[0].read_text(encoding="utf-8").startswith("{")


async def test_the_same_notice_written_again_replaces_its_card_file(tmp_path: Path) -> None:
    """A local run killed between writing a card and recording it writes the notice again on the rerun:
    the folder keeps one file for it (a webhook cannot be told; a folder can)."""
    from shared.notify.notice import Notice, NoticeItem

    f = make_finding()
    item = NoticeItem(error_code=f.classification.code, finding=f, first_seen=f.operation.event_time,
                      occurrences=1, total=1)

    def notice(key: str) -> Notice:
        return Notice(kind="opened", notice_id=f"opened:{key}", at=f.operation.event_time,
                      cluster_id=f.operation.cluster_id, cluster_name=f.operation.cluster_name, items=(item,),
                      window_min=60, event_type=f.operation.event_type)

    n = FileNotifier(tmp_path)
    await n.notify(notice("evt-1"))
    await n.notify(notice("evt-1"))
    await n.notify(notice("evt-2"))
    names = sorted(p.name for p in tmp_path.glob("*.json"))
    assert [x[:4] for x in names] == ["001-", "002-"], names
    assert n.written[0] == n.written[1] != n.written[2]


async def test_file_notifier_numbers_files(tmp_path: Path) -> None:
    n = FileNotifier(tmp_path)
    await n.send(finding_card(make_finding()))
    await n.send(finding_card(make_finding(code="QuotaExceeded")))
    assert [p.name[:4] for p in n.written] == ["001-", "002-"]


async def test_stored_rows_carry_the_event_time_and_finding_id_the_findings_command_shows(tmp_path: Path) -> None:
    from shared.render.contract import row_doc
    from tests.factories import T0

    db = tmp_path / "findings.db"
    finding = make_finding(op=make_operation(event_time=T0))
    await SqliteFindingsSink(db).write([finding_to_row(finding, alert_sent=False)])
    (row,) = list_findings(db)
    assert row["EventTime"] == "2026-11-21T12:00:00.000Z" and row["FindingId"] == finding.finding_id
    doc = row_doc(row)
    assert doc["event_time"] == row["EventTime"] and doc["finding_id"] == finding.finding_id
    (by_prefix,) = list_findings(db, finding_id=finding.finding_id[:8])  # `findings show ID` takes a prefix
    assert by_prefix["FindingId"] == finding.finding_id
