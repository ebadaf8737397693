"""The embedded findings store: the same rows as the Log Analytics table, in a local SQLite file.

Owns: the `findings` table of a SQLite file (created from shared/schema/findings_table.json,
columns added when the schema grows), FindingsSink.write for it, and `list_findings` for
`aks-triage findings`. Dynamic columns are stored as JSON text and read back as lists/dicts;
booleans as 0/1 and read back as bool. No server, stdlib only.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

from shared.ports import SinkError
from shared.render.rows import TableSchema, table_schema

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
