"""The process's one producer: outputs and changelog records, delivery errors kept for the
checkpoint (one producer so that, with exactly-once, one transaction holds all of them)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, Producer

from app.kafka_io import produce_or_wait

OnDelivered = Callable[[int], None]  # called with the delivery time, epoch ms


class DeliveryFailed(RuntimeError):
    """The broker refused or lost a record: the checkpoint must not commit its inputs."""


class RuntimeProducer:
    def __init__(self, producer: Producer) -> None:
        self.producer = producer
        self.errors: list[str] = []
        #: (topic, partition) -> highest offset delivered since ``take_offsets``
        self.offsets: dict[tuple[str, int], int] = {}

    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None = None,
        on_delivered: OnDelivered | None = None,
        headers: list[tuple[str, bytes]] | None = None,
        track: bool = False,
    ) -> None:
        """Queue one record. ``track``: remember its offset (changelog records)."""
        errors, offsets = self.errors, self.offsets

        def report(err: KafkaError | None, msg: Any) -> None:
            if err is not None:
                errors.append(f"{topic}: {err.str()}")
                return
            if track:
                tp = (topic, msg.partition())
                offset = msg.offset()
                if offset > offsets.get(tp, -1):
                    offsets[tp] = offset
            if on_delivered is not None:
                on_delivered(int(time.time() * 1000))

        kwargs: dict[str, Any] = {"key": key, "value": value, "on_delivery": report}
        if partition is not None:
            kwargs["partition"] = partition
        if headers:
            kwargs["headers"] = headers
        produce_or_wait(self.producer, topic, **kwargs)
        self.producer.poll(0)

    def flush(self, timeout_s: float) -> None:
        """Wait until the broker acknowledged every queued record (raises on any failure)."""
        left = self.producer.flush(timeout_s)
        if left:
            raise DeliveryFailed(f"{left} records not acknowledged in {timeout_s:.0f} s")
        if self.errors:
            errors, self.errors = self.errors, []
            raise DeliveryFailed("; ".join(errors[:5]))

    def take_offsets(self) -> dict[tuple[str, int], int]:
        offsets, self.offsets = self.offsets, {}
        return offsets
