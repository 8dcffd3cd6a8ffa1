"""What replay, backtest and report share on their command lines: the options that choose the
events (a file or the events topic, offsets, an event-time window), RFC 3339 arguments, and the
one-line wording of a broker that cannot be read. Every command that talks to Kafka calls
``need_broker`` before it does any work, and every command that writes files checks its output
paths up front (``output_file``, ``output_folder``): one line and exit 2, never a traceback."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from confluent_kafka import KafkaException

from app.core.scoring import Scorer
from app.core.timeutil import TimeFormatError, parse_rfc3339
from app.models.artifact import ArtifactError
from app.models.scorer import load_scorer, models_folder, served
from app.settings import Settings

#: bad arguments, unreadable files, no broker
EXIT_INVALID = 2

EventsFile = Annotated[
    Path | None, typer.Option("--events", help="Event envelopes, one JSON a line.")
]
EventsTopic = Annotated[
    bool,
    typer.Option(
        "--topic",
        help="Read the events from the deployment's events topic (up to its end now) "
        "instead of a file.",
    ),
]
Offsets = Annotated[
    str | None,
    typer.Option(
        "--offsets",
        help="With --topic: only these offsets, PARTITION:START-STOP (STOP exclusive, "
        "either may be left out), comma-separated: 0:100-200,1:50-",
    ),
]
Models = Annotated[
    str | None,
    typer.Option(
        "--models",
        help="Model artifacts folder (default: SEGUE_MODELS_DIR, else models/ beside the "
        "journeys folder if it has a manifest, as the worker does); 'none': every score 0.0.",
    ),
]
Since = Annotated[str | None, typer.Option("--since", help="RFC 3339: only events at or after.")]
Before = Annotated[str | None, typer.Option("--before", help="RFC 3339: only events before.")]


def fail(message: str) -> typer.Exit:
    """One line on stderr and the exit code of bad input (2)."""
    typer.echo(message, err=True)
    return typer.Exit(EXIT_INVALID)


def scorer_for(models: str | None, journeys: Path, settings: Settings) -> Scorer:
    """The scorer of ``--models`` (else the deployment's setting, else the models beside the
    journeys folder), as the worker would load it; exit 2 with one line if the artifacts are
    missing or altered. Its one-line description goes to stderr, as the worker logs it."""
    folder = models_folder(models if models is not None else settings.models_dir, journeys)
    try:
        scorer = load_scorer(folder)
    except ArtifactError as exc:
        raise fail(f"--models: {exc}") from None
    typer.echo(served(scorer, folder), err=True)
    return scorer


def time_argument(option: str, text: str | None) -> int | None:
    """Epoch ms of an RFC 3339 option's value (None if not given); exit 2 with one line if bad."""
    if text is None:
        return None
    try:
        return parse_rfc3339(text)
    except TimeFormatError as exc:
        raise fail(f"{option}: {exc}") from None


def broker_reason(exc: KafkaException) -> str:
    """Why the broker could not be read, in one line (with what to do when it is not there)."""
    error = exc.args[0] if exc.args else None
    text = str(error.str()) if error is not None and hasattr(error, "str") else str(exc)
    if "transport" in text.lower() or "timed out" in text.lower():
        return f"{text} (no broker there? start one with `segue broker start`)"
    return text


def need_broker(settings: Settings) -> None:
    """Before any work: exit 2 with one line when no broker answers (app/broker/reach.py)."""
    from app.broker.reach import BrokerAway, probe

    try:
        probe(settings)
    except BrokerAway as exc:
        raise fail(str(exc)) from None


def output_file(option: str, path: Path | None) -> None:
    """Before any work: exit 2 with one line when ``path`` cannot be written as a file (its
    folder must exist: an output file's folder is not created)."""
    if path is None:
        return
    if path.is_dir():
        raise fail(f"{option} {path}: is a folder; give a file name")
    if not path.parent.is_dir():
        raise fail(f"{option} {path}: the folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise fail(f"{option} {path}: cannot write in {path.parent}")


def output_folder(option: str, path: Path) -> None:
    """Before any work: exit 2 with one line when the folder ``path`` could not be made or
    written (it is made, with its parents, when the output is written)."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise fail(f"{option} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK):
        raise fail(f"{option} {path}: cannot write in {existing}")
