"""Event-to-action latency per partition: HdrHistograms, the p99 budget and its breaches.

Latency is measured from the source event's broker timestamp (the input record's timestamp on
the events topic) to the moment the broker acknowledged the action (its delivery report).
Each partition keeps a cumulative histogram (for p50/p99 gauges) and a window histogram that is
checked against the budget every ``report()``: a window whose p99 is over budget is a breach,
counted and logged with the partition.
"""

from __future__ import annotations

import logging

from hdrh.histogram import HdrHistogram
from prometheus_client import Counter, Gauge, Histogram

from app.stream.metrics import child

log = logging.getLogger("segue.latency")

#: 1 ms .. 1 hour, 2 significant digits: ~30 KB per histogram
LOWEST_MS, HIGHEST_MS, DIGITS = 1, 3_600_000, 2

LATENCY = Histogram(
    "segue_action_latency_seconds",
    "Event-to-action latency: source event broker timestamp to action delivered",
    ["partition"],
    buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0),
)
QUANTILE = Gauge(
    "segue_action_latency_quantile_seconds",
    "Event-to-action latency quantiles since start (HdrHistogram)",
    ["partition", "quantile"],
)
OVER_BUDGET = Counter(
    "segue_actions_over_budget_total", "Actions delivered later than the budget", ["partition"]
)
BREACHES = Counter(
    "segue_latency_budget_breaches_total",
    "Report windows whose p99 event-to-action latency exceeded the budget",
    ["partition"],
)
BUDGET = Gauge("segue_latency_budget_seconds", "The configured p99 latency budget")


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_MS, HIGHEST_MS, DIGITS)


class LatencyTracker:
    def __init__(self, budget_ms: int) -> None:
        self.budget_ms = budget_ms
        self.total: dict[int, HdrHistogram] = {}
        self.window: dict[int, HdrHistogram] = {}
        BUDGET.set(budget_ms / 1000)

    def record(self, partition: int, latency_ms: int) -> None:
        value = min(max(latency_ms, LOWEST_MS), HIGHEST_MS)
        total = self.total.get(partition)
        if total is None:
            total = self.total[partition] = new_histogram()
            self.window[partition] = new_histogram()
        total.record_value(value)
        self.window[partition].record_value(value)
        label = str(partition)
        child(LATENCY, label).observe(latency_ms / 1000)
        if latency_ms > self.budget_ms:
            child(OVER_BUDGET, label).inc()

    def report(self) -> list[tuple[int, int, int]]:
        """Close the window: update the gauges, count and log breaches.

        Returns the (partition, window p99 ms, count) of every breaching partition."""
        breaches = []
        for partition, window in self.window.items():
            label = str(partition)
            total = self.total[partition]
            for q in (50, 99, 99.9):
                QUANTILE.labels(label, str(q / 100)).set(total.get_value_at_percentile(q) / 1000)
            count = window.get_total_count()
            if not count:
                continue
            p99 = window.get_value_at_percentile(99)
            if p99 > self.budget_ms:
                BREACHES.labels(label).inc()
                log.warning(
                    "latency budget breached on partition %d: p99 %d ms > %d ms (%d actions)",
                    partition,
                    p99,
                    self.budget_ms,
                    count,
                )
                breaches.append((partition, p99, count))
            window.reset()
        return breaches
