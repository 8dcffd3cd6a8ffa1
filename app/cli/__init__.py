"""The ``segue`` command line: one typer app, one module per command group."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="segue",
    help="Segue: real-time customer journey orchestration on Kafka.",
    no_args_is_help=True,
    add_completion=False,
)


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
