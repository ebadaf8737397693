"""Benchmarks for issue 7: cold start, intake latency, diagnosis latency, ARM read budget, classifier.

Run `python -m benchmarks [--json] [--fast] [--only NAME ...]`. Each component runs in its own fresh
interpreter (so imports, caches and peak RSS of one never colour another) and returns a dict of
figures; the runner joins them, compares them with TARGETS and prints a table or one JSON object.
Not part of the Function App (excluded from deployment by .funcignore); unit tests never time
anything, CI runs `--fast` only to keep this command working.
"""

from __future__ import annotations

# key -> (comparison, target). "<=": lower is better; ">=": higher is better.
# peak_rss_mb is reported without a target (the issue sets none).
TARGETS: dict[str, tuple[str, float]] = {
    "cold_import_s": ("<=", 0.5),
    "cold_import_rss_mb": ("<=", 80.0),
    "intake_p99_ms": ("<=", 50.0),
    "diagnose_latency_ratio": ("<=", 1.2),
    "burst_reads_ratio": ("<=", 1.2),
    "classify_msgs_per_s": (">=", 2000.0),
    "classify_1mb_ms": ("<=", 100.0),
    "classify_10kb_msgs_per_s": (">=", 2000.0),
    "classify_worst_ms": ("<=", 25.0),
    "card_latency_ratio": ("<=", 1.10),
    "row_latency_ratio": ("<=", 1.15),
    "scale_items_per_s_ratio": (">=", 0.90),
    "scale_cpu_per_item_ratio": ("<=", 1.10),
    "scale_reads_ratio": ("<=", 1.2),
    "scale_rss_growth_mb": ("<=", 10.0),
    "scale_unanswered_429": ("<=", 0.0),
    "state_resolve_flat_ratio": ("<=", 1.10),
    "state_timer_flat_ratio": ("<=", 1.10),
    "queue_hop_p50_s": ("<=", 0.2),
    "cold_intake_first_event_cpu_s": ("<=", 0.2),
    "cold_intake_rss_mb": ("<=", 45.0),
    "cold_first_finding_cpu_s": ("<=", 0.6),
    "cold_http_stacks": ("<=", 1.0),
}

# The keys the issue asks for, in display order.
KEYS: tuple[str, ...] = (
    "cold_import_s",
    "cold_import_rss_mb",
    "intake_p99_ms",
    "diagnose_latency_ratio",
    "burst_reads_ratio",
    "classify_msgs_per_s",
    "classify_1mb_ms",
    "peak_rss_mb",
    "classify_10kb_msgs_per_s",
    "classify_worst_ms",
    "card_latency_ratio",
    "row_latency_ratio",
    "scale_items_per_s_ratio",
    "scale_cpu_per_item_ratio",
    "scale_reads_ratio",
    "scale_rss_growth_mb",
    "scale_unanswered_429",
    "state_resolve_flat_ratio",
    "state_timer_flat_ratio",
    "queue_hop_p50_s",
    "cold_intake_first_event_cpu_s",
    "cold_intake_rss_mb",
    "cold_first_finding_cpu_s",
    "cold_http_stacks",
)
