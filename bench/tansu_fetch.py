"""Tansu's read rate against the number of record batches in a partition.

    .venv/bin/python bench/tansu_fetch.py --records 5000,10000,20000 --batch 1

Writes N records of 1,100 bytes to a one-partition topic of a fresh embedded broker, with
``--batch`` records per batch at most (the partition's last record always alone in its batch:
the end offset defect), then reads them from offset 0 with confluent-kafka and prints records/s.
Measured here (2026-11): one record per batch reads at ~41k/s for 5,000 records, ~10k/s for
10,000 and ~420/s for 20,000 (a fetch costs in proportion to the batches before it); with
10,000 per batch, 250,000 records read at ~400k/s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.broker.embedded import TansuBroker, free_port  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", default="5000,10000,20000")
    parser.add_argument("--batch", type=int, default=1, help="records per batch at most")
    parser.add_argument("--fetch", type=int, default=256 * 1024, help="max.partition.fetch.bytes")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    broker = TansuBroker("127.0.0.1", free_port(), Path(tempfile.mkdtemp()))
    broker.start()
    try:
        bootstrap = broker.bootstrap
        admin = AdminClient({"bootstrap.servers": bootstrap})
        for n in (int(x) for x in args.records.split(",")):
            topic = f"fetch-{n}"
            for fut in admin.create_topics([NewTopic(topic, 1, 1)]).values():
                fut.result()
            producer = Producer(
                {
                    "bootstrap.servers": bootstrap,
                    "batch.num.messages": args.batch,
                    "linger.ms": 5,
                    "queue.buffering.max.messages": 1_000_000,
                }
            )
            value = b"x" * 1100
            for i in range(n - 1):
                producer.produce(topic, key=b"k%d" % i, value=value)
                producer.poll(0)
            producer.flush()
            producer.produce(topic, key=b"last", value=value)
            producer.flush()
            consumer = Consumer(
                {
                    "bootstrap.servers": bootstrap,
                    "group.id": topic,
                    "fetch.wait.max.ms": 10,
                    "max.partition.fetch.bytes": args.fetch,
                }
            )
            high = consumer.get_watermark_offsets(TopicPartition(topic, 0), 10)[1]
            consumer.assign([TopicPartition(topic, 0, 0)])
            got, began = 0, time.monotonic()
            while got < n and time.monotonic() - began < args.timeout:
                got += len(consumer.consume(1000, 0.5))
            took = time.monotonic() - began
            print(
                f"{n:>9,} records, <= {args.batch:,} per batch: end offset {high:,} "
                f"({'right' if high == n else 'WRONG'}); read {got:,} in {took:.1f} s = "
                f"{got / took:,.0f} records/s",
                flush=True,
            )
            consumer.close()
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
