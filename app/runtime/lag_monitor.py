"""The lag metrics and stall reports: the broker's offsets, sampled off the per-record path.

Every ``lag_interval_s`` the loop's turn starts two admin requests for the input partitions
this process owns: their end offsets (ListOffsets, latest, read-committed: the last stable
offset) and their low watermarks (ListOffsets, earliest). They run on librdkafka's threads; the
loop only looks whether the answers are in (a few future ``done()`` calls per turn while a
request is out) and, once they are, reads the consumer's positions and the group's committed
offsets and turns the figures into the gauges (lag.py says what they mean).

The committed offsets are the checkpoint's record (``Checkpoint.committed``: read from the
broker at each assignment, then every commit this member makes; only the owner of a partition
commits it), not an OffsetFetch through the admin client: librdkafka 2.16 dereferences the
admin handle's missing consumer group when that answer is NOT_COORDINATOR (librdkafka issue
#5040), which a coordinator that is loading after a broker restart answers. It ended the
worker with SIGSEGV in 3 of ~30 runs of test_a_broker_restart_mid_stream_loses_nothing_and_
changes_no_id (core dump: ``rd_kafka_cgrp_op`` from ``rd_kafka_handle_OffsetFetch`` from
``rd_kafka_ListConsumerGroupOffsetsResponse_parse``).

Why not librdkafka's statistics (``statistics.interval.ms``, ``consumer_lag``), which cost no
request: a partition's ``hi_offset`` there is the high watermark of its last fetch response, so
it freezes when the partition is not fetched. Measured on the embedded Kafka: a partition
paused with 100 records produced after it reported ``consumer_lag`` 0 (librdkafka issue
#4996). A fetcher that stops fetching is exactly the stall to report, and the figure that froze
at 0 is the one issue 13 saw (faust's aiokafka reader: 0 with 41,678 records waiting).
``get_watermark_offsets(cached=False)`` asks the broker too, but blocks the loop for one round
trip per partition.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    OFFSET_INVALID,
    Consumer,
    IsolationLevel,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec
from prometheus_client import Counter, Gauge

from app.runtime.checkpoint import Checkpoint
from app.runtime.lag import Key, Recovered, StallDetector, Stalled, lag_of
from app.settings import Settings

LAG = Gauge(
    "segue_consumer_lag_records",
    "Records of an input partition this process owns that the group has not committed as "
    "processed: end offset (last stable) minus where the group would resume",
    ["topic", "partition"],
)
STALLED = Gauge(
    "segue_consumer_stalled_partitions",
    "Input partitions of this process with records waiting and none read for SEGUE_STALL_AFTER_S",
    ["topic"],
)
STALLS = Counter(
    "segue_consumer_stalls_total",
    "Stalls: an input partition with records waiting and none read for SEGUE_STALL_AFTER_S",
    ["topic"],
)

#: how long the broker gets to answer one sample's requests
REQUEST_TIMEOUT_S = 10.0

log = logging.getLogger("segue.runtime.lag")


@dataclass(slots=True)
class _Query:
    """One sample's requests in flight."""

    partitions: list[TopicPartition]
    ends: dict[TopicPartition, Future[Any]]
    lows: dict[TopicPartition, Future[Any]]

    def futures(self) -> Iterable[Future[Any]]:
        yield from self.ends.values()
        yield from self.lows.values()


