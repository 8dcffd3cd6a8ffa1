"""Publish envelopes (dicts) and raw records (bytes) to a topic, keyed by customer id.

Used by ``segue simulate --publish`` and ``segue demo``. Optional pacing sends at a fixed rate of
wall-clock time, so a simulated stream arrives as it would from live producers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from app.broker import reach
from app.kafka_io import make_producer, produce_or_wait
from app.settings import Settings

#: how long the last records get to be acknowledged (unless the broker is seen to be away)
FLUSH_TIMEOUT_S = 60.0


@dataclass
class PublishStats:
    valid: int = 0  # envelopes given as dicts
    malformed: int = 0  # records given as raw bytes (sent as they are)
    delivered: int = 0  # acknowledged by the broker
    errors: list[str] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return self.valid + self.malformed


def record_key(record: dict[str, Any] | bytes) -> bytes | None:
    """The record key: customer id, else anonymous id; None for raw (malformed) records whose
    JSON does not name one (they reach the DLQ as they are)."""
    obj: Any = record
    if isinstance(record, bytes):
        try:
            obj = orjson.loads(record)
        except orjson.JSONDecodeError:
            return None
    if not isinstance(obj, dict):
        return None
    key = obj.get("customer_id") or obj.get("anonymous_id")
    return key.encode() if isinstance(key, str) and key else None


def publish(
    settings: Settings,
    records: Iterable[dict[str, Any] | bytes],
    topic: str,
    *,
    rate: float | None = None,
    on_progress: Callable[[PublishStats], None] | None = None,
    encode: Callable[[dict[str, Any]], bytes] = orjson.dumps,
) -> PublishStats:
    """Send every record; with ``rate``, no faster than ``rate`` records per wall second.
    ``encode``: how an envelope is written (the topic's format; raw bytes go as they are)."""
    producer = make_producer(settings)
    stats = PublishStats()

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            stats.errors.append(str(err))
        else:
            stats.delivered += 1

    began = time.monotonic()
    last_report = began
    for record in records:
        if isinstance(record, bytes):
            value = record
            stats.malformed += 1
        else:
            value = encode(record)
            stats.valid += 1
        produce_or_wait(
            producer, topic, key=record_key(record), value=value, on_delivery=on_delivery
        )
        producer.poll(0)
        if rate:
            # poll() returns early whenever it serves a delivery callback: loop to the deadline.
            due = began + stats.sent / rate
            while (ahead := due - time.monotonic()) > 0:
                producer.poll(min(ahead, 0.05))
        now = time.monotonic()
        if on_progress is not None and now - last_report >= 1.0:
            last_report = now
            on_progress(stats)
    # a broker gone meanwhile is said at once, not after the minute (app/broker/reach.py)
    remaining, why = reach.flush(producer, FLUSH_TIMEOUT_S, lambda: reach.suspect_away(settings))
    if remaining:
        stats.errors.append(f"{remaining} records not delivered: {why}")
    if on_progress is not None:
        on_progress(stats)
    return stats
