"""StateStore over Azure Table Storage (noise-control state; Azurite in tests).

Owns: mapping the StateStore port onto one table. `create` is insert-if-absent (the service
answers 409 -> ResourceExistsError -> False: the dedup primitive, atomic across instances);
`get`/`query` return plain dicts carrying the entity's `_etag`; `replace_if_match` is an
If-Match replace (412 -> ResourceModifiedError -> False) for optimistic concurrency on groups.
`transact` is an entity-group transaction (one partition, up to 100 operations, one request,
atomic) answering the new etags; a failed condition (409 exists / 412 etag / 404 absent) -> None,
nothing applied.
Values must be str / bool / int (32-bit) / float; None values are dropped (Tables has no null).
Other service errors propagate unchanged: noise control treats them as "state store down".
`pack_finding` fits a finding into one string property (32K UTF-16 characters).

Deadlines: every call has a total deadline (`CALL_DEADLINE_S`, the SDK's own retries included);
the transport a short per-read/connect timeout and a bounded retry count. A call cut by its
deadline raises TimeoutError, which noise control reports as StateDown: the work item is retried
later, nothing is written ungrouped and nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from shared.models import Finding
from shared.ports import MAX_TRANSACTION_OPS, StateOp

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

    from shared.settings import Settings

ETAG = "_etag"
PK = "_pk"  # the keys, on entities returned by query_range
RK = "_rk"
# One Table call, SDK retries included. Below noise control's per-call deadline (a third of its
# 25 s lease), so a publish never outlives its lease on a slow store.
CALL_DEADLINE_S = 6.0
READ_TIMEOUT_S = 4.0
CONNECT_TIMEOUT_S = 3.0
RETRY_TOTAL = 3
_KEYS = ("PartitionKey", "RowKey")
T = TypeVar("T")
STORED_FINDING_CHARS = 30_000  # Table string properties hold 32K UTF-16 characters
# What a failed condition inside a transaction answers: nothing was applied, the caller re-reads.
CONDITION_CODES = frozenset({"EntityAlreadyExists", "UpdateConditionNotSatisfied", "ResourceNotFound"})
CONDITION_STATUS = frozenset({404, 409, 412})


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def pack_finding(f: Finding) -> str:
    """The finding as JSON small enough for one Table property (evidence, then checks, dropped first)."""
    variants = (
        f,
        f.model_copy(update={"checks": tuple(c.model_copy(update={"evidence": c.evidence[:3]}) for c in f.checks)}),
        f.model_copy(update={"checks": tuple(c.model_copy(update={"evidence": ()}) for c in f.checks)}),
        f.model_copy(update={"checks": (), "error": f.error.model_copy(
            update={"message": f.error.message[:2000], "details": ()})}),
    )
    for variant in variants:
        text = variant.model_dump_json()
        if _utf16_len(text) <= STORED_FINDING_CHARS:
            return text
    slim = f.model_copy(update={
        "checks": (), "summary": f.summary[:2000], "remediation": (f.remediation or "")[:2000] or None,
        "error": f.error.model_copy(update={"message": f.error.message[:500], "details": ()}),
        "notes": (), "docs": f.docs[:5],
    })
    return slim.model_dump_json()


def _entity(partition: str, row: str, values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"PartitionKey": partition, "RowKey": row}
    for k, v in values.items():
        if k in (ETAG, PK, RK) or k in _KEYS or v is None:
            continue
        out[k] = v
    return out


def _plain(entity: Any) -> dict[str, Any]:
    out = {k: v for k, v in dict(entity).items() if k not in _KEYS}
    etag = getattr(entity, "metadata", {}).get("etag")
    if etag:
        out[ETAG] = etag
    return out


def table_endpoint(account_url: str) -> str:
    """A table endpoint from any of the account's service URLs (queue/blob -> table)."""
    url = account_url.rstrip("/")
    for service in (".queue.", ".blob.", ".dfs.", ".file."):
        if service in url:
            return url.replace(service, ".table.", 1)
    return url


