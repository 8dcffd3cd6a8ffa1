"""``segue worker``: the stream worker (ingest, journeys, timers)."""

from __future__ import annotations

from pathlib import Path

import typer

from app.cli import app
from app.settings import load_settings

DEFAULT_POLICIES = Path("policies.yaml")


@app.command()
def worker(
    worker_id: str = typer.Option(
        "0", help="Distinguishes the local state folders of workers on one host."
    ),
    journeys: Path = typer.Option(Path("journeys"), "--journeys", help="Journey YAML folder."),
    policies: Path | None = typer.Option(
        None,
        "--policies",
        help="policies.yaml (default: ./policies.yaml if present, else no policies).",
    ),
) -> None:
    """Run the stream worker: ingest, profiles, journeys and timers on the configured broker."""
    from app.stream.worker import StartError, run_worker  # faust is slow to import; only here

    if policies is None and DEFAULT_POLICIES.is_file():
        policies = DEFAULT_POLICIES
    try:
        run_worker(load_settings(), worker_id, journeys, policies)
    except StartError as exc:
        typer.echo(f"segue worker: {exc}", err=True)
        raise typer.Exit(2) from None
