"""What the identity wiring costs per event in the worker's own code (no broker, no RocksDB).

Usage (from the repository root):
    /work/main/.venv/bin/python bench/identity_stream_cost.py [--hours H] [--rate R] [--repeat N]

The stream is the simulator's (seed 7), which carries SDK identifiers (a device id on web
events, an email hash on Identify). Each pass runs every event through ingest's routing and
then drains segue.identity through the identity agent (``IdentityProcessor``, a dict standing
for the identity table; records decoded with orjson as the faust codec does), until nothing is
left. Reported, best of N passes:

  ingest, before      partition + ``orjson.dumps`` + one produce per event (ingest before identity)
  ingest, routed      ``IngestRouter.send`` (forward or route, claims)
  identity agent      every identity record decoded and processed, per input event
  records per event   identity records, and extra customer-events records (linked, merge-out),
                      per input event: each is one more Kafka produce + fetch + commit share
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.core.envelope import validate_event  # noqa: E402
from app.core.identity import IdentityConfig  # noqa: E402
from app.partitioner import partition_for  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.sim import DEFAULT_START_MS, simulate  # noqa: E402
from app.stream.identity_agent import IdentityProcessor, IngestRouter  # noqa: E402
from app.stream.journey_agent import Item  # noqa: E402
from app.stream.sink import Batch  # noqa: E402
from app.topics.specs import TopicNames  # noqa: E402

PARTITIONS = 4


class CountingSink:
    """Keeps identity records (to drain them) and counts the rest by topic."""

    def __init__(self, identity_topic: str) -> None:
        self.identity_topic = identity_topic
        self.queue: list[tuple[int, bytes]] = []
        self.counts: dict[str, int] = {}
        self.offset = 0

    def batch(self) -> Batch:
        return Batch()

    def produce(self, batch: Batch, topic: str, key: bytes | None, value: bytes, **kw: Any) -> None:
        self.counts[topic] = self.counts.get(topic, 0) + 1
        if topic == self.identity_topic:
            self.queue.append((kw.get("partition") or 0, value))

    async def deliver(self, batch: Batch) -> None:
        batch.left = 0


class Rows:
    def __init__(self) -> None:
        self.rows: dict[str, Any] = {}

    def get_row(self, handle: Any, ident: str) -> Any:
        return self.rows.get(ident)

    def put_row(self, handle: Any, ident: str, row: Any) -> None:
        self.rows[ident] = row


def run_once(events: list[dict[str, Any]], names: TopicNames) -> dict[str, Any]:
    config = IdentityConfig()
    sink: Any = CountingSink(names.identity)
    # before: what ingest did per valid event
    plain = CountingSink(names.identity)
    out = Batch()
    started = time.perf_counter_ns()
    for event in events:
        key = event["key"].encode()
        partition = partition_for(key, PARTITIONS)
        plain.produce(out, names.customer_events, key, orjson.dumps(event), partition=partition)
    before_ns = time.perf_counter_ns() - started

    router = IngestRouter(names, sink, PARTITIONS, config)
    started = time.perf_counter_ns()
    for event in events:
        router.send(out, event)
    routed_ns = time.perf_counter_ns() - started

    agent = IdentityProcessor(names, sink, PARTITIONS, config)
    rows = Rows()
    offsets = [0] * PARTITIONS
    identity_ns = 0
    while sink.queue:
        pending, sink.queue = sink.queue, []
        started = time.perf_counter_ns()
        items = []
        for partition, value in pending:
            items.append(Item(orjson.loads(value), partition, offsets[partition]))
            offsets[partition] += 1
        for start in range(0, len(items), 500):  # the agent's batch size
            agent.apply(items[start : start + 500], rows)[1]()
        identity_ns += time.perf_counter_ns() - started
    return {
        "before": before_ns,
        "routed": routed_ns,
        "identity": identity_ns,
        "counts": dict(sink.counts),
        "rows": len(rows.rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    raw = simulate(7, args.rate, args.hours * 3600, DEFAULT_START_MS)
    events = []
    for offset, e in enumerate(raw):
        if isinstance(e, dict):
            event = validate_event(e)
            event["source"] = {"topic": "events", "partition": 0, "offset": offset, "timestamp": 0}
            events.append(event)
    n = len(events)
    names = TopicNames(Settings())
    anonymous = sum(1 for e in events if e["customer_id"] is None)
    with_ids = sum(1 for e in events if e["context"].get("identifiers"))
    print(f"{n} events: {anonymous} anonymous only, {with_ids} with context identifiers")
    runs = [run_once(events, names) for _ in range(args.repeat)]
    best = {k: min(r[k] for r in runs) for k in ("before", "routed", "identity")}
    counts = runs[0]["counts"]
    print(f"{'ingest, before (forward)':36s} {best['before'] / n / 1000:7.2f} us/event")
    print(f"{'ingest, routed (IngestRouter.send)':36s} {best['routed'] / n / 1000:7.2f} us/event")
    print(f"{'identity agent (decode + process)':36s} {best['identity'] / n / 1000:7.2f} us/event")
    extra = (best["routed"] - best["before"] + best["identity"]) / n / 1000
    print(f"{'extra CPU per event (worker code)':36s} {extra:7.2f} us/event")
    identity_records = counts.get(names.identity, 0)
    customer_records = counts.get(names.customer_events, 0)
    print(f"identity records per event           {identity_records / n:7.3f}")
    print(f"customer-events records per event    {customer_records / n:7.3f} (1.000 before)")
    print(f"review records                       {counts.get(names.identity_review, 0)}")
    print(f"identity rows (incl. origin marks)   {runs[0]['rows']}")


if __name__ == "__main__":
    main()
