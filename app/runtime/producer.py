"""The process's one producer: outputs and changelog records, delivery errors kept for the
checkpoint (one producer so that, with exactly-once, one transaction holds all of them)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, Producer

from app.kafka_io import produce_or_wait
from app.stream.compat import LoneTails

OnDelivered = Callable[[int], None]  # called with the delivery time, epoch ms


class DeliveryFailed(RuntimeError):
    """The broker refused or lost a record: the checkpoint must not commit its inputs."""


class RuntimeProducer:
    def __init__(self, producer: Producer, tails: LoneTails | None = None) -> None:
        self.producer = producer
        #: Tansu only (app/stream/compat.py): each partition's newest record held back
        self.tails = tails
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
        headers: list[tuple[str, str | bytes | None]] | None = None,
        track: bool = False,
    ) -> None:
        """Queue one record. ``track``: remember its offset (changelog records). Delivery
        reports are served by ``poll`` (the runtime's loop, once per turn) and by ``flush``."""
        if on_delivered is None and not track:
            report = self._report_error  # most outputs: one shared callback, no closure
        else:
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

        tails = self.tails
        if tails is not None:
            if partition is None:
                partition = tails.place(topic, key)
            earlier = tails.hold(topic, partition, (topic, key, value, partition, report, headers))
            if earlier is None:
                return
            topic, key, value, partition, report, headers = earlier
        self._send(topic, key, value, partition, report, headers)

    def _send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        report: Callable[[KafkaError | None, Any], None],
        headers: list[tuple[str, str | bytes | None]] | None,
    ) -> None:
        kwargs: dict[str, Any] = {
            "key": key,
            "value": value,
            "on_delivery": report,
            "headers": headers,
        }
        if partition is not None:
            kwargs["partition"] = partition
        produce_or_wait(self.producer, topic, **kwargs)

    def _report_error(self, err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            self.errors.append(f"{msg.topic()}: {err.str()}")

    def poll(self) -> None:
        """Serve the delivery reports that have arrived (without waiting)."""
        self.producer.poll(0)

    def flush(self, timeout_s: float) -> None:
        """Wait until the broker acknowledged every queued record (raises on any failure)."""
        left = self.producer.flush(timeout_s)
        if not left and self.tails is not None and self.tails.held:
            for record in self.tails.release():  # each now alone in its partition's batch
                self._send(*record)
            left = self.producer.flush(timeout_s)
        if left:
            raise DeliveryFailed(f"{left} records not acknowledged in {timeout_s:.0f} s")
        if self.errors:
            errors, self.errors = self.errors, []
            raise DeliveryFailed("; ".join(errors[:5]))

    def discard_held(self) -> None:
        """Work abandoned (a failure, a lost assignment): what was held back is not sent."""
        if self.tails is not None:
            self.tails.release()

    def take_offsets(self) -> dict[tuple[str, int], int]:
        offsets, self.offsets = self.offsets, {}
        return offsets
