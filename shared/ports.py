"""The small interfaces between the pure core and the I/O edges.

Owns: Protocols and the error types adapters raise. Implementations live in `shared.azure`
(real Azure SDK clients) and `shared.local` (snapshot files, SQLite, in-memory). The core and
the checks import only this module, never an SDK.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from shared.models import FailedOperation, Finding, OperationError
from shared.notify.notice import Notice

# --- ARM reads -------------------------------------------------------------------------------


class ArmError(Exception):
    """A read that failed. `status` is the HTTP status (0 when no response arrived)."""

    def __init__(self, resource_id: str, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code} on {resource_id}: {message[:300]}")
        self.resource_id = resource_id
        self.status = status
        self.code = code
        self.message = message


class ArmNotFound(ArmError):
    """404: the resource does not exist (or the caller cannot see that it does)."""


class ArmForbidden(ArmError):
    """401/403: the app's identity lacks a role; checks turn this into 'cannot check: needs X'."""


class ArmThrottled(ArmError):
    """429 after the capped retries were used up."""


class ArmUnavailable(ArmError):
    """5xx, timeouts, connection failures after retries."""


@runtime_checkable
class ArmReader(Protocol):
    """Read-only view of ARM. Bodies are the JSON ARM returns (camelCase, `properties` nested).

    Implementations cache per run: each (id, api-version) is fetched at most once, and concurrent
    requests for the same id share one in-flight read.
    """

    async def get(self, resource_id: str, api_version: str) -> dict[str, Any]:
        """GET {resource_id}?api-version=. Collections return {"value": [...]} with pages joined."""
        ...

    async def activity_log(
        self, subscription_id: str, *, correlation_id: str | None = None, resource_id: str | None = None,
        start: datetime | None = None, end: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Activity Log events (Microsoft.Insights eventtypes/management/values shape)."""
        ...

    @property
    def reads_made(self) -> int:
        """How many HTTP GETs reached ARM (for benchmarks and the burst ratio)."""
        ...

    def for_run(self) -> ArmReader:
        """One work item's view: each resource read at most once for the item, on top of whatever
        the process shares across items. A reader with nothing to share returns itself."""
        ...


# --- error retrieval -------------------------------------------------------------------------


class ErrorNotYetAvailable(Exception):
    """No source has the error yet (the Activity Log lags 3-20 min); retry the work item later."""

    def __init__(self, tried: Sequence[str]) -> None:
        super().__init__("error not found yet in: " + ", ".join(tried))
        self.tried = tuple(tried)


class ErrorSource(Protocol):
    async def fetch(self, op: FailedOperation, arm: ArmReader | None = None, *, attempt: int = 0) -> OperationError:
        """The operation's error, read through `arm` (the work item's view; default: the source's
        own reader), or ErrorNotYetAvailable. ArmError for hard failures of all sources.

        `attempt` is the work item's retry number (0: the first look; the pipeline passes it only on
        retries, >= 1, when an earlier attempt already found the error in no source): a source may
        then read its sources side by side instead of one after the other."""
        ...


# --- outputs ---------------------------------------------------------------------------------


class SinkError(Exception):
    """A sink could not take the data; `retryable` says whether a retry may help."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class FindingsSink(Protocol):
    async def write(self, rows: Sequence[dict[str, Any]]) -> None:
        """Write finding rows (column names from shared/schema/findings_table.json)."""
        ...


class Notifier(Protocol):
    """A sink for notices (opened / updated / escalated / resolved); it renders them itself."""

    @property
    def name(self) -> str:
        """Short stable name (teams, eventgrid, card_files, log): the delivery record's key."""
        ...

    async def notify(self, notice: Notice) -> None:
        """Deliver one notice, idempotent on `notice.notice_id` where the sink can be; SinkError on failure."""
        ...


class WorkQueue(Protocol):
    async def enqueue(self, message: dict[str, Any], *, delay_s: int = 0) -> None:
        ...


@dataclass(frozen=True)
class StateOp:
    """One operation of a `StateStore.transact` batch (the partition is the batch's).

    create: insert, the row must be absent; upsert: insert or replace; replace: the row must exist
    (and carry `etag`, when given); delete: the row must exist (and carry `etag`, when given).
    """

    kind: Literal["create", "upsert", "replace", "delete"]
    row: str
    entity: Mapping[str, Any] = field(default_factory=dict)
    etag: str | None = None


MAX_TRANSACTION_OPS = 100  # Azure Tables' entity-group transaction limit (and 4 MB of payload)


class StateStore(Protocol):
    """Noise-control state (Azure Table Storage in Azure, SQLite/in-memory offline)."""

    async def get(self, partition: str, row: str) -> dict[str, Any] | None:
        ...

    async def create(self, partition: str, row: str, entity: dict[str, Any]) -> bool:
        """Insert if absent. False when it already exists (the dedup primitive)."""
        ...

    async def upsert(self, partition: str, row: str, entity: dict[str, Any]) -> None:
        ...

    async def query(self, partition: str) -> list[dict[str, Any]]:
        ...

    async def replace_if_match(self, partition: str, row: str, entity: dict[str, Any], etag: str) -> bool:
        """Replace only while `etag` is current. False when the entity changed or is gone."""
        ...

    async def query_range(self, pk_from: str, pk_to: str, rk_from: str = "", rk_to: str | None = None, *,
                          limit: int | None = None) -> list[dict[str, Any]]:
        """Entities with pk_from <= PartitionKey <= pk_to and rk_from <= RowKey <= rk_to (no upper
        bound when rk_to is None), ordered by (PartitionKey, RowKey), each with `_pk` and `_rk`."""
        ...

    async def delete(self, partition: str, row: str, etag: str | None = None) -> bool:
        """Delete (only while `etag` is current, when given). False when absent or changed."""
        ...

    async def transact(self, partition: str, ops: Sequence[StateOp]) -> list[str | None] | None:
        """Apply `ops` (distinct rows of one partition, at most MAX_TRANSACTION_OPS) atomically: all
        or none, in one round trip -> each op's new etag (None for a delete), or None when a
        condition failed (nothing applied). Other failures raise, with nothing applied either."""
        ...


class Clock(Protocol):
    def now(self) -> datetime:
        ...


class FindingWriter(Protocol):
    """What the pipeline hands a finished Finding to (noise control + sinks)."""

    async def publish(self, finding: Finding) -> None:
        ...
