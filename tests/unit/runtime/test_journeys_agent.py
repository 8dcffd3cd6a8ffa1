"""The journeys agent on the runtime's stores and timers (app/worker/journeys.py): the replay's
actions, with timers fired through on_due instead of tick records, state through a checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from app.core.journeys.replay import replay
from app.core.journeys.state import next_due
from app.runtime.agent import DueBatch, PartitionBatch
from app.runtime.producer import RuntimeProducer
from app.runtime.store import PartitionStore
from app.runtime.timers import PartitionTimers
from app.settings import Settings
from app.stream.journey_agent import JourneyProcessor
from app.stream.latency import LatencyTracker
from app.topics.specs import TopicNames
from app.worker.journeys import PROFILES, PartitionClocks, RuntimeSink, journeys_agent
from tests.unit.test_journey_agent import T0, engine, events


class Record:
    def __init__(self, value: dict[str, Any], offset: int) -> None:
        self._value, self._offset = orjson.dumps(value), offset

    def value(self) -> bytes:
        return self._value

    def offset(self) -> int:
        return self._offset


class CapturingProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def produce(self, topic: str, **kw: Any) -> None:
        self.sent.append((topic, kw["value"]))

    def poll(self, _timeout: float) -> int:
        return 0


def test_batches_and_due_timers_give_the_replay_actions(tmp_path: Path) -> None:
    evs = events(150, seed=3)
    until = evs[-1]["ts"] + 60_000
    expected = replay([dict(e) for e in evs], engine(), until=until)
    kafka = CapturingProducer()
    producer = RuntimeProducer(kafka)  # type: ignore[arg-type]
    processor = JourneyProcessor(
        engine(),
        TopicNames(Settings()),
        RuntimeSink(producer),  # type: ignore[arg-type]
        PartitionClocks(),  # type: ignore[arg-type]
        LatencyTracker(200),
        clock=lambda: T0 / 1000,
    )
    agent = journeys_agent(processor, "customer-events")
    assert agent.on_due is not None
    profiles = PartitionStore(tmp_path / "profiles", cache_max=3)  # most reads from disk
    due_store = PartitionStore(tmp_path / "due")
    timers = PartitionTimers(due_store)
    stores = {PROFILES: profiles, "due": due_store}

    def fire_until(now: int) -> None:
        while keys := timers.take_due(now):
            agent.on_due(DueBatch(0, now, keys, stores, producer, timers))  # type: ignore[misc]

    def checkpoint(n: int) -> None:
        for store in stores.values():
            store.write(store.changes(), n)

    for n, start in enumerate(range(0, len(evs), 7)):
        batch = evs[start : start + 7]
        fire_until(batch[0]["ts"] - 1)
        records = [Record(e, start + i) for i, e in enumerate(batch)]
        agent.handle(PartitionBatch(0, records, stores, producer, timers))  # type: ignore[arg-type]
        checkpoint(n)
    fire_until(until)
    checkpoint(10_000)

    actions = [orjson.loads(v)["action_id"] for t, v in kafka.sent if t.startswith("actions.")]
    assert expected.actions
    assert sorted(actions) == sorted(a["action_id"] for a in expected.actions)
    # the runtime's schedule, rebuilt from its store, is exactly the journeys' next due times
    rebuilt = PartitionTimers(due_store)
    for key, record in profiles.items():
        assert rebuilt.due_of(key) == next_due(record["journeys"])


class InputRecord(Record):
    """An input record as consumed: topic, partition, key and broker timestamp too."""

    def __init__(self, event: dict[str, Any], partition: int, offset: int) -> None:
        super().__init__(event, offset)
        self._partition, self._key = partition, event["customer_id"].encode()

    def topic(self) -> str:
        return "events"

    def partition(self) -> int:
        return self._partition

    def key(self) -> bytes:
        return self._key

    def timestamp(self) -> tuple[int, int]:
        return (1, T0)

    def headers(self) -> None:
        return None


def test_an_event_on_its_customers_partition_is_handled_at_once_the_others_are_forwarded(
    tmp_path: Path,
) -> None:
    from app.core.identity import IdentityConfig
    from app.partitioner import partition_for
    from app.stream.identity_agent import IngestRouter
    from app.worker.ingest import forward

    names = TopicNames(Settings())
    kafka = CapturingProducer()
    producer = RuntimeProducer(kafka)  # type: ignore[arg-type]
    sink = RuntimeSink(producer)
    processor = JourneyProcessor(
        engine(), names, sink, PartitionClocks(), LatencyTracker(200), clock=lambda: T0 / 1000
    )
    router = IngestRouter(names, sink, 4, IdentityConfig())
    agent = journeys_agent(
        processor,
        names.customer_events,
        ("events",),
        lambda out, message, here: forward(names, sink, out, router, message, here=here),
    )
    raw = [{"event_id": f"x-{i}", "type": "PageViewed", "customer_id": f"c-{i}"} for i in range(12)]
    for event in raw:
        event["timestamp"] = "2027-01-15T08:00:00Z"
    mine = [e for e in raw if partition_for(e["customer_id"].encode(), 4) == 0]
    others = [e for e in raw if e not in mine]
    assert mine and others
    stores = {PROFILES: PartitionStore(tmp_path / "p"), "due": PartitionStore(tmp_path / "d")}
    timers = PartitionTimers(stores["due"])
    records = [InputRecord(e, 0, i) for i, e in enumerate(raw)]  # all read from partition 0
    agent.handle(PartitionBatch(0, records, stores, producer, timers))  # type: ignore[arg-type]

    forwarded = [
        orjson.loads(v)["customer_id"] for t, v in kafka.sent if t == names.customer_events
    ]
    assert sorted(forwarded) == sorted(e["customer_id"] for e in others)
    profiles = stores[PROFILES]  # folded here, without a record through customer-events
    assert all(profiles.get(e["customer_id"])["profile"]["counts"] for e in mine)
    assert all(profiles.get(e["customer_id"]) is None for e in others)
