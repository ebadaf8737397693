"""A Finding as one row of the findings table (Log Analytics custom table and the local SQLite copy).

Owns: the row shape. Column names and types come from shared/schema/findings_table.json, the one
source of truth that infra/ also reads for the DCR stream declaration and the table; nothing here
lists columns by hand except the value mapping, and a test fails if the two drift.

Types on the wire: datetime -> ISO 8601 UTC with `Z`; string -> str ("" when unknown, never
null, so KQL `isempty()` and alert dimensions behave); int -> int; boolean -> bool; dynamic ->
a JSON-able list/dict. The Logs Ingestion API truncates field values over 64 KB silently; we cut
them ourselves first with a visible marker, and keep every row far below the 1 MB request limit.
Pure: no I/O apart from reading the packaged schema file once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from shared.models import CheckResult, Finding

ColumnType = Literal["datetime", "string", "int", "long", "real", "boolean", "dynamic"]

MAX_FIELD_BYTES = 65_536  # Logs Ingestion API: field values over 64 KB are truncated
MAX_REQUEST_BYTES = 1_048_576  # Logs Ingestion API: 1 MB per call
MAX_ROW_BYTES = 256_000  # our own ceiling per row, so one finding never dominates a request
ERROR_MESSAGE_BYTES = 8_192  # the schema says ErrorMessage is cut to 8 KB
EVIDENCE_VALUE_CHARS = 2_000  # one evidence value in ChecksJson before the 64 KB pass
TRUNCATION_MARKER = "…[truncated {n} bytes]"


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    description: str = ""


@dataclass(frozen=True)
class TableSchema:
    table: str
    stream: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def type_of(self, name: str) -> ColumnType:
        for c in self.columns:
            if c.name == name:
                return c.type
        raise KeyError(name)


@lru_cache(maxsize=1)
def table_schema() -> TableSchema:
    """The parsed shared/schema/findings_table.json (read once per process)."""
    text = (resources.files("shared") / "schema" / "findings_table.json").read_text(encoding="utf-8")
    doc = json.loads(text)
    cols = tuple(Column(str(c["name"]), c["type"], str(c.get("description", ""))) for c in doc["columns"])
    return TableSchema(table=str(doc["table"]), stream=str(doc["stream"]), columns=cols)


# --- cutting ----------------------------------------------------------------------------------


def cut_text(value: str, max_bytes: int = MAX_FIELD_BYTES) -> str:
    """`value` if it fits in `max_bytes` of UTF-8, else a prefix plus a marker, the whole within the limit."""
    raw = value.encode("utf-8")
    if len(raw) <= max_bytes:
        return value
    marker_room = len(TRUNCATION_MARKER.format(n=len(raw)).encode("utf-8"))
    keep = max(0, max_bytes - marker_room)
    head = raw[:keep].decode("utf-8", errors="ignore")  # never split a multi-byte character
    dropped = len(raw) - len(head.encode("utf-8"))
    return head + TRUNCATION_MARKER.format(n=dropped)


def json_size(value: Any) -> int:
    """Bytes of `value` as compact UTF-8 JSON (how dynamic fields and rows are measured)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8"))


def cut_list(values: Sequence[Any], max_bytes: int = MAX_FIELD_BYTES) -> list[Any]:
    """A prefix of `values` whose JSON fits, with a trailing marker string naming what was dropped."""
    out = list(values)
    sizes = [json_size(v) for v in out]
    if 2 + sum(sizes) + max(0, len(sizes) - 1) <= max_bytes:
        return out
    budget = max_bytes - 2 - len(f',"…[truncated {len(out)} items]"'.encode())
    keep = used = 0
    for size in sizes:
        need = size + (1 if keep else 0)
        if used + need > budget:
            break
        used += need
        keep += 1
    candidate = [*out[:keep], f"…[truncated {len(out) - keep} items]"]
    while keep and json_size(candidate) > max_bytes:  # only if the estimate was off
        keep -= 1
        candidate = [*out[:keep], f"…[truncated {len(out) - keep} items]"]
    return candidate


def _evidence_value(value: Any, limit: int) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if len(text) <= limit:
        return value  # small values keep their structure
    return text[:limit] + f"…[truncated {len(text) - limit} chars]"


def checks_json(checks: Iterable[CheckResult], max_bytes: int = MAX_FIELD_BYTES) -> list[dict[str, Any]]:
    """Check results for the ChecksJson column. Over budget: evidence shrinks first, verdicts last."""
    results = list(checks)

    def build(value_chars: int | None, per_check: int | None) -> list[dict[str, Any]]:
        out = []
        for r in results:
            ev = list(r.evidence) if per_check is None else list(r.evidence)[:per_check]
            item: dict[str, Any] = {
                "id": r.id, "title": r.title, "status": r.status.value, "summary": r.summary,
                "evidence": [
                    {"resource_id": e.resource_id, "property": e.property,
                     "value": _evidence_value(e.value, value_chars or EVIDENCE_VALUE_CHARS), "note": e.note}
                    for e in ev
                ],
                "remediation": r.remediation, "docs": list(r.docs), "reason": r.reason,
            }
            if per_check is not None and len(r.evidence) > per_check:
                item["evidence_truncated"] = len(r.evidence) - per_check
            out.append(item)
        return out

    for value_chars, per_check in ((None, None), (500, None), (200, 5), (80, 2), (80, 0)):
        doc = build(value_chars, per_check)
        if json_size(doc) <= max_bytes:
            return doc
    # Still too big (hundreds of checks): keep verdicts only, then cut the list itself.
    slim: list[dict[str, Any]] = [
        {"id": r.id, "status": r.status.value, "summary": cut_text(r.summary, 512)} for r in results
    ]
    return cut_list(slim, max_bytes)


