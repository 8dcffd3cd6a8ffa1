"""Live pipeline speed on the embedded broker: sustained rate and event-to-action latency.

    python bench/live_latency.py [--rates 1000,5000] [--seconds 20] [--backlog 40000]

Starts an embedded Tansu broker on a free port, one `segue worker` (the example journeys and
policies.yaml), and then:

1. for each rate: produces events stamped with the wall clock at that rate for ``--seconds``
   and reports p50/p99/max event-to-action latency, measured on every action record as its
   broker timestamp (the worker's producer, CreateTime) minus ``source_timestamp`` (the input
   event's broker timestamp): the time from an event on the broker to its action on the broker;
2. the highest sustained rate: ``--backlog`` events are produced while the worker is stopped,
   then the worker is started and the time from its first to its last processed event is taken
   (events/s = backlog / that time).

The mix triggers immediate sends (PaymentFailed, SignedUp) among events that only update the
profile, over 20,000 customers. Everything runs on this machine (the broker, the worker, the
producer and the reader share its cores).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import TopicPartition
from hdrh.histogram import HdrHistogram

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.broker.embedded import TansuBroker, free_port  # noqa: E402
from app.core.timeutil import format_ms, parse_rfc3339  # noqa: E402
from app.kafka_io import make_consumer, make_producer  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.topics.apply import apply_topics  # noqa: E402
from app.topics.specs import TopicNames  # noqa: E402

MIX = [
    ("PageViewed", 30),
    ("ProductViewed", 15),
    ("PaymentFailed", 10),
    ("SignedUp", 10),
    ("CartUpdated", 10),
    ("ProfileUpdated", 10),
    ("PaymentSucceeded", 5),
    ("OrderPlaced", 5),
    ("TicketOpened", 2),
    ("TicketClosed", 3),
]
CUSTOMERS = 20_000


class Env:
    def __init__(self, bootstrap: str, tmp: Path, profile: str = "tansu") -> None:
        self.prefix = f"b{uuid.uuid4().hex[:6]}."
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self.settings = Settings(
            bootstrap_servers=bootstrap,
            broker_profile=profile,
            topic_prefix=self.prefix,
            state_dir=tmp / "state",
        )
        self.env = {
            **os.environ,
            "SEGUE_BOOTSTRAP_SERVERS": bootstrap,
            "SEGUE_BROKER_PROFILE": profile,
            "SEGUE_TOPIC_PREFIX": self.prefix,
            "SEGUE_STATE_DIR": str(tmp / "state"),
            "SEGUE_LOG_LEVEL": "warning",
        }
        assert apply_topics(self.settings).ok
        self.names = TopicNames(self.settings)
        # One producer for the whole run: a new one spends its first ~0.5 s on metadata and its
        # producer id while the records it was given already carry their CreateTime, which
        # would be counted as pipeline latency.
        self.producer = make_producer(self.settings, **{"linger.ms": 0})


class Worker:
    def __init__(self, env: Env) -> None:
        self.port = free_port()
        self.log = env.tmp / f"worker-{self.port}.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "app",
                    "worker",
                    "--processes",
                    "1",
                    "--policies",
                    "policies.yaml",
                ],
                cwd=ROOT,
                env={**env.env, "SEGUE_METRICS_PORT": str(self.port)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def metric(self, name: str) -> float:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return -1.0
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(name) and line[len(name)] in " {"
        )

    def wait(self, name: str, at_least: float, timeout_s: float = 300) -> None:
        deadline = time.monotonic() + timeout_s
        while self.metric(name) < at_least:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(
                    f"worker stuck waiting for {name}:\n{self.log.read_text()[-3000:]}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)


def event(rng: random.Random, n: int, ts_ms: int) -> tuple[bytes, bytes]:
    kinds = [t for t, w in MIX for _ in range(w)]
    etype = rng.choice(kinds)
    customer = f"c-{rng.randint(1, CUSTOMERS)}"
    props: dict[str, Any] = {
        "PaymentFailed": {"order_id": f"o-{n}", "amount": 20.0, "reason": "card_declined"},
        "OrderPlaced": {"order_id": f"o-{n}", "total": 30.0, "items": 1},
        "ProductViewed": {"session_id": "s", "product_id": "p-1", "price": 9.5},
        "CartUpdated": {"cart_value": 40.0, "items": 2},
        "ProfileUpdated": {"plan": "gold"},
        "TicketOpened": {"ticket_id": f"t-{n}", "severity": "low"},
    }.get(etype, {})
    value = {
        "event_id": f"bench-{n}",
        "type": etype,
        "customer_id": customer,
        "timestamp": format_ms(ts_ms),
        "properties": props,
    }
    return customer.encode(), orjson.dumps(value)


def produce_at(env: Env, rate: int, seconds: float, first: int) -> int:
    """Produce ``rate`` events/s for ``seconds`` (in 10 ms slices), stamped with the wall clock."""
    producer = env.producer
    rng = random.Random(first)
    n = first
    start = time.monotonic()
    slice_s = 0.01
    while (elapsed := time.monotonic() - start) < seconds:
        due = int(elapsed * rate) - (n - first)
        now_ms = int(time.time() * 1000)
        for _ in range(max(0, due)):
            key, value = event(rng, n, now_ms)
            producer.produce(env.names.events, key=key, value=value)
            n += 1
        producer.poll(0)
        time.sleep(slice_s)
    left = producer.flush(120)
    if left:
        raise SystemExit(f"the broker did not take {left} events within 120 s of the run")
    return n - first


def latencies(env: Env, since_ms: int) -> HdrHistogram:
    hist = HdrHistogram(1, 3_600_000, 3)
    consumer_topics = list(env.names.actions.values())
    consumer = make_consumer(env.settings)
    assignment, ends = [], {}
    for topic in consumer_topics:
        for p in consumer.list_topics(topic, timeout=10).topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                assignment.append(TopicPartition(topic, p, low))
                ends[topic, p] = high
    consumer.assign(assignment)
    pending = set(ends)
    while pending:
        msg = consumer.poll(1.0)
        if msg is None:
            break
        if msg.error():
            continue
        record = orjson.loads(msg.value())
        source = record.get("source_timestamp")
        if source:
            src = parse_rfc3339(source)
            if src >= since_ms:
                hist.record_value(max(1, msg.timestamp()[1] - src))
        if msg.offset() + 1 >= ends[msg.topic(), msg.partition()]:
            pending.discard((msg.topic(), msg.partition()))
    consumer.close()
    return hist


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default="1000,5000")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--backlog", type=int, default=40_000)
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",") if r]

    with tempfile.TemporaryDirectory(prefix="segue-bench-") as tmp_name:
        tmp = Path(tmp_name)
        broker = TansuBroker("127.0.0.1", free_port(), tmp / "broker")
        broker.start()
        try:
            results = []
            for rate in rates:
                env = Env(broker.bootstrap, tmp / f"rate-{rate}")
                worker = Worker(env)
                worker.wait("segue_events_in_total", 0)
                # warm up: the group join, the first batches
                warm = produce_at(env, 200, 3, first=0)
                worker.wait("segue_profile_updates_total", warm)
                since = int(time.time() * 1000)
                sent = produce_at(env, rate, args.seconds, first=warm)
                worker.wait("segue_profile_updates_total", warm + sent)
                time.sleep(1)
                hist = latencies(env, since)
                worker.stop()
                line = (
                    f"rate {rate}/s for {args.seconds:.0f}s: {sent} events, "
                    f"{hist.get_total_count()} event-triggered actions; latency p50 "
                    f"{hist.get_value_at_percentile(50)} ms, p99 "
                    f"{hist.get_value_at_percentile(99)} ms, max {hist.get_max_value()} ms"
                )
                print(line, flush=True)
                results.append(line)

            env = Env(broker.bootstrap, tmp / "backlog")
            producer = make_producer(env.settings)
            rng = random.Random(7)
            now_ms = int(time.time() * 1000)
            for n in range(args.backlog):
                key, value = event(rng, 1_000_000 + n, now_ms)
                while True:
                    try:
                        producer.produce(env.names.events, key=key, value=value)
                        break
                    except BufferError:
                        producer.poll(0.05)
                producer.poll(0)
            producer.flush(120)
            total = args.backlog
            worker = Worker(env)
            worker.wait("segue_profile_updates_total", 1)
            t0 = time.monotonic()
            first = worker.metric("segue_profile_updates_total")
            worker.wait("segue_profile_updates_total", total, timeout_s=900)
            elapsed = time.monotonic() - t0
            worker.stop()
            line = (
                f"sustained: {total - first:.0f} backlogged events in {elapsed:.1f}s = "
                f"{(total - first) / elapsed:,.0f} events/s (ingest + journeys, one worker)"
            )
            print(line, flush=True)
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
