"""FindingsSink over the Azure Monitor Logs Ingestion API (DCE/DCR -> AKSTriageFindings_CL).

Owns: uploading finding rows with the async `LogsIngestionClient` (managed identity, token scope
https://monitor.azure.com/.default). The SDK gzips and splits at 1 MiB uncompressed, so each
request stays under the service's 1 MB limit; rows are cut to 64 KB per field upstream
(shared.render.rows). `on_error` collects every failed chunk, so one bad chunk does not stop the
others (without it the SDK raises on the first failure and silently skips the rest); afterwards a
SinkError says how many rows failed and whether a retry can help (429/5xx/network: yes;
400/401/403/404/413: no). azure-core retries 408/429/5xx itself first, with `Retry-After` capped
here so a long throttle cannot hold a Function for minutes.

Deadlines: azure-core's transport read timeout (300 s by default) restarts with every chunk, so a
trickling answer could hold an upload for minutes. Each `write` has a total deadline
(`DEADLINE_S`, retries included), the transport a short per-read and connect timeout, and the
retry policy the same overall timeout. A write cut by the deadline raises a retryable
IngestionError naming all rows: the work item is retried later, never dropped.

Group commit: writes that arrive while a request is in flight (concurrent work items of one
process: host.json batchSize) go together in the next request, up to `batch_bytes`; an idle sink
sends at once, so nothing waits for company. A failed request fails every write that was in it
(each with its own rows in `failed_rows`; the queue retries each work item); a write whose rows all
sat in chunks that were accepted succeeds. A write cancelled before its request left is dropped
from the queue. A write queued behind a stalled request can wait that request's deadline too:
the caller's own deadline (noise control: a third of its lease) still bounds it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.ports import SinkError

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

    from shared.settings import Settings

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# Total time one write may take, retries included. Below noise control's per-call deadline (a third
# of its 25 s lease), so the publisher's lease always outlives a write.
DEADLINE_S = 8.0
READ_TIMEOUT_S = 5.0  # per read of the transport (restarts with every chunk: the total is DEADLINE_S)
CONNECT_TIMEOUT_S = 3.0
# Concurrent writes share one request up to this much JSON (the SDK's own chunk, 1 MiB
# uncompressed, so a shared request is one call of the API's 1 MB: accepted or failed as a whole).
BATCH_BYTES = 1_048_576


class IngestionError(SinkError):
    """Some rows were not accepted. `failed_rows` are exactly those rows (for a targeted retry)."""

    def __init__(self, message: str, *, retryable: bool, failed_rows: list[dict[str, Any]],
                 statuses: tuple[int, ...]) -> None:
        super().__init__(message, retryable=retryable)
        self.failed_rows = failed_rows
        self.statuses = statuses


def _capped_retry_policy(retry_total: int, retry_after_cap_s: float, backoff_max_s: float,
                         timeout_s: float) -> Any:
    from azure.core.pipeline.policies import AsyncRetryPolicy

    class CappedRetryPolicy(AsyncRetryPolicy):  # type: ignore[type-arg]
        """azure-core honours Retry-After without a ceiling; a Function cannot wait that long."""

        def get_retry_after(self, response: Any) -> float | None:
            value = super().get_retry_after(response)
            return None if value is None else min(float(value), retry_after_cap_s)

    return CappedRetryPolicy(retry_total=retry_total, retry_backoff_max=backoff_max_s, timeout=timeout_s)


class LogsIngestionSink:
    """FindingsSink writing rows to a DCR stream. Create once per process; `close()` at shutdown."""

    def __init__(self, endpoint: str, rule_id: str, stream: str, credential: AsyncTokenCredential, *,
                 connection_verify: str | bool | None = None, retry_total: int = 3,
                 retry_after_cap_s: float = 4.0, backoff_max_s: float = 4.0, deadline_s: float = DEADLINE_S,
                 read_timeout_s: float = READ_TIMEOUT_S, connect_timeout_s: float = CONNECT_TIMEOUT_S,
                 batch_bytes: int = BATCH_BYTES, **client_kwargs: Any) -> None:
        from azure.monitor.ingestion.aio import LogsIngestionClient

        if not endpoint.lower().startswith("https://"):
            raise ValueError("the Logs Ingestion endpoint must be https (bearer tokens are never sent in clear)")
        if not 0 < deadline_s <= 60:
            raise ValueError("deadline_s must be in (0, 60]: one write must stay well inside the function timeout")
        kwargs: dict[str, Any] = {"read_timeout": min(read_timeout_s, deadline_s),
                                  "connection_timeout": min(connect_timeout_s, deadline_s), **client_kwargs}
        if "transport" not in kwargs:
            from shared.azure.arm import quiet_transport

            timeouts = {k: kwargs.pop(k) for k in ("read_timeout", "connection_timeout")}
            verify = kwargs.pop("connection_verify", True) if connection_verify is None else connection_verify
            kwargs.update(quiet_transport(endpoint, verify, **timeouts))
        elif connection_verify is not None:
            kwargs["connection_verify"] = connection_verify
        self.rule_id = rule_id
        self.stream = stream
        self.deadline_s = deadline_s
        self.batch_bytes = batch_bytes
        self._queue: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None
        self._client = LogsIngestionClient(
            endpoint=endpoint, credential=credential,
            retry_policy=_capped_retry_policy(retry_total, retry_after_cap_s, backoff_max_s, deadline_s), **kwargs)

    async def close(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> LogsIngestionSink:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def write(self, rows: Sequence[dict[str, Any]]) -> None:
        """Upload `rows`; concurrent writers share requests (group commit, see the module doc).
        Raises IngestionError naming exactly this call's rows that failed."""
        if not rows:
            return
        loop = asyncio.get_running_loop()
        mine = _Pending(list(rows), sum(_json_bytes(r) for r in rows), loop.create_future())
        if self._flusher is None or self._flusher.done() or self._flusher.get_loop() is not loop:
            self._queue = [p for p in self._queue if p.done.get_loop() is loop]  # left by a closed loop
            self._queue.append(mine)
            self._flusher = loop.create_task(self._drain())
        else:
            self._queue.append(mine)  # a request is in flight: this goes in the next one
        try:
            await mine.done
        except asyncio.CancelledError:
            if mine in self._queue:  # not sent yet: it never will be
                self._queue.remove(mine)
            raise

    async def _drain(self) -> None:
        """Send what is queued, one request at a time, each taking every waiting write that fits."""
        while self._queue:
            batch = [self._queue.pop(0)]
            size = batch[0].size
            while self._queue and size + self._queue[0].size <= self.batch_bytes:
                size += self._queue[0].size
                batch.append(self._queue.pop(0))
            live = [p for p in batch if not p.done.done()]
            if not live:
                continue
            sent = [r for p in live for r in p.rows]
            try:
                failures = await self._upload(sent)
            except BaseException as err:  # every writer in the request learns why
                for p in live:
                    if p.done.done():
                        continue
                    if isinstance(err, asyncio.CancelledError):
                        p.done.cancel()
                    else:
                        p.done.set_exception(_for_rows(err, p.rows, len(sent)))
                if not isinstance(err, Exception):
                    raise
                continue
            for p in live:
                if not p.done.done():
                    failed = self._failure(p.rows, failures)
                    if failed is None:
                        p.done.set_result(None)
                    else:
                        p.done.set_exception(failed)

    async def _upload(self, rows: list[dict[str, Any]]) -> list[Any]:
        """One upload (the SDK splits at 1 MiB) -> the failed chunks (LogsUploadError: .error, .failed_logs)."""
        failures: list[Any] = []

        async def on_error(error: Any) -> None:
            failures.append(error)

        try:
            async with asyncio.timeout(self.deadline_s):
                await self._client.upload(rule_id=self.rule_id, stream_name=self.stream, logs=list(rows),
                                          on_error=on_error)
        except TimeoutError as err:
            message = (f"Logs Ingestion: no complete answer within {self.deadline_s:g} s; "
                       f"{len(rows)} rows kept for retry")
            log.error("%s", message)
            # Whether the service kept any of them is unknown: all rows are retried (at-least-once).
            raise IngestionError(message, retryable=True, failed_rows=[dict(r) for r in rows], statuses=()) from err
        except (ValueError, TypeError) as err:  # rows the SDK cannot serialise: a bug, not an outage
            raise SinkError(f"Logs Ingestion rejected the rows before sending: {err}", retryable=False) from err
        return failures

    @staticmethod
    def _failure(rows: list[dict[str, Any]], failures: list[Any]) -> IngestionError | None:
        """The error for one writer's rows: the chunks holding any of them failed -> those rows."""
        from azure.core.exceptions import HttpResponseError

        ids = {id(r) for r in rows}
        failed_rows: list[dict[str, Any]] = []
        statuses: list[int] = []
        reasons: list[str] = []
        retryable = True
        chunks = 0
        for failure in failures:
            hit = [r for r in failure.failed_logs if id(r) in ids]
            if not hit:
                continue
            chunks += 1
            failed_rows.extend(dict(r) for r in hit)
            cause = failure.error
            status = int(getattr(cause, "status_code", 0) or 0) if isinstance(cause, HttpResponseError) else 0
            statuses.append(status)
            code = getattr(getattr(cause, "error", None), "code", None) or type(cause).__name__
            reasons.append(f"{status or 'no response'} {code}")
            if status and status not in RETRYABLE_STATUS:
                retryable = False
        if not failed_rows:
            return None
        message = (f"Logs Ingestion: {len(failed_rows)} of {len(rows)} rows failed in {chunks} "
                   f"chunk(s): {', '.join(sorted(set(reasons)))}")
        log.error("%s (retryable=%s)", message, retryable)
        return IngestionError(message, retryable=retryable, failed_rows=failed_rows, statuses=tuple(statuses))


