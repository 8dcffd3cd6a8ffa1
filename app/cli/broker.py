"""``segue broker start|stop|status``: the embedded broker (Apache Kafka or Tansu) on 127.0.0.1."""

from __future__ import annotations

import typer

from app.broker.embedded import (
    NO_JAVA_NOTE,
    BrokerProcess,
    EmbeddedBrokerError,
    default_kind,
    embedded_broker,
    running_kind,
)
from app.cli import app
from app.settings import EMBEDDED_HOST, EMBEDDED_PORT, load_settings

broker_app = typer.Typer(
    help="Run the embedded broker: Apache Kafka (needs Java) or Tansu (light, memory only).",
    no_args_is_help=True,
)
app.add_typer(broker_app, name="broker")

PortOption = typer.Option(EMBEDDED_PORT, help="Port on 127.0.0.1.")
KindOption = typer.Option(
    None,
    "--kind",
    help=(
        "kafka or tansu; default: the one running on the port, else SEGUE_BROKER_KIND, "
        "else kafka where Java is found."
    ),
)


def embedded(port: int, kind: str | None) -> BrokerProcess:
    settings = load_settings()
    state_dir = settings.state_dir
    if kind is None:
        kind = running_kind(state_dir, port)
    if kind is None and settings.broker_kind != "auto":
        kind = settings.broker_kind
    if kind is None:
        kind = default_kind()
        if kind == "tansu":
            typer.echo(f"note: {NO_JAVA_NOTE}", err=True)
    try:
        return embedded_broker(kind, EMBEDDED_HOST, port, state_dir)
    except EmbeddedBrokerError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@broker_app.command()
def start(port: int = PortOption, kind: str | None = KindOption) -> None:
    """Start the embedded broker (if not running) and wait until it serves clients."""
    broker = embedded(port, kind)
    try:
        pid = broker.start()
    except EmbeddedBrokerError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"embedded broker ({broker.name}) running on {broker.bootstrap} "
        f"(pid {pid}, log {broker.log_file})"
    )


@broker_app.command()
def stop(port: int = PortOption, kind: str | None = KindOption) -> None:
    """Stop the embedded broker that Segue started (by its pid)."""
    broker = embedded(port, kind)
    typer.echo("stopped" if broker.stop() else "not running")


@broker_app.command()
def status(port: int = PortOption, kind: str | None = KindOption) -> None:
    """Say whether the embedded broker is running; exit 1 if not."""
    broker = embedded(port, kind)
    pid = broker.pid()
    if pid is not None and broker.running():
        typer.echo(f"running: {broker.name} on {broker.bootstrap} (pid {pid})")
        return
    typer.echo("not running")
    raise typer.Exit(1)
