"""``segue demo``: broker, topics, worker, simulated traffic, summary; then stop it all."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from app.cli import app
from app.cli.inputs import need_broker
from app.settings import load_settings


@app.command()
def demo(
    rate: float = typer.Option(200.0, help="Simulated events per second."),
    duration: float = typer.Option(20.0, help="Seconds of traffic."),
    seed: int = typer.Option(1, help="Simulator seed."),
    customers: int = typer.Option(400, help="Customer pool size."),
    malformed_rate: float = typer.Option(0.01, help="Share of malformed events (for the DLQ)."),
    broker_port: int = typer.Option(
        None,
        help="Port of the embedded broker on 127.0.0.1 (default 19092): used if one runs there, "
        "else started for the demo and stopped after it.",
    ),
    report: Path = typer.Option(
        Path("report"), help="Folder for the journey report the demo ends with."
    ),
) -> None:
    """Run the pipeline on the embedded broker with simulated traffic and print a summary."""
    from app.demo import DemoOptions, run_demo

    settings = load_settings()
    if broker_port is None and not settings.embedded_address:
        need_broker(settings)  # another broker than the embedded one the demo would start
    options = DemoOptions(
        rate=rate,
        duration_s=duration,
        seed=seed,
        customers=customers,
        malformed_rate=malformed_rate,
        broker_port=broker_port,
        report_dir=report,
    )
    raise typer.Exit(run_demo(settings, options, sys.stdout))
