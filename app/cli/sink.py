"""``segue sink CHANNEL`` and ``segue sink-callbacks``: deliver actions, take provider callbacks."""

from __future__ import annotations

import typer

from app.cli import app
from app.settings import load_settings


@app.command()
def sink(
    channel: str = typer.Argument(..., help="email, sms, push, webhook, in_app or agent."),
    worker_id: str = typer.Option(
        "0", help="Distinguishes the dedupe stores of workers of one channel on one host."
    ),
) -> None:
    """Deliver the actions of one channel through its provider (SEGUE_SINK_<CHANNEL>__*)."""
    from app.sinks.config import SinkSettings
    from app.sinks.worker import run_sink
    from app.topics.specs import CHANNELS

    if channel not in CHANNELS:
        raise typer.BadParameter(f"one of {', '.join(CHANNELS)}", param_hint="CHANNEL")
    run_sink(load_settings(), SinkSettings(), channel, worker_id)


@app.command("sink-callbacks")
def sink_callbacks(
    port: int = typer.Option(8787, help="Port of the callback endpoint."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
) -> None:
    """Take signed provider callbacks (delivered, opened, clicked) and turn them into receipts."""
    from app.sinks.callbacks import serve_callbacks
    from app.sinks.config import SinkSettings

    serve_callbacks(load_settings(), SinkSettings(), host, port)
