"""Issue 15.3: every sink and store call has a total deadline (not a per-read one), and a call cut by
it keeps the work for a retry.

* Logs Ingestion: the real LogsIngestionClient against an HTTPS receiver that answers 200 and then
  trickles its body one byte every 0.2 s for 6 s. azure-core's read timeout restarts with every
  chunk, so only a total deadline stops it; the write must raise a retryable IngestionError naming
  every row, well before the trickle ends.
* Tables: the real TableClient against Azurite behind a local TCP proxy that stalls the answers
  (connects, forwards the request, holds the response). The call must end at the store's deadline
  (TimeoutError), noise control must report StateDown (the queue retries the item), and once the
  proxy passes traffic again the same publish goes through: one row, one card, nothing lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from shared.azure.ingestion import DEADLINE_S, IngestionError, LogsIngestionSink
from shared.azure.tables import CALL_DEADLINE_S, TableStateStore
from shared.noise import NoiseControl, StateDown
from tests.azurite_support import AZURITE_ACCOUNT, AZURITE_KEY
from tests.factories import make_finding
from tests.sinks.conftest import FakeClock, NoiseTestSettings, RecordingNotifier, RecordingSink

pytestmark = [pytest.mark.reliability]

STREAM_PATH = "/dataCollectionRules/dcr-test/streams/Custom-AKSTriageFindings_CL"


def test_deadlines_fit_inside_the_publish_lease() -> None:
    """Both totals stay below noise control's per-call deadline (a third of the 25 s lease)."""
    lease_call = 25.0 / 3
    assert max(DEADLINE_S, CALL_DEADLINE_S) < lease_call


@pytest.fixture
def trickle_server(tls: Any) -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=tls.server_context, threaded=True)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        server.stop()


async def test_trickling_ingestion_answer_is_cut_at_the_total_deadline(trickle_server: HTTPServer, tls: Any,
                                                                       credential: Any) -> None:
    def trickle(_request: Request) -> Response:
        def body() -> Iterator[bytes]:
            for _ in range(30):  # 6 s in all; each byte well inside the 1 s read timeout
                time.sleep(0.2)
                yield b" "

        return Response(body(), status=200, headers={"Content-Length": "30"}, content_type="application/json")

    trickle_server.expect_request(STREAM_PATH, method="POST").respond_with_handler(trickle)
    sink = LogsIngestionSink(f"https://127.0.0.1:{trickle_server.port}", "dcr-test", "Custom-AKSTriageFindings_CL",
                             credential, connection_verify=tls.ca_file, retry_total=0, deadline_s=1.5,
                             read_timeout_s=1.0)
    rows = [{"TimeGenerated": "2026-01-01T00:00:00Z", "EventId": f"e{i}"} for i in range(3)]
    started = time.monotonic()
    try:
        with pytest.raises(IngestionError) as caught:
            await sink.write(rows)
    finally:
        await sink.close()
    took = time.monotonic() - started
    assert took < 3.0, f"the write took {took:.1f} s: the deadline did not cut the trickle"
    assert caught.value.retryable and caught.value.failed_rows == rows


class StallingProxy:
    """TCP proxy to Azurite's table port; while `flowing` is clear, answers are held back."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.server: asyncio.AbstractServer | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, hold: bool) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    if hold:
                        await self.flowing.wait()
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        await asyncio.gather(pipe(reader, up_w, False), pipe(up_r, writer, True))

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


@pytest.fixture
async def proxy(azurite: Any) -> AsyncIterator[StallingProxy]:
    p = StallingProxy(azurite.table_port)
    await p.start()
    try:
        yield p
    finally:
        await p.close()


def _proxied(port: int) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"TableEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};")


async def test_stalled_table_call_ends_at_its_deadline_and_the_item_is_kept(proxy: StallingProxy) -> None:
    store = TableStateStore(_proxied(proxy.port), "dl" + uuid.uuid4().hex[:12], deadline_s=1.0,
                            read_timeout=30)  # a per-read timeout far beyond the deadline: the total cuts
    sink, notifier = RecordingSink(), RecordingNotifier()
    clock = FakeClock()
    nc = NoiseControl(store, sink, notifier, clock, NoiseTestSettings())
    finding = make_finding()
    try:
        assert await store.get("p", "r") is None  # table created, path works
        proxy.flowing.clear()
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await store.get("p", "r")
        assert time.monotonic() - started < 2.5
        with pytest.raises(StateDown):
            await nc.publish(finding)
        assert (len(sink.rows), len(notifier.notices)) == (0, 0)
        proxy.flowing.set()
        clock.advance(seconds=30)  # the queue's redelivery
        out = await nc.publish(finding)
        assert out.action == "new"
        assert (len(sink.rows), len(notifier.notices)) == (1, 1)
    finally:
        proxy.flowing.set()
        await store.close()


def test_work_item_deadline_is_inside_the_function_timeout() -> None:
    import json
    from pathlib import Path

    from shared.handlers import WORK_ITEM_DEADLINE_S

    host = json.loads((Path(__file__).resolve().parents[2] / "host.json").read_text())
    h, m, s = (int(x) for x in host["functionTimeout"].split(":"))
    assert h * 3600 + m * 60 + s >= WORK_ITEM_DEADLINE_S + 60


async def test_a_work_item_that_outlives_its_deadline_fails_and_is_kept(monkeypatch: Any) -> None:
    """A hung item raises (the host retries it), and at the last dequeue it is dead-lettered with
    the reason instead of being killed by the host mid-publish."""
    from datetime import UTC, datetime

    from shared import handlers
    from shared.pipeline import Deps, WorkItem
    from tests.factories import make_operation

    class Queue:
        def __init__(self) -> None:
            self.messages: list[dict[str, Any]] = []

        async def enqueue(self, message: dict[str, Any], *, delay_s: int = 0) -> None:
            self.messages.append(message)

    async def hang(item: Any, deps: Any) -> Any:
        await asyncio.sleep(30)

    class Message:
        def __init__(self, body: str, dequeue_count: int) -> None:
            self.body, self.dequeue_count = body, dequeue_count

        def get_body(self) -> bytes:
            return self.body.encode()

    poison = Queue()
    deps = Deps(settings=None, arm=None, errors=None, publisher=None, dead_letters=poison)  # type: ignore[arg-type]
    monkeypatch.setattr(handlers, "process", hang)
    monkeypatch.setattr(handlers, "WORK_ITEM_DEADLINE_S", 0.3)
    body = WorkItem(op=make_operation(), enqueued_at=datetime.now(UTC)).model_dump_json()
    handlers.set_deps(deps)
    try:
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="deadline"):
            await handlers.on_work_item(Message(body, 1))
        assert time.monotonic() - started < 2
        out = await handlers.on_work_item(Message(body, handlers.MAX_DEQUEUE_COUNT))
    finally:
        handlers.set_deps(None)
    assert out.status == "ignored" and len(poison.messages) == 1
    assert "deadline" in poison.messages[0]["reason"]
