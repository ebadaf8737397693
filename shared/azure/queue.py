"""WorkQueue over Azure Storage queues (azure-storage-queue, async), and the message encoding that
intake's queue output binding shares with it.

Identity-based in Azure (account URL + managed identity, shared keys are off on the account);
a connection string only for Azurite. Messages are plain JSON text: host.json sets the queue
extension's messageEncoding to "none" so the queue trigger reads exactly what we wrote, and the
queue output binding writes its strings as they are.

The SDK is imported when a client is first needed (`LazyStorageWorkQueue`): the worker uses the
queues only to defer a work item or dead-letter one, so its usual first finding imports no
azure.storage.queue (whose module-level import of azure-core's RequestsTransport loads requests).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from shared.ports import SinkError

MAX_MESSAGE_BYTES = 64 * 1024


def encode_message(message: dict[str, Any]) -> str:
    """A work-queue message as the text stored in the queue (compact JSON), or a non-retryable
    SinkError when it cannot fit in one Storage queue message (64 KB)."""
    text = json.dumps(message, separators=(",", ":"), default=str)
    size = len(text.encode())
    if size > MAX_MESSAGE_BYTES:
        raise SinkError(f"queue message of {size} bytes exceeds 64 KB", retryable=False)
    return text


class StorageWorkQueue:
    def __init__(self, queue_name: str, *, account_url: str | None = None,
                 connection_string: str | None = None, credential: Any = None) -> None:
        from azure.storage.queue.aio import QueueClient

        from shared.azure.arm import quiet_transport

        if connection_string:
            self._client = QueueClient.from_connection_string(connection_string, queue_name,
                                                              **quiet_transport(None))
        elif account_url:
            self._client = QueueClient(account_url, queue_name, credential=credential,
                                       **quiet_transport(account_url))
        else:
            raise ValueError("a queue needs account_url (managed identity) or connection_string (Azurite)")
        self.name = queue_name
        self._created = False

    async def ensure(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        if self._created:
            return
        with contextlib.suppress(ResourceExistsError):
            await self._client.create_queue()
        self._created = True

    async def enqueue(self, message: dict[str, Any], *, delay_s: int = 0) -> None:
        await self.send_text(encode_message(message), delay_s=delay_s)

    async def send_text(self, text: str, *, delay_s: int = 0) -> None:
        """One message with exactly this text (what the host does with an output binding's strings)."""
        from azure.core.exceptions import AzureError

        await self.ensure()
        try:
            await self._client.send_message(text, visibility_timeout=delay_s or None)
        except AzureError as err:
            raise SinkError(f"enqueue to {self.name} failed: {type(err).__name__}") from err

    async def receive(self, max_messages: int = 32, visibility_timeout: int = 30) -> list[tuple[str, Any]]:
        """(body, receipt) pairs; used by tests, the benchmark and the local runner."""
        await self.ensure()
        out = []
        async for msg in self._client.receive_messages(max_messages=max_messages,
                                                        visibility_timeout=visibility_timeout):
            out.append((msg.content, msg))
            if len(out) >= max_messages:
                break
        return out

    async def delete(self, receipt: Any) -> None:
        await self._client.delete_message(receipt)

    async def aclose(self) -> None:
        await self._client.close()


class LazyStorageWorkQueue:
    """A StorageWorkQueue built on its first use, with the same arguments. Enqueue is its only
    production use (deferral, dead letters), so the SDK import waits for the first rare path."""

    def __init__(self, queue_name: str, **kwargs: Any) -> None:
        if not (kwargs.get("connection_string") or kwargs.get("account_url")):
            raise ValueError("a queue needs account_url (managed identity) or connection_string (Azurite)")
        self.name = queue_name
        self._kwargs = kwargs
        self._queue: StorageWorkQueue | None = None

    @property
    def built(self) -> bool:
        return self._queue is not None

    def _real(self) -> StorageWorkQueue:
        if self._queue is None:
            self._queue = StorageWorkQueue(self.name, **self._kwargs)
        return self._queue

    async def enqueue(self, message: dict[str, Any], *, delay_s: int = 0) -> None:
        text = encode_message(message)  # refuse an oversized message before importing anything
        await self._real().send_text(text, delay_s=delay_s)

    async def send_text(self, text: str, *, delay_s: int = 0) -> None:
        await self._real().send_text(text, delay_s=delay_s)

    async def receive(self, max_messages: int = 32, visibility_timeout: int = 30) -> list[tuple[str, Any]]:
        return await self._real().receive(max_messages, visibility_timeout)

    async def delete(self, receipt: Any) -> None:
        await self._real().delete(receipt)

    async def aclose(self) -> None:
        if self._queue is not None:
            await self._queue.aclose()
