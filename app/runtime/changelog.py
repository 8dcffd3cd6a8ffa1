"""Changelog topics: their names, the headers their records carry, and recovery in bulk.

Each agent store has one compacted changelog topic, co-partitioned with the agent's input:
store partition p is changelog partition p. A changelog record is (key, encoded value or a
tombstone) with the input offsets its checkpoint covered in the ``segue-source`` header
(``topic/partition/offset`` of the last processed record of each input partition), so an
operator can tell which input a state change came from.

Recovery reads changelog partition p from the offset after the store's checkpointed one to the
end and writes the raw bytes into the store (no decode), in WriteBatches of ``RECOVERY_BATCH``
records, each with the offset it reaches: a recovery cut short resumes where it stopped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from app.kafka_io import watermarks
from app.runtime.store import Change, PartitionStore

SOURCE_HEADER = "segue-source"
#: changelog records per consume() call and per store WriteBatch during recovery
RECOVERY_BATCH = 10_000
#: how long recovery waits for records it knows are there before it gives up (a broken broker)
RECOVERY_STALL_S = 60.0

log = logging.getLogger("segue.runtime.changelog")


def changelog_topic(prefix: str, app_id: str, agent: str, store: str) -> str:
    return f"{prefix}{app_id}-{agent}-{store}-changelog"


def source_header(offsets: dict[tuple[str, int], int]) -> bytes:
    return ",".join(f"{t}/{p}/{o}" for (t, p), o in sorted(offsets.items())).encode()


@dataclass(frozen=True, slots=True)
class Recovered:
    records: int
    seconds: float
    offset: int | None  # the changelog offset the store now reflects


def recover(
    consumer: Consumer,
    topic: str,
    partition: int,
    store: PartitionStore,
    progress: Callable[[int, int], None] | None = None,
) -> Recovered:
    """Bring ``store`` up to the end of its changelog partition (``consumer``: not in a group)."""
    started = time.monotonic()
    tp = TopicPartition(topic, partition)
    low, high = watermarks(consumer, tp)
    done = store.changelog_offset()
    start = low if done is None else max(done + 1, low)
    if start >= high:
        return Recovered(0, time.monotonic() - started, done)
    consumer.assign([TopicPartition(topic, partition, start)])
    count = 0
    last = done
    stalled_since = time.monotonic()
    try:
        while True:
            # what has arrived, at once: consume(n, timeout) alone waits out its whole
            # timeout for a partition holding fewer than n records (most of them)
            first = consumer.poll(0.5)
            messages = [first, *consumer.consume(RECOVERY_BATCH - 1, 0)] if first else []
            records: list[Change] = []
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise KafkaException(error)
                key = message.key()
                if key is None:
                    continue
                records.append((key, message.value()))
                last = message.offset()
            if records and last is not None:
                store.write_raw(records, last)
                count += len(records)
                stalled_since = time.monotonic()
                if progress is not None:
                    progress(count, high - start)
            # the position passes transaction markers and compacted gaps that no record shows
            position = consumer.position([tp])[0].offset
            if position >= high:
                break
            if not messages and time.monotonic() - stalled_since > RECOVERY_STALL_S:
                raise RuntimeError(
                    f"recovery of {topic}[{partition}] stalled at offset {position} of {high}"
                )
    finally:
        consumer.unassign()
    # mark the end reached even when the tail was markers or compacted away
    if high - 1 != last:
        store.write_raw([], high - 1)
        last = high - 1
    return Recovered(count, time.monotonic() - started, last)
