"""``segue worker``: the stream worker (ingest, journeys, timers)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import typer

from app.cli import app
from app.cli.inputs import need_broker
from app.settings import load_settings

DEFAULT_POLICIES = Path("policies.yaml")


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which a container or `taskset`
    narrows), not the machine's count."""
    return len(os.sched_getaffinity(0)) or 1


#: the exit code of a worker whose batch or checkpoint failed: restart it
EXIT_FAILED = 70


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
    processes: int | None = typer.Option(
        None,
        "--processes",
        min=1,
        help="Worker processes side by side, one core each (default: the cores this process "
        "may run on); child i serves metrics on the worker's metrics port (9464 or "
        "SEGUE_METRICS_PORT) + i.",
    ),
    create_topics: bool | None = typer.Option(
        None,
        "--create-topics/--no-create-topics",
        help="Create missing topics at start (default: SEGUE_CREATE_TOPICS, true); with "
        "--no-create-topics only check them and refuse to start (exit 2) if they are not as "
        "declared: for estates whose topics are provisioned elsewhere.",
        show_default=False,
    ),
) -> None:
    """Run the stream worker: ingest, profiles, journeys and timers on the configured broker."""
    from app.metrics_endpoint import WORKER_PORT, port_for

    if policies is None and DEFAULT_POLICIES.is_file():
        policies = DEFAULT_POLICIES
    settings = load_settings()
    if create_topics is not None:
        settings = settings.model_copy(update={"create_topics": create_topics})
    need_broker(settings)
    from app.formats.errors import SchemaSetupError
    from app.runtime.checkpoint import CheckpointFailed  # the heavy imports after the probe
    from app.worker.run import StartError, run_worker, topics_ready

    if processes is None:
        processes = usable_cores()
    if processes > 1:
        from app.worker.processes import run_processes

        if not settings.create_topics:
            try:  # once, here: not a line from each child
                topics_ready(settings)
            except StartError as exc:
                typer.echo(f"segue worker: {exc}", err=True)
                raise typer.Exit(2) from None
        port = port_for(settings, WORKER_PORT)
        raise typer.Exit(
            run_processes(processes, worker_id, journeys, policies, port, settings.create_topics)
        )
    try:
        run_worker(settings, worker_id, journeys, policies)
    except StartError as exc:
        typer.echo(f"segue worker: {exc}", err=True)
        raise typer.Exit(2) from None
    except SchemaSetupError as exc:  # the registry went away mid-run (app/formats/errors.py)
        logging.getLogger("segue.worker").error(
            "%s: the worker stopped without committing the batch; a restart reads it again", exc
        )
        raise typer.Exit(EXIT_FAILED) from None
    except CheckpointFailed as exc:
        # the message says it all (records not acknowledged, the broker away at a stop): no
        # traceback; nothing of the unfinished work was made durable, a restart redoes it
        logging.getLogger("segue.worker").error(
            "the worker stopped without its last checkpoint: %s; a restart redoes the work "
            "since the one before",
            exc,
        )
        raise typer.Exit(EXIT_FAILED) from None
    except Exception:
        # logged with its traceback: a failed batch or checkpoint; nothing of the unfinished
        # work was made durable, and a restart redoes it (docs/live.md)
        logging.getLogger("segue.worker").exception("the worker failed; restart it")
        raise typer.Exit(EXIT_FAILED) from None
