"""Offline StateStores for noise control: SQLite (CLI, demo) and in-memory (tests, one-shot runs).

Both implement shared.ports.StateStore plus what noise control's layout needs
(shared.ports.StateStore): `get` returns the entity with an `_etag`, `replace_if_match`
replaces it only while that etag is current (Azure Tables' If-Match, here a version counter),
`query_range` reads a key range (entities carry `_pk`/`_rk`), `delete` removes one entity, and
`transact` applies a batch of operations on one partition atomically (all or none), as Azure
Tables' entity-group transactions do: the new etags, or None when a condition failed (nothing
applied).
"""

from __future__ import annotations

import copy
import json
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

from shared.ports import MAX_TRANSACTION_OPS, StateOp

ETAG = "_etag"
PK = "_pk"
RK = "_rk"


def _clean(entity: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entity.items() if k not in (ETAG, PK, RK)}


def _check_ops(ops: Sequence[StateOp]) -> None:
    if len(ops) > MAX_TRANSACTION_OPS or len({op.row for op in ops}) != len(ops):
        raise ValueError(f"a transaction takes at most {MAX_TRANSACTION_OPS} operations on distinct rows")


def _in_range(pk: str, rk: str, pk_from: str, pk_to: str, rk_from: str, rk_to: str | None) -> bool:
    return pk_from <= pk <= pk_to and rk >= rk_from and (rk_to is None or rk <= rk_to)


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

    async def query_range(self, pk_from: str, pk_to: str, rk_from: str = "", rk_to: str | None = None, *,
                          limit: int | None = None) -> list[dict[str, Any]]:
        self._check()
        out = [{**copy.deepcopy(e), ETAG: str(v), PK: p, RK: r} for (p, r), (v, e) in sorted(self._data.items())
               if _in_range(p, r, pk_from, pk_to, rk_from, rk_to)]
        return out[:limit] if limit is not None else out

    async def delete(self, partition: str, row: str, etag: str | None = None) -> bool:
        self._check()
        found = self._data.get((partition, row))
        if found is None or (etag is not None and str(found[0]) != etag):
            return False
        del self._data[(partition, row)]
        return True

    async def transact(self, partition: str, ops: Sequence[StateOp]) -> list[str | None] | None:
        self._check()
        _check_ops(ops)
        for op in ops:  # every condition first: all or nothing
            found = self._data.get((partition, op.row))
            if op.kind == "create" and found is not None:
                return None
            if op.kind in ("replace", "delete") and (
                    found is None or (op.etag is not None and str(found[0]) != op.etag)):
                return None
        etags: list[str | None] = []
        for op in ops:
            key = (partition, op.row)
            if op.kind == "delete":
                del self._data[key]
                etags.append(None)
            else:
                version = self._data.get(key, (0, {}))[0] + 1
                self._data[key] = (version, copy.deepcopy(_clean(dict(op.entity))))
                etags.append(str(version))
        return etags


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

    async def query_range(self, pk_from: str, pk_to: str, rk_from: str = "", rk_to: str | None = None, *,
                          limit: int | None = None) -> list[dict[str, Any]]:
        # The primary key (partition, row) is the index: a range read touches only what it returns.
        sql = "SELECT partition, row, version, data FROM state WHERE partition >= ? AND partition <= ? AND row >= ?"
        args: list[Any] = [pk_from, pk_to, rk_from]
        if rk_to is not None:
            sql += " AND row <= ?"
            args.append(rk_to)
        sql += " ORDER BY partition, row"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        with closing(self._conn()) as conn:
            rows = conn.execute(sql, args).fetchall()
        return [{**json.loads(data), ETAG: str(version), PK: p, RK: r} for p, r, version, data in rows]

    async def delete(self, partition: str, row: str, etag: str | None = None) -> bool:
        with closing(self._conn()) as conn, conn:
            if etag is None:
                cur = conn.execute("DELETE FROM state WHERE partition = ? AND row = ?", (partition, row))
            else:
                cur = conn.execute("DELETE FROM state WHERE partition = ? AND row = ? AND version = ?",
                                   (partition, row, int(etag)))
            return cur.rowcount == 1

    async def transact(self, partition: str, ops: Sequence[StateOp]) -> list[str | None] | None:
        _check_ops(ops)
        if not ops:
            return []
        conn = self._conn()
        try:
            conn.isolation_level = None  # explicit BEGIN IMMEDIATE: the batch is one write transaction
            conn.execute("BEGIN IMMEDIATE")
            etags: list[str | None] = []
            for op in ops:
                applied = self._apply(conn, partition, op)
                if isinstance(applied, bool):
                    conn.execute("ROLLBACK")
                    return None
                etags.append(applied)
            conn.execute("COMMIT")
            return etags
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    @staticmethod
    def _apply(conn: sqlite3.Connection, partition: str, op: StateOp) -> str | bool | None:
        """One op inside the open transaction -> its new etag (None: deleted), False: its condition failed."""
        data = json.dumps(_clean(dict(op.entity)))
        where = "partition = ? AND row = ?"
        args: list[Any] = [partition, op.row]
        if op.kind == "create":
            try:
                conn.execute("INSERT INTO state (partition, row, version, data) VALUES (?, ?, 1, ?)",
                             (partition, op.row, data))
            except sqlite3.IntegrityError:
                return False
        elif op.kind == "upsert":
            conn.execute("INSERT INTO state (partition, row, version, data) VALUES (?, ?, 1, ?) "
                         "ON CONFLICT(partition, row) DO UPDATE SET version = version + 1, data = excluded.data",
                         (partition, op.row, data))
        else:
            if op.etag is not None:
                where += " AND version = ?"
                args.append(int(op.etag))
            if op.kind == "replace":
                sql = f"UPDATE state SET version = version + 1, data = ? WHERE {where}"  # noqa: S608  # nosec B608
                cur = conn.execute(sql, [data, *args])
            else:
                cur = conn.execute(f"DELETE FROM state WHERE {where}", args)  # noqa: S608  # nosec B608
            if cur.rowcount != 1:
                return False
            if op.kind == "delete":
                return None
        found = conn.execute("SELECT version FROM state WHERE partition = ? AND row = ?",
                             (partition, op.row)).fetchone()
        return str(found[0])
