"""Notifier publishing notices as CloudEvents 1.0 to an Event Grid topic (azure-eventgrid, async).

A custom topic endpoint (https://<topic>.<region>-1.eventgrid.azure.net/api/events), or a
namespace endpoint with `namespace_topic`. Managed identity only (token scope
https://eventgrid.azure.net/.default; the app identity needs EventGrid Data Sender on the topic,
infra/modules/findings_topic.bicep). azure-core retries 408/429/5xx; `deadline_s` bounds one
notice in total. One event per notice, with the notice id as the CloudEvents `id`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from shared.notify.cloudevents import event_fields
from shared.notify.notice import Notice
from shared.ports import SinkError

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class EventGridNotifier:
    name = "eventgrid"

    def __init__(self, endpoint: str, credential: AsyncTokenCredential, *, namespace_topic: str | None = None,
                 deadline_s: float = 8.0, retry_total: int = 3, **client_kwargs: Any) -> None:
        from azure.eventgrid.aio import EventGridPublisherClient

        if not endpoint.lower().startswith("https://"):
            raise ValueError("the Event Grid endpoint must be https")
        kwargs: dict[str, Any] = {"retry_total": retry_total, **client_kwargs}
        if namespace_topic:
            kwargs["namespace_topic"] = namespace_topic
        self._client = EventGridPublisherClient(endpoint, credential, **kwargs)
        self._deadline = deadline_s
        self.sent = 0

    async def close(self) -> None:
        await self._client.close()

    async def notify(self, notice: Notice) -> None:
        from azure.core.exceptions import AzureError, HttpResponseError
        from azure.core.messaging import CloudEvent

        event = CloudEvent(**event_fields(notice))
        try:
            async with asyncio.timeout(self._deadline):
                await self._client.send([event])
        except TimeoutError:
            raise SinkError(f"Event Grid: no answer within {self._deadline:.0f} s", retryable=True) from None
        except HttpResponseError as err:
            status = int(err.status_code or 0)
            raise SinkError(f"Event Grid rejected the event: HTTP {status}",
                            retryable=status in RETRYABLE_STATUS or status == 0) from None
        except AzureError as err:
            raise SinkError(f"Event Grid: {type(err).__name__}", retryable=True) from None
        self.sent += 1
