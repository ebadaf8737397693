"""Notifier: post Teams messages (Adaptive Cards) to a Teams Workflows (Power Automate) webhook.

Owns the delivery rules:
- 200 and 202 are success (Workflows answers 202 Accepted; legacy connectors 200 "1").
- A legacy connector that is throttled answers 200 with "Microsoft Teams endpoint returned HTTP
  error 429" in the body: treated as 429.
- 429: wait `Retry-After` (seconds or HTTP date), capped; 5xx/408 and transport errors:
  exponential backoff with jitter, capped. Then give up with SinkError(retryable=True).
- Other 4xx: SinkError(retryable=False) at once (bad card, revoked or wrong URL).
- Never more than `max_per_second` posts in any one-second window (4/s, the Teams webhook
  limit), across all concurrent senders of this notifier (per process).
- At most 28 KB per message, measured on the exact bytes posted.
- The URL is a secret (its `sig=` grants posting): it is held as SecretStr, never logged and never
  put into exception messages; the process-wide redaction filter is told about it.
- HTTP over aiohttp, the stack the Azure SDK async clients already load (one HTTP stack per app).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
from pydantic import SecretStr

from shared.notify.cards import teams_message
from shared.notify.notice import Notice
from shared.ports import SinkError
from shared.redact import install_redaction, redact
from shared.render.card import MAX_CARD_BYTES, PORTAL_BASE, encode_message

log = logging.getLogger(__name__)

LEGACY_THROTTLE_MARKER = "HTTP error 429"
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class RateLimiter:
    """At most `rate` requests per `period` as the *receiver* sees them, across concurrent tasks.

    Spacing request starts is not enough: TLS handshakes and server queues bunch arrivals up. So a
    slot is held from the start of a request until `period` after it completes; with `capacity`
    slots, any window of `period` seconds can contain at most `capacity` arrivals. Call
    `acquire()` before the request and `release()` after it (whatever its outcome).
    """

    def __init__(self, rate: float, period: float = 1.0, *, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, poll_s: float = 0.01) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.capacity = max(1, int(rate * period))
        self.period = self.capacity / rate  # e.g. 4/s -> 4 per 1.0 s; 0.5/s -> 1 per 2.0 s
        self._in_flight = 0
        self._cooling: deque[float] = deque()  # when finished requests stop counting (ascending)
        self._lock = asyncio.Lock()  # waiters are served in arrival order
        self._monotonic = monotonic
        self._sleep = sleep
        self._poll = poll_s

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self._monotonic()
                while self._cooling and self._cooling[0] <= now:
                    self._cooling.popleft()
                if self._in_flight + len(self._cooling) < self.capacity:
                    self._in_flight += 1
                    return
                wait = self._cooling[0] - now if self._cooling else self._poll
                await self._sleep(max(0.001, wait))

    def release(self) -> None:
        self._in_flight = max(0, self._in_flight - 1)
        self._cooling.append(self._monotonic() + self.period)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


# Transport failures worth a retry: refused / reset / TLS / DNS, timeouts, a body cut short.
_TRANSPORT_ERRORS = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError)
MAX_BODY_READ = 4096  # bytes of an answer we read (a status line's worth of text for the error)


class TeamsNotifier:
    """Notifier over aiohttp: renders each notice as a card and posts it. Pass `client` (an
    aiohttp.ClientSession) to share a connection pool (the caller then closes it), or `ssl` to
    verify against another CA. `deadline_s` bounds one post with its retries in total (`timeout_s`
    bounds a connect and each read: a trickling answer could otherwise take minutes)."""

    name = "teams"

    def __init__(self, url: SecretStr, client: aiohttp.ClientSession | None = None, *, max_per_second: float = 4.0,
                 retries: int = 4, backoff_base_s: float = 1.0, backoff_max_s: float = 20.0,
                 retry_after_cap_s: float = 30.0, timeout_s: float = 15.0, deadline_s: float = 8.0,
                 portal_base: str = PORTAL_BASE, workbook_url: str | None = None, ssl: Any = True,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        secret = url.get_secret_value().strip()
        if not secret.lower().startswith("https://"):
            raise ValueError("the Teams webhook URL must be an https URL")  # never echo the value
        install_redaction(secret)
        self._url = SecretStr(secret)
        self._post: _Poster | None = None
        if client is not None:
            if not isinstance(client, aiohttp.ClientSession):
                raise TypeError("client must be an aiohttp.ClientSession")
            self._post = _AiohttpPoster(client)
        self._own_client = client is None
        self._ssl = ssl
        self._limiter = RateLimiter(max_per_second, sleep=sleep)
        self._retries = retries
        self._backoff_base = backoff_base_s
        self._backoff_max = backoff_max_s
        self._retry_after_cap = retry_after_cap_s
        self._timeout = timeout_s
        self._sleep = sleep
        self._deadline = deadline_s
        self.portal_base = portal_base
        self.workbook_url = workbook_url
        self.posts = 0  # HTTP requests made (tests and metrics)

    def __repr__(self) -> str:
        return "TeamsNotifier(url=**********)"

    def _http(self) -> _Poster:
        if self._post is None:  # built inside the running loop, on the first post
            timeout = aiohttp.ClientTimeout(total=None, connect=self._timeout, sock_read=self._timeout)
            session = aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(ssl=self._ssl))
            self._post = _AiohttpPoster(session)
        return self._post

    async def aclose(self) -> None:
        if self._own_client and self._post is not None:
            await self._post.close()
            self._post = None

    def _backoff(self, attempt: int) -> float:
        delay = min(self._backoff_max, self._backoff_base * (2 ** attempt))
        return float(delay * (0.5 + random.random() / 2))  # noqa: S311 - jitter, not crypto

    async def notify(self, notice: Notice) -> None:
        message = teams_message(notice, portal_base=self.portal_base, workbook_url=self.workbook_url)
        try:
            async with asyncio.timeout(self._deadline):
                await self.send(message)
        except TimeoutError:
            raise SinkError(f"Teams webhook: no answer within {self._deadline:.0f} s", retryable=True) from None

    async def send(self, card_message: dict[str, Any]) -> None:
        body = encode_message(card_message)
        if len(body) > MAX_CARD_BYTES:
            raise SinkError(f"card is {len(body)} bytes, over the {MAX_CARD_BYTES}-byte Teams limit",
                            retryable=False)
        last = "no attempt made"
        for attempt in range(self._retries + 1):
            await self._limiter.acquire()
            self.posts += 1
            try:
                status, text, retry_after = await self._http().post(self._url.get_secret_value(), body)
            except _HttpError as err:
                if err.retryable:
                    # The text of client errors can contain the URL: report the type only, never chain it.
                    last = f"transport error {err.kind}"
                    delay = self._backoff(attempt)
                else:
                    raise SinkError(f"Teams webhook: {err.kind}", retryable=False) from None
            else:
                if status in (200, 202) and LEGACY_THROTTLE_MARKER not in text:
                    return
                if status in (200, 202):
                    status = 429  # legacy connector throttling reported in a 200 body
                if status not in RETRYABLE_STATUS:
                    # The endpoint may echo the request URL (with its sig=) in the body: redact it
                    # here, since exception text ends up in findings notes and host logs.
                    raise SinkError(f"Teams webhook rejected the card: HTTP {status}: {redact(text[:200])}",
                                    retryable=False)
                last = f"HTTP {status}"
                delay = self._backoff(attempt)
                if status == 429:
                    after = retry_after_seconds(retry_after)
                    if after is not None:
                        delay = min(after, self._retry_after_cap)
            finally:
                self._limiter.release()
            if attempt < self._retries:
                log.warning("Teams webhook: %s, retry %d/%d in %.1fs", last, attempt + 1, self._retries, delay)
                await self._sleep(delay)
        raise SinkError(f"Teams webhook failed after {self._retries + 1} attempts: {last}", retryable=True)


class _HttpError(Exception):
    """A post that got no HTTP answer: `kind` is the client's exception type name (never its text)."""

    def __init__(self, kind: str, retryable: bool) -> None:
        super().__init__(kind)
        self.kind = kind
        self.retryable = retryable


