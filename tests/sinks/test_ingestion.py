"""LogsIngestionSink with the real azure-monitor-ingestion SDK against a local HTTPS emulator.

The emulator checks what the service checks: the path with the DCR immutable id and stream, the
api-version, a Bearer token, a gzip JSON array no bigger than 1 MB, and that every row carries
exactly the declared columns with the declared types (shared/schema/findings_table.json).
Failures: 413 (one chunk, the others still go), 429 with Retry-After, 503, 403.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from shared.azure.ingestion import IngestionError, LogsIngestionSink
from shared.ports import SinkError
from shared.render.rows import MAX_REQUEST_BYTES, finding_to_row, table_schema
from tests.conftest import TlsMaterial
from tests.factories import make_check, make_finding

RULE = "dcr-0123456789abcdef0123456789abcdef"
STREAM = "Custom-AKSTriageFindings_CL"
PATH = f"/dataCollectionRules/{RULE}/streams/{STREAM}"


class FakeCredential:
    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.scopes.append(scopes)
        return AccessToken("fake-monitor-token", int(time.time()) + 3600)

    async def close(self) -> None:
        pass


def row_problems(row: dict[str, Any]) -> list[str]:
    """The emulator's column/type check, from the declared schema."""
    schema = table_schema()
    problems = []
    if list(row) != list(schema.names):
        problems.append(f"columns {sorted(set(row) ^ set(schema.names))} differ from the declaration")
    for col in schema.columns:
        v = row.get(col.name)
        ok = {
            "string": isinstance(v, str),
            "int": isinstance(v, int) and not isinstance(v, bool),
            "long": isinstance(v, int) and not isinstance(v, bool),
            "real": isinstance(v, int | float) and not isinstance(v, bool),
            "boolean": isinstance(v, bool),
            "dynamic": isinstance(v, list | dict),
            "datetime": isinstance(v, str) and v.endswith("Z") and _is_iso(v),
        }[col.type]
        if not ok:
            problems.append(f"{col.name}: {v!r:.60} is not {col.type}")
        if isinstance(v, str) and len(v.encode()) > 65_536:
            problems.append(f"{col.name}: over 64 KB")
    return problems


def _is_iso(v: str) -> bool:
    try:
        datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


class Emulator:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: list[Response] = []  # responses to give before answering 204

    def __call__(self, request: Request) -> Response:
        raw = request.get_data()
        rec: dict[str, Any] = {"path": request.path, "args": dict(request.args), "headers": dict(request.headers),
                               "wire": len(raw), "problems": []}
        if request.headers.get("Content-Encoding") != "gzip":
            rec["problems"].append("body not gzip")
            body = raw
        else:
            body = gzip.decompress(raw)
        rows = json.loads(body)
        rec["rows"] = rows
        if not isinstance(rows, list):
            rec["problems"].append("body is not a JSON array")
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            rec["problems"].append("no bearer token")
        if request.args.get("api-version") != "2023-01-01":
            rec["problems"].append(f"api-version {request.args.get('api-version')}")
        if len(raw) > MAX_REQUEST_BYTES:
            rec["problems"].append(f"request of {len(raw)} bytes is over 1 MB")
        for row in rows:
            rec["problems"].extend(row_problems(row))
        self.requests.append(rec)
        if self.script:
            return self.script.pop(0)
        if rec["problems"]:
            return Response(json.dumps({"error": {"code": "InvalidStream", "message": "; ".join(rec["problems"])}}),
                            status=400, content_type="application/json")
        return Response(status=204)


@pytest.fixture(scope="module")
def https_server(tls: TlsMaterial) -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=tls.server_context)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def emulator(https_server: HTTPServer) -> Iterator[Emulator]:
    emu = Emulator()
    https_server.clear()
    https_server.expect_request(PATH, method="POST").respond_with_handler(emu)
    yield emu
    https_server.clear()


@pytest.fixture
def credential() -> FakeCredential:
    return FakeCredential()


