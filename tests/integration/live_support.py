"""Helpers for the live-journey tests: test events, expected results from the pure core, and
reading what the worker wrote (actions, decisions, tables)."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import TopicPartition

from app.core.journeys import Engine, load_journeys, load_policies
from app.core.journeys.replay import order_events
from app.core.journeys.state import next_due
from app.core.profile import new_profile
from app.core.timeutil import format_ms
from app.kafka_io import make_consumer, watermarks
from app.partitioner import partition_for
from app.runtime.timers import NEWEST_KEY
from app.topics.specs import TopicNames
from tests.integration.support import ROOT, Deployment, WorkerProcess, envelope_bytes

HERE = Path(__file__).parent
JOURNEYS = HERE / "journeys"
POLICIES = HERE / "policies.yaml"
WORKER_ARGS = ("--journeys", str(JOURNEYS), "--policies", str(POLICIES))

TYPES = [
    ("SignedUp", 3),
    ("CartAbandoned", 4),
    ("OrderPlaced", 1),
    ("PageViewed", 5),
    ("OnboardingStepCompleted", 1),
    ("TicketOpened", 1),
    ("TicketClosed", 1),
]


def journey_events(
    n: int, customers: int, seed: int, start_ms: int, step_ms: int = 100, first: int = 0
) -> list[dict[str, Any]]:
    """``n`` events, one every ``step_ms`` of event time from ``start_ms``, in time order."""
    rng = random.Random(seed)
    kinds = [t for t, w in TYPES for _ in range(w)]
    events = []
    for i in range(first, first + n):
        etype = rng.choice(kinds)
        props: dict[str, Any] = {
            "CartAbandoned": {"cart_value": round(rng.uniform(5, 100), 2), "items": 1},
            "OrderPlaced": {"order_id": f"o-{seed}-{i}", "total": 25.0, "items": 1},
            "TicketOpened": {"ticket_id": f"t-{seed}-{i}", "severity": "low"},
        }.get(etype, {})
        events.append(
            {
                "event_id": f"lv-{seed}-{i:05d}",
                "type": etype,
                "customer_id": f"c-{rng.randint(1, customers)}",
                "timestamp": format_ms(start_ms + i * step_ms),
                "properties": props,
            }
        )
    return events


def clock_events(partitions: int, at_ms: int, tag: str) -> list[dict[str, Any]]:
    """One event of a type no journey uses per partition, at ``at_ms``: moves every
    partition's time there (the live rule), as ``--until`` does for replay."""
    keys: dict[int, str] = {}
    i = 0
    while len(keys) < partitions:
        key = f"clock-{i}"
        keys.setdefault(partition_for(key.encode(), partitions), key)
        i += 1
    return [
        {
            "event_id": f"{tag}-{p}",
            "type": "Heartbeat",
            "customer_id": key,
            "timestamp": format_ms(at_ms),
            "properties": {},
        }
        for p, key in sorted(keys.items())
    ]


def new_engine() -> Engine:
    return Engine(load_journeys(JOURNEYS), load_policies(POLICIES))


class Expected:
    """What the pure core does with the events, up to ``until``: the replay driver's loop,
    keeping each customer's final profile and journey state too."""

    def __init__(
        self, events: list[dict[str, Any]], until: int, engine: Engine | None = None
    ) -> None:
        from app.core.envelope import validate_event

        engine = engine or new_engine()
        self.actions: dict[str, dict[str, Any]] = {}
        self.decisions: dict[str, dict[str, Any]] = {}
        self.states: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        for event in order_events([validate_event(e) for e in events]):
            key = event["key"]
            if key not in self.states:
                self.states[key] = (new_profile(key), engine.new_state(key))
            profile, jstate = self.states[key]
            self._keep(engine.handle_event(profile, jstate, event))
        for profile, jstate in self.states.values():
            self._keep(engine.advance(profile, jstate, until))

    def _keep(self, out: Any) -> None:
        self.actions.update((a["action_id"], a) for a in out.actions)
        self.decisions.update((d["action_id"], d) for d in out.decisions)

    def timers(self) -> dict[str, int]:
        due = {k: next_due(js) for k, (_, js) in self.states.items()}
        return {k: d for k, d in due.items() if d is not None}


def read_values(deployment: Deployment, topics: list[str]) -> list[dict[str, Any]]:
    """Every record of ``topics`` up to their current end offsets, decoded."""
    consumer = make_consumer(deployment.settings)
    try:
        assignment, ends = [], {}
        for topic in topics:
            meta = consumer.list_topics(topic, timeout=10).topics[topic]
            for p in meta.partitions:
                low, high = watermarks(consumer, TopicPartition(topic, p))
                if high > low:
                    assignment.append(TopicPartition(topic, p, low))
                    ends[topic, p] = high
        if not assignment:
            return []
        consumer.assign(assignment)
        values = []
        pending = set(ends)
        deadline = time.monotonic() + 30
        while pending and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                # a transaction's commit marker takes the last offset and is never delivered:
                # the position shows it was passed
                where = consumer.position([TopicPartition(t, p) for t, p in pending])
                pending -= {
                    (tp.topic, tp.partition)
                    for tp in where
                    if tp.offset >= ends[tp.topic, tp.partition]
                }
                continue
            if msg.error():
                continue
            values.append(orjson.loads(msg.value()))
            if msg.offset() + 1 >= ends[msg.topic(), msg.partition()]:
                pending.discard((msg.topic(), msg.partition()))
        assert not pending, f"could not read to the end of {pending}"
        return values
    finally:
        consumer.close()


