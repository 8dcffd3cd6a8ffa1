"""The dashboard's operational view from real Prometheus endpoints (prometheus_client's own
HTTP server), the figures computed by hand."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from app.broker.embedded import free_port
from app.dashboard.scrape import Scraper


class Endpoint:
    """One process's metrics, as a worker or a sink exposes them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter("segue_events_in_total", "", ["topic"], registry=r)
        self.rejected = Counter("segue_events_rejected_total", "", ["kind"], registry=r)
        self.quantile = Gauge(
            "segue_action_latency_quantile_seconds", "", ["partition", "quantile"], registry=r
        )
        self.budget = Gauge("segue_latency_budget_seconds", "", registry=r)
        self.lag = Gauge("segue_consumer_lag_records", "", ["topic", "partition"], registry=r)
        self.delivered = Counter("segue_sink_delivered_total", "", ["channel"], registry=r)
        self.failed = Counter("segue_sink_failed_total", "", ["channel", "kind"], registry=r)
        self.port = free_port()
        self.server, self.thread = start_http_server(self.port, "127.0.0.1", registry=r)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"


@pytest.fixture
def endpoints() -> Iterator[tuple[Endpoint, Endpoint]]:
    worker, sink = Endpoint(), Endpoint()
    yield worker, sink
    for e in (worker, sink):
        e.server.shutdown()
        e.server.server_close()


def test_figures_sum_the_processes_and_rates_use_the_previous_scrape(
    endpoints: tuple[Endpoint, Endpoint],
) -> None:
    worker, sink = endpoints
    clock = iter([100.0, 110.0])
    scraper = Scraper([worker.url, sink.url], clock=lambda: next(clock))
    worker.events.labels("events").inc(1000)
    worker.budget.set(0.05)
    worker.quantile.labels("0", "0.5").set(0.004)
    worker.quantile.labels("0", "0.99").set(0.02)  # within the 50 ms budget
    worker.quantile.labels("1", "0.99").set(0.08)  # over it
    worker.lag.labels("events", "0").set(12)
    worker.lag.labels("events", "1").set(3)
    worker.rejected.labels("invalid_envelope").inc(4)
    sink.delivered.labels("email").inc(90)
    sink.failed.labels("email", "permanent").inc(6)
    sink.failed.labels("email", "dlq").inc(4)

    first = scraper.scrape()
    assert [e["up"] for e in first.endpoints] == [True, True]
    events = next(r for r in first.throughput if r["figure"] == "events in")
    assert events["total"] == 1000 and events["per_second"] is None  # no previous scrape yet
    by_partition = {r["partition"]: r for r in first.partitions}
    assert by_partition["0"]["p50_ms"] == pytest.approx(4)
    assert by_partition["0"]["within_budget"] is True
    assert by_partition["1"]["within_budget"] is False
    assert by_partition["0"]["lag_records"] == 12 and by_partition["0"]["budget_ms"] == 50
    (email,) = first.channels
    assert (email["delivered"], email["failed"]) == (90, 10)
    assert email["failure_rate"] == pytest.approx(10 / 100)

    worker.events.labels("events").inc(500)  # 500 more in the 10 s between the scrapes
    worker.rejected.labels("invalid_envelope").inc(20)
    second = scraper.scrape()
    events = next(r for r in second.throughput if r["figure"] == "events in")
    assert events["per_second"] == pytest.approx(50)
    (dlq,) = second.dead_letters
    assert (dlq["reason"], dlq["total"], dlq["per_second"]) == ("invalid_envelope", 24, 2.0)


def test_an_endpoint_that_is_away_is_shown_down_not_fatal(
    endpoints: tuple[Endpoint, Endpoint],
) -> None:
    worker, _ = endpoints
    worker.events.labels("events").inc(7)
    away = f"http://127.0.0.1:{free_port()}/metrics"
    ops = Scraper([worker.url, away]).scrape()
    assert [e["up"] for e in ops.endpoints] == [True, False]
    assert ops.endpoints[1]["error"]
    assert next(r for r in ops.throughput if r["figure"] == "events in")["total"] == 7