def make_sink(server: HTTPServer, tls: TlsMaterial, cred: FakeCredential, **kw: Any) -> LogsIngestionSink:
    return LogsIngestionSink(f"https://127.0.0.1:{server.port}", RULE, STREAM, cred,  # type: ignore[arg-type]
                             connection_verify=tls.ca_file, **kw)


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps({"error": {"code": code, "message": message}}), status=status,
                    headers=headers or {}, content_type="application/json")


async def test_rows_arrive_as_declared(https_server: HTTPServer, tls: TlsMaterial, emulator: Emulator,
                                       credential: FakeCredential) -> None:
    rows = [finding_to_row(make_finding(), alert_sent=True), finding_to_row(make_finding(code="QuotaExceeded"),
                                                                            alert_sent=False)]
    async with make_sink(https_server, tls, credential) as sink:
        await sink.write(rows)
    assert len(emulator.requests) == 1
    req = emulator.requests[0]
    assert req["problems"] == []
    assert req["path"] == PATH and req["args"] == {"api-version": "2023-01-01"}
    assert req["headers"]["Authorization"] == "Bearer fake-monitor-token"
    assert req["headers"]["Content-Type"] == "application/json"
    assert credential.scopes[0] == ("https://monitor.azure.com/.default",)
    assert req["rows"] == rows


async def test_big_batches_are_chunked_under_1mb_and_fields_cut(https_server: HTTPServer, tls: TlsMaterial,
                                                                emulator: Emulator, credential: FakeCredential) -> None:
    noisy = "x" * 100_000  # > 64 KB: must be cut with a marker
    rows = [finding_to_row(make_finding(summary=f"{i} {noisy}", message=noisy), alert_sent=False)
            for i in range(40)]
    assert all(r["Summary"].endswith("bytes]") and len(r["Summary"].encode()) <= 65_536 for r in rows)
    async with make_sink(https_server, tls, credential) as sink:
        await sink.write(rows)
    assert all(r["problems"] == [] for r in emulator.requests)
    assert len(emulator.requests) >= 3  # ~2.9 MB of JSON -> 3 chunks at 1 MiB uncompressed
    assert sum(len(r["rows"]) for r in emulator.requests) == 40
    assert max(r["wire"] for r in emulator.requests) < MAX_REQUEST_BYTES


async def test_413_on_one_chunk_does_not_drop_the_others(https_server: HTTPServer, tls: TlsMaterial,
                                                         emulator: Emulator, credential: FakeCredential) -> None:
    rows = [finding_to_row(make_finding(summary=f"{i} " + "y" * 60_000), alert_sent=False) for i in range(40)]
    emulator.script = [Response(status=204), error_response(
        413, "ContentLengthLimitExceeded",
        "Maximum allowed content length: 1048576 bytes (1 MB). Provided content length: 1068792 bytes.",
        {"x-ms-error-code": "ContentLengthLimitExceeded"})]
    async with make_sink(https_server, tls, credential) as sink:
        with pytest.raises(IngestionError) as info:
            await sink.write(rows)
    sent_chunks = len(emulator.requests)
    assert sent_chunks >= 3  # the chunk after the failed one was still sent
    err = info.value
    assert err.retryable is False and err.statuses == (413,)
    assert 0 < len(err.failed_rows) < 40
    assert err.failed_rows == emulator.requests[1]["rows"]
    assert f"{len(err.failed_rows)} of 40 rows failed" in str(err)


async def test_429_with_retry_after_is_retried(https_server: HTTPServer, tls: TlsMaterial, emulator: Emulator,
                                               credential: FakeCredential) -> None:
    emulator.script = [error_response(429, "TooManyRequests", "throttled", {"Retry-After": "1"})]
    t0 = time.monotonic()
    async with make_sink(https_server, tls, credential) as sink:
        await sink.write([finding_to_row(make_finding(), alert_sent=True)])
    assert len(emulator.requests) == 2 and time.monotonic() - t0 >= 0.9


