"""Where a replay's events come from: a file of JSON lines, or the deployment's events topic.

Either way the result is raw records with a place to name them by (``file:line`` or
``topic[partition]@offset``); the replay validates, selects and sorts them (streaming.py).
The topic is read by assignment (no consumer group, nothing committed) up to its end when the
command starts, or within the offsets asked for (``--offsets 0:100-200,1:50-``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from app.formats.codecs import FormatProblem
from app.formats.wire import framed
from app.kafka_io import read_partitions
from app.settings import Settings
from app.topics.specs import TopicNames

Raw = tuple[str, bytes]  # (where it was read, the record's value)
Ranges = dict[int, tuple[int | None, int | None]]


class SourceError(ValueError):
    """A source that cannot be read as asked (the message says what to do)."""


def parse_offsets(text: str) -> Ranges:
    """``P:START-STOP`` items, comma-separated; START or STOP may be left out (the first kept,
    the end now); STOP is exclusive. ``0:100-200,1:50-`` reads partition 0 from offset 100 to
    199 and partition 1 from 50 to its end."""
    ranges: Ranges = {}
    for item in text.split(","):
        item = item.strip()
        partition, sep, span = item.partition(":")
        start, dash, stop = span.partition("-")
        try:
            if not sep or not dash:
                raise ValueError(item)
            p = int(partition)
            first = int(start) if start.strip() else None
            last = int(stop) if stop.strip() else None
        except ValueError:
            raise SourceError(
                f"--offsets: {item!r} is not PARTITION:START-STOP (for example 0:100-200,1:50-)"
            ) from None
        if (
            p < 0
            or (first is not None and first < 0)
            or (first is not None and last is not None and last < first)
        ):
            raise SourceError(f"--offsets: {item!r} is not a range of offsets")
        ranges[p] = (first, last)
    return ranges


@dataclass(frozen=True, slots=True)
class FileSource:
    path: Path

    def describe(self) -> str:
        return str(self.path)

    def size(self) -> int | None:
        return self.path.stat().st_size

    def __iter__(self) -> Iterator[Raw]:
        name = str(self.path)
        with self.path.open("rb", buffering=1024 * 1024) as lines:
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    yield f"{name}:{number}", line


@dataclass(frozen=True, slots=True)
class TopicSource:
    settings: Settings
    ranges: Ranges | None = None

    @property
    def topic(self) -> str:
        return TopicNames(self.settings).events

    def describe(self) -> str:
        return f"topic {self.topic} at {self.settings.bootstrap_servers}"

    def size(self) -> int | None:
        return None

    def __iter__(self) -> Iterator[Raw]:
        topic = self.topic
        from app.formats.deployment import configured_decoder  # (the registry client: only here)

        decoder = configured_decoder()
        for msg in read_partitions(self.settings, topic, ranges=self.ranges):
            value = msg.value()
            if msg.error() or value is None:  # a tombstone: no event
                continue
            if framed(value):  # Avro (or JSON Schema) in the wire format: as its JSON form
                try:
                    value = orjson.dumps(decoder.wire_object(value))
                except FormatProblem as exc:
                    value = orjson.dumps({"unreadable": exc.reason})  # skipped, with why
            yield f"{topic}[{msg.partition()}]@{msg.offset()}", value


Source = FileSource | TopicSource
