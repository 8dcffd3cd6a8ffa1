"""Prometheus metrics of a sink worker, labelled by channel."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DELIVERED = Counter("segue_sink_delivered_total", "Actions delivered", ["channel"])
FAILED = Counter("segue_sink_failed_total", "Actions given up on (to the DLQ)", ["channel", "kind"])
RETRIED = Counter("segue_sink_retried_total", "Retries after a transient failure", ["channel"])
DEDUPLICATED = Counter(
    "segue_sink_deduplicated_total", "Actions seen again and not delivered again", ["channel"]
)
RESENT_AFTER_CRASH = Counter(
    "segue_sink_resent_after_crash_total",
    "Actions whose send was cut off by a crash and was made again (same idempotency key)",
    ["channel"],
)
STALE_SNAPSHOTS = Counter(
    "segue_sink_stale_snapshots_total",
    "Actions sent with a profile snapshot older than their decision (waited snapshot_wait_ms)",
    ["channel"],
)
BREAKER_OPENED = Counter("segue_sink_breaker_opened_total", "Circuit openings", ["channel"])
RECEIPTS = Counter("segue_sink_receipts_total", "Receipt events produced", ["type"])
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
SEND_LATENCY = Histogram(
    "segue_sink_send_seconds", "One provider call that succeeded", ["channel"], buckets=_BUCKETS
)
DELIVERY_LATENCY = Histogram(
    "segue_sink_delivery_seconds",
    "From the action's decision (decided_at) to its delivery, wall clock",
    ["channel"],
    buckets=_BUCKETS,
)
ASSIGNED = Gauge(
    "segue_sink_assigned_partitions", "Partitions of the action topic this worker owns", ["channel"]
)
