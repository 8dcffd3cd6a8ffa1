"""The limit: one confluent-kafka process that consumes, decodes with orjson and produces each
event again. No state, no logic: what the broker and client allow on this machine.

    python bench/pipelines/limit.py BOOTSTRAP IN_TOPIC OUT_TOPIC GROUP [PROFILE]

PROFILE (kafka or tansu) gives it the same broker compatibility settings as Segue's CLI clients.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import orjson
from confluent_kafka import Consumer, Message, Producer

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.settings import Settings
from app.stream import compat


def next_batch(consumer: Consumer, most: int = 1000, wait_s: float = 0.05) -> list[Message]:
    """What has arrived, as soon as anything has: ``consume(n, timeout)`` alone would hold a
    partial batch for the whole timeout, adding up to ``wait_s`` to every record at low rates."""
    first = consumer.poll(wait_s)
    if first is None:
        return []
    return [first, *consumer.consume(most - 1, 0)]


def main() -> None:
    bootstrap, source, target, group = sys.argv[1:5]
    profile = sys.argv[5] if len(sys.argv) > 5 else "kafka"
    settings = Settings(bootstrap_servers=bootstrap, broker_profile=profile)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
            # Tansu holds every fetch for the full max wait; on Kafka this only bounds the idle.
            "fetch.wait.max.ms": 5,
            **compat.consumer_overrides(settings),
        }
    )
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 1, "partitioner": "murmur2_random"}
    )
    consumer.subscribe([source])
    running = True

    def stop(*_: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    while running:
        for msg in next_batch(consumer):
            if msg.error():
                continue
            event = orjson.loads(msg.value())
            while True:
                try:
                    producer.produce(target, key=msg.key(), value=orjson.dumps(event))
                    break
                except BufferError:
                    producer.poll(0.01)
        producer.poll(0)
    producer.flush(10)
    consumer.close()


if __name__ == "__main__":
    main()