class LagMonitor:
    def __init__(
        self,
        settings: Settings,
        consumer: Consumer,
        checkpoint: Checkpoint,
        group_id: str,
        *,
        interval_s: float,
        stall_after_s: float,
        admin: AdminClient | None = None,
    ) -> None:
        self.consumer = consumer
        self.checkpoint = checkpoint
        self.group_id = group_id
        self.interval_s = interval_s
        self.admin = admin if admin is not None else AdminClient(settings.admin_config())
        self.detector = StallDetector(stall_after_s)
        self._query: _Query | None = None
        self._next_at = 0.0
        #: partitions whose lag series exists (removed when revoked: another process reports them)
        self._reported: set[Key] = set()
        self._failing = False

    def poll(self, now: float) -> None:
        """Once per turn of the loop: start a sample when one is due, finish one that is in."""
        query = self._query
        if query is None:
            if now >= self._next_at:
                self._next_at = now + self.interval_s
                try:
                    self._query = self._ask()
                except KafkaException as exc:  # refused before it was sent
                    self._failed(str(exc))
            return
        if all(future.done() for future in query.futures()):
            self._query = None
            self._sample(now, query)

    def _ask(self) -> _Query | None:
        partitions = self.consumer.assignment()
        if not partitions:
            return None
        plain = [TopicPartition(tp.topic, tp.partition) for tp in partitions]
        admin = self.admin
        return _Query(
            plain,
            admin.list_offsets(
                {tp: OffsetSpec.latest() for tp in plain},
                isolation_level=IsolationLevel.READ_COMMITTED,
                request_timeout=REQUEST_TIMEOUT_S,
            ),
            admin.list_offsets(
                {tp: OffsetSpec.earliest() for tp in plain}, request_timeout=REQUEST_TIMEOUT_S
            ),
        )

    def _sample(self, now: float, query: _Query) -> None:
        # the assignment now: a rebalance while the requests were out may have changed it
        owned = self.consumer.assignment()
        positions = {
            (tp.topic, tp.partition): tp.offset if tp.offset >= 0 else None
            for tp in self.consumer.position(owned)
        }
        committed = self.checkpoint.committed  # none yet: OFFSET_INVALID, as OffsetFetch says
        pending = self.checkpoint.uncommitted()
        failed = 0
        first: str | None = None
        for tp in query.partitions:
            key = (tp.topic, tp.partition)
            if key not in positions:
                continue  # revoked meanwhile
            try:
                end = query.ends[tp].result().offset
                low = query.lows[tp].result().offset
            except KafkaException as exc:
                failed += 1
                self._drop(key)  # unknown is not 0 (nor everything)
                first = first or f"{tp.topic}[{tp.partition}]: {exc}"
                continue
            position = positions[key]
            lag = lag_of(end, committed.get(key, OFFSET_INVALID), low, position, key in pending)
            LAG.labels(tp.topic, str(tp.partition)).set(lag)
            self._reported.add(key)
            self._report(self.detector.observe(now, key, lag, position))
        if failed and not self._failing:  # one line for all of them, once per failing streak
            log.warning("offsets of %d partitions not measured; the first: %s", failed, first)
        self._failing = failed > 0
        self._count_stalled({tp.topic for tp in query.partitions})

    def _failed(self, what: str) -> None:
        if not self._failing:
            log.warning("lag not measured (the gauges are withdrawn until it is): %s", what)
        self._failing = True
        for key in list(self._reported):
            self._drop(key)

    def forget(self, now: float, partitions: Iterable[TopicPartition]) -> None:
        """Partitions revoked or lost: their series go (their new owner reports them)."""
        topics = set()
        for tp in partitions:
            key = (tp.topic, tp.partition)
            topics.add(tp.topic)
            self._drop(key)
            self._report(self.detector.forget(now, key))
        self._count_stalled(topics)

    def _drop(self, key: Key) -> None:
        if key in self._reported:
            self._reported.discard(key)
            LAG.remove(key[0], str(key[1]))

    def _report(self, event: Stalled | Recovered | None) -> None:
        if event is None:
            return
        topic, partition = event.key
        if isinstance(event, Stalled):
            STALLS.labels(topic).inc()
            log.warning(
                "stalled: %s[%d] has %d records waiting and none read for %.0f s",
                topic,
                partition,
                event.lag,
                event.seconds,
            )
        elif event.reason == "revoked":
            log.info("stall over (revoked): %s[%d] after %.0f s", topic, partition, event.seconds)
        else:
            log.info(
                "stall over (%s): %s[%d] after %.0f s, lag %d",
                event.reason,
                topic,
                partition,
                event.seconds,
                event.lag,
            )

    def _count_stalled(self, topics: set[str]) -> None:
        stalled = self.detector.stalled
        for topic in topics:
            STALLED.labels(topic).set(sum(1 for t, _p in stalled if t == topic))
