"""``segue broker start|stop|status``: the embedded broker (Tansu) on 127.0.0.1."""

from __future__ import annotations

import typer

from app.broker.embedded import EmbeddedBroker, EmbeddedBrokerError
from app.cli import app
from app.settings import EMBEDDED_HOST, EMBEDDED_PORT, load_settings

broker_app = typer.Typer(
    help="Run the embedded Kafka-compatible broker (Tansu).", no_args_is_help=True
)
app.add_typer(broker_app, name="broker")

PortOption = typer.Option(EMBEDDED_PORT, help="Port on 127.0.0.1.")


def embedded(port: int) -> EmbeddedBroker:
    return EmbeddedBroker(EMBEDDED_HOST, port, load_settings().state_dir)


@broker_app.command()
def start(port: int = PortOption) -> None:
    """Start the embedded broker (if not running) and wait until it accepts connections."""
    broker = embedded(port)
    try:
        pid = broker.start()
    except EmbeddedBrokerError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"embedded broker running on {broker.bootstrap} (pid {pid}, log {broker.log_file})")


@broker_app.command()
def stop(port: int = PortOption) -> None:
    """Stop the embedded broker that Segue started (by its pid)."""
    broker = embedded(port)
    typer.echo("stopped" if broker.stop() else "not running")


@broker_app.command()
def status(port: int = PortOption) -> None:
    """Say whether the embedded broker is running; exit 1 if not."""
    broker = embedded(port)
    pid = broker.pid()
    if pid is not None and broker.running():
        typer.echo(f"running on {broker.bootstrap} (pid {pid})")
        return
    typer.echo("not running")
    raise typer.Exit(1)
