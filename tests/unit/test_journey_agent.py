"""The journey agent's batch work, with a fake sink and store: same results as the pure core,
outputs delivered before state is written, redelivery and crashes handled."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

from app.core.envelope import validate_event
from app.core.journeys import Engine, load_journeys, load_policies
from app.core.journeys.replay import replay
from app.core.journeys.state import next_due
from app.core.timeutil import format_ms
from app.settings import Settings
from app.stream.journey_agent import Item, JourneyProcessor
from app.stream.latency import LatencyTracker
from app.stream.sink import Batch, DeliveryFailed
from app.stream.timer_index import CLOCK_PREFIX, TimerIndex
from app.topics.specs import TopicNames

TEST_JOURNEYS = Path(__file__).parents[1] / "integration" / "journeys"
TEST_POLICIES = Path(__file__).parents[1] / "integration" / "policies.yaml"
T0 = 1_800_000_000_000


class FakeSink:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []
        self.fail = False
        self.log: list[str] = []

    def batch(self) -> Batch:
        return Batch()

    def produce(self, batch: Batch, topic: str, key: bytes | None, value: bytes, **kw: Any) -> None:
        batch.left += 1
        self.sent.append((topic, key, value))
        if kw.get("on_delivered"):
            kw["on_delivered"](T0)

    async def deliver(self, batch: Batch) -> None:
        if self.fail:
            raise DeliveryFailed("broker gone")
        self.log.append("delivered")
        batch.left = 0


class DictStore:
    def __init__(self, log: list[str]) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.timers: dict[str, int] = {}
        self.log = log

    def get_record(self, handle: Any, key: str) -> dict[str, Any] | None:
        import copy

        record = self.records.get(key)
        return copy.deepcopy(record) if record is not None else None  # as if read from bytes

    def put_record(self, handle: Any, key: str, record: dict[str, Any]) -> None:
        import copy

        self.log.append("write")
        self.records[key] = copy.deepcopy(record)

    def get_timer(self, handle: Any, key: str) -> int | None:
        return self.timers.get(key)

    def put_timer(self, handle: Any, key: str, due: int | None) -> None:
        if due is None:
            self.timers.pop(key, None)
        else:
            self.timers[key] = due


def engine() -> Engine:
    return Engine(load_journeys(TEST_JOURNEYS), load_policies(TEST_POLICIES))


def events(n: int, seed: int = 1) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    kinds = ["SignedUp", "CartAbandoned", "PageViewed", "OrderPlaced", "OnboardingStepCompleted"]
    out = []
    for i in range(n):
        etype = rng.choice(kinds)
        props = {"cart_value": 50.0} if etype == "CartAbandoned" else {}
        raw = {
            "event_id": f"e-{i:04d}",
            "type": etype,
            "customer_id": f"c-{rng.randint(1, 8)}",
            "timestamp": format_ms(T0 + i * 700),
            "properties": props,
        }
        event = validate_event(raw)
        event["source"] = {"topic": "events", "partition": 0, "offset": i, "timestamp": T0}
        out.append(event)
    return out


def processor() -> tuple[JourneyProcessor, FakeSink, DictStore, TimerIndex]:
    sink = FakeSink()
    store = DictStore(sink.log)
    index = TimerIndex()
    index.reset([0], [])
    names = TopicNames(Settings())
    p = JourneyProcessor(engine(), names, sink, index, LatencyTracker(200), clock=lambda: T0 / 1000)
    return p, sink, store, index


def run(p: JourneyProcessor, store: DictStore, items: list[dict[str, Any]]) -> None:
    asyncio.run(p.process([Item(v, 0, i) for i, v in enumerate(items)], store))


def ticks_until(p: JourneyProcessor, index: TimerIndex, store: DictStore, until: int) -> None:
    """What the ticker does as time moves: tick every due customer until nothing is due."""
    while True:
        due = index.due_ticks(wall_ms=until, mono_s=0.0)
        if not due:
            return
        run(p, store, [{"key": t.key, "tick": t.now, "due": t.due} for t in due])


def action_ids(sink: FakeSink) -> list[str]:
    import orjson

    return [orjson.loads(v)["action_id"] for t, _, v in sink.sent if t.startswith("actions.")]


def test_batches_and_ticks_give_the_replay_actions() -> None:
    evs = events(120)
    until = evs[-1]["ts"] + 60_000
    expected = replay([dict(e) for e in evs], engine(), until=until)
    p, sink, store, index = processor()
    for start in range(0, len(evs), 7):  # batches of 7, timers ticked between them
        batch = evs[start : start + 7]
        ticks_until(p, index, store, batch[0]["ts"] - 1)
        run(p, store, batch)
    ticks_until(p, index, store, until)
    assert sorted(action_ids(sink)) == sorted(a["action_id"] for a in expected.actions)
    assert expected.actions  # the case is not empty
    timers = {k: v for k, v in store.timers.items() if not k.startswith(CLOCK_PREFIX)}
    assert timers == {
        k: d for k, r in store.records.items() if (d := next_due(r["journeys"])) is not None
    }


def test_outputs_are_delivered_before_any_state_is_written() -> None:
    p, sink, store, _ = processor()
    run(p, store, events(30))
    assert sink.log.index("delivered") < sink.log.index("write")


def test_a_failed_delivery_writes_nothing_and_the_retry_gives_the_same_ids() -> None:
    p, sink, store, _ = processor()
    evs = events(40)
    sink.fail = True
    with pytest.raises(DeliveryFailed):
        run(p, store, evs)
    assert store.records == {}
    first_try = action_ids(sink)
    sink.sent.clear()
    sink.fail = False
    run(p, store, evs)
    assert action_ids(sink) == first_try and first_try


def test_a_redelivered_batch_after_its_state_was_written_emits_nothing() -> None:
    p, sink, store, _ = processor()
    evs = events(40)
    run(p, store, evs)
    sink.sent.clear()
    run(p, store, evs)
    assert action_ids(sink) == []


def test_a_stale_tick_changes_nothing() -> None:
    p, sink, store, _ = processor()
    evs = events(10)
    run(p, store, evs)
    before = {k: dict(v) for k, v in store.records.items()}
    emitted = len(sink.sent)
    run(p, store, [{"key": k, "tick": T0, "due": T0} for k in before])  # nothing due by T0
    assert len(sink.sent) == emitted
    assert {k: v["journeys"] for k, v in store.records.items()} == {
        k: v["journeys"] for k, v in before.items()
    }