async def test_retry_after_is_capped(https_server: HTTPServer, tls: TlsMaterial, emulator: Emulator,
                                     credential: FakeCredential) -> None:
    emulator.script = [error_response(429, "TooManyRequests", "throttled", {"Retry-After": "600"})]
    t0 = time.monotonic()
    async with make_sink(https_server, tls, credential, retry_after_cap_s=0.5) as sink:
        await sink.write([finding_to_row(make_finding(), alert_sent=True)])
    assert len(emulator.requests) == 2 and time.monotonic() - t0 < 5


async def test_429_that_persists_is_a_retryable_sink_error(https_server: HTTPServer, tls: TlsMaterial,
                                                           emulator: Emulator, credential: FakeCredential) -> None:
    emulator.script = [error_response(429, "TooManyRequests", "throttled", {"Retry-After": "0.1"})
                       for _ in range(3)]
    async with make_sink(https_server, tls, credential, retry_total=2) as sink:
        with pytest.raises(SinkError) as info:
            await sink.write([finding_to_row(make_finding(), alert_sent=True)])
    assert info.value.retryable is True and "429" in str(info.value)
    assert len(emulator.requests) == 3


async def test_503_is_retried_then_succeeds(https_server: HTTPServer, tls: TlsMaterial, emulator: Emulator,
                                            credential: FakeCredential) -> None:
    emulator.script = [error_response(503, "ServiceUnavailable", "try later", {"Retry-After": "1"})]
    async with make_sink(https_server, tls, credential) as sink:
        await sink.write([finding_to_row(make_finding(), alert_sent=True)])
    assert len(emulator.requests) == 2


async def test_403_missing_role_is_not_retryable(https_server: HTTPServer, tls: TlsMaterial, emulator: Emulator,
                                                 credential: FakeCredential) -> None:
    emulator.script = [error_response(
        403, "OperationFailed", "The authentication token provided does not have access to ingest data for the "
        "data collection rule with immutable Id '<REDACTED>'")]
    async with make_sink(https_server, tls, credential) as sink:
        with pytest.raises(SinkError) as info:
            await sink.write([finding_to_row(make_finding(), alert_sent=True)])
    assert info.value.retryable is False and "403 OperationFailed" in str(info.value)
    assert len(emulator.requests) == 1


async def test_wrong_columns_are_rejected_by_the_emulator(https_server: HTTPServer, tls: TlsMaterial,
                                                          emulator: Emulator, credential: FakeCredential) -> None:
    """The emulator is strict: a row with an undeclared column or a wrong type is a 400 (non-retryable)."""
    row = finding_to_row(make_finding(), alert_sent=True)
    bad = {**row, "OccurrenceCount": "3", "Extra": 1}
    async with make_sink(https_server, tls, credential) as sink:
        with pytest.raises(SinkError) as info:
            await sink.write([bad])
    assert info.value.retryable is False
    assert any("OccurrenceCount" in p for p in emulator.requests[0]["problems"])


def test_http_endpoint_is_refused() -> None:
    with pytest.raises(ValueError, match="https"):
        LogsIngestionSink("http://127.0.0.1:1", RULE, STREAM, FakeCredential())  # type: ignore[arg-type]


async def test_huge_checks_json_stays_a_valid_dynamic(https_server: HTTPServer, tls: TlsMaterial,
                                                      emulator: Emulator, credential: FakeCredential) -> None:
    checks = tuple(make_check(f"check_{i}", evidence=[(f"p{j}", "v" * 3000) for j in range(10)]) for i in range(30))
    row = finding_to_row(make_finding(checks=checks), alert_sent=False)
    assert len(json.dumps(row["ChecksJson"]).encode()) <= 65_536
    assert [c["id"] for c in row["ChecksJson"]] == [f"check_{i}" for i in range(30)]
    async with make_sink(https_server, tls, credential) as sink:
        await sink.write([row])
    assert emulator.requests[0]["problems"] == []


# --- group commit: concurrent writes share requests --------------------------------------------


