"""The limit: one confluent-kafka process that consumes, decodes with orjson and produces each
event again. No state, no logic: what the broker and client allow on this machine.

    python bench/pipelines/limit.py BOOTSTRAP IN_TOPIC OUT_TOPIC GROUP
"""

from __future__ import annotations

import signal
import sys

import orjson
from confluent_kafka import Consumer, Producer


def main() -> None:
    bootstrap, source, target, group = sys.argv[1:5]
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 1000,
            "fetch.wait.max.ms": 5,  # the embedded broker holds every fetch for the full max wait
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
        for msg in consumer.consume(1000, 0.05):
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