class TableStateStore:
    """`account` is a connection string (Azurite, local) or a table endpoint URL (managed identity)."""

    def __init__(self, account: str, table_name: str, credential: AsyncTokenCredential | None = None, *,
                 deadline_s: float = CALL_DEADLINE_S, **client_kwargs: Any) -> None:
        from azure.data.tables.aio import TableClient

        if not 0 < deadline_s <= 30:
            raise ValueError("deadline_s must be in (0, 30]")
        self.deadline_s = deadline_s
        client_kwargs = {"read_timeout": min(READ_TIMEOUT_S, deadline_s),
                         "connection_timeout": min(CONNECT_TIMEOUT_S, deadline_s),
                         "retry_total": RETRY_TOTAL, "retry_backoff_max": 2, **client_kwargs}

        local = "AccountName=" in account or "UseDevelopmentStorage" in account
        if "transport" not in client_kwargs:
            from shared.azure.arm import quiet_transport

            timeouts = {k: client_kwargs.pop(k) for k in ("read_timeout", "connection_timeout") if k in client_kwargs}
            client_kwargs.update(quiet_transport(None if local else table_endpoint(account),
                                                 client_kwargs.pop("connection_verify", True), **timeouts))
        if local:
            self._client = TableClient.from_connection_string(account, table_name, **client_kwargs)
        else:
            if credential is None:
                raise ValueError("a table endpoint URL needs a credential")
            self._client = TableClient(table_endpoint(account), table_name, credential=credential, **client_kwargs)
        self.table_name = table_name
        self._ready = False
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        await self._client.close()

    async def _ensure(self) -> None:
        if self._ready:
            return
        from azure.core.exceptions import ResourceExistsError

        async with self._lock:
            if not self._ready:
                with contextlib.suppress(ResourceExistsError):
                    await self._client.create_table()
                self._ready = True

    async def _bounded(self, call: Callable[[], Awaitable[T]]) -> T:
        """One call (the table's creation on first use included) within the total deadline."""
        async with asyncio.timeout(self.deadline_s):
            await self._ensure()
            return await call()

    async def get(self, partition: str, row: str) -> dict[str, Any] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return _plain(await self._bounded(lambda: self._client.get_entity(partition, row)))
        except ResourceNotFoundError:
            return None

    async def create(self, partition: str, row: str, entity: dict[str, Any]) -> bool:
        from azure.core.exceptions import ResourceExistsError

        try:
            await self._bounded(lambda: self._client.create_entity(_entity(partition, row, entity)))
        except ResourceExistsError:
            return False
        return True

    async def upsert(self, partition: str, row: str, entity: dict[str, Any]) -> None:
        from azure.data.tables import UpdateMode

        await self._bounded(lambda: self._client.upsert_entity(_entity(partition, row, entity),
                                                               mode=UpdateMode.REPLACE))

    async def replace_if_match(self, partition: str, row: str, entity: dict[str, Any], etag: str) -> bool:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        try:
            await self._bounded(lambda: self._client.update_entity(
                _entity(partition, row, entity), mode=UpdateMode.REPLACE, etag=etag,
                match_condition=MatchConditions.IfNotModified))
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        return True

    async def query(self, partition: str) -> list[dict[str, Any]]:
        async def read() -> list[dict[str, Any]]:
            pages = self._client.query_entities("PartitionKey eq @pk", parameters={"pk": partition})
            return [_plain(e) async for e in pages]

        return await self._bounded(read)

    async def query_range(self, pk_from: str, pk_to: str, rk_from: str = "", rk_to: str | None = None, *,
                          limit: int | None = None) -> list[dict[str, Any]]:
        """A key range (the table's index: PartitionKey, RowKey), entities with `_pk`/`_rk`."""
        params: dict[str, Any] = {"pf": pk_from, "rf": rk_from}
        if pk_from == pk_to:
            # The range-query form the Table service documents (one partition, a RowKey range):
            # served from the index whatever the table's size.
            text = "PartitionKey eq @pf and RowKey ge @rf"
        else:
            text = "PartitionKey ge @pf and PartitionKey le @pt and RowKey ge @rf"
            params["pt"] = pk_to
        if rk_to is not None:
            text += " and RowKey le @rt"
            params["rt"] = rk_to

        async def read() -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            pages = self._client.query_entities(text, parameters=params,
                                                results_per_page=min(limit or 1000, 1000))
            async for e in pages:
                out.append({**_plain(e), PK: e["PartitionKey"], RK: e["RowKey"]})
                if limit is not None and len(out) >= limit:
                    break
            return out

        return await self._bounded(read)

    async def delete(self, partition: str, row: str, etag: str | None = None) -> bool:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        kwargs: dict[str, Any] = {}
        if etag is not None:
            kwargs = {"etag": etag, "match_condition": MatchConditions.IfNotModified}
        try:
            await self._bounded(lambda: self._client.delete_entity(partition, row, **kwargs))
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        return True

    async def transact(self, partition: str, ops: Sequence[StateOp]) -> list[str | None] | None:
        """One entity-group transaction: every op or none (Azure Tables' batch, one request) -> the
        new etags, or None when a condition failed."""
        from azure.core import MatchConditions
        from azure.data.tables import TableTransactionError, UpdateMode

        if not ops:
            return []
        if len(ops) > MAX_TRANSACTION_OPS or len({op.row for op in ops}) != len(ops):
            raise ValueError(f"a transaction takes at most {MAX_TRANSACTION_OPS} operations on distinct rows")
        batch: list[Any] = []
        for op in ops:
            entity = _entity(partition, op.row, dict(op.entity))
            cond: dict[str, Any] = {}
            if op.etag is not None:
                cond = {"etag": op.etag, "match_condition": MatchConditions.IfNotModified}
            if op.kind == "create":
                batch.append(("create", entity))
            elif op.kind == "upsert":
                batch.append(("upsert", entity, {"mode": UpdateMode.REPLACE}))
            elif op.kind == "replace":
                batch.append(("update", entity, {"mode": UpdateMode.REPLACE, **cond}))
            else:
                batch.append(("delete", {"PartitionKey": partition, "RowKey": op.row}, cond))
        try:
            answers = await self._bounded(lambda: self._client.submit_transaction(batch))
        except TableTransactionError as err:
            if str(getattr(err, "error_code", "") or "") in CONDITION_CODES or err.status_code in CONDITION_STATUS:
                return None
            raise
        return [None if op.kind == "delete" else (dict(a).get("etag") or None)
                for op, a in zip(ops, answers, strict=True)]


def build_table_state_store(settings: Settings, credential: AsyncTokenCredential | None = None) -> TableStateStore:
    """Production: the Functions storage account over managed identity; local: a connection string."""
    if settings.storage_connection_string is not None:
        return TableStateStore(settings.storage_connection_string.get_secret_value(), settings.state_table)
    if not settings.storage_account_url:
        raise ValueError("AKS_TRIAGE_STORAGE_ACCOUNT_URL (or a connection string) is needed for the state table")
    if credential is None:
        from shared.azure.credentials import make_async_credential

        credential = make_async_credential()
    return TableStateStore(settings.storage_account_url, settings.state_table, credential)
