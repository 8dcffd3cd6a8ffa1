"""A soak: the worker at a steady rate for minutes, its RSS and its true lag sampled every 10 s.

    python bench/soak.py [--rate 2000] [--seconds 600] [--every 10] [--out FILE]

Starts an embedded Apache Kafka on free ports and one ``segue worker --processes 1`` (the
example journeys and policies.yaml), then produces the live_latency mix stamped with the wall
clock at ``--rate`` events/s for ``--seconds``. Every ``--every`` seconds it samples:

- the worker's RSS (/proc/PID/status VmRSS);
- the true lag, measured here from the broker: the end offsets of the input partitions minus
  the consumer group's committed offsets (what a restart would re-read plus what is unread);
- the worker's own ``segue_consumer_lag_records`` gauge beside it (it must tell the same story);
- events handled so far (``segue_events_in_total``).

Prints a Markdown table (and writes it to ``--out``). Issue 13 asks for 10 minutes.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

from confluent_kafka import TopicPartition

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from live_latency import Env, Worker, event  # noqa: E402

from app.broker.embedded import KafkaBroker, free_port  # noqa: E402
from app.kafka_io import make_consumer  # noqa: E402
from app.worker.run import group_id  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def true_lag(env: Env, consumer: object) -> int:
    topic = env.names.events
    meta = consumer.list_topics(topic, timeout=10).topics[topic]  # type: ignore[attr-defined]
    parts = [TopicPartition(topic, p) for p in meta.partitions]
    committed = consumer.committed(parts, timeout=10)  # type: ignore[attr-defined]
    lag = 0
    for tp in committed:
        low, high = consumer.get_watermark_offsets(tp, timeout=10)  # type: ignore[attr-defined]
        lag += high - (tp.offset if tp.offset >= 0 else low)
    return lag


def produce_steadily(env: Env, rate: int, seconds: float, stop: threading.Event) -> None:
    producer = env.producer
    rng = random.Random(13)
    n = 0
    start = time.monotonic()
    while not stop.is_set() and (elapsed := time.monotonic() - start) < seconds:
        now_ms = int(time.time() * 1000)
        for _ in range(max(0, int(elapsed * rate) - n)):
            key, value = event(rng, n, now_ms)
            producer.produce(env.names.events, key=key, value=value)
            n += 1
        producer.poll(0)
        time.sleep(0.01)
    producer.flush(120)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=2_000)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--every", type=float, default=10)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="segue-soak-") as tmp_dir:
        tmp = Path(tmp_dir)
        broker = KafkaBroker("127.0.0.1", free_port(), tmp / "broker", controller_port=free_port())
        broker.start()
        try:
            env = Env(broker.bootstrap, tmp / "run", profile="kafka")
            worker = Worker(env)
            worker.wait("segue_runtime_assigned_partitions", 1)
            group = make_consumer(env.settings, group_id(env.settings))
            stop = threading.Event()
            feeder = threading.Thread(
                target=produce_steadily, args=(env, args.rate, args.seconds, stop), daemon=True
            )
            rows = [
                "| t (s) | worker RSS (MB) | true lag (records) | worker's lag gauge | events handled |",
                "| ---: | ---: | ---: | ---: | ---: |",
            ]
            began = time.monotonic()
            feeder.start()
            try:
                while feeder.is_alive():
                    time.sleep(max(0.0, args.every - (time.monotonic() - began) % args.every))
                    if worker.proc.poll() is not None:
                        raise SystemExit(f"the worker exited: {worker.log.read_text()[-3000:]}")
                    row = (
                        f"| {time.monotonic() - began:.0f} | {rss_mb(worker.proc.pid):.0f} | "
                        f"{true_lag(env, group):,} | "
                        f"{worker.metric('segue_consumer_lag_records'):,.0f} | "
                        f"{worker.metric('segue_events_in_total'):,.0f} |"
                    )
                    rows.append(row)
                    print(row, flush=True)
            finally:
                stop.set()
            counters = ", ".join(
                f"{name} {worker.metric(name):,.0f}"
                for name in (
                    "segue_consumer_stalls_total",
                    "segue_events_rejected_total",
                    "segue_internal_errors_total",
                )
            )
            rows.append(f"\nAt the end: {counters}.")
            group.close()
            worker.stop()
        finally:
            broker.stop()
    table = "\n".join(rows)
    header = f"Soak: {args.rate:,} events/s for {args.seconds:.0f} s, sampled every {args.every:.0f} s\n\n"
    if args.out:
        args.out.write_text(header + table + "\n")
    print(header + table)


if __name__ == "__main__":
    main()
