"""Finding rows: exactly the declared columns and types, field and row limits, one source of truth."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.models import CheckStatus
from shared.render.rows import (
    MAX_FIELD_BYTES,
    MAX_ROW_BYTES,
    chunk_rows,
    cut_list,
    cut_text,
    finding_to_row,
    iso_z,
    json_size,
    table_schema,
)
from shared.settings import Settings
from tests.conftest import ROOT
from tests.factories import make_check, make_finding, make_operation
from tests.sinks.test_ingestion import row_problems

ISSUE_COLUMNS = (
    "TimeGenerated", "FindingId", "EventId", "CorrelationId", "SubscriptionId", "ResourceGroup", "ClusterName",
    "ClusterId", "AgentPool", "Operation", "Region", "ErrorCode", "Category", "Subcategory", "Transient",
    "Severity", "RootCause", "Summary", "ChecksJson", "DocUrls", "Remediation", "Status", "OccurrenceCount",
)


def test_row_has_exactly_the_schema_columns_in_order() -> None:
    row = finding_to_row(make_finding(), alert_sent=True)
    assert list(row) == list(table_schema().names)
    assert row_problems(row) == []


def test_schema_covers_the_issue_and_alert_dimensions() -> None:
    names = set(table_schema().names)
    assert set(ISSUE_COLUMNS) <= names
    assert {"ClusterName", "ClusterId", "ErrorCode", "Severity"} <= names  # what alert rules split on
    assert table_schema().type_of("ChecksJson") == "dynamic" and table_schema().type_of("DocUrls") == "dynamic"
    assert table_schema().type_of("OccurrenceCount") == "int"


def test_infra_reads_the_same_schema_file() -> None:
    """The DCR stream and the table are declared from shared/schema/findings_table.json, not a copy."""
    bicep = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "infra").rglob("*.bicep")}
    if not bicep:
        pytest.skip("infra/ has no Bicep yet")
    declaring = {n: t for n, t in bicep.items() if "AKSTriageFindings" in t or "streamDeclarations" in t
                 or "findings_table" in t}
    assert declaring, "no Bicep file declares the findings table/stream"
    for name, text in declaring.items():
        if "columns" in text:
            assert re.search(r"loadJsonContent\('[./]*shared/schema/findings_table\.json'\)", text), (
                f"{name} declares columns without loading shared/schema/findings_table.json")
            inline = set(re.findall(r"name:\s*'([A-Za-z]+)'\s*\n\s*type:\s*'(?:string|datetime|dynamic|int|boolean)'",
                                    text))
            assert inline <= {"TimeGenerated"}, f"{name} has hand-written columns {inline}"
    assert Settings().dcr_stream == table_schema().stream == "Custom-" + table_schema().table


def test_values_and_types() -> None:
    op = make_operation(agent_pool="np1", correlation_id="22222222-2222-2222-2222-222222222222")
    f = make_finding(op=op, transient="true", occurrence_count=4, status="escalated")
    row = finding_to_row(f, alert_sent=False, time_generated=datetime(2026, 11, 21, 13, 5, 6, 789_000,
                                                                        tzinfo=timezone(timedelta(hours=2))))
    assert row["TimeGenerated"] == "2026-11-21T11:05:06.789Z"
    assert row["AgentPool"] == "np1" and row["Transient"] == "true" and row["Status"] == "escalated"
    assert row["OccurrenceCount"] == 4 and row["AlertSent"] is False
    assert row["RootCause"] == "subnet_capacity" and row["RootCauses"] == ["subnet_capacity"]
    assert [c["id"] for c in row["ChecksJson"]] == ["subnet_capacity", "max_pods"]
    assert row["ChecksJson"][0]["evidence"][1] == {"resource_id": row["ChecksJson"][0]["evidence"][1]["resource_id"],
                                                   "property": "ipConfigurations.count", "value": 251, "note": None}
    assert row["DocUrls"][0].startswith("https://learn.microsoft.com/")
    empty = finding_to_row(make_finding(op=make_operation(correlation_id=None, caller=None), checks=(),
                                        region=None, remediation=""), alert_sent=True)
    assert empty["CorrelationId"] == "" and empty["Region"] == "" and empty["RootCause"] == ""
    assert row_problems(empty) == []


def test_cut_text_marks_and_respects_utf8() -> None:
    assert cut_text("abc", 10) == "abc"
    cut = cut_text("é" * 50_000)  # 100,000 bytes
    assert len(cut.encode()) <= MAX_FIELD_BYTES and re.search(r"…\[truncated \d+ bytes\]$", cut)
    cut.encode("utf-8")  # no broken characters


def test_fields_over_64kb_are_cut_and_the_row_stays_small() -> None:
    huge = "x" * 200_000
    checks = tuple(make_check(f"c{i}", evidence=[(f"p{j}", huge) for j in range(5)], summary=huge)
                   for i in range(20))
    f = make_finding(summary=huge, remediation=huge, message=huge, checks=checks, docs=tuple(f"https://d/{i}" * 50
                                                                                               for i in range(2000)))
    row = finding_to_row(f, alert_sent=True)
    for name, value in row.items():
        size = len(value.encode()) if isinstance(value, str) else json_size(value)
        assert size <= MAX_FIELD_BYTES, name
    assert len(row["ErrorMessage"].encode()) <= 8192
    assert json_size(row) <= MAX_ROW_BYTES
    assert row["DocUrls"][-1].startswith("…[truncated")
    assert isinstance(row["ChecksJson"], list) and row["ChecksJson"][0]["id"] == "c0"
    assert row_problems(row) == []


def test_cut_list_keeps_a_prefix_with_a_marker() -> None:
    out = cut_list([str(i) * 100 for i in range(100)], 1000)
    assert json_size(out) <= 1000 and out[0] == "0" * 100 and out[-1].startswith("…[truncated")


def test_chunk_rows_bounds_every_chunk() -> None:
    rows = [finding_to_row(make_finding(summary=str(i) + "z" * 50_000), alert_sent=False) for i in range(50)]
    chunks = list(chunk_rows(rows, 1_000_000))
    assert [r for c in chunks for r in c] == rows
    assert all(json_size(c) <= 1_000_000 for c in chunks) and len(chunks) >= 3
    assert list(chunk_rows([])) == []


def test_failing_checks_only_in_root_cause() -> None:
    checks = (make_check("a", status=CheckStatus.PASS), make_check("b", status=CheckStatus.ERROR))
    row = finding_to_row(make_finding(checks=checks), alert_sent=True)
    assert row["RootCause"] == "" and row["RootCauses"] == []
    assert [c["status"] for c in row["ChecksJson"]] == ["pass", "error"]


def test_iso_z_of_naive_time_is_utc() -> None:
    assert iso_z(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05.000Z"
    assert iso_z(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000Z"
    assert json.loads(json.dumps(finding_to_row(make_finding(), alert_sent=True)))  # JSON-able as is
