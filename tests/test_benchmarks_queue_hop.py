"""The queue-hop benchmark: its port of the host's polling algorithm, host.json parsing, and a tiny
run against Azurite (JSON shape and message accounting only; no timing is asserted)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from benchmarks.queue_hop_bench import (
    MIN_INTERVAL_S,
    BackoffStrategy,
    host_queue_settings,
    parse_timespan,
    run,
)


def test_timespan_forms_of_host_json() -> None:
    assert parse_timespan("00:00:00.250") == pytest.approx(0.25)
    assert parse_timespan("00:01:00") == 60.0
    assert parse_timespan("1.00:00:02") == 86402.0
    assert parse_timespan("00:00:02.5") == pytest.approx(2.5)
    with pytest.raises(ValueError):
        parse_timespan("2000")  # .NET would read 2,000 days; refused rather than guessed


def test_backoff_follows_the_documented_sequence() -> None:
    s = BackoffStrategy(maximum_s=60.0, rng=random.Random(1))
    assert s.next_delay(False) == pytest.approx(MIN_INTERVAL_S)  # never found anything yet: the minimum
    # k-th empty receive in a row: minimum + U(0.8, 1.2) x 2^(k-1) x minimum
    for k in range(1, 6):
        d = s.next_delay(False)
        base = 2 ** (k - 1) * MIN_INTERVAL_S
        assert MIN_INTERVAL_S + 0.8 * base <= d <= MIN_INTERVAL_S + 1.2 * base, (k, d)
    assert s.next_delay(True) == pytest.approx(MIN_INTERVAL_S)  # a message was found: back to 100 ms
    second = s.next_delay(False)
    assert 0.18 <= second <= 0.22  # "about 200 milliseconds"


def test_backoff_caps_at_max_polling_interval_and_stays() -> None:
    s = BackoffStrategy(maximum_s=0.25, rng=random.Random(7))
    delays = [s.next_delay(False) for _ in range(10)]
    assert max(delays) == 0.25
    assert delays[-5:] == [0.25] * 5
    assert all(MIN_INTERVAL_S <= d <= 0.25 for d in delays)


def test_host_json_settings_and_the_hosts_minimum(tmp_path: Path) -> None:
    cfg = host_queue_settings()  # the repository's host.json
    assert cfg.max_polling_interval_s >= MIN_INTERVAL_S
    assert cfg.batch_size >= 1
    low = tmp_path / "host.json"
    low.write_text(json.dumps({"extensions": {"queues": {"maxPollingInterval": "00:00:00.050"}}}))
    with pytest.raises(ValueError, match="minimum"):
        host_queue_settings(low)
    default = tmp_path / "default.json"
    default.write_text(json.dumps({"version": "2.0"}))
    d = host_queue_settings(default)
    assert (d.max_polling_interval_s, d.batch_size, d.new_batch_threshold) == (60.0, 16, 8)


def test_tiny_run_receives_every_message_and_counts_idle_polls() -> None:
    out = run(fast=True, samples=2, idle_s=1.5)
    assert out["messages_sent"] >= 2
    assert out["messages_received"] == out["messages_sent"]  # each enqueued message reached the poller once
    assert out["queue_hop_samples"] == out["messages_sent"]
    assert 0 < out["queue_hop_p50_s"] <= out["queue_hop_p95_s"]
    assert out["requests"]["delete"] == out["messages_received"]
    assert out["requests"]["empty_receive"] >= 1
    assert out["idle_receives_per_lane"][0] >= 1
    assert out["idle_transactions_per_hour"] > 0
    assert "assumed" in out["idle_cost_assumption"]


def test_component_is_registered_with_the_runner() -> None:
    from benchmarks.__main__ import ALL_KEYS, COMPONENTS

    assert COMPONENTS["queue_hop"] == ("queue_hop_p50_s",)
    assert "queue_hop_p50_s" in ALL_KEYS


def test_runner_reports_a_component_missing_from_the_child_table_as_unavailable() -> None:
    from benchmarks.__main__ import run_component

    out = run_component("no_such_component", fast=True, samples=None, timeout=10)
    assert out["status"] == "unavailable"
    assert "no_such_component" in out["error"]
