"""A stand-in Table service with Azure Table Storage's index, for the state benchmark's timings.

Why: Azurite keeps each table in a LokiJS collection and answers every query by running the filter
over the whole collection (`LokiTableMetadataStore.queryTableEntities`: `.chain().where(filter)`),
so its cost per query grows with the table. Azure Table Storage keeps one clustered index on
(PartitionKey, RowKey), sorted ascending; a point query and a range query within a partition are
served from it ("Design for querying", "Designing a scalable partitioning strategy for Azure Table
Storage"). This server keeps the same index - a sorted list of (PartitionKey, RowKey) - so the time
of an operation does not depend on the rows it does not read, and it reports in the header
`x-standin-scanned` how many index entries each request walked:

- point read / insert / replace / delete: one entry (a bisection of the sorted keys);
- a query whose PartitionKey is pinned (eq, or ge and le the same value): the RowKey range only;
- a query over a PartitionKey range: every entry of that key range, each filtered on RowKey;
- a filter without PartitionKey (a table scan) or with other properties: refused with 501, so a
  query shape this model does not cover fails the benchmark instead of being timed wrongly.

It speaks the subset of the Table REST API that `azure-data-tables` uses for `TableStateStore`
(JSON, minimal metadata, ETags, If-Match, continuation headers, $top up to 1,000), plus
`POST /_seed/<table>` (a JSON list of entities in wire format) and `GET /_dump/<table>` to copy a
table's rows without timing that. No
authentication is checked (loopback only). Run as `python -m benchmarks.table_standin`: it prints
one JSON line with its port, and serves until stdin closes.
"""

from __future__ import annotations

import bisect
import json
import re
import sys
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

MAX_PAGE = 1000
_ENTITY_PATH = re.compile(r"^/[^/]+/(?P<table>[A-Za-z][A-Za-z0-9]*)(?:\((?P<keys>.*)\))?$")
_KEYS = re.compile(r"^PartitionKey='(?P<pk>(?:[^']|'')*)',RowKey='(?P<rk>(?:[^']|'')*)'$")
_TERM = re.compile(r"^\(?\s*(PartitionKey|RowKey)\s+(eq|ge|gt|le|lt)\s+'((?:[^']|'')*)'\s*\)?$")
_TOP = "\U0010ffff"  # sorts after every key character


class Unsupported(Exception):
    pass


class Table:
    def __init__(self) -> None:
        self.keys: list[tuple[str, str]] = []
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}

    def put(self, key: tuple[str, str], entity: dict[str, Any]) -> None:
        if key not in self.rows:
            bisect.insort(self.keys, key)
        self.rows[key] = entity

    def remove(self, key: tuple[str, str]) -> None:
        del self.rows[key]
        i = bisect.bisect_left(self.keys, key)
        del self.keys[i]


def parse_filter(text: str) -> dict[str, list[tuple[str, str]]]:
    """'PartitionKey ge 'a' and RowKey lt 'b'' -> {'PartitionKey': [('ge', 'a')], 'RowKey': [('lt', 'b')]}."""
    out: dict[str, list[tuple[str, str]]] = {"PartitionKey": [], "RowKey": []}
    for term in re.split(r"\s+and\s+", text.strip()):
        m = _TERM.match(term.strip())
        if not m:
            raise Unsupported(f"filter term not served by the (PartitionKey, RowKey) index: {term!r}")
        out[m.group(1)].append((m.group(2), m.group(3).replace("''", "'")))
    if not out["PartitionKey"]:
        raise Unsupported("a filter without PartitionKey is a table scan")
    return out


def _bounds(conds: list[tuple[str, str]]) -> tuple[str, bool, str | None, bool]:
    """(low, low inclusive, high or None, high inclusive) of one key's conditions."""
    lo, lo_inc, hi, hi_inc = "", True, None, True
    for op, v in conds:
        if op in ("eq", "ge", "gt") and (v > lo or (v == lo and op == "gt")):
            lo, lo_inc = v, op != "gt"
        if op in ("eq", "le", "lt") and (hi is None or v < hi or (v == hi and op == "lt")):
            hi, hi_inc = v, op != "lt"
    return lo, lo_inc, hi, hi_inc


def _within(v: str, b: tuple[str, bool, str | None, bool]) -> bool:
    lo, lo_inc, hi, hi_inc = b
    if v < lo or (v == lo and not lo_inc):
        return False
    return hi is None or v < hi or (v == hi and hi_inc)


