"""What the real broker guarantees that Segue relies on, shown on the embedded Apache Kafka.

Each of these failed, or could not be shown, on Tansu 0.6.0 (issue 11): ``tail --no-follow``
stopping short, aborted transactions visible to ``read_committed`` readers, compaction, and data
that survives a broker restart. They run wherever the broker under test is a real Kafka.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from app.broker.embedded import KafkaBroker, free_port
from app.kafka_io import read_partitions
from app.topics.specs import TopicNames
from tests.integration.broker import BrokerUnderTest
from tests.integration.support import Deployment
from tests.integration.test_cli import segue
from tests.integration.test_pipeline import some_events


def transactional_producer(bootstrap: str) -> Producer:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "transactional.id": f"test-{uuid.uuid4().hex[:8]}"}
    )
    producer.init_transactions(30)
    return producer


def write_transaction(producer: Producer, topic: str, values: list[bytes], commit: bool) -> None:
    producer.begin_transaction()
    for value in values:
        producer.produce(topic, key=value, value=value)
    producer.flush(30)
    if commit:
        producer.commit_transaction(30)
    else:
        producer.abort_transaction(30)


def read_all(bootstrap: str, topic: str, isolation: str) -> list[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex[:8]}",
            "isolation.level": isolation,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
        }
    )
    meta = consumer.list_topics(topic, timeout=10).topics[topic]
    consumer.assign([TopicPartition(topic, p, 0) for p in meta.partitions])
    values: list[bytes] = []
    at_end: set[int] = set()
    deadline = time.monotonic() + 30
    while len(at_end) < len(meta.partitions) and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            at_end.add(msg.partition())  # the EOF event (a real error fails the count below)
            continue
        values.append(msg.value())
    consumer.close()
    return values


def test_tail_no_follow_prints_every_record(real_kafka: BrokerUnderTest, tmp_path: Path) -> None:
    deployment = Deployment(real_kafka, tmp_path)
    names = TopicNames(deployment.settings)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in some_events(60, 10, seed=3)) + b"\n")
    assert segue(deployment.env, "produce", str(path)).returncode == 0
    # The actions a worker writes: committed transactions, so each partition ends on a marker.
    producer = transactional_producer(real_kafka.bootstrap)
    for batch in range(3):
        values = [b"action-%d-%d" % (batch, i) for i in range(10)]
        write_transaction(producer, names.actions["email"], values, commit=True)

    events = segue(deployment.env, "tail", names.events, "--from-beginning", "--no-follow")
    actions = segue(
        deployment.env, "tail", names.actions["email"], "--from-beginning", "--no-follow"
    )

    assert len(events.stdout.splitlines()) == 60, events.stderr
    assert len(actions.stdout.splitlines()) == 30, actions.stderr


def test_read_committed_never_sees_an_aborted_transaction(real_kafka: BrokerUnderTest) -> None:
    topic = f"t{uuid.uuid4().hex[:8]}.txn"
    admin = AdminClient({"bootstrap.servers": real_kafka.bootstrap})
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result()
    producer = transactional_producer(real_kafka.bootstrap)
    committed = [b"kept-%d" % i for i in range(8)]
    aborted = [b"aborted-%d" % i for i in range(8)]
    write_transaction(producer, topic, committed[:4], commit=True)
    write_transaction(producer, topic, aborted, commit=False)
    write_transaction(producer, topic, committed[4:], commit=True)

    assert sorted(read_all(real_kafka.bootstrap, topic, "read_committed")) == sorted(committed)
    # The aborted records are in the log: an uncommitted reader sees them.
    everything = read_all(real_kafka.bootstrap, topic, "read_uncommitted")
    assert sorted(everything) == sorted(committed + aborted)


def test_a_compacted_changelog_topic_is_compacted(
    real_kafka: BrokerUnderTest, tmp_path: Path
) -> None:
    deployment = Deployment(real_kafka, tmp_path, partitions=1)
    topic = TopicNames(deployment.settings).profiles_changelog
    admin = AdminClient(deployment.settings.kafka_config())
    small_segments = [
        ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)
        for name, value in {"segment.ms": "100", "min.cleanable.dirty.ratio": "0.01"}.items()
    ]
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=small_segments)
    admin.incremental_alter_configs([resource])[resource].result()
    keys = [b"customer-%d" % k for k in range(5)]
    versions = 40
    records = [(key, b"%s-v%d" % (key, v)) for v in range(versions) for key in keys]
    deployment.produce(records, topic)
    time.sleep(0.3)  # past segment.ms, so that the next write rolls the segment
    deployment.produce([(b"roll", b"roll")], topic)

    deadline = time.monotonic() + 90  # the log cleaner wakes every 15 s by default
    latest: list[tuple[bytes, bytes]] = []
    while time.monotonic() < deadline:
        latest = [(m.key(), m.value()) for m in read_partitions(deployment.settings, topic)]
        if len(latest) <= len(keys) + 1:
            break
        time.sleep(1)

    assert len(latest) == len(keys) + 1, f"{len(latest)} records left of {len(records) + 1}"
    assert dict(latest) == {**{k: b"%s-v%d" % (k, versions - 1) for k in keys}, b"roll": b"roll"}


def test_broker_restart_keeps_topics_offsets_and_committed_groups(tmp_path: Path) -> None:
    broker = KafkaBroker("127.0.0.1", free_port(), tmp_path, controller_port=free_port())
    broker.start()
    try:
        conf = {"bootstrap.servers": broker.bootstrap}
        admin = AdminClient(conf)
        admin.create_topics([NewTopic("kept", 3, 1)])["kept"].result()
        producer = Producer(conf)
        for i in range(30):
            producer.produce("kept", key=b"k%d" % i, value=b"v%d" % i)
        assert producer.flush(30) == 0
        group = Consumer({**conf, "group.id": "kept-group", "enable.auto.commit": False})
        group.commit(offsets=[TopicPartition("kept", p, 2) for p in range(3)], asynchronous=False)
        group.close()
        ends = watermarks(conf, "kept")

        broker.stop()
        broker.start()

        assert watermarks(conf, "kept") == ends
        assert sum(high for _low, high in ends) == 30
        group = Consumer({**conf, "group.id": "kept-group"})
        committed = group.committed([TopicPartition("kept", p) for p in range(3)], timeout=30)
        group.close()
        assert [tp.offset for tp in committed] == [2, 2, 2]
        values = read_all(broker.bootstrap, "kept", "read_committed")
        assert sorted(values) == sorted(b"v%d" % i for i in range(30))
    finally:
        broker.stop()


def watermarks(conf: dict[str, str], topic: str) -> list[tuple[int, int]]:
    consumer = Consumer({**conf, "group.id": "watermarks"})
    try:
        return [
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30) for p in range(3)
        ]
    finally:
        consumer.close()
