"""Issue 8.1: 1,000 Event Grid deliveries (30 % duplicates, shuffled) through the real path while
ARM, the Logs Ingestion endpoint and the Teams webhook misbehave.

Path: Event Grid payload -> the worker's EventGridEventInConverter -> shared.handlers.on_event
(intake) -> StorageWorkQueue on Azurite -> HostLoop (queue-trigger semantics, 5 dequeues, poison)
-> shared.handlers.on_work_item -> pipeline.process with the real AzureArmReader (HTTPS ARM
emulator), ArmErrorSource, classifier, checks, NoiseControl over TableStateStore (Azurite),
LogsIngestionSink (HTTPS ingestion receiver) and TeamsNotifier (HTTPS Teams receiver).

Faults: 20 % of ARM requests answer 429 (Retry-After: 30), 500, or hang past the read timeout;
the ingestion endpoint answers 429 (Retry-After: 30) / 503 for 4 s early in the run; 20 % of Teams
posts answer 429 (Retry-After: 60) or 500. Every Retry-After is capped at 0.3 s by the app.

Asserted: exactly one findings row per unique valid event; one delivered card per (cluster, code)
group; every unique event accounted for (row, poison message with a reason, or ignored with a
reason); no wait longer than the cap after a 429; the whole run within RUN_BUDGET_S.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections import Counter, defaultdict
from typing import Any

import pytest

from tests.reliability.deps import RETRY_AFTER_CAP_S, build, make_settings
from tests.reliability.harness import (
    SUB,
    FaultyArm,
    HostLoop,
    cluster_body,
    cluster_id,
    drain_poison,
    failure_event,
    utcnow,
)

pytestmark = [pytest.mark.reliability, pytest.mark.azurite, pytest.mark.slow]

DELIVERIES = 1000
DUPLICATE_SHARE = 0.30
CLUSTERS = 40
MALFORMED = 10  # valid envelopes our parser must reject (dead-lettered with the reason)
NOT_AKS = 10  # failures of other resource types (ignored with a reason)
ARM_FAULT_RATE = 0.20
TEAMS_FAULT_RATE = 0.20
INGESTION_OUTAGE = (1.0, 5.0)  # seconds after the first POST: 429/503 to everything
RUN_BUDGET_S = 240.0  # measured 47-113 s on the 2-core dev VM (intake 4-5 s); the test prints its figures
SEED = 20261121
CODES = [("SubnetIsFull", "Subnet aks-subnet with address prefix 10.240.0.0/24 does not have enough capacity "
                          "for 3 IP addresses."),
         ("QuotaExceeded", "Operation could not be completed as it results in exceeding approved "
                           "standardDSv5Family Cores quota."),
         ("InvalidParameter", "The value of parameter agentPoolProfile.count is invalid."),
         ("RequestDisallowedByPolicy", "Resource 'aks-rel' was disallowed by policy.")]


def _event_grid_binding(payload: dict[str, Any]) -> Any:
    import azure.functions as func
    from azure.functions.eventgrid import EventGridEventInConverter

    return EventGridEventInConverter.decode(func.meta.Datum(json.dumps(payload), "json"), trigger_metadata={})


def _deliveries(rng: random.Random) -> tuple[list[dict[str, Any]], dict[str, str], dict[str, str]]:
    """-> (deliveries in order, event id -> kind, event id -> group key (cluster|code))."""
    unique_count = round(DELIVERIES * (1 - DUPLICATE_SHARE))
    now = utcnow()
    events: list[dict[str, Any]] = []
    kind: dict[str, str] = {}
    group: dict[str, str] = {}
    for _ in range(unique_count - MALFORMED - NOT_AKS):
        c = rng.randrange(CLUSTERS)
        ev = failure_event(rng, cluster_id(c), when=now)
        events.append(ev)
        kind[ev["id"]] = "valid"
        group[ev["id"]] = f"{cluster_id(c).lower()}|{CODES[c % len(CODES)][0].lower()}"
    for i in range(MALFORMED):
        ev = failure_event(rng, cluster_id(i), when=now)
        ev["data"]["resourceUri"] = 12345  # not a string: EventError naming data.resourceUri
        events.append(ev)
        kind[ev["id"]] = "malformed"
    for i in range(NOT_AKS):
        sa = f"/subscriptions/{SUB}/resourceGroups/rg-x/providers/Microsoft.Storage/storageAccounts/st{i}"
        ev = failure_event(rng, sa, when=now)
        events.append(ev)
        kind[ev["id"]] = "ignored"
    deliveries = list(events) + [rng.choice(events) for _ in range(DELIVERIES - unique_count)]
    rng.shuffle(deliveries)
    return deliveries, kind, group


def _throttle_gaps(log: list[Any]) -> list[float]:
    """For every 429 answer, the time until the next request for the same path (the client's wait)."""
    by_path: dict[str, list[Any]] = defaultdict(list)
    for r in log:
        by_path[r.path.lower()].append(r)
    gaps = []
    for reqs in by_path.values():
        reqs.sort(key=lambda r: r.started)
        for a, b in itertools.pairwise(reqs):
            if a.status == 429:
                gaps.append(b.started - a.finished)
    return gaps


async def test_thousand_events_under_faults(arm_emulator: Any, ingestion: Any, teams: Any, queues: Any,
                                            azurite: Any, tls: Any, credential: Any, monkeypatch: Any,
                                            capsys: Any) -> None:
    from shared import handlers

    rng = random.Random(SEED)
    for c in range(CLUSTERS):
        code, message = CODES[c % len(CODES)]
        arm_emulator.put(cluster_id(c), cluster_body(cluster_id(c), code, message))
    faults = FaultyArm(arm_emulator, rate=ARM_FAULT_RATE, seed=SEED, retry_after="30",
                       hang_s=1.0).install(monkeypatch)

    first_post: list[float] = []

    def ingestion_plan(rcv: Any, request: Any) -> Any:
        now = time.monotonic()
        if not first_post:
            first_post.append(now)
        t = now - first_post[0]
        if INGESTION_OUTAGE[0] <= t < INGESTION_OUTAGE[1]:
            return (429, {"Retry-After": "30"}) if len(rcv.hits) % 2 else (503, {})
        return None

    teams_rng = random.Random(SEED + 1)

    def teams_plan(rcv: Any, request: Any) -> Any:
        if teams_rng.random() < TEAMS_FAULT_RATE:
            return (429, {"Retry-After": "60"}) if teams_rng.random() < 0.5 else (500, {})
        return None

    ingestion.plan = ingestion_plan
    teams.plan = teams_plan

    settings = make_settings()
    built = build(settings, arm_url=arm_emulator.base_url, ca_file=tls.ca_file, credential=credential,
                  ingestion_url=ingestion.base_url, teams_url=teams.url, storage=azurite.connection_string,
                  queue_name=queues.name)
    handlers.set_deps(built.deps)
    deliveries, kind, group = _deliveries(rng)
    started = time.monotonic()
    try:
        # Event Grid: deliver each event; an intake failure is retried (at-least-once), max 30 tries.
        intake_failures = 0
        ignored_ids: set[str] = set()
        for payload in deliveries:
            for _attempt in range(30):
                try:
                    result = await handlers.on_event(_event_grid_binding(payload))
                except Exception:
                    intake_failures += 1
                    continue
                ignored_ids.update(i.event_id for i in result.ignored)
                break
        intake_s = time.monotonic() - started

        host = HostLoop(queues.work, queues.poison, handlers.on_work_item, workers=8, visibility_timeout_s=1)
        stats = await asyncio.wait_for(host.run(), RUN_BUDGET_S)
        # The escalation timer retries cards that failed to post (card_pending); run it until quiet.
        for _ in range(10):
            out = await built.publisher.escalate_due()
            if out.cards_retried == 0 and not out.errors:
                break
        elapsed = time.monotonic() - started
        poison = await drain_poison(queues.poison)
    finally:
        handlers.set_deps(None)
        await built.aclose()

    # --- accounting -------------------------------------------------------------------------
    rows_by_event = Counter(r["EventId"] for r in ingestion.rows)
    valid = {e for e, k in kind.items() if k == "valid"}
    poisoned: dict[str, str] = {}
    for p in poison:
        payload = p.get("payload")
        eid = None
        try:
            body = json.loads(payload) if isinstance(payload, str) else payload
            eid = (body.get("op") or {}).get("event_id") if isinstance(body, dict) and "op" in body else body.get("id")
        except (ValueError, AttributeError):
            eid = None
        if eid:
            poisoned[eid] = p.get("reason", "")

    cards_by_group = Counter()
    for card in teams.cards:
        body = card["attachments"][0]["content"]["body"]
        headline = body[0]["items"][0]["text"]
        cards_by_group[headline] += 1
    groups = {group[e] for e in valid}

    report = {
        "deliveries": len(deliveries), "unique": len(kind), "valid": len(valid),
        "rows": len(ingestion.rows), "events_with_rows": len(rows_by_event),
        "max_rows_per_event": max(rows_by_event.values(), default=0),
        "cards": len(teams.cards), "groups": len(groups), "poison_messages": len(poison),
        "host": {"runs": stats.runs, "failures": stats.failures, "poisoned": stats.poisoned,
                 "errors": dict(stats.errors), "outcomes": dict(stats.outcomes),
                 "max_run_s": round(stats.max_run_s, 2),
                 "max_dequeue": max(stats.dequeues.values(), default=0)},
        "arm": {"requests": len(arm_emulator.log), "injected": faults.stats.injected,
                "throttled": faults.stats.throttled, "errors": faults.stats.errors, "hangs": faults.stats.hangs},
        "ingestion_statuses": ingestion.statuses(), "teams_statuses": teams.statuses(),
        "intake_failures": intake_failures, "intake_s": round(intake_s, 1), "elapsed_s": round(elapsed, 1),
    }
    with capsys.disabled():
        print("\nreliability run:", json.dumps(report, indent=1))

    # Every unique event accounted for.
    missing = [e for e in valid if rows_by_event[e] == 0 and not poisoned.get(e)]
    assert not missing, f"{len(missing)} valid events lost (no row, not poisoned): {missing[:5]}"
    assert all(poisoned[e] for e in poisoned), "poison message without a reason"
    malformed = {e for e, k in kind.items() if k == "malformed"}
    assert malformed <= set(poisoned), "malformed events not dead-lettered"
    assert all("resourceUri" in poisoned[e] for e in malformed), [poisoned[e] for e in malformed]
    assert {e for e, k in kind.items() if k == "ignored"} <= ignored_ids
    # Exactly one row per unique valid event, none for anything else.
    assert max(rows_by_event.values()) == 1, [e for e, n in rows_by_event.items() if n > 1][:5]
    assert set(rows_by_event) <= valid
    assert not (set(rows_by_event) & set(poisoned)), "an event has both a row and a poison message"
    assert len(rows_by_event) == len(valid) - len(valid & set(poisoned))
    # One delivered card per (cluster, code) group.
    assert len(teams.cards) == len(groups), (len(teams.cards), len(groups), cards_by_group.most_common(3))
    assert max(cards_by_group.values()) == 1
    # Faults really happened.
    assert faults.stats.throttled > 0 and faults.stats.errors > 0 and faults.stats.hangs > 0
    assert ingestion.statuses().get(429, 0) + ingestion.statuses().get(503, 0) > 0
    assert teams.statuses().get(429, 0) > 0 and teams.statuses().get(500, 0) > 0
    # Retry-After is capped: the clients' waits after a 429 follow the 0.3 s cap, not the 30 s asked
    # for. The next request for a path is usually the SDK's retry; after the retries are used up it
    # can be a later work item reading the same resource, which is no wait at all - so the bound
    # is on the 90th percentile, and the run's total time (asserted above) bounds everything else.
    gaps = sorted(_throttle_gaps(arm_emulator.log))
    assert gaps
    p90 = gaps[int(0.9 * (len(gaps) - 1))]
    assert p90 < RETRY_AFTER_CAP_S + 1.5, (p90, gaps[-5:])
    assert elapsed < RUN_BUDGET_S
    # No secret in the findings or the cards: the webhook signature and the bearer token.
    published = json.dumps(ingestion.rows) + json.dumps(teams.cards)
    assert "SECRETsig" not in published and credential.token not in published
