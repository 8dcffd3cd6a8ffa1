"""``segue produce`` and ``segue tail``: put event files on the broker and look at topics."""

from __future__ import annotations

import base64
import difflib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import typer
from confluent_kafka import KafkaException

from app.cli import app
from app.cli.inputs import broker_reason, fail, need_broker
from app.formats.codecs import Decoder, FormatProblem
from app.kafka_io import make_consumer, read_partitions
from app.publish import publish
from app.settings import Settings, load_settings
from app.topics.specs import TopicNames


class Progress:
    """A one-line progress report on stderr, at most once a second."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.started = time.monotonic()
        self.last = 0.0

    def update(self, done: int, total: int | None = None, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < 1.0:
            return
        self.last = now
        rate = done / max(now - self.started, 1e-9)
        of = f"/{total}" if total else ""
        sys.stderr.write(f"\r{self.label}: {done}{of} ({rate:,.0f}/s)")
        if force:
            sys.stderr.write("\n")
        sys.stderr.flush()


@app.command()
def produce(
    events_file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="JSON lines, one envelope a line."
    ),
    topic: str = typer.Option(None, help="Target topic (default: the events topic)."),
) -> None:
    """Publish a file of envelopes, keyed by customer (else anonymous) id.

    Lines are sent as they are: a malformed line is published too, so that the pipeline's
    dead-letter handling sees it (unkeyed lines land in the DLQ as 'missing key')."""
    settings = load_settings()
    need_broker(settings)
    target = topic or TopicNames(settings).events
    progress = Progress(f"produce {target}")

    def lines() -> Iterator[bytes]:
        with events_file.open("rb") as fh:
            for raw in fh:
                line = raw.rstrip(b"\r\n")
                if line.strip():
                    yield line

    stats = publish(settings, lines(), target, on_progress=lambda st: progress.update(st.sent))
    progress.update(stats.sent, force=True)
    if stats.errors:
        typer.echo(
            f"error: {len(stats.errors)} delivery errors; first: {stats.errors[0]}", err=True
        )
        raise typer.Exit(1)
    sent = stats.sent
    typer.echo(f"published {sent} records to {target} on {settings.bootstrap_servers}")


def render(msg: Any, decoder: Decoder | None = None) -> bytes:
    """One record as a JSON line: a value in JSON or in the wire format (Avro, JSON Schema,
    through the registry) as its JSON object, anything else as base64; headers, if any, as
    [name, text] pairs in order (base64 where not UTF-8)."""
    value = msg.value()
    try:
        decoded: Any = (decoder or Decoder()).loads(value) if value is not None else None
    except FormatProblem:
        decoded = {"b64": base64.b64encode(value).decode("ascii")}
    key = msg.key()
    _ts_type, ts = msg.timestamp()
    line = {
        "topic": msg.topic(),
        "partition": msg.partition(),
        "offset": msg.offset(),
        "timestamp_ms": ts,
        "key": key.decode("utf-8", "replace") if key is not None else None,
        "value": decoded,
    }
    headers = msg.headers()
    if headers:
        line["headers"] = [[name, _header_text(data)] for name, data in headers]
    return orjson.dumps(line)


def _header_text(data: bytes | None) -> Any:
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(data).decode("ascii")}


@app.command()
def tail(
    topic: str = typer.Argument(..., help="Topic name (with any prefix)."),
    from_beginning: bool = typer.Option(False, "--from-beginning", help="Start at the oldest."),
    max_records: int = typer.Option(None, "--max", help="Stop after this many records."),
    follow: bool = typer.Option(
        True, help="Keep waiting for new records (--no-follow stops at the current end)."
    ),
) -> None:
    """Print a topic's records as JSON lines (topic, partition, offset, timestamp_ms, key,
    value); `segue replay --events` reads a saved tail of the events topic as it is."""
    settings = load_settings()
    need_broker(settings)
    out = sys.stdout.buffer
    try:
        known = topic_names(settings)
        if topic not in known:
            guess = _did_you_mean(topic, known, settings.topic(topic))
            where = f"{settings.bootstrap_servers}{guess}"
            raise fail(f"tail: no topic {topic!r} at {where}")
        from app.formats.deployment import configured_decoder  # (the registry client: only here)

        decoder = configured_decoder()
        for msg in read_partitions(
            settings, topic, from_beginning=from_beginning, max_records=max_records, follow=follow
        ):
            out.write(render(msg, decoder) + b"\n")
            out.flush()
    except KeyboardInterrupt:
        pass
    except KafkaException as exc:  # the broker went away, the topic was deleted meanwhile
        raise fail(f"tail: {topic}: {broker_reason(exc)}") from None


def topic_names(settings: Settings) -> set[str]:
    """The topics on the broker now (internal ones left out)."""
    consumer = make_consumer(settings)
    try:
        topics = consumer.list_topics(timeout=10).topics
    finally:
        consumer.close()
    return {name for name in topics if not name.startswith("__")}


def _did_you_mean(topic: str, known: set[str], prefixed: str) -> str:
    """``; did you mean 'x'?`` for a close name (this deployment's SEGUE_TOPIC_PREFIX left
    out, another prefix's, a typo), else a pointer."""
    close = difflib.get_close_matches(topic, sorted(known), n=1, cutoff=0.6)
    ends = sorted(name for name in known if name.endswith(f".{topic}"))  # a prefix left out
    if prefixed in known:
        guess: str | None = prefixed
    else:
        guess = ends[0] if len(ends) == 1 else (close[0] if close else None)
    if guess is not None:
        return f"; did you mean {guess!r}?"
    return " (`segue topics list` shows the declared topics, named with SEGUE_TOPIC_PREFIX)"
