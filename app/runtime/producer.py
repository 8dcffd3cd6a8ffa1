"""The process's one producer: outputs and changelog records, delivery errors kept for the
checkpoint (one producer so that, with exactly-once, one transaction holds all of them).

Every record belongs to an ``Epoch``: the outputs of one checkpoint period, or one checkpoint's
changelog records. An epoch counts its records not yet acknowledged and keeps their errors, so
the checkpoint can tell when *its* records are on the broker while the loop goes on producing
the next period's (``producer.flush`` would wait for those too).
"""

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


class Epoch:
    """Records produced together: how many are not yet acknowledged, the errors of those that
    failed and (for tracked records) the highest offset delivered per partition."""

    __slots__ = ("errors", "offsets", "pending")

    def __init__(self) -> None:
        self.pending = 0
        self.errors: list[str] = []
        #: (topic, partition) -> highest offset delivered, of the tracked records
        self.offsets: dict[tuple[str, int], int] = {}

    @property
    def delivered(self) -> bool:
        """Every record of the epoch acknowledged or refused (check ``errors``)."""
        return self.pending == 0

    def report(self, err: KafkaError | None, msg: Any) -> None:
        """The delivery report of an untracked record (one bound method: no closure each)."""
        self.pending -= 1
        if err is not None:
            self.errors.append(f"{msg.topic()}: {err.str()}")

    def report_tracked(self, err: KafkaError | None, msg: Any) -> None:
        """The delivery report of a tracked record (a changelog's): its offset is kept."""
        self.pending -= 1
        if err is not None:
            self.errors.append(f"{msg.topic()}: {err.str()}")
            return
        tp = (msg.topic(), msg.partition())
        offset = msg.offset()
        if offset > self.offsets.get(tp, -1):
            self.offsets[tp] = offset

    def failure(self) -> str | None:
        return "; ".join(self.errors[:5]) if self.errors else None


class RuntimeProducer:
    def __init__(self, producer: Producer, tails: LoneTails | None = None) -> None:
        self.producer = producer
        #: Tansu only (app/stream/compat.py): each partition's newest record held back
        self.tails = tails
        #: the epoch of the outputs produced now (``cut`` closes it)
        self.epoch = Epoch()

    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None = None,
        on_delivered: OnDelivered | None = None,
        headers: list[tuple[str, str | bytes | None]] | None = None,
        track: bool = False,
        epoch: Epoch | None = None,
    ) -> None:
        """Queue one record, in ``epoch`` (default: the current outputs' epoch). ``track``:
        remember its offset (changelog records). Delivery reports are served by ``poll`` (the
        runtime's loop, once per turn) and by ``flush``."""
        if epoch is None:
            epoch = self.epoch
        epoch.pending += 1
        if on_delivered is None:
            # one shared callback per epoch, no closure per record
            report = epoch.report_tracked if track else epoch.report
        else:
            if track:
                raise ValueError("a record is tracked (a changelog's) or reports its delivery")
            fail = epoch.report

            def report(err: KafkaError | None, msg: Any) -> None:
                if err is not None:
                    fail(err, msg)
                    return
                epoch.pending -= 1
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

    def poll(self) -> None:
        """Serve the delivery reports that have arrived (without waiting)."""
        self.producer.poll(0)

    def cut(self) -> Epoch:
        """Close the current outputs' epoch (returned) and open the next."""
        closed, self.epoch = self.epoch, Epoch()
        return closed

    def flush(self, timeout_s: float) -> None:
        """Wait until the broker acknowledged every queued record, of every epoch (raises when
        some are not; their epochs say which were refused)."""
        left = self.producer.flush(timeout_s)
        if not left and self.tails is not None and self.tails.held:
            for record in self.tails.release():  # each now alone in its partition's batch
                self._send(*record)
            left = self.producer.flush(timeout_s)
        if left:
            raise DeliveryFailed(f"{left} records not acknowledged in {timeout_s:.0f} s")

    def discard_held(self) -> None:
        """Work abandoned (a failure, a lost assignment): what was held back is not sent."""
        if self.tails is not None:
            self.tails.release()
