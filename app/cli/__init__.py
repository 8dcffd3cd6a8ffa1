"""The ``segue`` command line: one typer app, one module per command group."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="segue",
    help="Segue: real-time customer journey orchestration on Kafka.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _name_the_clients(ctx: typer.Context) -> None:
    # each command's Kafka clients are named after it: client.id <prefix>segue-cli-<command>
    # (quotas and broker logs key on it); a worker or a sink names its own (app/settings.py)
    from app.settings import name_clients

    name_clients(f"cli-{ctx.invoked_subcommand}" if ctx.invoked_subcommand else None)
    _check_properties_as_configured()


def _check_properties_as_configured() -> None:
    # SEGUE_PROPERTY_SCHEMAS / SEGUE_UNKNOWN_EVENT_TYPES for every command that reads events
    # (the worker, replay, backtest, explain): live and replay judge properties alike
    from pydantic import ValidationError

    from app.core.event_properties import use_rules
    from app.formats.settings import DataSettings

    try:
        use_rules(DataSettings().property_rules())
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "SEGUE_" + str(first["loc"][0]).upper() if first["loc"] else "a setting"
        typer.echo(f"segue: {name}: {first['msg']}", err=True)
        raise typer.Exit(2) from None


def _register() -> None:
    # Imported here so that each module can attach its commands to ``app``.
    from app.cli import (  # noqa: F401
        audit,
        backtest,
        broker,
        dashboard,
        demo,
        explain,
        forget,
        journeys,
        kafka,
        models,
        profile,
        replay,
        report,
        simulate,
        sink,
        state,
        topics,
        worker,
    )


def main() -> None:
    _register()
    app()
