"""A read-only view of the profiles, for message templates: it follows the profiles table's
changelog topic (compacted; key = UTF-8 customer id, value = ``{"sources", "profile"}``).

It is drained without blocking between actions, in the sink's one thread. An action may
arrive before the profile it was decided on is on the changelog (the journey agent writes its
table after producing the actions): :meth:`ProfileView.wait_for` then reads on, for a bounded
time, until the journey marks show the decision (app/core/delivery/snapshot.py). An action that
carries its own ``profile`` snapshot is always rendered with that one."""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from app.core.delivery.snapshot import Marks, caught_up, journey_marks
from app.kafka_io import make_consumer, partitions_of, watermarks
from app.settings import Settings
from app.topics.specs import TopicNames

log = logging.getLogger("segue.sink")


class ProfileView:
    def __init__(self, settings: Settings) -> None:
        self.topic = TopicNames(settings).profiles_changelog
        self._profiles: dict[str, dict[str, Any]] = {}
        self._marks: dict[str, Marks] = {}
        self._consumer: Consumer | None = make_consumer(settings)
        try:
            parts = partitions_of(self._consumer, self.topic)
        except KafkaException as exc:
            log.warning("no profile snapshots: %s", exc)
            self._consumer.close()
            self._consumer = None
            return
        self._consumer.assign([TopicPartition(self.topic, p, 0) for p in parts])
        self._catch_up(parts)

    def _catch_up(self, parts: list[int], timeout_s: float = 60.0) -> None:
        """Read up to the end offsets measured now, so that the first actions find the
        profiles that existed when the sink started."""
        assert self._consumer is not None
        ends = {}
        for p in parts:
            _low, high = watermarks(self._consumer, TopicPartition(self.topic, p))
            ends[p] = high
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            positions = self._consumer.position([TopicPartition(self.topic, p) for p in parts])
            if all(tp.offset >= ends[tp.partition] or ends[tp.partition] == 0 for tp in positions):
                break
            self._apply(self._consumer.consume(500, 0.2))
        log.info("profile snapshots: %d profiles read", len(self._profiles))

    def drain(self, max_records: int = 10_000) -> int:
        """Apply what the changelog has now (never waits); returns how many records."""
        if self._consumer is None:
            return 0
        n = 0
        while n < max_records:
            batch = self._consumer.consume(500, 0)
            if not batch:
                break
            self._apply(batch)
            n += len(batch)
        return n

    def _apply(self, batch: list[Message]) -> None:
        for msg in batch:
            raw_key = msg.key()
            if msg.error() or raw_key is None:
                continue
            key = raw_key.decode()
            value = msg.value()
            record = orjson.loads(value) if value is not None else None
            if record is None or "profile" not in record:
                # deleted, or an anonymous profile merged into a customer (a tombstone
                # {"merged_into": ...}): it has no profile of its own any more
                self._profiles.pop(key, None)
                self._marks.pop(key, None)
            else:
                self._profiles[key] = record["profile"]
                self._marks[key] = journey_marks(record.get("journeys"))

    def wait_for(self, action: dict[str, Any], timeout_s: float) -> bool:
        """Read on until the snapshot of the action's customer includes the decision that
        made it, for at most ``timeout_s``; False if it still does not (the caller goes on
        with what there is). Actions that do not say which decision made them never wait."""
        if self._consumer is None:
            return True
        customer = str(action.get("customer_id"))
        if caught_up(self._marks.get(customer), action) is not False:
            return True
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._apply(self._consumer.consume(500, 0.05))
            if caught_up(self._marks.get(customer), action):
                return True
        return False

    def get(self, customer_id: str) -> dict[str, Any] | None:
        return self._profiles.get(customer_id)

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
