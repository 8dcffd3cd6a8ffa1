"""The operational view from the processes' own Prometheus endpoints.

Each scrape reads every endpoint (text format, parsed by prometheus_client's parser) and sums
the same series across them (each process owns its partitions, so sums are the deployment's);
rates come from the difference with the previous scrape. What is shown is what the Grafana
dashboard in docker/ shows, for an estate that has no Prometheus.
"""

from __future__ import annotations

import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]
Series = dict[tuple[str, Labels], float]
Row = dict[str, Any]

TIMEOUT_S = 2.0


def scrape(url: str, timeout_s: float = TIMEOUT_S) -> Series:
    """Every sample of one endpoint, keyed by (sample name, sorted labels)."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        text = response.read().decode("utf-8", "replace")
    series: Series = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            series[sample.name, tuple(sorted(sample.labels.items()))] = float(sample.value)
    return series


@dataclass
class Ops:
    """One scrape's figures (``rows()`` gives the page's tables)."""

    at: float
    endpoints: list[Row] = field(default_factory=list)
    throughput: list[Row] = field(default_factory=list)
    partitions: list[Row] = field(default_factory=list)
    dead_letters: list[Row] = field(default_factory=list)
    channels: list[Row] = field(default_factory=list)

    def tables(self) -> dict[str, list[Row]]:
        return {
            "endpoints": self.endpoints,
            "throughput": self.throughput,
            "partitions": self.partitions,
            "dead_letters": self.dead_letters,
            "channels": self.channels,
        }


class Scraper:
    def __init__(self, urls: list[str], clock: Callable[[], float] = time.monotonic) -> None:
        self.urls = urls
        self.clock = clock
        self._previous: tuple[float, Series] | None = None

    def scrape(self) -> Ops:
        now = self.clock()
        total: Series = defaultdict(float)
        ops = Ops(now)
        for url in self.urls:
            try:
                for key, value in scrape(url).items():
                    total[key] += value
                ops.endpoints.append({"endpoint": url, "up": True, "error": None})
            except (OSError, ValueError) as exc:
                reason = getattr(exc, "reason", None) or exc
                ops.endpoints.append({"endpoint": url, "up": False, "error": str(reason)})
        previous = self._previous
        self._previous = (now, dict(total))
        figures(ops, total, previous, now)
        return ops


def _sum(series: Series, name: str, **match: str) -> float:
    return sum(
        v
        for (n, labels), v in series.items()
        if n == name and all(dict(labels).get(k) == want for k, want in match.items())
    )


def _by(series: Series, name: str, label: str) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for (n, labels), v in series.items():
        if n == name:
            out[dict(labels).get(label, "")] += v
    return out


def figures(
    ops: Ops, now_series: Series, previous: tuple[float, Series] | None, now: float
) -> None:
    """Fill ``ops``'s tables from the summed series (rates against ``previous``)."""

    def rate(value: float, name: str, **match: str) -> float | None:
        if previous is None or now <= previous[0]:
            return None
        before = _sum(previous[1], name, **match)
        return max(0.0, value - before) / (now - previous[0])

    for label, name in (
        ("events in", "segue_events_in_total"),
        ("actions out", "segue_actions_total"),
        ("decisions (suppressed or held out)", "segue_decisions_total"),
        ("dead letters", "segue_events_rejected_total"),
        ("deliveries", "segue_sink_delivered_total"),
    ):
        total = _sum(now_series, name)
        ops.throughput.append({"figure": label, "total": total, "per_second": rate(total, name)})

    budget = _sum(now_series, "segue_latency_budget_seconds")
    lag = _by(now_series, "segue_consumer_lag_records", "partition")
    latency: dict[str, dict[str, float]] = defaultdict(dict)
    for (n, labels), v in now_series.items():
        if n == "segue_action_latency_quantile_seconds":
            d = dict(labels)
            latency[d.get("partition", "")][d.get("quantile", "")] = v
    breaches = _by(now_series, "segue_latency_budget_breaches_total", "partition")
    for partition in sorted(set(lag) | set(latency), key=lambda p: (len(p), p)):
        p99 = latency[partition].get("0.99")
        ops.partitions.append(
            {
                "partition": partition,
                "lag_records": lag.get(partition),
                "p50_ms": _ms(latency[partition].get("0.5")),
                "p99_ms": _ms(p99),
                "budget_ms": _ms(budget) if budget else None,
                "within_budget": None if p99 is None or not budget else p99 <= budget,
                "budget_breaches": breaches.get(partition, 0.0),
            }
        )

    for kind, total in sorted(_by(now_series, "segue_events_rejected_total", "kind").items()):
        ops.dead_letters.append(
            {
                "reason": kind,
                "total": total,
                "per_second": rate(total, "segue_events_rejected_total", kind=kind),
            }
        )

    delivered = _by(now_series, "segue_sink_delivered_total", "channel")
    failed = _by(now_series, "segue_sink_failed_total", "channel")
    retried = _by(now_series, "segue_sink_retried_total", "channel")
    for channel in sorted(set(delivered) | set(failed)):
        ok, bad = delivered.get(channel, 0.0), failed.get(channel, 0.0)
        ops.channels.append(
            {
                "channel": channel,
                "delivered": ok,
                "failed": bad,
                "retried": retried.get(channel, 0.0),
                "failure_rate": bad / (ok + bad) if ok + bad else None,
                "delivered_per_second": rate(ok, "segue_sink_delivered_total", channel=channel),
            }
        )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000
