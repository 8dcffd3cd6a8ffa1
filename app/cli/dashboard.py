"""``segue dashboard``: the journey report kept current, and the workers' operational view."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from app.cli import app
from app.cli.inputs import need_broker
from app.settings import load_settings

DEFAULT_PORT = 8300


@app.command("dashboard")
def dashboard_command(
    port: Annotated[int, typer.Option("--port", help="Port to serve on (0: any free one).")] = (
        DEFAULT_PORT
    ),
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    metrics: Annotated[
        list[str] | None,
        typer.Option(
            "--metrics",
            help="A worker's or sink's Prometheus endpoint (repeat for each process); default: "
            "the worker's, http://127.0.0.1:9464/metrics (or SEGUE_METRICS_PORT).",
        ),
    ] = None,
    refresh: Annotated[
        int, typer.Option("--refresh", min=1, help="Seconds between refreshes of the page.")
    ] = 5,
    events: Annotated[
        bool,
        typer.Option(
            "--events/--no-events",
            help="Also read the events topic for the service and loyalty figures (tickets, "
            "surveys, orders); --no-events on a busy topic keeps the dashboard light.",
        ),
    ] = True,
) -> None:
    """Serve the journey report, kept current from the outcomes, receipts and events topics,
    with the operational view (throughput, lag and latency per partition against the budget,
    dead letters by reason, deliveries and failures by channel) from the metrics endpoints."""
    from app.dashboard.server import Dashboard, serve
    from app.metrics_endpoint import WORKER_PORT, port_for

    settings = load_settings()
    need_broker(settings)
    default = f"http://127.0.0.1:{port_for(settings, WORKER_PORT)}/metrics"
    urls = metrics if metrics else [default]
    board = Dashboard(settings, urls, refresh, events)
    try:
        server = serve(board, host, port)
    except OSError as exc:
        typer.echo(
            f"dashboard: cannot listen on {host}:{port}: {exc.strerror} (try --port)", err=True
        )
        raise typer.Exit(2) from None
    bound = server.server_address[1]
    typer.echo(
        f"dashboard: serving http://{host}:{bound}/ (topics at {settings.bootstrap_servers}, "
        f"prefix {settings.topic_prefix!r}; metrics from {', '.join(urls)}); Ctrl-C stops it",
        err=True,
    )
    board.start()

    def stop(*_: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
        board.stop()
    typer.echo("dashboard: stopped", err=True)
