"""Issue 8.2: a worker that dies, or a step that raises, anywhere between dequeue and completion.

One failure event goes through intake onto the Azurite queue; the work item is then processed with
a step trap armed on every outbound call the publisher makes (state store get/create/upsert/
replace_if_match/query, findings sink write, Teams send), one step per scenario, the trap firing
either just before the call or just after it returned. After the failed attempt the message is
redelivered the way the Functions host does it and processed again with no trap, until done or
poisoned (5 dequeues). Then the outcome is counted on the real receivers.

Two failure models:
  * `killed`: the worker process dies (a BaseException nothing in the app can catch); the message
    reappears when the host's receive visibility lapses, REDELIVER_AFTER_KILL later;
  * `raised`: the step raises an ordinary exception; the host makes the message visible again
    after host.json's visibilityTimeout (30 s) and redelivers it.
Time is a controlled clock shared by the pipeline and noise control (leases are compared to it).

Asserted for every scenario: nothing lost (exactly one row, one card, or a poison message with a
reason) and no duplicate row/card, except in the window `in_duplicate_window` names (the
side effect happened, its record did not: no idempotency key exists on the Teams webhook or the
Logs Ingestion API, so these are at-least-once by nature; see SECURITY.md/README).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.reliability.deps import build, make_settings
from tests.reliability.harness import cluster_body, cluster_id, failure_event

pytestmark = [pytest.mark.reliability, pytest.mark.azurite]

VISIBILITY_TIMEOUT = timedelta(seconds=30)  # host.json extensions.queues.visibilityTimeout
REDELIVER_AFTER_KILL = timedelta(minutes=10)  # the host receives with a 10 min visibility, renewed
MAX_DEQUEUE = 5


class WorkerKilled(BaseException):
    """Nothing in the app may catch this: it is the worker process being killed."""


class StepFailed(Exception):
    """An ordinary exception raised by one step (e.g. a bug, a transient error)."""


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.t = start

    def now(self) -> datetime:
        return self.t

    def advance(self, delta: timedelta) -> None:
        self.t += delta


@dataclass
class Trap:
    target: int | None = None  # 1-based index of the outbound call to fail
    when: str = "before"  # before | after
    model: str = "killed"
    calls: list[str] = field(default_factory=list)
    fired: str | None = None

    def _boom(self, label: str) -> BaseException:
        self.fired = f"{self.when} {label}"
        return WorkerKilled(label) if self.model == "killed" else StepFailed(f"injected failure at {label}")

    async def hit(self, label: str, fn: Callable[..., Awaitable[Any]], *a: Any, **kw: Any) -> Any:
        self.calls.append(label)
        armed = self.fired is None and self.target == len(self.calls)
        if armed and self.when == "before":
            raise self._boom(label)
        result = await fn(*a, **kw)
        if armed and self.when == "after":
            raise self._boom(label)
        return result


class Trapped:
    """Proxy whose listed async methods go through the trap."""

    def __init__(self, inner: Any, name: str, methods: tuple[str, ...], trap: Trap) -> None:
        self._inner, self._name, self._methods, self._trap = inner, name, methods, trap

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._inner, attr)
        if attr not in self._methods:
            return value

        async def call(*a: Any, **kw: Any) -> Any:
            return await self._trap.hit(f"{self._name}.{attr}", value, *a, **kw)

        return call


STATE_METHODS = ("get", "create", "upsert", "replace_if_match", "query", "query_range", "delete", "transact")

# The only window where a duplicate is accepted: the side effect (card posted / rows accepted)
# happened and the worker died before the state upsert that records it. Neither the Teams webhook
# nor the Logs Ingestion API takes an idempotency key, so this window cannot be closed from here.
SIDE_EFFECTS = ("teams.notify", "sink.write")


def in_duplicate_window(when: str, target: int, calls: list[str]) -> bool:
    label = calls[target - 1]
    if when == "after":
        return label in SIDE_EFFECTS
    # The card and the row are posted together, each recorded as it ends: a side effect's record is
    # one of the (at most two) upserts right after the two posts.
    return label == "state.upsert" and any(c in SIDE_EFFECTS for c in calls[max(0, target - 3):target - 1])


@dataclass
class Result:
    rows: int
    cards: int
    poisoned: list[str]
    attempts: int
    fired: str | None
    calls: list[str]


async def _scenario(*, target: int | None, when: str, model: str, env: dict[str, Any], n: int) -> Result:
    from azure.storage.queue.aio import QueueClient

    from shared import handlers
    from shared.pipeline import intake

    arm, ingestion, teams, azurite, tls, credential = (env[k] for k in
                                                       ("arm", "ingestion", "teams", "azurite", "tls", "cred"))
    ingestion.rows.clear()
    teams.cards.clear()
    start = datetime.now(UTC).replace(microsecond=0)
    clock = FakeClock(start)
    trap = Trap(target=target, when=when, model=model)
    qname = f"crash-{n}-{model}-{when}-{target}".lower()
    built = build(make_settings(), arm_url=arm.base_url, ca_file=tls.ca_file, credential=credential,
                  ingestion_url=ingestion.base_url, teams_url=teams.url, storage=azurite.connection_string,
                  queue_name=qname, table=f"crash{n}{model}{when}{target or 0}",
                  wrap_state=lambda s: Trapped(s, "state", STATE_METHODS, trap),
                  wrap_sink=lambda s: Trapped(s, "sink", ("write",), trap),
                  wrap_notifier=lambda s: Trapped(s, "teams", ("notify",), trap), clock=clock)
    q = QueueClient.from_connection_string(azurite.connection_string, qname)
    poisoned: list[str] = []
    attempts = 0
    import random

    event = failure_event(random.Random(n), cluster_id(1), when=start - timedelta(minutes=2))
    try:
        handlers.set_deps(built.deps)
        await intake(event, built.deps)
        while attempts < 2 * MAX_DEQUEUE:
            msgs = [m async for m in q.receive_messages(max_messages=1, visibility_timeout=600)]
            if not msgs:
                break
            msg = msgs[0]
            attempts += 1
            try:
                await handlers.on_work_item(msg.content)
            except (Exception, WorkerKilled) as err:
                if isinstance(err, WorkerKilled):
                    clock.advance(REDELIVER_AFTER_KILL)
                    await q.update_message(msg, visibility_timeout=0)
                    continue
                if msg.dequeue_count >= MAX_DEQUEUE:
                    poisoned.append(f"{type(err).__name__}: {err}")
                    await q.delete_message(msg)
                    continue
                clock.advance(VISIBILITY_TIMEOUT)
                await q.update_message(msg, visibility_timeout=0)
            else:
                await q.delete_message(msg)
        # The escalation timer (every 15 min) retries cards that failed to post; a tick that dies
        # (the trap can fire in the timer too) is simply followed by the next tick.
        for _tick in range(3):
            clock.advance(timedelta(minutes=15))
            try:
                await built.publisher.escalate_due()
            except (Exception, WorkerKilled):
                continue
    finally:
        handlers.set_deps(None)
        await q.delete_queue()
        await q.close()
        await built.aclose()
    rows = sum(1 for r in ingestion.rows if r["EventId"] == event["id"])
    return Result(rows, len(teams.cards), poisoned, attempts, trap.fired, trap.calls)


@pytest.fixture
def env(arm_emulator: Any, ingestion: Any, teams: Any, azurite: Any, tls: Any, credential: Any) -> dict[str, Any]:
    code, message = "SubnetIsFull", "Subnet aks-subnet does not have enough capacity for 3 IP addresses."
    arm_emulator.put(cluster_id(1), cluster_body(cluster_id(1), code, message))
    return {"arm": arm_emulator, "ingestion": ingestion, "teams": teams, "azurite": azurite, "tls": tls,
            "cred": credential}


async def test_clean_run_baseline(env: dict[str, Any]) -> None:
    r = await _scenario(target=None, when="before", model="killed", env=env, n=0)
    assert (r.rows, r.cards, r.poisoned, r.attempts) == (1, 1, [], 1), r
    assert "sink.write" in r.calls and "teams.notify" in r.calls


@pytest.mark.parametrize("model", ["killed", "raised"])
async def test_failure_at_every_step(env: dict[str, Any], model: str, capsys: Any) -> None:
    baseline = await _scenario(target=None, when="before", model=model, env=env, n=1)
    steps = len(baseline.calls)
    problems: list[str] = []
    table: list[str] = []
    n = 10
    for target in range(1, steps + 1):
        for when in ("before", "after"):
            n += 1
            r = await _scenario(target=target, when=when, model=model, env=env, n=n)
            label = r.fired.split(" ", 1)[1] if r.fired else "-"
            table.append(f"{model:6} {when:6} #{target:2} {label:24} rows={r.rows} cards={r.cards} "
                         f"attempts={r.attempts} poisoned={len(r.poisoned)}")
            lost = (r.rows == 0 or r.cards == 0) and not r.poisoned
            if lost:
                problems.append(f"LOST: {model} {when} step {target} ({label}): rows={r.rows} cards={r.cards}")
            if r.poisoned and not all(r.poisoned):
                problems.append(f"poisoned without a reason: {model} {when} step {target}")
            dup = r.rows > 1 or r.cards > 1
            if dup and not in_duplicate_window(when, target, baseline.calls):
                problems.append(f"DUPLICATE: {model} {when} step {target} ({label}): rows={r.rows} cards={r.cards}")
    with capsys.disabled():
        print(f"\ncrash matrix ({model}, {steps} outbound calls in a clean run: {baseline.calls}):")
        print("\n".join(table))
    assert not problems, "\n".join(problems)


async def _run_until_done(q: Any, clock: FakeClock, handler: Any) -> tuple[int, list[str], list[str]]:
    """Host semantics for ordinary exceptions: visible again after 30 s, poison after 5 dequeues."""
    attempts, poisoned, outcomes = 0, [], []
    while attempts < 2 * MAX_DEQUEUE:
        msgs = [m async for m in q.receive_messages(max_messages=1, visibility_timeout=600)]
        if not msgs:
            break
        msg = msgs[0]
        attempts += 1
        try:
            outcome = await handler(msg.content)
        except Exception as err:
            if msg.dequeue_count >= MAX_DEQUEUE:
                poisoned.append(f"{type(err).__name__}: {err}")
                await q.delete_message(msg)
                continue
            clock.advance(VISIBILITY_TIMEOUT)
            await q.update_message(msg, visibility_timeout=0)
        else:
            outcomes.append(f"{outcome.status}: {getattr(outcome.publish_result, 'action', '')}")
            await q.delete_message(msg)
    return attempts, poisoned, outcomes


async def test_exception_after_claim_is_retried_not_dropped(env: dict[str, Any], monkeypatch: Any) -> None:
    """An ordinary exception between the event claim and completion (here: the card renderer
    failing once) must lead to a retry that finishes the work - not to a retry that sees its own
    lease as "another delivery in progress", returns success, and lets the host delete the message.
    (Regression test: this test found that bug; NoiseControl now releases the lease on any failure.)
    """
    from azure.storage.queue.aio import QueueClient

    import shared.noise.controller
    from shared import handlers
    from shared.pipeline import intake

    real = shared.noise.controller.finding_to_row
    calls = {"n": 0}

    def flaky_card(*a: Any, **kw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("row builder failed once")
        return real(*a, **kw)

    monkeypatch.setattr(shared.noise.controller, "finding_to_row", flaky_card)
    arm, ingestion, teams, azurite, tls, cred = (env[k] for k in
                                                 ("arm", "ingestion", "teams", "azurite", "tls", "cred"))
    ingestion.rows.clear()
    teams.cards.clear()
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    built = build(make_settings(), arm_url=arm.base_url, ca_file=tls.ca_file, credential=cred,
                  ingestion_url=ingestion.base_url, teams_url=teams.url, storage=azurite.connection_string,
                  queue_name="crash-lease", table="crashlease", clock=clock)
    q = QueueClient.from_connection_string(azurite.connection_string, "crash-lease")
    import random

    event = failure_event(random.Random(99), cluster_id(1), when=clock.now() - timedelta(minutes=2))
    try:
        handlers.set_deps(built.deps)
        await intake(event, built.deps)
        attempts, poisoned, outcomes = await _run_until_done(q, clock, handlers.on_work_item)
    finally:
        handlers.set_deps(None)
        await q.delete_queue()
        await q.close()
        await built.aclose()
    rows = sum(1 for r in ingestion.rows if r["EventId"] == event["id"])
    assert rows == 1 or poisoned, (f"finding lost: rows={rows} cards={len(teams.cards)} attempts={attempts} "
                                   f"outcomes={outcomes} poisoned={poisoned}")
    assert len(teams.cards) <= 1
