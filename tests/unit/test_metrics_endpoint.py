"""Each component's metrics port (app/metrics_endpoint.py): own defaults, a free one when taken."""

from __future__ import annotations

import logging
import socket
import urllib.request

import pytest

from app.broker.embedded import free_port
from app.metrics_endpoint import WORKER_PORT, port_for, serve_metrics, sink_port
from app.settings import Settings
from app.topics.specs import CHANNELS


def test_every_component_has_its_own_default_clear_of_a_six_process_worker() -> None:
    worker_ports = {WORKER_PORT + i for i in range(6)}  # --processes 6: 9464 + i
    sinks = [sink_port(channel) for channel in CHANNELS]
    assert len(set(sinks)) == len(CHANNELS)
    assert not worker_ports & set(sinks)
    settings = Settings(metrics_port=None)  # unset, whatever the environment says
    assert (
        port_for(settings, WORKER_PORT) == 9464 and port_for(settings, sink_port("email")) == 9470
    )
    assert port_for(Settings(metrics_port=9999), WORKER_PORT) == 9999  # one for the process


def fetch(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def test_a_port_taken_is_replaced_by_a_free_one_named_in_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("test.metrics")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.INFO, logger="test.metrics"):
            used = serve_metrics(Settings(metrics_port=port), WORKER_PORT, log)
    assert used is not None and used != port
    assert "# HELP" in fetch(used)
    [line] = [r.getMessage() for r in caplog.records]
    assert (
        line
        == f"metrics on http://127.0.0.1:{used}/metrics (port {port} is taken by another process)"
    )


def test_the_default_or_configured_port_is_logged_and_zero_turns_it_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("test.metrics")
    port = free_port()
    with caplog.at_level(logging.INFO, logger="test.metrics"):
        assert serve_metrics(Settings(metrics_port=port), WORKER_PORT, log) == port
        assert serve_metrics(Settings(metrics_port=0), WORKER_PORT, log) is None
    assert [r.getMessage() for r in caplog.records] == [
        f"metrics on http://127.0.0.1:{port}/metrics",
        "metrics: off (SEGUE_METRICS_PORT=0)",
    ]
    assert "# HELP" in fetch(port)