def query(table: Table, flt: dict[str, list[tuple[str, str]]], top: int, after: tuple[str, str] | None
          ) -> tuple[list[tuple[str, str]], int, tuple[str, str] | None]:
    """(matching keys of this page, index entries walked, continuation key)."""
    pkb, rkb = _bounds(flt["PartitionKey"]), _bounds(flt["RowKey"])
    single = pkb[2] is not None and pkb[0] == pkb[2] and pkb[1] and pkb[3]
    start_key = (pkb[0], rkb[0] if single else "")
    i = bisect.bisect_left(table.keys, start_key)
    if after is not None:
        i = max(i, bisect.bisect_left(table.keys, after))
    out: list[tuple[str, str]] = []
    walked = 0
    while i < len(table.keys):
        pk, rk = table.keys[i]
        if not _within(pk, pkb):
            if pkb[2] is not None and pk > pkb[2]:
                break
            i += 1
            walked += 1
            continue
        if single and rkb[2] is not None and (rk > rkb[2] or (rk == rkb[2] and not rkb[3])):
            break  # past the RowKey range of the pinned partition: the index stops here
        if _within(rk, rkb):
            if len(out) == top:
                return out, walked, (pk, rk)  # the next page starts here (walked there, not here)
            out.append((pk, rk))
        walked += 1
        i += 1
    return out, walked, None


class Store:
    def __init__(self) -> None:
        self.tables: dict[str, Table] = {}
        self.lock = threading.Lock()
        self.version = 0

    def etag(self) -> str:
        self.version += 1
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
        return f"W/\"datetime'{stamp}',{self.version}\""


