"""Adaptive journeys on the runtime's journeys agent (app/worker/journeys.py): batches that span
hours of event time (a worker catching up), timers fired after each batch as the runtime does,
and the choices are still the replay's: the agent fires the timers the arm windows need before
a record that reads them, and each partition's book lives in the store."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from app.core.envelope import validate_event
from app.core.journeys import Engine
from app.core.journeys.bandit import BOOK_KEY, Books
from app.core.journeys.replay import replay
from app.runtime.agent import DueBatch, PartitionBatch
from app.runtime.producer import RuntimeProducer
from app.runtime.store import PartitionStore
from app.runtime.timers import PartitionTimers
from app.settings import Settings
from app.sim.arms import ArmsPlan, run_arms
from app.stream.journey_agent import JourneyProcessor
from app.stream.latency import LatencyTracker
from app.topics.specs import TopicNames
from app.worker.journeys import PROFILES, PartitionClocks, RuntimeSink, journeys_agent
from tests.unit.runtime.test_journeys_agent import CapturingProducer, Record
from tests.unit.test_adaptive import RATES, SPLIT_JOURNEY, choices_of

#: the adaptive step reached at the trigger (a fifth of the entries) and at a timer (the rest):
#: a batch's timers fire at its end, so without the agent's window rule an event-time choice
#: late in a long batch would miss the pulls of timers due hours before it
MIXED = copy.deepcopy(SPLIT_JOURNEY)
MIXED["steps"].insert(
    0,
    {
        "id": "route",
        "branch": [
            {
                "when": "event.event_id.endsWith('0') || event.event_id.endsWith('5')",
                "goto": "pick",
            },
            {"goto": "settle"},
        ],
    },
)


def one_partition_engine(doc: dict[str, Any]) -> Engine:
    engine = Engine([doc])
    engine.arms = Books(1)
    return engine


class RuntimeAgent:
    """The journeys agent of ``doc`` on the runtime's stores and timers, one partition."""

    def __init__(self, tmp_path: Path, doc: dict[str, Any], cache_max: int | None = None) -> None:
        self.kafka = CapturingProducer()
        self.producer = RuntimeProducer(self.kafka)  # type: ignore[arg-type]
        self.names = TopicNames(Settings())
        processor = JourneyProcessor(
            Engine([doc]),
            self.names,
            RuntimeSink(self.producer),  # type: ignore[arg-type]
            PartitionClocks(),  # type: ignore[arg-type]
            LatencyTracker(200),
            clock=lambda: 0.0,
        )
        self.agent = journeys_agent(processor, "customer-events")
        assert self.agent.on_due is not None
        sized = {} if cache_max is None else {"cache_max": cache_max}
        self.profiles = PartitionStore(tmp_path / "profiles", **sized)  # type: ignore[arg-type]
        self.timers = PartitionTimers(PartitionStore(tmp_path / "due"))
        self.stores = {PROFILES: self.profiles, "due": self.timers.store}

    def handle(self, events: list[dict[str, Any]], first_offset: int) -> None:
        records = [Record(e, first_offset + i) for i, e in enumerate(events)]
        batch = PartitionBatch(0, records, self.stores, self.producer, self.timers)  # type: ignore[arg-type]
        self.agent.handle(batch)

    def fire_until(self, now: int) -> None:
        """The runtime, after a batch: what is due at the partition's time."""
        assert self.agent.on_due is not None
        while keys := self.timers.take_due(now):
            due = DueBatch(0, now, keys, self.stores, self.producer, self.timers)  # type: ignore[arg-type]
            self.agent.on_due(due)

    def checkpoint(self, n: int) -> None:
        for store in self.stores.values():
            store.write(store.changes(), n)

    def outcomes(self) -> list[dict[str, Any]]:
        return [orjson.loads(v) for t, v in self.kafka.sent if t == self.names.outcomes]


@pytest.mark.parametrize("batch_size", [7, 400])
def test_batches_spanning_hours_make_the_replay_choices(tmp_path: Path, batch_size: int) -> None:
    plan = ArmsPlan(journey=MIXED, step="pick", rates=RATES, entries=900, per_hour=150)
    run = run_arms(plan, one_partition_engine)
    events = [validate_event(e) for e in run.events]
    until = events[-1]["ts"] + 3 * 86_400_000
    expected = replay([dict(e) for e in events], one_partition_engine(MIXED), until=until)
    assert choices_of(expected.outcomes) == {c.customer: c.arm for c in run.choices}

    live = RuntimeAgent(tmp_path, MIXED, cache_max=50)
    for n, start in enumerate(range(0, len(events), batch_size)):
        batch = events[start : start + batch_size]
        live.handle(batch, start)
        live.fire_until(batch[-1]["ts"])
        live.checkpoint(n)
    live.fire_until(until)

    outcomes = live.outcomes()
    assert choices_of(outcomes) == choices_of(expected.outcomes)
    live_ids = {o["outcome_id"] for o in outcomes}
    assert live_ids == {o["outcome_id"] for o in expected.outcomes}
    actions = sorted(
        orjson.loads(v)["action_id"] for t, v in live.kafka.sent if t.startswith("actions.")
    )
    assert actions == sorted(a["action_id"] for a in expected.actions)
    book = live.profiles.get(BOOK_KEY)  # the partition's statistics, in its store
    assert book is not None and book["w"]


