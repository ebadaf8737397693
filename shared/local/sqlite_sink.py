"""The embedded findings store: the same rows as the Log Analytics table, in a local SQLite file.

Owns: the `findings` table of a SQLite file (created from shared/schema/findings_table.json,
columns added when the schema grows), FindingsSink.write for it, and `list_findings` for
`aks-triage findings`, and the failure history the capacity check reads (`SqliteFailureHistory`,
the local twin of shared/azure/findings_history.py). Dynamic columns are stored as JSON text and
read back as lists/dicts; booleans as 0/1 and read back as bool. No server, stdlib only.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.ports import SinkError
from shared.render.rows import TableSchema, iso_z, table_schema

if TYPE_CHECKING:
    from shared.models import FailedOperation

TABLE = "findings"
_SQL_TYPE = {"datetime": "TEXT", "string": "TEXT", "dynamic": "TEXT", "int": "INTEGER", "long": "INTEGER",
             "boolean": "INTEGER", "real": "REAL"}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=10)
    conn.execute("PRAGMA journal_mode=WAL")
    return conn


def ensure_table(conn: sqlite3.Connection, schema: TableSchema | None = None) -> None:
    schema = schema or table_schema()
    cols = ", ".join(f"{_q(c.name)} {_SQL_TYPE[c.type]}" for c in schema.columns)
    conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (_seq INTEGER PRIMARY KEY AUTOINCREMENT, {cols})")
    have = {r[1] for r in conn.execute(f"PRAGMA table_info({TABLE})")}
    for c in schema.columns:
        if c.name not in have:  # the schema grew since this file was made
            conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN {_q(c.name)} {_SQL_TYPE[c.type]}")


def _to_sql(value: Any, ctype: str) -> Any:
    if value is None:
        return None
    if ctype == "dynamic":
        return json.dumps(value, ensure_ascii=False, default=str)
    if ctype == "boolean":
        return 1 if value else 0
    return value


def _from_sql(value: Any, ctype: str) -> Any:
    if value is None:
        return None
    if ctype == "dynamic":
        try:
            return json.loads(value)
        except (TypeError, ValueError):
            return value
    if ctype == "boolean":
        return bool(value)
    return value


class SqliteFindingsSink:
    """FindingsSink over a local SQLite file. Rows must carry exactly the schema's columns."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._schema = table_schema()
        self._ready = False

    def _write(self, rows: Sequence[dict[str, Any]]) -> None:
        names = self._schema.names
        for i, row in enumerate(rows):
            extra = set(row) - set(names)
            if extra:
                raise SinkError(f"row {i} has columns the schema does not declare: {sorted(extra)}", retryable=False)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(_connect(self.path)) as conn, conn:
            if not self._ready:
                ensure_table(conn, self._schema)
                self._ready = True
            # Identifiers come from the packaged schema file, quoted; values are bound parameters.
            sql = (f"INSERT INTO {TABLE} ({', '.join(_q(n) for n in names)}) "  # noqa: S608  # nosec B608
                   f"VALUES ({', '.join('?' for _ in names)})")
            conn.executemany(sql, [
                tuple(_to_sql(row.get(c.name), c.type) for c in self._schema.columns) for row in rows
            ])

    async def write(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        try:
            self._write(rows)
        except sqlite3.Error as err:
            raise SinkError(f"local findings store {self.path}: {err}", retryable=True) from err


def list_findings(path: str | Path, cluster: str | None = None, *, since: str | None = None,
                  status: str | None = None, severity: str | None = None, code: str | None = None,
                  finding_id: str | None = None) -> list[dict[str, Any]]:
    """Rows keyed by the column names, oldest first.

    `cluster` matches ClusterName or ClusterId, `status` / `severity` / `code` match exactly (any case),
    `since` is an ISO 8601 time (rows written at or after it), `finding_id` a FindingId or its prefix.
    """
    p = Path(path)
    if not p.exists():
        return []
    schema = table_schema()
    with closing(sqlite3.connect(f"file:{p}?mode=ro", uri=True, timeout=10)) as conn:
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({TABLE})")}
        if not have:
            return []
        cols = [c for c in schema.columns if c.name in have]
        # Identifiers come from the packaged schema and are quoted by _q; values are bound parameters.
        sql = f"SELECT {', '.join(_q(c.name) for c in cols)} FROM {TABLE}"  # noqa: S608  # nosec B608
        where: list[str] = []
        params: list[str] = []
        if cluster:
            where.append('(lower("ClusterName") = lower(?) OR lower("ClusterId") = lower(?))')
            params += [cluster.strip(), cluster.strip().rstrip("/")]
        for column, value in (("Status", status), ("Severity", severity), ("ErrorCode", code)):
            if value:
                where.append(f"lower({_q(column)}) = lower(?)")
                params.append(value.strip())
        if since:
            where.append('"TimeGenerated" >= ?')
            params.append(since)
        if finding_id:
            where.append('"FindingId" LIKE ? ESCAPE \'\\\'')
            params.append(finding_id.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += ' ORDER BY "TimeGenerated", _seq'
        return [
            {c.name: _from_sql(v, c.type) for c, v in zip(cols, record, strict=True)}
            for record in conn.execute(sql, params)
        ]


class SqliteFailureHistory:
    """The failure history the capacity check reads, from the local findings store.

    Same rows and rules as the Azure provider (shared/azure/findings_history.py): this cluster's
    findings over `lookback`, every cluster's findings with one of `codes` over the last 24 h, one row
    per FindingId with the first time it was seen.
    """

    def __init__(self, path: str | Path, codes: Sequence[str], *, now: Any = None,
                 lookback_h: float = 7 * 24, regional_h: float = 24) -> None:
        self.path = Path(path)
        self.codes = tuple(c.lower() for c in codes)
        self._now = now
        self._lookback_h = lookback_h
        self._regional_h = regional_h

    def rows(self, cluster_id: str, now: datetime) -> list[dict[str, Any]]:
        if not self.path.exists() or not self.codes:
            return []

        # Bounds in the stored format (rows.iso_z), so text comparison is time comparison.
        lookback = iso_z(now - timedelta(hours=self._lookback_h))
        regional = iso_z(now - timedelta(hours=self._regional_h))
        marks = ", ".join("?" for _ in self.codes)
        # Column names are the schema's; values are bound parameters.
        sql = (  # only the table name and "?" placeholders are formatted in  # nosec B608
            f'SELECT "FindingId", "ClusterId", "Region", "ErrorCode", MIN(COALESCE("EventTime", "TimeGenerated")) '  # noqa: S608
            f'FROM {TABLE} WHERE "TimeGenerated" >= ? AND (lower("ClusterId") = lower(?) '  # nosec B608
            f'OR ("TimeGenerated" >= ? AND lower("ErrorCode") IN ({marks}))) '  # nosec B608
            'GROUP BY "FindingId", "ClusterId", "Region", "ErrorCode"'
        )
        with closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)) as conn:
            if not conn.execute(f"PRAGMA table_info({TABLE})").fetchall():
                return []
            records = conn.execute(sql, [lookback, cluster_id.rstrip("/"), regional, *self.codes]).fetchall()
        return [{"time": _parse_time(t), "cluster_id": c or "", "region": r or "", "code": code or "",
                 "finding_id": fid or ""} for fid, c, r, code, t in records]

    async def __call__(self, op: FailedOperation) -> list[dict[str, Any]]:
        if not self.path.exists():
            # No store yet is not "no failures": the pipeline logs this and the check says unknown.
            raise LookupError(f"no local findings store at {self.path} yet: failure history unknown")
        now = self._now() if self._now is not None else datetime.now(UTC)
        return self.rows(op.cluster_id, now)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