class Gate:
    """Holds the emulator's first answer until released, so writes pile up behind it."""

    def __init__(self, emulator: Emulator) -> None:
        import threading

        self.emulator = emulator
        self.entered = threading.Event()
        self.release = threading.Event()
        self.first = True

    def __call__(self, request: Request) -> Response:
        if self.first:
            self.first = False
            self.entered.set()
            self.release.wait(10)
        return self.emulator(request)


def _row(i: int, filler: int = 0) -> dict[str, Any]:
    return finding_to_row(make_finding(summary=f"finding {i} " + "z" * filler), alert_sent=False)


async def _gated(https_server: HTTPServer, emulator: Emulator) -> Gate:
    gate = Gate(emulator)
    https_server.clear()
    https_server.expect_request(PATH, method="POST").respond_with_handler(gate)
    return gate


async def _in_flight(gate: Gate) -> None:
    import asyncio

    await asyncio.to_thread(gate.entered.wait, 10)


async def test_writes_that_arrive_during_a_request_share_the_next_one(
        https_server: HTTPServer, tls: TlsMaterial, emulator: Emulator, credential: FakeCredential) -> None:
    import asyncio

    gate = await _gated(https_server, emulator)
    async with make_sink(https_server, tls, credential) as sink:
        first = asyncio.create_task(sink.write([_row(0)]))
        await _in_flight(gate)  # the idle sink sent at once, alone
        rest = [asyncio.create_task(sink.write([_row(i), _row(100 + i)])) for i in range(1, 8)]
        await asyncio.sleep(0.1)
        assert len(emulator.requests) == 0 and not any(t.done() for t in rest)  # waiting behind the first
        gate.release.set()
        await asyncio.gather(first, *rest)
    assert [len(r["rows"]) for r in emulator.requests] == [1, 14]  # 7 writes in one request
    assert all(r["problems"] == [] for r in emulator.requests)
    summaries = [row["Summary"] for row in emulator.requests[1]["rows"]]
    assert summaries == [_row(i)["Summary"] for j in range(1, 8) for i in (j, 100 + j)]  # in arrival order


async def test_an_idle_sink_adds_no_wait(https_server: HTTPServer, tls: TlsMaterial, emulator: Emulator,
                                         credential: FakeCredential) -> None:
    async with make_sink(https_server, tls, credential) as sink:
        await sink.write([_row(0)])  # connection and token
        started = time.monotonic()
        for i in range(5):
            await sink.write([_row(i)])
        each = (time.monotonic() - started) / 5
    assert [len(r["rows"]) for r in emulator.requests] == [1] * 6
    assert each < 0.25, f"{each * 1000:.0f} ms per lone write"


async def test_a_shared_request_stays_one_call_under_1_mb(https_server: HTTPServer, tls: TlsMaterial,
                                                          emulator: Emulator, credential: FakeCredential) -> None:
    import asyncio

    gate = await _gated(https_server, emulator)
    async with make_sink(https_server, tls, credential) as sink:
        first = asyncio.create_task(sink.write([_row(0)]))
        await _in_flight(gate)
        rest = [asyncio.create_task(sink.write([_row(i, filler=60_000)])) for i in range(1, 41)]  # ~2.4 MB
        await asyncio.sleep(0.1)
        gate.release.set()
        await asyncio.gather(first, *rest)
    sizes = [len(r["rows"]) for r in emulator.requests]
    assert sum(sizes) == 41 and len(sizes) >= 4, sizes  # 1 + at least 3 shared requests
    assert all(r["problems"] == [] for r in emulator.requests)
    assert max(r["wire"] for r in emulator.requests) < MAX_REQUEST_BYTES
    assert all(len(json.dumps(r["rows"]).encode()) <= 1_048_576 + 2 * len(r["rows"]) for r in emulator.requests)


