"""The reliability harness: Event Grid-like delivery -> intake -> Azurite queue -> a local host loop.

`HostLoop` mimics the Functions queue trigger (Microsoft.Azure.WebJobs.Extensions.Storage.Queues):
a message is received invisible, the function runs; success deletes it; an exception makes it
visible again after `visibility_timeout_s` (host.json `visibilityTimeout`, shortened here); once a
message has been dequeued `max_dequeue_count` times (5) and fails again it is moved to
`<queue>-poison`. The real host moves the raw message; this loop wraps it as
{"reason", "payload", "dequeue_count"} so the test can account for it (the reason is what the real
host only logs). Several workers run concurrently, like the host's batchSize.

`FaultyArm` turns the ARM emulator's fault hook into a seeded random fault source: a share of
requests answer 429 (a long Retry-After, which the app must cap), 500, or hang past the client's
read timeout.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.emulators.arm_emulator import ArmEmulator, Fault

SUB = "00000000-0000-0000-0000-000000000000"
TENANT = "11111111-1111-1111-1111-111111111111"


def cluster_id(i: int, sub: str = SUB) -> str:
    return (f"/subscriptions/{sub}/resourceGroups/rg-rel-{i % 5}/providers/Microsoft.ContainerService/"
            f"managedClusters/aks-rel-{i:03d}")


def cluster_body(cid: str, code: str, message: str, location: str = "westeurope") -> dict[str, Any]:
    name = cid.rsplit("/", 1)[-1]
    return {
        "id": cid, "name": name, "type": "Microsoft.ContainerService/ManagedClusters", "location": location,
        "properties": {
            "provisioningState": "Failed", "kubernetesVersion": "1.30.5", "powerState": {"code": "Running"},
            "status": {"provisioningError": {"code": code, "message": message}},
            "agentPoolProfiles": [{"name": "nodepool1", "count": 3, "vmSize": "Standard_D4s_v5",
                                   "provisioningState": "Failed", "mode": "System"}],
            "networkProfile": {"networkPlugin": "kubenet", "outboundType": "loadBalancer"},
        },
    }


def failure_event(rng: random.Random, cid: str, *, when: datetime) -> dict[str, Any]:
    """A ResourceWriteFailure in the Event Grid schema, as a subscription topic delivers it."""
    corr = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    eid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return {
        "id": eid,
        "topic": f"/subscriptions/{SUB}",
        "subject": cid,
        "eventType": "Microsoft.Resources.ResourceWriteFailure",
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z",
        "dataVersion": "2",
        "metadataVersion": "1",
        "data": {
            "tenantId": TENANT, "subscriptionId": SUB, "resourceGroup": cid.split("/")[4],
            "resourceProvider": "Microsoft.ContainerService", "resourceUri": cid,
            "operationName": "Microsoft.ContainerService/managedClusters/write", "status": "Failed",
            "correlationId": corr,
            "claims": {"name": "ops@contoso.example"},
            "httpRequest": {"method": "PUT", "url": f"https://management.azure.com{cid}?api-version=2024-09-01"},
        },
    }


# --- ARM faults --------------------------------------------------------------------------------


@dataclass
class FaultStats:
    throttled: int = 0
    errors: int = 0
    hangs: int = 0
    passed: int = 0

    @property
    def injected(self) -> int:
        return self.throttled + self.errors + self.hangs


class FaultyArm:
    """Install with `FaultyArm(emulator, rate=0.2, ...).install(monkeypatch)`."""

    def __init__(self, emulator: ArmEmulator, *, rate: float, seed: int, retry_after: str = "30",
                 hang_s: float = 1.0) -> None:
        self.emulator = emulator
        self.rate = rate
        self.rng = random.Random(seed)
        self.retry_after = retry_after
        self.hang_s = hang_s
        self.stats = FaultStats()
        self._lock = threading.Lock()
        self._original = emulator._take_fault

    def install(self, monkeypatch: Any) -> FaultyArm:
        monkeypatch.setattr(self.emulator, "_take_fault", self._take_fault)
        return self

    def _take_fault(self, nid: str) -> Fault | None:
        fixed = self._original(nid)
        if fixed is not None:
            return fixed
        with self._lock:
            roll = self.rng.random()
            kind = self.rng.randrange(3)
            if roll >= self.rate:
                self.stats.passed += 1
                return None
            if kind == 0:
                self.stats.throttled += 1
                return Fault(None, 429, 1, retry_after=self.retry_after,
                             body={"error": {"code": "TooManyRequests", "message": "throttled (injected)"}})
            if kind == 1:
                self.stats.errors += 1
                return Fault(None, 500, 1, body={"error": {"code": "InternalServerError", "message": "injected"}})
            self.stats.hangs += 1
        time.sleep(self.hang_s)  # past the client's read timeout: the client gives up first
        return None


# --- the host loop -----------------------------------------------------------------------------


@dataclass
class HostStats:
    runs: int = 0
    successes: int = 0
    failures: int = 0
    poisoned: int = 0
    dequeues: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    max_run_s: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)


class HostLoop:
    """Runs `handler(body)` for every message of `queue_client` until the queue stays empty."""

    def __init__(self, queue_client: Any, poison_client: Any, handler: Callable[[str], Awaitable[Any]], *,
                 workers: int = 8, visibility_timeout_s: int = 1, max_dequeue_count: int = 5,
                 invisible_while_running_s: int = 120, function_timeout_s: float = 60.0) -> None:
        self.q = queue_client
        self.poison = poison_client
        self.handler = handler
        self.workers = workers
        self.visibility_timeout_s = visibility_timeout_s
        self.max_dequeue_count = max_dequeue_count
        self.invisible_s = invisible_while_running_s
        self.function_timeout_s = function_timeout_s
        self.stats = HostStats()
        self._busy = 0
        self._stop = asyncio.Event()

    async def _one(self, msg: Any) -> None:
        self.stats.runs += 1
        self.stats.dequeues[msg.id] = msg.dequeue_count
        started = time.monotonic()
        try:
            result = await asyncio.wait_for(self.handler(msg.content), self.function_timeout_s)
        except Exception as err:  # the function failed: the host retries it (or poisons it)
            self.stats.failures += 1
            reason = f"{type(err).__name__}: {err}"[:2000]
            self.stats.errors[type(err).__name__] += 1
            if msg.dequeue_count >= self.max_dequeue_count:
                await self.poison.send_message(json.dumps({
                    "reason": reason, "payload": msg.content, "dequeue_count": msg.dequeue_count,
                    "trace": traceback.format_exception_only(err)[-1][:500]}))
                await self.q.delete_message(msg)
                self.stats.poisoned += 1
            else:
                await self.q.update_message(msg, visibility_timeout=self.visibility_timeout_s)
        else:
            self.stats.successes += 1
            self.stats.outcomes[str(getattr(result, "status", result))] += 1
            await self.q.delete_message(msg)
        finally:
            self.stats.max_run_s = max(self.stats.max_run_s, time.monotonic() - started)

    async def _worker(self) -> None:
        while not self._stop.is_set():
            got = False
            async for msg in self.q.receive_messages(max_messages=1, visibility_timeout=self.invisible_s):
                got = True
                self._busy += 1
                try:
                    await self._one(msg)
                finally:
                    self._busy -= 1
                break
            if not got:
                await asyncio.sleep(0.1)

    async def _watch(self, idle_checks: int) -> None:
        quiet = 0
        while quiet < idle_checks:
            await asyncio.sleep(0.5)
            props = await self.q.get_queue_properties()
            if props.approximate_message_count == 0 and self._busy == 0:
                quiet += 1
            else:
                quiet = 0
        self._stop.set()

    async def run(self, *, idle_checks: int = 3) -> HostStats:
        """Until the queue (deferred and invisible messages included) has been empty for a while."""
        tasks = [asyncio.create_task(self._worker()) for _ in range(self.workers)]
        try:
            await self._watch(idle_checks)
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
        return self.stats


async def drain_poison(poison_client: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        got = 0
        async for msg in poison_client.receive_messages(max_messages=32, visibility_timeout=60):
            got += 1
            out.append(json.loads(msg.content))
            await poison_client.delete_message(msg)
        if got == 0:
            return out


def utcnow() -> datetime:
    return datetime.now(UTC)