def live_actions(deployment: Deployment) -> list[dict[str, Any]]:
    names = TopicNames(deployment.settings)
    return read_values(deployment, list(names.actions.values()))


def live_decisions(deployment: Deployment) -> list[dict[str, Any]]:
    return read_values(deployment, [TopicNames(deployment.settings).decisions])


def live_outcomes(deployment: Deployment) -> list[dict[str, Any]]:
    return read_values(deployment, [TopicNames(deployment.settings).outcomes])


def replayed_outcomes(tmp_path: Path) -> list[dict[str, Any]]:
    """The outcome records of the last ``run_replay`` in ``tmp_path``."""
    return [orjson.loads(x) for x in (tmp_path / "outcomes.jsonl").read_bytes().splitlines()]


def same_outcomes(live: list[dict[str, Any]], replayed: list[dict[str, Any]]) -> None:
    """Live wrote what replay wrote, each record at least once and alike but for the live
    stamps; a record written twice (at least once) is the same record again."""
    by_id = {o["outcome_id"]: o for o in replayed}
    assert len(by_id) == len(replayed), "replay wrote an outcome id twice"
    seen = set()
    for record in live:
        want = by_id.get(record["outcome_id"])
        assert want is not None, f"live only: {record}"
        assert same_decision(record, want), (record, want)
        seen.add(record["outcome_id"])
    missing = [o for oid, o in by_id.items() if oid not in seen]
    assert not missing, f"{len(missing)} replay outcomes not written live, e.g. {missing[:3]}"


def wait_for_actions(
    deployment: Deployment, workers: list[WorkerProcess], expected: Expected, timeout_s: float = 180
) -> list[dict[str, Any]]:
    """Wait until every expected action id is on the channel topics; return what is there."""
    seen: list[dict[str, Any]] = []

    def done() -> bool:
        nonlocal seen
        seen = live_actions(deployment)
        return set(expected.actions) <= {a["action_id"] for a in seen}

    try:
        workers[-1].wait_for("every expected action", done, timeout_s)
    except AssertionError as exc:
        missing = set(expected.actions) - {a["action_id"] for a in seen}
        example = [expected.actions[i] for i in list(missing)[:3]]
        why = str(exc).split(":", 1)[0]  # timed out, or which worker exited and how
        logs = "\n".join(w.log()[-3000:] for w in workers)
        raise AssertionError(
            f"{len(missing)} actions missing ({why}), e.g. {example}\n{logs}"
        ) from None
    return seen


def wait_for_state(
    deployment: Deployment, worker: WorkerProcess, expected: Expected, timeout_s: float = 60
) -> None:
    """Wait until the tables' changelogs hold the expected profile, journey state and timer
    of every customer."""
    names = TopicNames(deployment.settings)
    wrong: list[str] = []

    def matches() -> bool:
        nonlocal wrong
        records = {
            k.decode(): orjson.loads(v)
            for k, v in deployment.latest_by_key(names.profiles_changelog).items()
            if v
        }
        timers = {
            k.decode(): orjson.loads(v)
            for k, v in deployment.latest_by_key(names.timers_changelog).items()
            if v
        }
        timers = {k: v for k, v in timers.items() if not k.startswith(NEWEST_KEY)}
        wrong = [
            key
            for key, (profile, jstate) in expected.states.items()
            if key not in records
            or records[key]["profile"] != profile
            or records[key]["journeys"] != jstate
        ]
        if timers != expected.timers():
            wrong.append(f"timers: live {timers} expected {expected.timers()}")
        return not wrong

    try:
        worker.wait_for("the expected table state", matches, timeout_s)
    except AssertionError:
        raise AssertionError(f"state differs for {wrong[:3]}\n{worker.log()[-3000:]}") from None


def produce_events(deployment: Deployment, events: list[dict[str, Any]]) -> None:
    names = TopicNames(deployment.settings)
    deployment.produce([envelope_bytes(e) for e in events], names.events)


def same_decision(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two records of one action id say the same thing (the live stamps may differ)."""
    live_only = {"decided_at", "source_timestamp"}
    return {k: v for k, v in a.items() if k not in live_only} == {
        k: v for k, v in b.items() if k not in live_only
    }


def run_replay(
    tmp_path: Path, events: list[dict[str, Any]], *args: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`segue replay` on the events, as an analyst would run it: (actions, decisions)."""
    events_file = tmp_path / "events.jsonl"
    events_file.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    actions, decisions = tmp_path / "actions.jsonl", tmp_path / "decisions.jsonl"
    replayed = subprocess.run(
        [
            *(sys.executable, "-m", "app", "replay", "--events", str(events_file), *args),
            *("--out", str(actions), "--decisions", str(decisions)),
            *("--outcomes", str(tmp_path / "outcomes.jsonl")),
        ],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    assert replayed.returncode == 0, replayed.stderr.decode()
    return (
        [orjson.loads(x) for x in actions.read_bytes().splitlines()],
        [orjson.loads(x) for x in decisions.read_bytes().splitlines()],
    )