@dataclass(eq=False)
class _Pending:
    rows: list[dict[str, Any]]
    size: int
    done: asyncio.Future[None]


def _json_bytes(row: dict[str, Any]) -> int:
    return len(json.dumps(row, default=str).encode("utf-8"))


def _for_rows(err: BaseException, rows: list[dict[str, Any]], sent: int) -> BaseException:
    """A whole request's failure as one writer's: an IngestionError names that writer's rows."""
    if sent == len(rows):  # the request was this write's alone
        return err
    if isinstance(err, IngestionError):
        return IngestionError(f"{err} (a shared request of {sent} rows; {len(rows)} of them this write's)",
                              retryable=bool(err.retryable), failed_rows=[dict(r) for r in rows],
                              statuses=err.statuses)
    if isinstance(err, SinkError):
        return SinkError(str(err), retryable=err.retryable)
    if isinstance(err, Exception):
        return SinkError(f"Logs Ingestion: {type(err).__name__}: {str(err)[:300]}", retryable=True)
    return err


def build_ingestion_sink(settings: Settings, credential: AsyncTokenCredential | None = None) -> LogsIngestionSink:
    """The production sink from settings (DCE endpoint, DCR immutable id, stream)."""
    if not settings.logs_ingestion_endpoint or not settings.dcr_immutable_id:
        raise ValueError("AKS_TRIAGE_LOGS_INGESTION_ENDPOINT and AKS_TRIAGE_DCR_IMMUTABLE_ID must both be set")
    if credential is None:
        from shared.azure.credentials import make_async_credential

        credential = make_async_credential()
    return LogsIngestionSink(settings.logs_ingestion_endpoint, settings.dcr_immutable_id, settings.dcr_stream,
                             credential)