#: 30 customers pick after a 10 min and a 4 h wait, 60 others after 10 min; a timer sweep that
#: covers hours must still fire the second ones' picks (window 0) before the first ones' (window
#: 4, which reads windows up to 2): key by key to its own due time, window by window
CHAINED: dict[str, Any] = {
    "id": "chained",
    "version": 1,
    "trigger": {"event": "Start"},
    "steps": [
        {"id": "settle", "wait": "10m"},
        {
            "id": "route",
            "branch": [
                {"when": "entry.trigger.properties.slow == true", "goto": "long"},
                {"goto": "pick"},
            ],
        },
        {"id": "long", "wait": "4h"},
        {
            "id": "pick",
            "split": [
                {"variant": "a", "weight": 1, "goto": "hold"},
                {"variant": "b", "weight": 1, "goto": "hold"},
            ],
            "adaptive": {"reward": "Click", "floor": 0},
        },
        {"id": "hold", "wait": "1d"},
    ],
}


@pytest.mark.parametrize("swept_by", ["a later event", "the partition's time"])
def test_a_sweep_over_hours_fires_each_window_in_turn(tmp_path: Path, swept_by: str) -> None:
    from app.core.timeutil import format_ms

    hour, start = 3_600_000, 1_799_996_400_000  # on the hour

    def event(n: int, key: str, at: int, etype: str, slow: bool = False) -> dict[str, Any]:
        return validate_event(
            {
                "event_id": f"e{n:03d}",
                "type": etype,
                "customer_id": key,
                "timestamp": format_ms(at),
                "properties": {"slow": slow},
            }
        )

    starts = [event(i, f"A{i:02d}", start, "Start", slow=True) for i in range(30)]
    starts += [event(30 + i, f"X{i:02d}", start + 300_000, "Start") for i in range(60)]
    ping = event(99, "Z", start + 6 * hour, "Ping")
    until = start + 6 * hour
    history = [*starts, ping] if swept_by == "a later event" else starts
    expected = replay([dict(e) for e in history], one_partition_engine(CHAINED), until=until)
    assert len(choices_of(expected.outcomes)) == 90

    live = RuntimeAgent(tmp_path, CHAINED)
    live.handle(starts, 0)
    if swept_by == "a later event":
        live.handle([ping], len(starts))
    live.fire_until(until)
    assert choices_of(live.outcomes()) == choices_of(expected.outcomes)


def test_segue_explain_replays_adaptive_choices_as_segue_replay_does() -> None:
    """explain's replay (app/explain/trace.py) fires everyone's timers up to its end in their
    time, and a record made at another customer's timer names no event."""
    from app.core.identity_replay import DictTable
    from app.core.journeys.replay import order_events
    from app.core.timeutil import format_ms
    from app.explain.trace import trace

    hour, start = 3_600_000, 1_799_996_400_000
    events = [
        validate_event(
            {
                "event_id": f"e{i:03d}",
                "type": "Start",
                "customer_id": f"A{i:02d}" if i < 30 else f"X{i:02d}",
                "timestamp": format_ms(start + (0 if i < 30 else 300_000)),
                "properties": {"slow": i < 30},
            }
        )
        for i in range(90)
    ]
    ping = validate_event(
        {
            "event_id": "z",
            "type": "Ping",
            "customer_id": "Z",
            "timestamp": format_ms(start + 3 * hour),
        }
    )
    until = start + 8 * hour
    expected = choices_of(
        replay([dict(e) for e in events], one_partition_engine(CHAINED), until=until).outcomes
    )
    for key in ("A00", "A17", "A29", "X30"):
        kept: list[tuple[dict[str, Any], Any]] = []
        trace(
            iter(order_events([dict(e) for e in [*events, ping]])),
            *(one_partition_engine(CHAINED), None, DictTable(), DictTable()),
            *(key, until, lambda r, s: kept.append((r, s))),  # noqa: B023
        )
        mine = [(r, s) for r, s in kept if r["customer_id"] == key]
        assert choices_of([r for r, _ in mine]) == {key: expected[key]}
        picks = [s for r, s in mine if r["kind"] == "step" and r["step"] == "pick"]
        assert picks == [None]  # a timer's moment, not Z's ping