async def test_a_failed_shared_request_fails_every_write_in_it(
        https_server: HTTPServer, tls: TlsMaterial, emulator: Emulator, credential: FakeCredential) -> None:
    import asyncio

    emulator.script = [Response(status=204), error_response(503, "ServiceUnavailable", "try later")]
    gate = await _gated(https_server, emulator)
    async with make_sink(https_server, tls, credential, retry_total=0) as sink:
        first = asyncio.create_task(sink.write([_row(0)]))
        await _in_flight(gate)
        mine = [[_row(i), _row(100 + i)] for i in range(1, 5)]
        rest = [asyncio.create_task(sink.write(rows)) for rows in mine]
        await asyncio.sleep(0.1)
        gate.release.set()
        await first  # its own request was accepted
        results = await asyncio.gather(*rest, return_exceptions=True)
        await sink.write([_row(9)])  # the sink works on: the next request is a new one
    assert [len(r["rows"]) for r in emulator.requests] == [1, 8, 1]
    for rows, result in zip(mine, results, strict=True):
        assert isinstance(result, IngestionError), result
        assert result.retryable and result.statuses == (503,)
        assert result.failed_rows == rows  # each write learns exactly its own rows failed
        assert "2 of 2 rows failed" in str(result)


async def test_a_write_cancelled_before_its_request_left_is_not_sent(
        https_server: HTTPServer, tls: TlsMaterial, emulator: Emulator, credential: FakeCredential) -> None:
    import asyncio

    gate = await _gated(https_server, emulator)
    async with make_sink(https_server, tls, credential) as sink:
        first = asyncio.create_task(sink.write([_row(0)]))
        await _in_flight(gate)
        dropped = asyncio.create_task(sink.write([_row(1)]))
        kept = asyncio.create_task(sink.write([_row(2)]))
        await asyncio.sleep(0.05)
        dropped.cancel()
        gate.release.set()
        await asyncio.gather(first, kept)
        with pytest.raises(asyncio.CancelledError):
            await dropped
    assert [[row["Summary"] for row in r["rows"]] for r in emulator.requests] == [[_row(0)["Summary"]],
                                                                                  [_row(2)["Summary"]]]


async def test_concurrent_publishes_share_requests_and_a_failed_one_is_retried_by_each(
        https_server: HTTPServer, tls: TlsMaterial, emulator: Emulator, credential: FakeCredential) -> None:
    """Noise control over the real sink: eight work items publishing at once (host.json batchSize 8)
    while a request is out go in one request; when that request fails, every one of them fails
    (the queue retries each), and the retries write each row once."""
    import asyncio

    from shared.local.state import MemoryStateStore
    from shared.noise import NoiseControl
    from tests.factories import make_operation
    from tests.sinks.conftest import FakeClock, NoiseTestSettings, RecordingNotifier

    emulator.script = [Response(status=204), error_response(503, "ServiceUnavailable", "try later")]
    gate = await _gated(https_server, emulator)
    clock = FakeClock()
    findings = [make_finding(op=make_operation(event_id=f"evt-batch-{i}", cluster=f"aks-batch-{i}"))
                for i in range(9)]
    async with make_sink(https_server, tls, credential, retry_total=0) as sink:
        nc = NoiseControl(MemoryStateStore(), sink, RecordingNotifier(), clock, NoiseTestSettings())
        first = asyncio.create_task(nc.publish(findings[0]))
        await _in_flight(gate)
        rest = [asyncio.create_task(nc.publish(f)) for f in findings[1:]]
        await asyncio.sleep(0.2)
        gate.release.set()
        assert (await first).row_written
        failed = await asyncio.gather(*rest, return_exceptions=True)
        assert all(isinstance(r, SinkError) and r.retryable for r in failed), failed
        clock.advance(seconds=31)  # the queue's redeliveries
        again = await asyncio.gather(*(nc.publish(f) for f in findings[1:]))
    assert [len(r["rows"]) for r in emulator.requests] == [1, 8, 8]
    written = [row["EventId"] for r in emulator.requests[::2] for row in r["rows"]]
    assert sorted(written) == sorted(f.operation.event_id for f in findings)
    assert all(o.row_written and not o.card_sent for o in again)  # the cards went out the first time