class _Poster:
    """POST JSON bytes -> (status, body text (up to 500 characters, none for 202), Retry-After)."""

    async def post(self, url: str, body: bytes) -> tuple[int, str, str | None]:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class _AiohttpPoster(_Poster):
    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def post(self, url: str, body: bytes) -> tuple[int, str, str | None]:
        try:
            async with self.session.post(url, data=body, headers={"Content-Type": "application/json"},
                                         allow_redirects=False) as resp:
                text = "" if resp.status == 202 else (await resp.content.read(MAX_BODY_READ)).decode(
                    "utf-8", "replace")[:500]
                return resp.status, text, resp.headers.get("Retry-After")
        except _TRANSPORT_ERRORS as err:
            raise _HttpError(type(err).__name__, retryable=True) from None
        except aiohttp.ClientError as err:
            raise _HttpError(type(err).__name__, retryable=False) from None

    async def close(self) -> None:
        await self.session.close()


class LogOnlyNotifier:
    """Notifier used when no other sink is configured: one log line per notice."""

    name = "log"

    def __init__(self) -> None:
        self.sent: list[Notice] = []

    async def notify(self, notice: Notice) -> None:
        self.sent.append(notice)
        codes = ", ".join(i.error_code for i in notice.items)
        f = notice.finding
        log.info("notice %s %s: %s %s%s", notice.notice_id[:12], notice.kind, notice.cluster_name[:80], codes[:200],
                 f" ({f.summary[:200]})" if f is not None and notice.kind != "resolved" else "")
