"""Did a receipt reach the broker? Asked after a restart, for an action whose outcome is
recorded but whose receipt acknowledgement is not; and for the first records of a partition
handed over from another worker (whose dedupe store we do not have).

The producer acknowledges a receipt asynchronously; a crash between the broker's write and our
note of it leaves a receipt that may or may not be on ``events.receipts``. Rather than emit it
again blindly (profiles would count it twice), we look for its event id among the last
``depth`` records of the partition its key maps to: receipts in flight at a crash are the most
recent ones. Each partition is read once per process and cached."""

from __future__ import annotations

import orjson
from confluent_kafka import Consumer, TopicPartition

from app.kafka_io import make_consumer, partitions_of, watermarks
from app.partitioner import partition_for
from app.settings import Settings


class ReceiptLedger:
    def __init__(self, settings: Settings, topic: str, depth: int = 20_000) -> None:
        self.settings = settings
        self.topic = topic
        self.depth = depth
        self._partitions: int | None = None
        self._seen: dict[int, set[str]] = {}

    def has(self, key: bytes, event_id: str) -> bool:
        if self._partitions is not None:
            cached = self._seen.get(partition_for(key, self._partitions))
            if cached is not None:
                return event_id in cached
        consumer = make_consumer(self.settings)
        try:
            if self._partitions is None:
                self._partitions = len(partitions_of(consumer, self.topic))
            partition = partition_for(key, self._partitions)
            if partition not in self._seen:
                self._seen[partition] = self._read(consumer, partition)
        finally:
            consumer.close()
        return event_id in self._seen[partition]

    def forget(self) -> None:
        """Drop the cache: the next question reads the partitions afresh (after a hand-over,
        the previous owner's receipts are newer than what was cached)."""
        self._seen.clear()

    def _read(self, consumer: Consumer, partition: int) -> set[str]:
        low, high = watermarks(consumer, TopicPartition(self.topic, partition))
        ids: set[str] = set()
        start = max(low, high - self.depth)
        if start >= high:
            return ids
        consumer.assign([TopicPartition(self.topic, partition, start)])
        while True:
            msg = consumer.poll(5.0)
            if msg is None:
                return ids  # the end offset was measured first; this is a safety net
            if msg.error():
                continue
            try:
                event_id = orjson.loads(msg.value() or b"{}").get("event_id")
            except orjson.JSONDecodeError:
                event_id = None
            if isinstance(event_id, str):
                ids.add(event_id)
            if (msg.offset() or 0) + 1 >= high:
                return ids

    def note(self, key: bytes, event_id: str) -> None:
        """A receipt produced by this process (keeps a cached partition current)."""
        if self._partitions is not None:
            cached = self._seen.get(partition_for(key, self._partitions))
            if cached is not None:
                cached.add(event_id)
