"""``segue sink CHANNEL`` and ``segue sink-callbacks``: deliver actions, take provider callbacks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from app.cli import app
from app.cli.inputs import fail, need_broker
from app.settings import load_settings

if TYPE_CHECKING:
    from app.sinks.config import SinkSettings


@app.command()
def sink(
    channel: str = typer.Argument(..., help="email, sms, push, webhook, in_app or agent."),
    worker_id: str = typer.Option(
        "0", help="Distinguishes the dedupe stores of workers of one channel on one host."
    ),
    create_topics: bool | None = typer.Option(
        None,
        "--create-topics/--no-create-topics",
        help="Create missing topics at start (default: SEGUE_CREATE_TOPICS, true); with "
        "--no-create-topics only check them and refuse to start (exit 2) if they are not as "
        "declared (its actions, receipts, DLQ): for estates whose topics are provisioned elsewhere.",
        show_default=False,
    ),
) -> None:
    """Deliver the actions of one channel through its provider (SEGUE_SINK_<CHANNEL>__*)."""
    from app.sinks.config import provider_problem
    from app.topics.specs import CHANNELS

    if channel not in CHANNELS:
        raise fail(f"segue sink: no channel {channel!r}; one of {', '.join(CHANNELS)}")
    settings, sinks = load_settings(), _sink_settings()
    if create_topics is not None:
        settings = settings.model_copy(update={"create_topics": create_topics})
    problem = provider_problem(channel, sinks.provider(channel))
    if problem is not None:
        raise fail(f"segue sink: {problem}")
    need_broker(settings)
    from app.formats.registry import SchemaSetupError
    from app.metrics_endpoint import MetricsError  # the heavy imports after the quick checks
    from app.sinks.rocks import StoreInUse
    from app.sinks.worker import TopicsNotReady, run_sink

    try:
        with _refused_in_one_line("sink"):
            run_sink(settings, sinks, channel, worker_id)
    except (MetricsError, StoreInUse, TopicsNotReady, SchemaSetupError) as exc:
        raise fail(f"segue sink: {exc}") from None


@app.command("sink-callbacks")
def sink_callbacks(
    port: int = typer.Option(8787, help="Port of the callback endpoint."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
) -> None:
    """Take signed provider callbacks (delivered, opened, clicked) and turn them into receipts."""
    settings, sinks = load_settings(), _sink_settings()
    need_broker(settings)
    from app.sinks.callbacks import serve_callbacks  # aiohttp and all, after the quick checks
    from app.sinks.rocks import StoreInUse

    # its start line (the address it listens on) and its warnings are log lines
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        with _refused_in_one_line("sink-callbacks"):
            serve_callbacks(settings, sinks, host, port)
    except StoreInUse as exc:
        raise fail(f"segue sink-callbacks: {exc}") from None
    except OSError as exc:  # the port taken, an address not of this host
        raise fail(
            f"segue sink-callbacks: cannot listen on {host}:{port}: {exc.strerror}"
        ) from None


@contextmanager
def _refused_in_one_line(command: str) -> Iterator[None]:
    """A state folder of another broker (or one being reset) ends the start: the line, exit 2."""
    from app.incarnation import StateBusy, StateMismatch

    try:
        yield
    except (StateMismatch, StateBusy) as exc:
        typer.echo(f"segue {command}: {exc}", err=True)
        raise typer.Exit(2) from None


def _sink_settings() -> SinkSettings:
    """The sink settings, or each problem on a line (never a value: they hold secrets), exit 2."""
    from app.sinks.config import SinkConfigError, load_sink_settings

    try:
        return load_sink_settings()
    except SinkConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
