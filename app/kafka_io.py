"""confluent-kafka clients for the CLI, the demo and tests: produce files, read topics."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from app.settings import Settings
from app.stream import compat


def make_producer(settings: Settings, **extra: Any) -> Producer:
    conf = settings.kafka_config(
        **{
            # Java-compatible key hashing, the same as Kafka's Java clients (and Kafka Streams) use.
            "partitioner": "murmur2_random",
            "linger.ms": 5,
            "enable.idempotence": True,
            # The DLQ accepts 4 MiB (topics.yaml): a dead letter carries its original (up to
            # the input topics' 2 MiB) in base64. The broker holds every other topic to its own
            # limit.
            "message.max.bytes": 4 * 1024 * 1024 + 4096,
        }
    )
    conf.update(compat.producer_overrides(settings))
    conf.update(extra)
    return Producer(conf)


def produce_or_wait(producer: Producer, topic: str, **kwargs: Any) -> None:
    """``producer.produce``, waiting out a full local queue (serving delivery reports) instead
    of failing with BufferError: back-pressure from the broker, never a lost record."""
    while True:
        try:
            producer.produce(topic, **kwargs)
            return
        except BufferError:
            producer.poll(0.01)


def make_consumer(settings: Settings, group_id: str | None = None, **extra: Any) -> Consumer:
    conf = settings.kafka_config(
        **{
            # under the topic prefix, as every id (prefix ACLs cover it)
            "group.id": group_id or settings.cli_group_id(),
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    conf.update(compat.consumer_overrides(settings))
    conf.update(extra)
    return Consumer(conf)


def partitions_of(consumer: Consumer, topic: str, timeout_s: float = 10.0) -> list[int]:
    meta = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
    if meta is None or meta.error is not None or not meta.partitions:
        raise KafkaException(f"topic {topic!r} does not exist")
    return sorted(meta.partitions)


#: What a partition answers for a while after its topic was created: Kafka (KRaft) answers
#: CreateTopics once the controller has it, before the partition's leader has loaded it.
NOT_READY_YET = (
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError.LEADER_NOT_AVAILABLE,
)


def watermarks(consumer: Consumer, tp: TopicPartition, timeout_s: float = 30.0) -> tuple[int, int]:
    """A partition's low and high watermarks, waiting out a newly created topic's first moments."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            low, high = consumer.get_watermark_offsets(tp, timeout=10)
            return int(low), int(high)
        except KafkaException as exc:
            if exc.args[0].code() not in NOT_READY_YET or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def read_partitions(
    settings: Settings,
    topic: str,
    partitions: list[int] | None = None,
    *,
    from_beginning: bool = True,
    max_records: int | None = None,
    follow: bool = False,
    idle_timeout_s: float = 5.0,
    ranges: dict[int, tuple[int | None, int | None]] | None = None,
) -> Iterator[Message]:
    """Read records by assignment (no group). Without ``follow``, stop at the end offsets
    measured at the start (or after ``idle_timeout_s`` without records, as a safety net).
    ``ranges`` reads only those partitions, each from its start offset (None: the first kept)
    to before its stop offset (None: the end now)."""
    consumer = make_consumer(settings)
    try:
        parts = partitions if partitions is not None else partitions_of(consumer, topic)
        if ranges is not None:
            missing = sorted(set(ranges) - set(parts))
            if missing:
                raise KafkaException(f"topic {topic!r} has no partition {missing[0]}")
            parts = sorted(ranges)
        ends: dict[int, int] = {}
        assignment = []
        for p in parts:
            low, high = watermarks(consumer, TopicPartition(topic, p))
            start = low if from_beginning else high
            if ranges is not None:
                first, stop = ranges[p]
                start = low if first is None else min(max(first, low), high)
                high = high if stop is None else min(stop, high)
            ends[p] = high
            if not follow and start >= high:
                continue
            assignment.append(TopicPartition(topic, p, start))
        if not assignment:
            return
        consumer.assign(assignment)
        pending = {tp.partition for tp in assignment}
        seen = 0
        last_record = time.monotonic()
        while follow or pending:
            msg = consumer.poll(0.2)
            if msg is None:
                if not follow:
                    # A transaction's commit marker takes the last offset of its partition and
                    # is never delivered: the position, not the last record, shows it was read.
                    pending -= _caught_up(consumer, topic, pending, ends)
                    if time.monotonic() - last_record > idle_timeout_s:
                        return
                continue
            if msg.error():
                raise KafkaException(msg.error())
            last_record = time.monotonic()
            if not follow and msg.partition() not in pending:
                continue  # past its stop offset (``ranges``), fetched with the records before it
            yield msg
            seen += 1
            if max_records is not None and seen >= max_records:
                return
            offset, partition = msg.offset(), msg.partition()
            done = offset is not None and partition is not None and offset + 1 >= ends[partition]
            if not follow and done:
                pending.discard(partition)
    finally:
        consumer.close()


def _caught_up(consumer: Consumer, topic: str, parts: set[int], ends: dict[int, int]) -> set[int]:
    """The partitions whose position has reached the end offset measured at the start."""
    if not parts:
        return set()
    positions = consumer.position([TopicPartition(topic, p) for p in parts])
    return {tp.partition for tp in positions if tp.offset >= ends[tp.partition]}
