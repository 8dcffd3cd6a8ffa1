"""The worker's confluent-kafka producer: records out in batches, awaited before their inputs ack.

faust's per-record ``send`` tops out near 3,000 records/s on the embedded broker; librdkafka
sends far more. At-least-once needs the outputs of an input record delivered before its offset
can be committed, so the agents produce a whole batch, ``await deliver(...)`` until the broker
acknowledged every record of it, and only then let faust ack the batch. A failed delivery raises
(the worker crashes, the batch is not acked, and its records are processed again after restart:
the same action ids again, which consumers deduplicate).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol

from confluent_kafka import KafkaError, Message

from app.kafka_io import make_producer, produce_or_wait
from app.settings import Settings
from app.stream import compat

#: how long an await sleeps between delivery polls (the loop keeps running meanwhile)
POLL_SLEEP_S = 0.0005

OnDelivered = Callable[[int], None]  # called with the delivery time, epoch ms


class DeliveryFailed(RuntimeError):
    """The broker refused or lost an output record; the worker must not commit its input."""


class Batch:
    """The outstanding records of one batch."""

    __slots__ = ("errors", "left")

    def __init__(self) -> None:
        self.left = 0
        self.errors: list[str] = []


class Outlet(Protocol):
    """What the processors produce through: faust's :class:`Sink` or the runtime's
    (app/worker/journeys.py, whose deliveries the checkpoint awaits)."""

    def batch(self) -> Batch: ...

    def produce(
        self,
        batch: Batch,
        topic: str,
        key: bytes | None,
        value: bytes,
        partition: int | None = None,
        on_delivered: OnDelivered | None = None,
        internal: bool = False,
    ) -> None: ...

    async def deliver(self, batch: Batch) -> None: ...


class Sink:
    """Two producers: ``producer`` for the outputs others read (actions, decisions, DLQ) and
    ``internal`` for the worker's own topic (forwarded events, ticks), which only faust's
    consumer reads. On Tansu the outputs keep one record per batch (compat: readers trust the
    end offsets); the internal topic may batch, which saves the broker most of its requests."""

    def __init__(self, settings: Settings) -> None:
        # linger 1 ms: latency matters more than batching here; idempotent: retries keep order
        self.producer = make_producer(settings, **{"linger.ms": 1})
        self.internal = make_producer(
            settings, **{"linger.ms": 1}, **compat.internal_producer_overrides(settings)
        )

    def batch(self) -> Batch:
        return Batch()

    def produce(
        self,
        batch: Batch,
        topic: str,
        key: bytes | None,
        value: bytes,
        partition: int | None = None,
        on_delivered: OnDelivered | None = None,
        internal: bool = False,
    ) -> None:
        def report(err: KafkaError | None, _msg: Message) -> None:
            batch.left -= 1
            if err is not None:
                batch.errors.append(f"{topic}: {err.str()}")
            elif on_delivered is not None:
                on_delivered(int(time.time() * 1000))

        kwargs: dict[str, Any] = {"key": key, "value": value, "on_delivery": report}
        if partition is not None:
            kwargs["partition"] = partition
        batch.left += 1
        produce_or_wait(self.internal if internal else self.producer, topic, **kwargs)

    async def deliver(self, batch: Batch, timeout_s: float = 60.0) -> None:
        """Wait until the broker acknowledged every record of ``batch`` (raises on failure)."""
        producer, internal = self.producer, self.internal
        deadline = time.monotonic() + timeout_s
        producer.poll(0)
        internal.poll(0)
        while batch.left > 0:
            if time.monotonic() > deadline:
                raise DeliveryFailed(f"{batch.left} records not acknowledged in {timeout_s}s")
            await asyncio.sleep(POLL_SLEEP_S)
            producer.poll(0)
            internal.poll(0)
        if batch.errors:
            raise DeliveryFailed("; ".join(batch.errors[:5]))

    def close(self, timeout_s: float = 10.0) -> None:
        self.producer.flush(timeout_s)
        self.internal.flush(timeout_s)
