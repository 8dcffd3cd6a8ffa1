"""``segue report``: did the journeys work? Outcome records in, lift, funnels and times out.

Reads outcome records from a file (``segue replay --outcomes``) or from the ``segue.outcomes``
topic (``--topic``, up to its end when the command starts), and receipts from a file or the
receipts topic; writes report.html (self-contained), report.json and one CSV per table to
``--out`` and prints the lift table (and, with adaptive steps, their arms over time:
``--arms-bucket``). Exit codes as replay's: 0 done; 1 some lines were unreadable (reported with
their line numbers, skipped, the rest reported); 2 bad arguments, a file that cannot be read or
written, or no broker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from confluent_kafka import KafkaException

from app.cli import app
from app.cli.inputs import (
    EXIT_INVALID,
    broker_reason,
    need_broker,
    output_folder,
    time_argument,
)
from app.core.timeutil import format_ms
from app.report.arms import AUTO, DEFAULT_BUCKET, SIZES
from app.report.render import text_summary, write_all
from app.report.tables import Builder
from app.report.topics import USELESS, feed_topic, sources
from app.settings import load_settings

EXIT_SKIPPED = 1
#: where unreadable lines are listed one by one; beyond, only counted
SHOWN_SKIPS = 20


class Lines:
    """JSON objects from a file, one a line; unreadable lines are counted and named."""

    def __init__(self, path: Path, what: str, required: tuple[str, ...]) -> None:
        self.path, self.what, self.required = path, what, required
        self.skipped = 0
        self.number = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        with self.path.open("rb") as lines:
            for number, line in enumerate(lines, start=1):
                self.number = number
                if not line.strip():
                    continue
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    self._skip(number, "not JSON")
                    continue
                if not isinstance(record, dict) or any(k not in record for k in self.required):
                    self._skip(number, f"not {self.what} (needs {', '.join(self.required)})")
                    continue
                yield record

    def feed(self, take: Callable[[dict[str, Any]], None]) -> None:
        """Every readable record to ``take``; one it cannot use is skipped like a bad line."""
        for record in self:
            try:
                take(record)
            except USELESS as exc:
                self._skip(self.number, f"{self.what} it cannot use ({type(exc).__name__}: {exc})")

    def _skip(self, number: int, reason: str) -> None:
        self.skipped += 1
        if self.skipped <= SHOWN_SKIPS:
            typer.echo(f"{self.path}:{number}: skipped: {reason}", err=True)


@app.command("report")
def report_command(
    outcomes: Annotated[
        Path | None,
        typer.Option("--outcomes", help="Outcome records (segue replay --outcomes), JSON lines."),
    ] = None,
    topic: Annotated[
        bool,
        typer.Option(
            "--topic",
            help="Read the outcome records (and receipts) from the broker's segue.outcomes "
            "(and events.receipts) topics, up to their end now.",
        ),
    ] = False,
    receipts: Annotated[
        Path | None,
        typer.Option("--receipts", help="Delivery receipts (events.receipts), JSON lines."),
    ] = None,
    events: Annotated[
        Path | None,
        typer.Option(
            "--events",
            help="Input events (JSON lines) for the service and loyalty figures: tickets, "
            "surveys, orders (with --topic: the events topic).",
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="RFC 3339: entries started at or after.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="RFC 3339: entries started before.")
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", help="Folder for report.html, report.json and the CSVs.")
    ] = Path("report"),
    arms_bucket: Annotated[
        str,
        typer.Option(
            "--arms-bucket",
            help="Adaptive steps' arms over time: the UTC bucket of a choice, "
            f"{', '.join(SIZES)} or {AUTO} (the smallest giving at most 30 buckets).",
        ),
    ] = DEFAULT_BUCKET,
) -> None:
    """Entries, conversions against the control group (lift, 95 % interval, exact p-value),
    funnels, times, engagement by channel, suppressions and decisions, per journey version and
    variant."""
    if (outcomes is None) == (not topic):
        typer.echo("give the outcome records: --outcomes FILE or --topic", err=True)
        raise typer.Exit(EXIT_INVALID)
    if arms_bucket not in (*SIZES, AUTO):
        typer.echo(f"--arms-bucket: {arms_bucket!r}: one of {', '.join([*SIZES, AUTO])}", err=True)
        raise typer.Exit(EXIT_INVALID)
    since_ms, until_ms = time_argument("--since", since), time_argument("--until", until)
    output_folder("--out", out)  # before the work, not after it
    if topic:
        need_broker(load_settings())
    builder = Builder(since_ms, until_ms, arms_bucket)
    files: list[Lines] = []
    unusable = 0  # topic records it cannot use (a file's are named line by line)
    files_given = {"outcomes": outcomes, "receipts": receipts, "events": events}
    try:
        for topic_of, (what, required, take) in sources(builder).items():
            path = files_given[topic_of]
            if path is not None:
                lines = Lines(path, what, required)
                files.append(lines)
                lines.feed(take)
            elif topic:
                unusable += feed_topic(load_settings(), topic_of, builder)
    except OSError as exc:
        typer.echo(f"cannot read {exc.filename}: {exc.strerror}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except KafkaException as exc:  # --topic: no broker, or no such topic
        bootstrap = load_settings().bootstrap_servers
        typer.echo(f"report: cannot read the topics at {bootstrap}: {broker_reason(exc)}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    report = builder.build()
    report.since = format_ms(since_ms) if since_ms is not None else None
    report.until = format_ms(until_ms) if until_ms is not None else None
    try:
        written = write_all(report, out)
    except OSError as exc:
        typer.echo(f"--out: cannot write {exc.filename}: {exc.strerror}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    typer.echo(text_summary(report), nl=False)
    typer.echo(f"report: wrote {written[0]} and {len(written) - 1} more files in {out}", err=True)
    if unusable:
        typer.echo(f"report: {unusable} topic records it could not use were left out", err=True)
    skipped = sum(f.skipped for f in files)
    if skipped:
        typer.echo(f"report: {skipped} unreadable lines skipped", err=True)
        raise typer.Exit(EXIT_SKIPPED)
