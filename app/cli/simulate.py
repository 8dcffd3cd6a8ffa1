"""``segue simulate``: write simulated traffic as JSON lines (the generator lives in app.sim)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Annotated, Any

import orjson
import typer

from app.cli import app
from app.cli.inputs import fail, need_broker, output_file
from app.core.timeutil import TimeFormatError, from_datetime, parse_rfc3339
from app.settings import Settings, load_settings
from app.sim import DEFAULT_START, planned_count, simulate

_FLUSH_EVERY = 4096  # records per write: fewer syscalls on big runs
_PROGRESS_EVERY_S = 0.5


def resolve_start(text: str) -> int:
    """``now`` (the wall clock: the CLI is the only place allowed to read it) or RFC 3339."""
    if text == "now":
        return from_datetime(datetime.now(UTC))
    try:
        return parse_rfc3339(text)
    except TimeFormatError as exc:
        raise typer.BadParameter(str(exc), param_hint="--start") from None


def write_jsonl(
    records: object, out: IO[bytes], total: int, progress: IO[str] | None
) -> tuple[int, int]:
    """Write records (dicts as JSON, malformed bytes as they are), one per line.

    Returns (valid, malformed) counts; prints a progress line to ``progress`` if given.
    """
    valid = malformed = 0
    buf: list[bytes] = []
    began = last = time.monotonic()
    for record in records:  # type: ignore[attr-defined]
        if isinstance(record, bytes):
            malformed += 1
            buf.append(record)
        else:
            valid += 1
            buf.append(orjson.dumps(record))
        if len(buf) >= _FLUSH_EVERY:
            out.write(b"\n".join(buf) + b"\n")
            buf.clear()
            now = time.monotonic()
            if progress is not None and now - last >= _PROGRESS_EVERY_S:
                last = now
                done = valid + malformed
                progress.write(
                    f"\rsimulate: {done:,}/{total:,} records ({100 * done // max(total, 1)}%), "
                    f"{malformed:,} malformed, {done / (now - began):,.0f}/s"
                )
                progress.flush()
    if buf:
        out.write(b"\n".join(buf) + b"\n")
    out.flush()
    if progress is not None:
        elapsed = max(time.monotonic() - began, 1e-9)
        progress.write(
            f"\rsimulate: {valid + malformed:,} records ({valid:,} valid, {malformed:,} "
            f"malformed) in {elapsed:.2f} s, {(valid + malformed) / elapsed:,.0f}/s\n"
        )
        progress.flush()
    return valid, malformed


@app.command("simulate")
def simulate_command(
    rate: Annotated[float, typer.Option("--rate", help="Events per second of event time.")],
    duration: Annotated[float, typer.Option("--duration", help="Seconds of event time.")],
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same output.")] = 1,
    start: Annotated[
        str,
        typer.Option(
            "--start", help=f"RFC 3339 start of event time, or 'now' (default {DEFAULT_START})."
        ),
    ] = DEFAULT_START,
    customers: Annotated[
        int | None,
        typer.Option(
            "--customers",
            min=1,
            help="Customer pool size (default: about 20 events each, at least 200 x rate).",
        ),
    ] = None,
    malformed_rate: Annotated[
        float,
        typer.Option("--malformed-rate", min=0.0, max=1.0, help="Share of malformed records."),
    ] = 0.0,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write JSON lines here (default: stdout); with --publish, as well."
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress on stderr.")] = False,
    publish_to_broker: Annotated[
        bool,
        typer.Option(
            "--publish",
            help="Send to the events topic on the configured broker instead of writing lines "
            "to stdout (with --out, the file is written too), paced at --rate per wall-clock "
            "second (use --no-pace to send at full speed).",
        ),
    ] = False,
    pace: Annotated[bool, typer.Option("--pace/--no-pace", help="Pace --publish.")] = True,
) -> None:
    """Generate realistic synthetic customer traffic as JSON lines (one envelope a line)."""
    if rate <= 0 or duration < 0:
        raise typer.BadParameter("need --rate > 0 and --duration >= 0")
    start_ms = resolve_start(start)
    output_file("--out", out)
    total = planned_count(rate, duration)
    records = simulate(seed, rate, duration, start_ms, customers, malformed_rate)
    progress = None if quiet else sys.stderr
    if publish_to_broker:
        settings = load_settings()
        need_broker(settings)
        if out is None:
            _publish(settings, records, total, rate if pace else None, progress)
            return
        with out.open("wb") as fh:  # the same records, written as they are sent
            _publish(settings, _written(records, fh), total, rate if pace else None, progress)
        return
    if out is None:
        try:
            write_jsonl(records, sys.stdout.buffer, total, progress)
        except BrokenPipeError:  # e.g. piped into `head`: stop quietly
            sys.stderr.write("\n")
    else:
        with out.open("wb") as fh:
            write_jsonl(records, fh, total, progress)


def _written(records: Iterable[dict[str, Any] | bytes], out: IO[bytes]) -> Iterator[Any]:
    """Each record, after its line is written to ``out`` (as write_jsonl writes it)."""
    for record in records:
        out.write((record if isinstance(record, bytes) else orjson.dumps(record)) + b"\n")
        yield record


def _publish(
    settings: Settings, records: object, total: int, rate: float | None, progress: IO[str] | None
) -> None:
    from app.formats.deployment import load_formats
    from app.formats.registry import SchemaSetupError
    from app.publish import PublishStats, publish
    from app.topics.specs import TopicNames

    topic = TopicNames(settings).events
    try:  # envelopes in the events topic's format (JSON, or Avro with SEGUE_TOPIC_FORMATS)
        encode = load_formats(settings).writer(topic).encode
    except SchemaSetupError as exc:
        raise fail(f"simulate: {exc}") from None

    def report(stats: PublishStats) -> None:
        # sent is what the producer took; delivered what the broker acknowledged, so far
        if progress is not None:
            progress.write(
                f"\rsimulate: {stats.sent:,}/{total:,} sent to {topic}, "
                f"{stats.delivered:,} delivered ({stats.malformed:,} malformed)"
            )
            progress.flush()

    stats = publish(settings, records, topic, rate=rate, on_progress=report, encode=encode)  # type: ignore[arg-type]
    if progress is not None:
        progress.write("\n")
    if stats.errors:
        typer.echo(
            f"error: {stats.sent - stats.delivered:,} of {stats.sent:,} records not delivered: "
            f"{stats.errors[-1]}",
            err=True,
        )
        raise typer.Exit(1)
