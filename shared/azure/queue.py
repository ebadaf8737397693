"""WorkQueue over Azure Storage queues (azure-storage-queue, async).

Identity-based in Azure (account URL + managed identity, shared keys are off on the account);
a connection string only for Azurite. Messages are plain JSON text: host.json sets the queue
extension's messageEncoding to "none" so the queue trigger reads exactly what we wrote.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from shared.ports import SinkError

MAX_MESSAGE_BYTES = 64 * 1024


class StorageWorkQueue:
    def __init__(self, queue_name: str, *, account_url: str | None = None,
                 connection_string: str | None = None, credential: Any = None) -> None:
        from azure.storage.queue.aio import QueueClient

        if connection_string:
            self._client = QueueClient.from_connection_string(connection_string, queue_name)
        elif account_url:
            self._client = QueueClient(account_url, queue_name, credential=credential)
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
        from azure.core.exceptions import AzureError

        text = json.dumps(message, separators=(",", ":"), default=str)
        if len(text.encode()) > MAX_MESSAGE_BYTES:
            raise SinkError(f"queue message of {len(text.encode())} bytes exceeds 64 KB", retryable=False)
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
