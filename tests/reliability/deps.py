"""The production composition, pointed at the local emulators (real SDK clients throughout)."""

from __future__ import annotations

import ssl
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from shared.pipeline import Deps
from shared.settings import Settings

ARM_READ_TIMEOUT_S = 0.5  # the client gives up on a hung ARM request after this
RETRY_AFTER_CAP_S = 0.3  # every sink caps Retry-After at this in the tests (production: settings)


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        arm_retry_total=3, arm_retry_after_cap_s=RETRY_AFTER_CAP_S, arm_cache_ttl_s=0.0, arm_concurrency=8,
        check_timeout_s=5.0, error_retry_schedule_s=(1,), error_deadline_min=30, group_window_min=60,
        teams_max_per_second=4.0, escalate_after_h=24.0,
    )
    values.update(overrides)
    return Settings(**values)


@dataclass
class Built:
    deps: Deps
    arm: Any
    sink: Any
    notifier: Any
    state: Any
    http: Any
    publisher: Any

    async def aclose(self) -> None:
        await self.arm.aclose()
        await self.sink.close()
        await self.http.close()
        await self.state.close()
        for q in (self.deps.queue, self.deps.dead_letters):
            close = getattr(q, "aclose", None)  # the StorageWorkQueues this module built
            if close is not None:
                await close()


def build(settings: Settings, *, arm_url: str, ca_file: str, credential: Any, ingestion_url: str,
          teams_url: str, storage: str, queue_name: str, table: str | None = None,
          wrap_state: Any = None, wrap_sink: Any = None, wrap_notifier: Any = None, clock: Any = None,
          noise_options: dict[str, Any] | None = None) -> Built:
    """The composition root (shared.compose.build_deps) with the edges pointed at the emulators."""
    import aiohttp

    from shared.azure.arm import AzureArmReader
    from shared.azure.ingestion import LogsIngestionSink
    from shared.azure.queue import StorageWorkQueue
    from shared.azure.tables import TableStateStore
    from shared.compose import Parts, build_deps
    from shared.notify.teams import TeamsNotifier

    arm = AzureArmReader(settings, credential=credential, base_url=arm_url, connection_verify=ca_file,
                         retry_backoff_factor=0.05, read_timeout=ARM_READ_TIMEOUT_S, connection_timeout=2)
    state = TableStateStore(storage, table or f"rel{uuid.uuid4().hex[:12]}")
    sink = LogsIngestionSink(ingestion_url, "dcr-test", "Custom-AKSTriageFindings_CL", credential,
                             connection_verify=ca_file, retry_total=3, retry_after_cap_s=RETRY_AFTER_CAP_S,
                             backoff_max_s=RETRY_AFTER_CAP_S)
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=ca_file)),
                                 timeout=aiohttp.ClientTimeout(total=None, connect=5.0, sock_read=5.0))
    notifier = TeamsNotifier(SecretStr(teams_url), client=http, max_per_second=settings.teams_max_per_second,
                             retries=4, backoff_base_s=0.05, backoff_max_s=RETRY_AFTER_CAP_S,
                             retry_after_cap_s=RETRY_AFTER_CAP_S, timeout_s=5.0)
    queue = StorageWorkQueue(queue_name, connection_string=storage)
    poison = StorageWorkQueue(f"{queue_name}-poison", connection_string=storage)
    deps = build_deps(settings, Parts(
        credential=credential, arm=arm, state=wrap_state(state) if wrap_state else state,
        sink=wrap_sink(sink) if wrap_sink else sink,
        notifiers=[wrap_notifier(notifier) if wrap_notifier else notifier],
        queue=queue, dead_letters=poison, clock=clock, noise_options=dict(noise_options or {})))
    return Built(deps, arm, sink, notifier, state, http, deps.publisher)
