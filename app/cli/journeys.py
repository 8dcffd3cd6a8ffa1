"""``segue journeys validate|graph`` (journey definitions)."""

from __future__ import annotations

import typer

from app.cli import app

journeys_app = typer.Typer(help="Validate and draw journey definitions.", no_args_is_help=True)
app.add_typer(journeys_app, name="journeys")
