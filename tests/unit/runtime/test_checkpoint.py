"""The checkpoint's order against recording fakes of the producer and the consumer (the real
broker runs the same code in tests/integration/test_runtime.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, TopicPartition

from app.partitioner import partition_for
from app.runtime.changelog import SOURCE_HEADER
from app.runtime.checkpoint import Checkpoint, CheckpointFailed
from app.runtime.producer import RuntimeProducer
from app.runtime.store import PartitionStore
from app.stream.compat import LoneTails


class FakeKafkaProducer:
    def __init__(self, log: list[str], fail: bool = False) -> None:
        self.log = log
        self.fail = fail
        self.queued: list[tuple[str, dict[str, Any]]] = []
        self.offsets: dict[tuple[str, int], int] = {}

    def produce(self, topic: str, **kwargs: Any) -> None:
        self.log.append(f"produce {topic}")
        self.queued.append((topic, kwargs))

    def poll(self, _timeout: float) -> int:
        return 0

    def flush(self, _timeout: float) -> int:
        self.log.append("flush")
        self.deliver()
        return 0

    def deliver(self) -> None:
        """The broker acknowledges (or refuses) everything queued."""
        for topic, kwargs in self.queued:
            partition = kwargs.get("partition", 0)
            offset = self.offsets.get((topic, partition), -1) + 1
            self.offsets[topic, partition] = offset
            err = KafkaError(KafkaError.MSG_SIZE_TOO_LARGE) if self.fail else None
            kwargs["on_delivery"](err, FakeMessage(topic, partition, offset))
        self.queued = []


class FakeMessage:
    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self._t, self._p, self._o = topic, partition, offset

    def topic(self) -> str:
        return self._t

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o


class FakeConsumer:
    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.committed: list[TopicPartition] = []

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> list[TopicPartition]:
        self.log.append("commit async" if asynchronous else "commit")
        self.committed = offsets
        return offsets


class LoggingStore(PartitionStore):
    log: list[str]

    def write(self, changes: Any, changelog_offset: int | None) -> None:
        self.log.append(f"store {changelog_offset}")
        super().write(changes, changelog_offset)


def make(
    tmp_path: Path, fail: bool = False, pipelined: bool = False
) -> tuple[list[str], Checkpoint, LoggingStore, Any]:
    log: list[str] = []
    kafka = FakeKafkaProducer(log, fail)
    producer = RuntimeProducer(kafka)  # type: ignore[arg-type]
    consumer = FakeConsumer(log)
    store = LoggingStore(tmp_path / "s")
    store.log = log
    checkpoint = Checkpoint(producer, consumer, pipelined=pipelined)  # type: ignore[arg-type]
    return log, checkpoint, store, consumer


def handled(checkpoint: Checkpoint, store: PartitionStore, offset: int = 0) -> None:
    """A record of ``in``[0] handled: one key of ``store`` (changelog ``cl``) changed."""
    store.put("c1", {"n": 1})
    checkpoint.processed("in", 0, offset)
    checkpoint.touch(store, "cl", 0)


def test_outputs_then_changelog_then_flush_then_offsets_then_store(tmp_path: Path) -> None:
    log, checkpoint, store, consumer = make(tmp_path)
    checkpoint.begin()
    checkpoint.producer.produce("actions.email", b"c1", b"{}")
    store.put("c1", {"n": 1})
    store.put("c2", {"n": 1})
    checkpoint.processed("in", 3, 41)
    checkpoint.processed("in", 3, 42)
    checkpoint.touch(store, "app-agent-s-changelog", 3)
    checkpoint.commit()
    assert log == [
        "produce actions.email",
        "flush",  # the outputs are on the broker before any changelog record is sent
        "produce app-agent-s-changelog",
        "produce app-agent-s-changelog",
        "flush",
        "commit",
        "store 1",  # the second changelog record's offset on partition 3
    ]
    assert [(tp.topic, tp.partition, tp.offset) for tp in consumer.committed] == [("in", 3, 43)]
    assert store.changelog_offset() == 1
    assert checkpoint.empty


def test_changelog_records_carry_the_inputs_they_cover(tmp_path: Path) -> None:
    _log, checkpoint, store, _ = make(tmp_path)
    kafka = checkpoint.producer.producer
    sent: list[tuple[str, Any]] = []
    produce = kafka.produce
    kafka.produce = lambda topic, **kw: (
        sent.append((topic, kw.get("headers"))),
        produce(topic, **kw),
    )  # type: ignore[method-assign]
    checkpoint.producer.produce("out", b"k", b"v")
    store.put("c1", {"n": 1})
    checkpoint.processed("in", 0, 7)
    checkpoint.processed("other", 0, 2)
    checkpoint.touch(store, "cl", 0)
    checkpoint.commit()
    assert sent == [("out", None), ("cl", [(SOURCE_HEADER, b"in/0/7,other/0/2")])]


def test_a_store_without_changes_sends_nothing_to_its_changelog(tmp_path: Path) -> None:
    log, checkpoint, store, _ = make(tmp_path)
    checkpoint.processed("in", 0, 0)
    checkpoint.touch(store, "cl", 0)
    checkpoint.commit()
    assert log == ["flush", "commit"]  # no changelog record: nothing more to wait for
    assert store.changelog_offset() is None


def test_a_refused_delivery_commits_nothing_and_writes_no_store(tmp_path: Path) -> None:
    log, checkpoint, store, consumer = make(tmp_path, fail=True)
    handled(checkpoint, store)
    with pytest.raises(CheckpointFailed, match="Broker: Message size too large"):
        checkpoint.commit()
    assert "commit" not in log
    assert consumer.committed == []
    assert store.changelog_offset() is None


def test_on_tansu_each_partitions_newest_record_goes_alone_after_the_rest() -> None:
    """Tansu's end-offset defect (app/stream/compat.py, LoneTails): at a checkpoint's flush the
    last record of every written partition is sent only once all before it are acknowledged,
    so it is alone in its batch; the records before it are not held."""
    log: list[str] = []
    kafka = FakeKafkaProducer(log)
    producer = RuntimeProducer(kafka, LoneTails(lambda _topic: 4))  # type: ignore[arg-type]
    for i in range(3):
        producer.produce("out", b"k-a", b"a%d" % i, partition=1)
    producer.produce("out", b"k-b", b"b0", partition=2)
    producer.produce("log", None, b"keyless")
    sent_early = [kwargs["value"] for _topic, kwargs in kafka.queued]
    assert sent_early == [b"a0", b"a1"]  # a2, b0 and the keyless record are held
    producer.flush(1)
    assert log == [
        "produce out",
        "produce out",
        "flush",
        *["produce out"] * 2,
        "produce log",
        "flush",
    ]
    assert kafka.offsets == {("out", 1): 2, ("out", 2): 0, ("log", 0): 0}
    producer.produce("out", b"k-a", b"a3", partition=1)
    producer.discard_held()  # abandoned work: the held record is never sent
    producer.flush(1)
    assert kafka.offsets[("out", 1)] == 2


def test_on_tansu_a_record_without_a_partition_is_placed_by_its_key() -> None:
    kafka = FakeKafkaProducer([])
    producer = RuntimeProducer(kafka, LoneTails(lambda _topic: 8))  # type: ignore[arg-type]
    producer.produce("actions", b"c-42", b"x")
    producer.produce("actions", b"c-42", b"y")
    ((_topic, kwargs),) = kafka.queued
    assert kwargs["partition"] == partition_for(b"c-42", 8)


def test_pipelined_the_loop_goes_on_while_the_broker_acknowledges(tmp_path: Path) -> None:
    """start() takes the snapshot and returns; each step waits for its acknowledgements (the
    same order as a checkpoint run to the end), and what is handled meanwhile is the next's."""
    log, checkpoint, store, consumer = make(tmp_path, pipelined=True)
    kafka = checkpoint.producer.producer
    checkpoint.producer.produce("actions.email", b"c1", b"first")
    store.put("c1", {"n": 1})
    checkpoint.processed("in", 0, 5)
    checkpoint.touch(store, "cl", 0)
    assert checkpoint.start()
    assert log == ["produce actions.email"]  # nothing waited for, no changelog before outputs
    # the next period, while the first is in flight
    checkpoint.producer.produce("actions.email", b"c1", b"second")
    store.put("c1", {"n": 2})
    checkpoint.processed("in", 0, 6)
    checkpoint.touch(store, "cl", 0)
    assert not checkpoint.start()  # one in flight at most
    kafka.deliver()  # both outputs acknowledged
    checkpoint.advance()
    assert log[-1] == "produce cl"  # the snapshot's value, not the one put since
    assert kafka.queued[0][1]["value"] == b'{"n":1}'
    assert checkpoint.uncommitted() == {("in", 0)}
    checkpoint.advance()
    assert "commit" not in log  # the changelog is not acknowledged yet
    kafka.deliver()
    checkpoint.advance()
    assert log[-2:] == ["commit", "store 0"]
    assert [(tp.partition, tp.offset) for tp in consumer.committed] == [(0, 6)]
    assert checkpoint.flight is None
    assert store.dirty_count == 1  # c1's second value waits for the next checkpoint
    assert checkpoint.start()
    kafka.deliver()
    checkpoint.advance()
    kafka.deliver()
    checkpoint.advance()
    assert log[-1] == "store 1"
    assert log.count("commit") == 1  # the next commit is not due yet (offsets_every_s)
    assert checkpoint.uncommitted() == {("in", 0)}
    checkpoint.commit_offsets()  # the interval came with nothing new: what waits goes in
    assert [(tp.partition, tp.offset) for tp in consumer.committed] == [(0, 7)]
    assert checkpoint.uncommitted() == set()


def test_pipelined_a_refused_output_fails_the_checkpoint(tmp_path: Path) -> None:
    _log, checkpoint, store, _ = make(tmp_path, fail=True, pipelined=True)
    checkpoint.producer.produce("actions.email", b"c1", b"x")
    handled(checkpoint, store)
    checkpoint.start()
    checkpoint.producer.producer.deliver()
    with pytest.raises(CheckpointFailed, match=r"actions\.email: Broker: Message size too large"):
        checkpoint.advance()
    assert store.changelog_offset() is None


def test_abandoning_a_checkpoint_in_flight_writes_nothing(tmp_path: Path) -> None:
    log, checkpoint, store, _ = make(tmp_path, pipelined=True)
    handled(checkpoint, store)
    checkpoint.start()
    checkpoint.abandon()
    checkpoint.producer.producer.deliver()
    checkpoint.advance()
    assert not any(line.startswith(("commit", "store")) for line in log)
    assert store.get("c1") is None  # the cache went with the work: read from disk again