def _error(code: str, message: str) -> dict[str, Any]:
    return {"odata.error": {"code": code, "message": {"lang": "en-US", "value": message}}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: StandinServer

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        if data:
            self.send_header("Content-Type", "application/json;odata=minimalmetadata;charset=utf-8")
        self.send_header("x-ms-version", "2019-02-02")
        if status >= 400 and isinstance(body, dict):
            self.send_header("x-ms-error-code", body["odata.error"]["code"])
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _raw(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _batch(self, raw: bytes) -> None:
        """An entity-group transaction: one changeset of operations on one partition, all or none.
        Conditions are checked on a copy of the rows first; the first failing operation answers for
        the whole batch (its index prefixes the message, as the service does), nothing applied."""
        from email import message_from_bytes
        from email.message import Message

        ctype = self.headers.get("Content-Type", "")
        outer: Any = message_from_bytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw)
        changeset: Any = outer.get_payload()[0]
        ops: list[tuple[str, str, dict[str, str], Any]] = []
        for part in changeset.get_payload():
            assert isinstance(part, Message)
            payload: Any = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            head, _, body = payload.partition(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            method, url, _version = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
            ops.append((method, url, headers, json.loads(body) if body.strip() else None))
        store = self.server.store
        results: list[tuple[int, str, dict[str, str], Any]] = []
        with store.lock:
            tables = {self._route_url(url)[0] for _m, url, _h, _b in ops}
            if len(tables) != 1 or next(iter(tables)) not in store.tables:
                raise Unsupported("a batch on one existing table only")
            t = store.tables[next(iter(tables))]
            staged: dict[tuple[str, str], dict[str, Any] | None] = {}  # touched rows only (None: deleted)
            for i, (method, url, headers, body) in enumerate(ops):
                _table, key = self._route_url(url)
                if method == "POST":
                    key = (body["PartitionKey"], body["RowKey"])
                assert key is not None
                cur = staged[key] if key in staged else t.rows.get(key)
                if_match = headers.get("if-match")
                fail = None
                if method == "POST" and cur is not None:
                    fail = (409, "EntityAlreadyExists", "The specified entity already exists.")
                elif method in ("PUT", "DELETE") and if_match is not None and cur is None:
                    fail = (404, "ResourceNotFound", "The specified resource does not exist.")
                elif if_match not in (None, "*") and cur is not None and cur["_etag"] != if_match:
                    fail = (412, "UpdateConditionNotSatisfied",
                            "The update condition specified in the request was not satisfied.")
                elif method == "DELETE" and cur is None:
                    fail = (404, "ResourceNotFound", "The specified resource does not exist.")
                if fail:
                    err = _error(fail[1], f"{i}:{fail[2]}")
                    self._send_batch([(fail[0], fail[1], {}, err)], scanned=i + 1)
                    return
                if method == "DELETE":
                    staged[key] = None
                    results.append((204, "No Content", {}, None))
                else:
                    etag = store.etag()
                    staged[key] = {**body, "PartitionKey": key[0], "RowKey": key[1], "_etag": etag}
                    results.append((204, "No Content", {"ETag": etag}, None))
            for key, entity in staged.items():
                if entity is None:
                    if key in t.rows:
                        t.remove(key)
                else:
                    t.put(key, entity)
        self._send_batch(results, scanned=len(ops))

    def _send_batch(self, results: list[tuple[int, str, dict[str, str], Any]], scanned: int) -> None:
        import uuid

        b, c = f"batchresponse_{uuid.uuid4()}", f"changesetresponse_{uuid.uuid4()}"
        out = [f"--{b}", f"Content-Type: multipart/mixed; boundary={c}", ""]
        for status, reason, headers, body in results:
            data = json.dumps(body) if body is not None else ""
            out += [f"--{c}", "Content-Type: application/http", "Content-Transfer-Encoding: binary", "",
                    f"HTTP/1.1 {status} {reason}", "DataServiceVersion: 3.0;"]
            out += [f"{k}: {v}" for k, v in headers.items()]
            if data:
                out += ["Content-Type: application/json;odata=minimalmetadata;charset=utf-8"]
            out += ["", data]
        out += [f"--{c}--", f"--{b}--", ""]
        payload = "\r\n".join(out).encode()
        self.send_response(202)
        self.send_header("Content-Type", f"multipart/mixed; boundary={b}")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-standin-scanned", str(scanned))
        self.end_headers()
        self.wfile.write(payload)

    @staticmethod
    def _route_url(url: str) -> tuple[str, tuple[str, str] | None]:
        m = _ENTITY_PATH.match(unquote(urlsplit(url).path))
        if not m:
            raise Unsupported(f"path {url!r}")
        key = None
        if m.group("keys"):
            km = _KEYS.match(m.group("keys"))
            if not km:
                raise Unsupported(f"keys {m.group('keys')!r}")
            key = (km.group("pk").replace("''", "'"), km.group("rk").replace("''", "'"))
        return m.group("table"), key

    def _route(self) -> tuple[str, tuple[str, str] | None, dict[str, list[str]]]:
        table, key = self._route_url(self.path)
        return table, key, parse_qs(urlsplit(self.path).query)

    def _dispatch(self, method: str) -> None:
        store = self.server.store
        try:
            body_raw = self._raw()
            body: Any = json.loads(body_raw) if body_raw and not urlsplit(self.path).path.endswith("/$batch") else None
            if method == "GET" and urlsplit(self.path).path.startswith("/_dump/"):
                name = urlsplit(self.path).path.rsplit("/", 1)[1]
                with store.lock:
                    dumped = store.tables.get(name) or Table()
                    rows = [{k: v for k, v in dumped.rows[key].items() if k != "_etag"} for key in dumped.keys]
                self._send(200, rows)
                return
            if method == "POST" and urlsplit(self.path).path.startswith("/_seed/"):
                name = urlsplit(self.path).path.rsplit("/", 1)[1]
                with store.lock:
                    seeded = store.tables.setdefault(name, Table())
                    for e in body:
                        seeded.put((e["PartitionKey"], e["RowKey"]), {**e, "_etag": store.etag()})
                self._send(204)
                return
            if method == "POST" and urlsplit(self.path).path.endswith("/$batch"):
                self._batch(body_raw)
                return
            table, key, params = self._route()
            if method == "POST" and table == "Tables":
                name = body["TableName"]
                with store.lock:
                    if name in store.tables:
                        self._send(409, _error("TableAlreadyExists", "The table specified already exists."))
                        return
                    store.tables[name] = Table()
                self._send(201, {"TableName": name})
                return
            with store.lock:
                t = store.tables.get(table)
                if t is None:
                    self._send(404, _error("TableNotFound", "The table specified does not exist."))
                    return
                self._entity(method, t, key, params, body)
        except Unsupported as err:
            self._send(501, _error("NotImplemented", f"table stand-in: {err}"))

    def _entity(self, method: str, t: Table, key: tuple[str, str] | None, params: dict[str, list[str]],
                body: Any) -> None:
        store = self.server.store
        scanned = {"x-standin-scanned": "1"}
        if method == "GET" and key is None:  # query
            flt = parse_filter(params.get("$filter", [""])[0]) if params.get("$filter") else None
            top = min(int(params.get("$top", [str(MAX_PAGE)])[0]), MAX_PAGE)
            after = None
            if "NextPartitionKey" in params:
                after = (params["NextPartitionKey"][0], params.get("NextRowKey", [""])[0])
            if flt is None:
                raise Unsupported("a query without a filter is a table scan")
            keys, walked, nxt = query(t, flt, top, after)
            headers = {"x-standin-scanned": str(walked)}
            if nxt is not None:
                headers["x-ms-continuation-NextPartitionKey"] = nxt[0]
                headers["x-ms-continuation-NextRowKey"] = nxt[1]
            self._send(200, {"value": [self._out(t.rows[k]) for k in keys]}, headers)
            return
        if method == "POST" and key is None:  # insert
            k = (body["PartitionKey"], body["RowKey"])
            if k in t.rows:
                self._send(409, _error("EntityAlreadyExists", "The specified entity already exists."), scanned)
                return
            etag = store.etag()
            t.put(k, {**body, "_etag": etag})
            self._send(204, None, {"ETag": etag, **scanned})
            return
        if key is None:
            raise Unsupported(f"{method} without keys")
        current = t.rows.get(key)
        if_match = self.headers.get("If-Match")
        if method == "GET":
            if current is None:
                self._send(404, _error("ResourceNotFound", "The specified resource does not exist."), scanned)
                return
            self._send(200, self._out(current), {"ETag": current["_etag"], **scanned})
            return
        if if_match is not None:
            if current is None:
                self._send(404, _error("ResourceNotFound", "The specified resource does not exist."), scanned)
                return
            if if_match != "*" and if_match != current["_etag"]:
                self._send(412, _error("UpdateConditionNotSatisfied",
                                       "The update condition specified in the request was not satisfied."), scanned)
                return
        if method == "DELETE":
            if current is None:
                self._send(404, _error("ResourceNotFound", "The specified resource does not exist."), scanned)
                return
            t.remove(key)
            self._send(204, None, scanned)
            return
        if method == "PUT":  # replace (If-Match) or insert-or-replace (none)
            etag = store.etag()
            t.put(key, {**body, "PartitionKey": key[0], "RowKey": key[1], "_etag": etag})
            self._send(204, None, {"ETag": etag, **scanned})
            return
        raise Unsupported(f"{method} on an entity")

    @staticmethod
    def _out(entity: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in entity.items() if k != "_etag"}
        out["odata.etag"] = entity["_etag"]
        return out

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")


class StandinServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.store = Store()


def main() -> int:
    srv = StandinServer()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print(json.dumps({"port": srv.server_address[1]}), flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    srv.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())


class StandinProcess:
    """The stand-in in a child process (its CPU is not the benchmark process's); `connection_string`
    is what TableStateStore takes."""

    def __init__(self) -> None:
        import os
        import subprocess

        from tests.azurite_support import AZURITE_ACCOUNT, AZURITE_KEY

        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self._proc = subprocess.Popen([sys.executable, "-m", "benchmarks.table_standin"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True, env=env)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"table stand-in exited (code {self._proc.poll()})")
        self.port = int(json.loads(line)["port"])
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.connection_string = (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
                                  f"AccountKey={AZURITE_KEY};TableEndpoint={self.base_url}/{AZURITE_ACCOUNT};")

    def dump(self, table: str) -> list[dict[str, Any]]:
        from urllib.request import urlopen

        with urlopen(f"{self.base_url}/_dump/{table}", timeout=60) as r:  # nosec B310 (loopback)
            rows: list[dict[str, Any]] = json.loads(r.read())
        return rows

    def seed(self, table: str, entities: list[dict[str, Any]]) -> None:
        from urllib.request import Request, urlopen

        for i in range(0, len(entities), 5000):
            body = json.dumps(entities[i : i + 5000]).encode()
            req = Request(f"{self.base_url}/_seed/{table}", data=body, method="POST",
                          headers={"Content-Type": "application/json"})
            with urlopen(req, timeout=60) as r:  # nosec B310 (loopback)
                r.read()

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except Exception:
                self._proc.kill()
                self._proc.wait()
