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


@pytest.mark.parametrize("batch_size", [7, 400])
def test_batches_spanning_hours_make_the_replay_choices(tmp_path: Path, batch_size: int) -> None:
    plan = ArmsPlan(journey=MIXED, step="pick", rates=RATES, entries=900, per_hour=150)
    run = run_arms(plan, one_partition_engine)
    events = [validate_event(e) for e in run.events]
    until = events[-1]["ts"] + 3 * 86_400_000
    expected = replay([dict(e) for e in events], one_partition_engine(MIXED), until=until)
    assert choices_of(expected.outcomes) == {c.customer: c.arm for c in run.choices}

    kafka = CapturingProducer()
    producer = RuntimeProducer(kafka)  # type: ignore[arg-type]
    names = TopicNames(Settings())
    processor = JourneyProcessor(
        Engine([MIXED]),
        names,
        RuntimeSink(producer),  # type: ignore[arg-type]
        PartitionClocks(),  # type: ignore[arg-type]
        LatencyTracker(200),
        clock=lambda: 0.0,
    )
    agent = journeys_agent(processor, "customer-events")
    assert agent.on_due is not None
    profiles = PartitionStore(tmp_path / "profiles", cache_max=50)
    due_store = PartitionStore(tmp_path / "due")
    timers = PartitionTimers(due_store)
    stores = {PROFILES: profiles, "due": due_store}

    def fire_until(now: int) -> None:  # the runtime, after each batch: the partition's time
        while keys := timers.take_due(now):
            agent.on_due(DueBatch(0, now, keys, stores, producer, timers))  # type: ignore[misc]

    for n, start in enumerate(range(0, len(events), batch_size)):
        batch = events[start : start + batch_size]
        records = [Record(e, start + i) for i, e in enumerate(batch)]
        agent.handle(PartitionBatch(0, records, stores, producer, timers))  # type: ignore[arg-type]
        fire_until(batch[-1]["ts"])
        for store in stores.values():
            store.write(store.changes(), n)
    fire_until(until)

    outcomes = [orjson.loads(v) for t, v in kafka.sent if t == names.outcomes]
    assert choices_of(outcomes) == choices_of(expected.outcomes)
    live_ids = {o["outcome_id"] for o in outcomes}
    assert live_ids == {o["outcome_id"] for o in expected.outcomes}
    actions = sorted(
        orjson.loads(v)["action_id"] for t, v in kafka.sent if t.startswith("actions.")
    )
    assert actions == sorted(a["action_id"] for a in expected.actions)
    book = profiles.get(BOOK_KEY)  # the partition's statistics, in its store
    assert book is not None and book["w"]
