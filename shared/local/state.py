"""Offline StateStores for noise control: SQLite (CLI, demo) and in-memory (tests, one-shot runs).

Both implement shared.ports.StateStore plus the optimistic-concurrency extension noise control
uses when present: `get` returns the entity with an `_etag`, and `replace_if_match` replaces it
only while that etag is current (Azure Tables' If-Match, here a version counter).
"""

from __future__ import annotations

import copy
import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

ETAG = "_etag"


def _clean(entity: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entity.items() if k != ETAG}


class MemoryStateStore:
    """In-process state; `fail` makes every call raise (to exercise the state-down fallback)."""

    def __init__(self) -> None:
        self._data: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
        self.fail: Exception | None = None

    def _check(self) -> None:
        if self.fail is not None:
            raise self.fail

    async def get(self, partition: str, row: str) -> dict[str, Any] | None:
        self._check()
        found = self._data.get((partition, row))
        if found is None:
            return None
        version, entity = found
        return {**copy.deepcopy(entity), ETAG: str(version)}

    async def create(self, partition: str, row: str, entity: dict[str, Any]) -> bool:
        self._check()
        if (partition, row) in self._data:
            return False
        self._data[(partition, row)] = (1, copy.deepcopy(_clean(entity)))
        return True

    async def upsert(self, partition: str, row: str, entity: dict[str, Any]) -> None:
        self._check()
        version = self._data.get((partition, row), (0, {}))[0]
        self._data[(partition, row)] = (version + 1, copy.deepcopy(_clean(entity)))

    async def replace_if_match(self, partition: str, row: str, entity: dict[str, Any], etag: str) -> bool:
        self._check()
        found = self._data.get((partition, row))
        if found is None or str(found[0]) != etag:
            return False
        self._data[(partition, row)] = (found[0] + 1, copy.deepcopy(_clean(entity)))
        return True

    async def query(self, partition: str) -> list[dict[str, Any]]:
        self._check()
        return [{**copy.deepcopy(e), ETAG: str(v)} for (p, _), (v, e) in sorted(self._data.items()) if p == partition]


class SqliteStateStore:
    """State in a local SQLite file (one table `state`), safe across processes on one machine."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._ready = False

    def _conn(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), timeout=10)
        if not self._ready:
            conn.execute("CREATE TABLE IF NOT EXISTS state (partition TEXT NOT NULL, row TEXT NOT NULL, "
                         "version INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (partition, row))")
            conn.commit()
            self._ready = True
        return conn

    async def get(self, partition: str, row: str) -> dict[str, Any] | None:
        with closing(self._conn()) as conn:
            found = conn.execute("SELECT version, data FROM state WHERE partition=? AND row=?",
                                 (partition, row)).fetchone()
        if found is None:
            return None
        return {**json.loads(found[1]), ETAG: str(found[0])}

    async def create(self, partition: str, row: str, entity: dict[str, Any]) -> bool:
        with closing(self._conn()) as conn, conn:
            try:
                conn.execute("INSERT INTO state (partition, row, version, data) VALUES (?, ?, 1, ?)",
                             (partition, row, json.dumps(_clean(entity))))
            except sqlite3.IntegrityError:
                return False
        return True

    async def upsert(self, partition: str, row: str, entity: dict[str, Any]) -> None:
        with closing(self._conn()) as conn, conn:
            conn.execute("INSERT INTO state (partition, row, version, data) VALUES (?, ?, 1, ?) "
                         "ON CONFLICT(partition, row) DO UPDATE SET version = version + 1, data = excluded.data",
                         (partition, row, json.dumps(_clean(entity))))

    async def replace_if_match(self, partition: str, row: str, entity: dict[str, Any], etag: str) -> bool:
        with closing(self._conn()) as conn, conn:
            cur = conn.execute("UPDATE state SET version = version + 1, data = ? "
                               "WHERE partition = ? AND row = ? AND version = ?",
                               (json.dumps(_clean(entity)), partition, row, int(etag)))
            return cur.rowcount == 1

    async def query(self, partition: str) -> list[dict[str, Any]]:
        with closing(self._conn()) as conn:
            rows = conn.execute("SELECT version, data FROM state WHERE partition=? ORDER BY row",
                                (partition,)).fetchall()
        return [{**json.loads(data), ETAG: str(version)} for version, data in rows]
