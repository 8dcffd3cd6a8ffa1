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
