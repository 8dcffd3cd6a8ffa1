"""The journey agent's batch work, with a fake outlet and store: same results as the pure core,
redelivery and crashes handled. (The order that makes a batch durable only after its outputs
are acknowledged is the runtime checkpoint's: tests/unit/runtime/.)"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from app.core.envelope import validate_event
from app.core.journeys import Engine, load_journeys, load_policies
from app.core.journeys.replay import replay
from app.core.journeys.state import next_due
from app.core.timeutil import format_ms
from app.settings import Settings
from app.stream.journey_agent import CLOCK_PREFIX, Item, JourneyProcessor
from app.stream.latency import LatencyTracker
from app.stream.sink import Batch
from app.topics.specs import TopicNames
from app.worker.journeys import PartitionClocks

TEST_JOURNEYS = Path(__file__).parents[1] / "integration" / "journeys"
TEST_POLICIES = Path(__file__).parents[1] / "integration" / "policies.yaml"
T0 = 1_800_000_000_000


class FakeSink:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []
        self.headers: list[Any] = []  # each sent record's headers, in the order of ``sent``
        self.log: list[str] = []

    def batch(self) -> Batch:
        return Batch()

    def produce(self, batch: Batch, topic: str, key: bytes | None, value: bytes, **kw: Any) -> None:
        self.sent.append((topic, key, value))
        self.headers.append(kw.get("headers"))
        if kw.get("on_delivered"):
            kw["on_delivered"](T0)


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


def processor() -> tuple[JourneyProcessor, FakeSink, DictStore, PartitionClocks]:
    sink = FakeSink()
    store = DictStore(sink.log)
    clocks = PartitionClocks()
    names = TopicNames(Settings())
    p = JourneyProcessor(
        engine(), names, sink, clocks, LatencyTracker(200), clock=lambda: T0 / 1000
    )
    return p, sink, store, clocks


def run(p: JourneyProcessor, store: DictStore, items: list[dict[str, Any]]) -> None:
    p.apply([Item(v, 0, i) for i, v in enumerate(items)], store).finish()


class Fired:
    """What the runtime's timers fire as time moves: every key whose stored due time is at or
    before its partition's time (the later of ``until`` and its newest event), once per due."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, int]] = set()

    def due(
        self, store: DictStore, clocks: PartitionClocks, until: int, partition_of: Any = None
    ) -> list[tuple[int, dict[str, Any]]]:
        ticks = []
        for key, at in sorted(store.timers.items(), key=lambda kv: (kv[1], kv[0])):
            partition = partition_of(key) if partition_of else 0
            now = max(until, clocks.newest(partition))
            if key.startswith(CLOCK_PREFIX) or at > now or (key, at) in self.seen:
                continue
            self.seen.add((key, at))
            ticks.append((partition, {"key": key, "tick": now, "due": at}))
        return ticks


def ticks_until(
    p: JourneyProcessor, clocks: PartitionClocks, store: DictStore, until: int, fired: Fired
) -> None:
    """Fire every due customer until nothing is due."""
    while due := fired.due(store, clocks, until):
        run(p, store, [tick for _partition, tick in due])


def action_ids(sink: FakeSink) -> list[str]:
    import orjson

    return [orjson.loads(v)["action_id"] for t, _, v in sink.sent if t.startswith("actions.")]


def test_batches_and_ticks_give_the_replay_actions() -> None:
    evs = events(120)
    until = evs[-1]["ts"] + 60_000
    expected = replay([dict(e) for e in evs], engine(), until=until)
    p, sink, store, clocks = processor()
    fired = Fired()
    for start in range(0, len(evs), 7):  # batches of 7, timers fired between them
        batch = evs[start : start + 7]
        ticks_until(p, clocks, store, batch[0]["ts"] - 1, fired)
        run(p, store, batch)
    ticks_until(p, clocks, store, until, fired)
    assert sorted(action_ids(sink)) == sorted(a["action_id"] for a in expected.actions)
    assert expected.actions  # the case is not empty
    timers = {k: v for k, v in store.timers.items() if not k.startswith(CLOCK_PREFIX)}
    assert timers == {
        k: d for k, r in store.records.items() if (d := next_due(r["journeys"])) is not None
    }


def test_a_batch_run_again_on_the_old_state_gives_the_same_ids() -> None:
    """A crash before the checkpoint: the batch is handled again on the state before it."""
    p, sink, store, _ = processor()
    evs = events(40)
    p.apply([Item(v, 0, i) for i, v in enumerate(evs)], store)  # never finished
    assert store.records == {}
    first_try = action_ids(sink)
    sink.sent.clear()
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


def test_producer_retries_fold_once_live_as_in_replay() -> None:
    """Copies of events (new input records, the same event_id) among the batches: the actions
    are replay's for the same stream, each copy is dropped and counted, the profiles count each
    event once."""
    from prometheus_client import REGISTRY

    originals = events(80, seed=3)
    stream = []
    rng = random.Random(5)
    for e in originals:
        stream.append(e)
        if rng.random() < 0.3:  # a retry, a record or two later (new offsets are given below)
            stream.insert(len(stream) - rng.randint(0, 1), dict(e))
    stream = [{**e, "source": {**e["source"], "offset": i}} for i, e in enumerate(stream)]
    copies = len(stream) - len(originals)
    until = stream[-1]["ts"] + 60_000
    expected = replay([dict(e) for e in stream], engine(), until=until)
    assert expected.duplicates == copies > 0 and expected.actions
    before = REGISTRY.get_sample_value("segue_events_duplicate_total") or 0.0
    p, sink, store, clocks = processor()
    fired = Fired()
    for start in range(0, len(stream), 9):
        batch = stream[start : start + 9]
        ticks_until(p, clocks, store, batch[0]["ts"] - 1, fired)
        run(p, store, batch)
    ticks_until(p, clocks, store, until, fired)
    assert sorted(action_ids(sink)) == sorted(a["action_id"] for a in expected.actions)
    assert REGISTRY.get_sample_value("segue_events_duplicate_total") == before + copies
    folded = sum(sum(r["profile"]["counts"].values()) for r in store.records.values())
    assert folded == len(originals)
