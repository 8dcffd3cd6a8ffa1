"""``segue worker``: the stream worker (all agents)."""

from __future__ import annotations

import typer

from app.cli import app
from app.settings import load_settings


@app.command()
def worker(
    worker_id: str = typer.Option(
        "0", help="Distinguishes the local state folders of workers on one host."
    ),
) -> None:
    """Run the stream worker: ingest, profiles (and later journeys) on the configured broker."""
    from app.stream.worker import run_worker  # faust is slow to import; only here

    run_worker(load_settings(), worker_id)
