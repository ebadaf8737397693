"""TeamsNotifier (aiohttp) against a local HTTPS receiver (pytest-httpserver with a trustme certificate).

Workflows answers 202; 429 carries Retry-After; 5xx is retried with backoff; other 4xx fail at
once; a legacy connector reports throttling as a 200 with "HTTP error 429" in the body. Posts
never exceed 4 per second, measured on the receiver's clock. The URL (a secret) never reaches logs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from shared.notify.teams import RateLimiter, TeamsNotifier, retry_after_seconds
from shared.ports import SinkError
from shared.render.card import finding_card
from tests.conftest import TlsMaterial
from tests.factories import make_finding

WORKFLOW_PATH = "/workflows/0123abcd/triggers/manual/paths/invoke"
SIG = "sig=SuperSecretSignature0123456789abcdef"
QUERY = f"api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&{SIG}"


class Receiver:
    def __init__(self) -> None:
        self.stamps: list[float] = []
        self.bodies: list[Any] = []
        self.script: list[Response] = []

    def __call__(self, request: Request) -> Response:
        self.stamps.append(time.monotonic())
        self.bodies.append(json.loads(request.get_data()))
        if self.script:
            return self.script.pop(0)
        return Response(status=202)


@pytest.fixture(scope="module")
def server(tls: TlsMaterial) -> Iterator[HTTPServer]:
    srv = HTTPServer(host="127.0.0.1", port=0, ssl_context=tls.server_context)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def receiver(server: HTTPServer) -> Iterator[Receiver]:
    rec = Receiver()
    server.clear()
    server.expect_request(WORKFLOW_PATH, method="POST").respond_with_handler(rec)
    yield rec
    server.clear()


@pytest.fixture
async def client(tls: TlsMaterial) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=tls.ca_file))
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as c:
        yield c


def url(server: HTTPServer) -> SecretStr:
    return SecretStr(f"https://127.0.0.1:{server.port}{WORKFLOW_PATH}?{QUERY}")


def notifier(server: HTTPServer, client: aiohttp.ClientSession, **kw: Any) -> TeamsNotifier:
    kw.setdefault("backoff_base_s", 0.05)
    return TeamsNotifier(url(server), client, **kw)


def card() -> dict[str, Any]:
    return finding_card(make_finding())


async def test_202_is_success(server: HTTPServer, receiver: Receiver, client: aiohttp.ClientSession) -> None:
    n = notifier(server, client)
    await n.send(card())
    assert n.posts == 1 and receiver.bodies[0]["type"] == "message"
    assert receiver.bodies[0]["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"


async def test_200_is_success(server: HTTPServer, receiver: Receiver, client: aiohttp.ClientSession) -> None:
    receiver.script = [Response("1", status=200)]
    await notifier(server, client).send(card())
    assert len(receiver.stamps) == 1


async def test_429_honours_retry_after(server: HTTPServer, receiver: Receiver, client: aiohttp.ClientSession) -> None:
    receiver.script = [Response("slow down", status=429, headers={"Retry-After": "1"})]
    await notifier(server, client).send(card())
    assert len(receiver.stamps) == 2
    assert receiver.stamps[1] - receiver.stamps[0] >= 0.95


async def test_retry_after_is_capped(server: HTTPServer, receiver: Receiver, client: aiohttp.ClientSession) -> None:
    receiver.script = [Response("slow down", status=429, headers={"Retry-After": "3600"})]
    t0 = time.monotonic()
    await notifier(server, client, retry_after_cap_s=0.3).send(card())
    assert len(receiver.stamps) == 2 and time.monotonic() - t0 < 3


async def test_legacy_throttle_in_200_body_is_a_429(server: HTTPServer, receiver: Receiver,
                                                    client: aiohttp.ClientSession) -> None:
    receiver.script = [Response("Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0", status=200)]
    await notifier(server, client).send(card())
    assert len(receiver.stamps) == 2


async def test_500_is_retried_with_backoff(server: HTTPServer, receiver: Receiver,
                                           client: aiohttp.ClientSession) -> None:
    receiver.script = [Response("oops", status=500), Response("oops", status=502)]
    await notifier(server, client, backoff_base_s=0.2).send(card())
    assert len(receiver.stamps) == 3
    gaps = [b - a for a, b in zip(receiver.stamps, receiver.stamps[1:], strict=False)]
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19  # 0.2 * 2^attempt with jitter in [0.5, 1)


async def test_500_forever_gives_a_retryable_error(server: HTTPServer, receiver: Receiver,
                                                   client: aiohttp.ClientSession) -> None:
    receiver.script = [Response("oops", status=500) for _ in range(3)]
    with pytest.raises(SinkError) as info:
        await notifier(server, client, retries=2).send(card())
    assert info.value.retryable is True and "HTTP 500" in str(info.value)
    assert len(receiver.stamps) == 3


async def test_400_fails_at_once(server: HTTPServer, receiver: Receiver, client: aiohttp.ClientSession) -> None:
    receiver.script = [Response('{"error":{"code":"InvalidRequestContent"}}', status=400)]
    with pytest.raises(SinkError) as info:
        await notifier(server, client).send(card())
    assert info.value.retryable is False and len(receiver.stamps) == 1


async def test_oversized_card_is_refused_before_posting(server: HTTPServer, receiver: Receiver,
                                                        client: aiohttp.ClientSession) -> None:
    big = card()
    big["attachments"][0]["content"]["body"].append({"type": "TextBlock", "text": "z" * 30_000})
    with pytest.raises(SinkError) as info:
        await notifier(server, client).send(big)
    assert info.value.retryable is False and receiver.stamps == []


async def test_never_more_than_4_posts_per_second(server: HTTPServer, receiver: Receiver,
                                                  client: aiohttp.ClientSession) -> None:
    n = notifier(server, client, max_per_second=4)
    t0 = time.monotonic()
    await asyncio.gather(*(n.send(card()) for _ in range(12)))
    elapsed = time.monotonic() - t0
    stamps = sorted(receiver.stamps)
    assert len(stamps) == 12
    worst = max(sum(1 for s in stamps if start <= s < start + 1.0) for start in stamps)
    assert worst <= 4, f"{worst} posts within one second"
    assert 1.9 <= elapsed < 6  # 12 posts at 4/s: the 9th cannot start before t0 + 2 s


async def test_rate_limiter_with_fake_time() -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(d: float) -> None:
        slept.append(d)
        now[0] += d

    limiter = RateLimiter(4, monotonic=lambda: now[0], sleep=sleep)
    grants = []
    for _ in range(9):
        await limiter.acquire()
        grants.append(now[0])
        limiter.release()  # an instant request: its slot counts for one period after it
    assert grants[:4] == [0.0] * 4 and 1.0 <= grants[4] < 1.01 and 2.0 <= grants[8] < 2.02


def test_retry_after_parsing() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Sat, 21 Nov 2026 12:00:05 GMT", now) == 5.0
    assert retry_after_seconds("garbage") is None and retry_after_seconds(None) is None


@pytest.mark.security
async def test_webhook_url_never_logged(server: HTTPServer, receiver: Receiver, client: aiohttp.ClientSession,
                                        caplog: pytest.LogCaptureFixture) -> None:
    receiver.script = [Response("oops", status=500), Response("nope", status=404)]
    n = notifier(server, client)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(SinkError) as info:
            await n.send(card())
        logging.getLogger("test").info("posting to %s", url(server).get_secret_value())
    text = caplog.text + str(info.value) + repr(n)
    leaks = [line for line in text.splitlines() if "SuperSecretSignature" in line]
    assert leaks == []
    assert "HTTP Request" in caplog.text or "retry" in caplog.text  # the log lines exist, redacted


async def test_connection_refused_is_retryable_and_hides_the_url(client: aiohttp.ClientSession) -> None:
    from tests.azurite_support import free_port

    n = TeamsNotifier(SecretStr(f"https://127.0.0.1:{free_port()}{WORKFLOW_PATH}?{QUERY}"), client, retries=1,
                      backoff_base_s=0.01)
    with pytest.raises(SinkError) as info:
        await n.send(card())
    assert info.value.retryable is True and "SuperSecret" not in str(info.value)
    assert "127.0.0.1" not in str(info.value)


def test_http_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError) as info:
        TeamsNotifier(SecretStr("http://example.invalid/hook?sig=abc"))
    assert "sig=abc" not in str(info.value)


async def test_own_session_verifies_against_the_given_ca_and_closes(server: HTTPServer, receiver: Receiver,
                                                                    tls: TlsMaterial) -> None:
    """Without a session handed in, the notifier builds its own (in the running loop) and closes it."""
    n = TeamsNotifier(url(server), ssl=ssl.create_default_context(cafile=tls.ca_file))
    await n.send(card())
    assert len(receiver.stamps) == 1
    await n.aclose()
    untrusted = TeamsNotifier(url(server), retries=0)  # the default store does not know the test CA
    with pytest.raises(SinkError) as info:
        await untrusted.send(card())
    assert info.value.retryable is True and "Certificate" in str(info.value)
    await untrusted.aclose()


async def test_total_deadline_bounds_a_hanging_endpoint(server: HTTPServer, client: aiohttp.ClientSession) -> None:
    """An endpoint that never answers in time: notify() gives up at its deadline, retryable."""
    server.clear()

    def slow(request: Request) -> Response:
        time.sleep(1.5)
        return Response(status=202)

    server.expect_request(WORKFLOW_PATH, method="POST").respond_with_handler(slow)
    n = notifier(server, client, deadline_s=0.4)
    from shared.notify.notice import Notice, NoticeItem, notice_id

    f = make_finding()
    notice = Notice(kind="opened", notice_id=notice_id("opened", "evt-deadline"), at=f.diagnosed_at,
                    cluster_id=f.operation.cluster_id, cluster_name=f.operation.cluster_name, window_min=60,
                    items=(NoticeItem(error_code=f.classification.code, finding=f, first_seen=f.diagnosed_at,
                                      occurrences=1, total=1),))
    t0 = time.monotonic()
    with pytest.raises(SinkError) as info:
        await n.notify(notice)
    assert info.value.retryable is True and "within" in str(info.value)
    assert time.monotonic() - t0 < 1.2
    server.clear()


def test_the_notifier_imports_no_second_http_stack() -> None:
    """aiohttp only (the Azure SDK async clients' stack): no httpx / requests in a fresh process."""
    import subprocess
    import sys

    code = ("import sys, shared.notify.teams; "
            "print(sorted(m for m in ('httpx', 'httpcore', 'anyio', 'requests', 'urllib3') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
