"""``segue sink CHANNEL`` and ``segue sink-callbacks``: deliver actions, take provider callbacks."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from app.cli import app
from app.settings import load_settings

if TYPE_CHECKING:
    from app.sinks.config import SinkSettings


@app.command()
def sink(
    channel: str = typer.Argument(..., help="email, sms, push, webhook, in_app or agent."),
    worker_id: str = typer.Option(
        "0", help="Distinguishes the dedupe stores of workers of one channel on one host."
    ),
) -> None:
    """Deliver the actions of one channel through its provider (SEGUE_SINK_<CHANNEL>__*)."""
    from app.sinks.worker import run_sink
    from app.topics.specs import CHANNELS

    if channel not in CHANNELS:
        raise typer.BadParameter(f"one of {', '.join(CHANNELS)}", param_hint="CHANNEL")
    run_sink(load_settings(), _sink_settings(), channel, worker_id)


@app.command("sink-callbacks")
def sink_callbacks(
    port: int = typer.Option(8787, help="Port of the callback endpoint."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
) -> None:
    """Take signed provider callbacks (delivered, opened, clicked) and turn them into receipts."""
    from app.sinks.callbacks import serve_callbacks

    serve_callbacks(load_settings(), _sink_settings(), host, port)


def _sink_settings() -> SinkSettings:
    """The sink settings, or each problem on a line (never a value: they hold secrets), exit 2."""
    from app.sinks.config import SinkConfigError, load_sink_settings

    try:
        return load_sink_settings()
    except SinkConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
