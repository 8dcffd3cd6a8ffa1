"""Where each component serves its Prometheus metrics.

Every component once defaulted to port 9464, so a worker and a sink on one host clashed and the
second died with a 93-line traceback (issue 16). Each has its own default now, apart enough that
``segue worker --processes N`` (child i on the worker's port + i) does not reach the sinks' on a
machine of up to six cores: the worker 9464, the sink of a channel 9470 + the channel's place in
``CHANNELS`` (email 9470, sms 9471, push 9472, webhook 9473, in_app 9474, agent 9475).
``SEGUE_METRICS_PORT`` sets one port for the process instead (0: no endpoint). Whatever the port,
when another process holds it the endpoint takes a free one, and the one line every component
logs at start names the port actually used.
"""

from __future__ import annotations

import errno
import logging

from app.settings import Settings
from app.topics.specs import CHANNELS

WORKER_PORT = 9464
SINK_PORT = 9470


def sink_port(channel: str) -> int:
    return SINK_PORT + CHANNELS.index(channel)


def port_for(settings: Settings, default: int) -> int:
    """The configured port, else the component's default."""
    return settings.metrics_port if settings.metrics_port is not None else default


def serve_metrics(settings: Settings, default: int, log: logging.Logger) -> int | None:
    """Serve the metrics on the configured or default port, else on a free one; one log line
    either way. Returns the port (None: disabled)."""
    from prometheus_client import start_http_server

    port = port_for(settings, default)
    if port == 0:
        log.info("metrics: off (SEGUE_METRICS_PORT=0)")
        return None
    host = settings.metrics_host
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise MetricsError(f"metrics: cannot listen on {host}:{port}: {exc.strerror}") from None
        server, _thread = start_http_server(0, addr=host)
        log.warning(
            "metrics on http://%s:%d/metrics (port %d is taken by another process)",
            host,
            server.server_port,
            port,
        )
        return int(server.server_port)
    log.info("metrics on http://%s:%d/metrics", host, port)
    return port


class MetricsError(RuntimeError):
    """The metrics endpoint cannot listen at all (a bad SEGUE_METRICS_HOST): one line."""
