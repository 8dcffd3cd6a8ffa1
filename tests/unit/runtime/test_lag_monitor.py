"""The lag monitor's shell against fakes of the admin client and the consumer: what it asks,
what it reports, and that a question in flight never holds up the loop (the real broker runs
it in tests/integration/test_live_journeys.py)."""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import Future
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import ListOffsetsResultInfo
from confluent_kafka.admin._listoffsets import EarliestSpec
from prometheus_client import REGISTRY

from app.runtime.checkpoint import Checkpoint
from app.runtime.lag_monitor import LagMonitor
from app.settings import Settings

GROUP = "g"


class Broker:
    """The figures the fake admin answers with, and the answers it has not given yet."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.ends = {0: 0, 1: 0}
        self.lows = {0: 0, 1: 0}
        #: the group's committed offsets, as the member knows them (Checkpoint.committed:
        #: read at assignment and from its own commits; never asked of the admin client,
        #: whose OffsetFetch crashes librdkafka 2.16 on NOT_COORDINATOR)
        self.committed = {0: -1001, 1: -1001}
        self.unanswered: list[tuple[Future[Any], Any]] = []
        self.asked = 0
        self.fail = False

    def answer(self) -> None:
        for future, value in self.unanswered:
            if isinstance(value, Exception):
                future.set_exception(value)
            else:
                future.set_result(value)
        self.unanswered = []

    def _later(self, value: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self.unanswered.append((future, value))
        return future

    def list_offsets(self, specs: dict[TopicPartition, Any], **_kw: Any) -> dict[Any, Any]:
        self.asked += 1
        figures = self.lows if isinstance(next(iter(specs.values())), EarliestSpec) else self.ends
        out = {}
        for tp in specs:
            value: Any = ListOffsetsResultInfo(figures[tp.partition], -1, -1)
            if self.fail:
                value = KafkaException(KafkaError(KafkaError._TIMED_OUT))
            out[tp] = self._later(value)
        return out


class Consumer:
    def __init__(self, topic: str) -> None:
        self.owned = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
        self.positions = {0: -1001, 1: -1001}

    def assignment(self) -> list[TopicPartition]:
        return list(self.owned)

    def position(self, tps: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, self.positions[tp.partition]) for tp in tps]


class Setup:
    def __init__(self) -> None:
        self.topic = f"t-{uuid.uuid4().hex[:6]}"  # metrics are process-wide: a topic per test
        self.broker = Broker(self.topic)
        self.consumer = Consumer(self.topic)
        self.checkpoint = Checkpoint(None, None)  # type: ignore[arg-type]
        self.monitor = LagMonitor(
            Settings(),
            self.consumer,  # type: ignore[arg-type]
            self.checkpoint,
            GROUP,
            interval_s=5,
            stall_after_s=20,
            admin=self.broker,  # type: ignore[arg-type]
        )

    def sample(self, now: float) -> None:
        """One sample: asked at ``now``, answered, and read at the next turn."""
        self.checkpoint.committed = {
            (self.topic, p): offset for p, offset in self.broker.committed.items() if offset >= 0
        }
        self.monitor.poll(now)
        self.broker.answer()
        self.monitor.poll(now)

    def lag(self, partition: int) -> float | None:
        labels = {"topic": self.topic, "partition": str(partition)}
        return REGISTRY.get_sample_value("segue_consumer_lag_records", labels)

    def stalled(self) -> tuple[float | None, float | None]:
        labels = {"topic": self.topic}
        return (
            REGISTRY.get_sample_value("segue_consumer_stalled_partitions", labels),
            REGISTRY.get_sample_value("segue_consumer_stalls_total", labels),
        )


def test_lag_from_the_brokers_offsets_and_a_stall_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = Setup()
    b = s.broker
    b.ends = {0: 1_000, 1: 300}
    b.lows = {0: 0, 1: 100}
    b.committed = {0: 400, 1: -1001}
    s.checkpoint.processed(s.topic, 0, 449)  # read up to 450, not yet committed
    s.consumer.positions = {0: 450, 1: -1001}
    s.sample(0)
    assert (s.lag(0), s.lag(1)) == (600, 200)  # end - committed; end - low (none committed)

    # the loop's turns between samples ask nothing; a question out is not waited for
    s.monitor.poll(1)
    assert b.asked == 2
    s.monitor.poll(5)
    assert b.asked == 4
    s.monitor.poll(6)
    assert s.lag(0) == 600  # unanswered: the last figures stand
    caplog.set_level(logging.INFO, "segue.runtime.lag")
    b.answer()
    s.monitor.poll(7)

    # partition 0 reads on and commits; partition 1 reads nothing while its records wait
    for now in (10, 15, 20, 25, 30):
        s.checkpoint.offsets = {}
        b.committed[0] = s.consumer.positions[0] = b.ends[0]
        b.ends[0] += 100
        b.ends[1] += 50
        s.sample(now)
    assert s.lag(0) == 100
    assert s.lag(1) == 450
    assert s.stalled() == (1.0, 1.0)
    stalls = [r.message for r in caplog.records if "stalled" in r.message]
    assert stalls == [f"stalled: {s.topic}[1] has 350 records waiting and none read for 20 s"]

    s.consumer.positions[1] = 250
    s.sample(35)
    assert s.stalled() == (0.0, 1.0)
    assert f"stall over (reading): {s.topic}[1]" in caplog.text


def test_revoked_partitions_and_unanswered_questions_withdraw_their_series() -> None:
    s = Setup()
    s.broker.ends = {0: 10, 1: 10}
    s.sample(0)
    assert (s.lag(0), s.lag(1)) == (10, 10)
    s.consumer.owned = s.consumer.owned[:1]
    s.monitor.forget(1, [TopicPartition(s.topic, 1)])
    assert s.lag(1) is None  # its new owner reports it
    s.broker.fail = True
    s.sample(5)
    assert s.lag(0) is None  # unknown is not 0
    s.broker.fail = False
    s.sample(10)
    assert s.lag(0) == 10