# --- the row ----------------------------------------------------------------------------------


def iso_z(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z` suffix and millisecond precision (what KQL's todatetime reads)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _docs(f: Finding) -> list[str]:
    seen: dict[str, None] = {}
    for url in (*f.docs, *f.classification.docs):
        seen.setdefault(url, None)
    return list(seen)


def _values(f: Finding, alert_sent: bool, time_generated: datetime) -> dict[str, Any]:
    op = f.operation
    c = f.classification
    return {
        "TimeGenerated": iso_z(time_generated),
        "FindingId": f.finding_id,
        "EventId": op.event_id,
        "EventType": op.event_type,
        "CorrelationId": op.correlation_id or "",
        "SubscriptionId": op.subscription_id,
        "ResourceGroup": op.resource_group,
        "ClusterName": op.cluster_name,
        "ClusterId": op.cluster_id,
        "AgentPool": op.agent_pool or "",
        "Operation": op.verb,
        "OperationName": op.operation_name or "",
        "Caller": op.caller or "",
        "Region": f.region or "",
        "ErrorCode": c.code,
        "ErrorMessage": cut_text(f.error.message, ERROR_MESSAGE_BYTES),
        "Category": c.category,
        "Subcategory": c.subcategory or "",
        "Transient": c.transient,
        "Severity": f.severity,
        "Confidence": c.confidence,
        "RootCause": f.root_causes[0] if f.root_causes else "",
        "RootCauses": list(f.root_causes),
        "Summary": f.summary,
        "ChecksJson": checks_json(f.checks),
        "DocUrls": _docs(f),
        "Remediation": f.remediation or "",
        "Status": f.status,
        "OccurrenceCount": int(f.occurrence_count),
        "AlertSent": bool(alert_sent),
        "ErrorSource": f.error.source,
        "EventTime": iso_z(op.event_time),
    }


def _fit_field(value: Any, ctype: ColumnType, max_bytes: int) -> Any:
    if ctype == "string" and isinstance(value, str):
        return cut_text(value, max_bytes)
    if ctype == "dynamic" and json_size(value) > max_bytes:
        if isinstance(value, list):
            return cut_list(value, max_bytes)
        return {"truncated": True, "preview": cut_text(json.dumps(value, default=str), max_bytes // 2)}
    return value


def finding_to_row(f: Finding, *, alert_sent: bool, time_generated: datetime | None = None) -> dict[str, Any]:
    """One row keyed exactly by the schema's columns, in schema order.

    `time_generated` defaults to when the finding was diagnosed; noise control passes its clock.
    Status and OccurrenceCount are taken from the Finding (noise control sets them with model_copy).
    """
    schema = table_schema()
    values = _values(f, alert_sent, time_generated or f.diagnosed_at)
    missing = set(schema.names) - set(values)
    if missing:  # a column added to the schema without a value here: fail loudly, not a null column
        raise KeyError(f"findings_table.json columns without a value in finding_to_row: {sorted(missing)}")
    row = {c.name: _fit_field(values[c.name], c.type, MAX_FIELD_BYTES) for c in schema.columns}
    # Whole-row ceiling: halve the biggest cuttable field until the row fits.
    while json_size(row) > MAX_ROW_BYTES:
        name = max((c.name for c in schema.columns if c.type in ("string", "dynamic")),
                   key=lambda n: json_size(row[n]))
        size = json_size(row[name])
        if size < 1024:
            break
        row[name] = _fit_field(row[name], schema.type_of(name), size // 2)
    return row


def chunk_rows(rows: Sequence[dict[str, Any]], max_bytes: int = MAX_REQUEST_BYTES) -> Iterator[list[dict[str, Any]]]:
    """Split rows into JSON arrays of at most `max_bytes` (uncompressed), preserving order.

    The SDK chunks again at 1 MiB uncompressed; this is for sinks without their own chunking and
    for callers that want to bound a single request. A row bigger than `max_bytes` goes alone.
    """
    chunk: list[dict[str, Any]] = []
    size = 2  # "[]"
    for row in rows:
        n = json_size(row) + (1 if chunk else 0)
        if chunk and size + n > max_bytes:
            yield chunk
            chunk, size = [], 2
            n = json_size(row)
        chunk.append(row)
        size += n
    if chunk:
        yield chunk
