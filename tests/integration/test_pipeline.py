"""Ingest and profiles through a real broker: DLQ, expected profiles, restart recovery."""

from __future__ import annotations

import random
import shutil
import signal
from typing import Any

import orjson
import pytest

from app.core.dlq import dlq_reason
from app.core.envelope import InvalidEvent, decode_event
from app.core.profile import fold, new_profile
from app.topics.specs import TopicNames
from tests.integration.support import Deployment, WorkerProcess, envelope_bytes

TYPES = [
    "PageViewed",
    "CartAbandoned",
    "OrderPlaced",
    "TicketOpened",
    "TicketClosed",
    "ProfileUpdated",
    "ConsentUpdated",
    "Identify",
]


def some_events(n: int, customers: int, seed: int, start: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    events = []
    for i in range(start, start + n):
        etype = rng.choice(TYPES)
        props: dict[str, Any] = {
            "OrderPlaced": {"total": round(rng.uniform(5, 200), 2)},
            "ProfileUpdated": {"plan": rng.choice(["free", "gold"]), "tenure": i},
            "ConsentUpdated": {
                "channel": rng.choice(["sms", "email"]),
                "granted": rng.random() < 0.5,
            },
            "Identify": {"email": f"u{i}@example.com"},
        }.get(etype, {})
        events.append(
            {
                "event_id": f"ev-{seed}-{i}",
                "type": etype,
                "customer_id": f"c-{rng.randint(1, customers)}",
                "timestamp": f"2026-11-23T{8 + i // 3600 % 12:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
                "properties": props,
            }
        )
    return events


def expected_profiles(records: list[tuple[bytes | None, bytes]]) -> dict[str, dict[str, Any]]:
    """Fold the valid, keyed events with the pure core, in the order they were produced."""
    profiles: dict[str, dict[str, Any]] = {}
    for key_bytes, raw in records:
        try:
            event = decode_event(raw)
        except InvalidEvent:
            continue
        if not key_bytes:  # unkeyed records are dead-lettered, however valid the envelope
            continue
        key = event["key"]
        profiles[key] = fold(profiles.get(key) or new_profile(key), event)
    return profiles


def stored_profiles(deployment: Deployment) -> dict[str, dict[str, Any]]:
    names = TopicNames(deployment.settings)
    latest = deployment.latest_state(names.profiles_changelog)
    return {k: v["profile"] for k, v in latest.items()}


def wait_profiles(
    deployment: Deployment,
    worker: WorkerProcess,
    expected: dict[str, Any],
    timeout_s: float = 150.0,
) -> None:
    last: dict[str, Any] = {}

    def matches() -> bool:
        nonlocal last
        last = stored_profiles(deployment)
        return last == expected

    try:
        worker.wait_for("profiles to match", matches, timeout_s)
    except AssertionError:
        wrong = [k for k in expected if last.get(k) != expected[k]]
        raise AssertionError(
            f"{len(wrong)} of {len(expected)} profiles differ, e.g. {wrong[:3]}: "
            f"{[(last.get(k), expected[k]) for k in wrong[:1]]}\n"
            f"{where_lost(deployment, worker, wrong)}\n{worker.log()[-3000:]}"
        ) from None


def where_lost(deployment: Deployment, worker: WorkerProcess, wrong: list[str]) -> str:
    """Diagnostics for a failed wait: which input records of the differing keys reached the
    internal topic, at which offsets, and what the worker's counters say."""
    names = TopicNames(deployment.settings)
    wanted = {k.encode() for k in wrong}
    forwarded: dict[str, list[tuple[int, int]]] = {}
    for msg in deployment.read(names.customer_events):
        if msg.key() in wanted:
            value = orjson.loads(msg.value())
            forwarded.setdefault(value.get("event_id", "tick"), []).append(
                (msg.partition(), msg.offset())
            )
    lines = []
    for msg in deployment.read(names.events):
        if msg.key() in wanted:
            event_id = orjson.loads(msg.value())["event_id"]
            lines.append(
                f"{msg.key().decode()} {event_id} in@{msg.partition()}/{msg.offset()} "
                f"fwd@{forwarded.get(event_id, 'MISSING')}"
            )
    counters = {
        name: worker.metric(name)
        for name in (
            "segue_events_in_total",
            "segue_events_accepted_total",
            "segue_profile_updates_total",
            "segue_redelivered_skipped_total",
            "segue_runtime_recovered_records_total",
        )
    }
    return f"counters {counters}\n" + "\n".join(lines[-60:])


def malformed_records() -> list[tuple[bytes | None, bytes]]:
    ok = {
        "event_id": "m",
        "type": "PageViewed",
        "customer_id": "c-1",
        "timestamp": "2026-11-23T08:00:00Z",
    }
    bad: list[tuple[bytes | None, bytes]] = []
    for i in range(10):
        bad.append((b"c-1", b'{"event_id": "broken-%d", ' % i))  # bad JSON
        bad.append((b"c-2", orjson.dumps({**ok, "event_id": i})))  # wrong type
        bad.append((b"c-3", orjson.dumps({k: v for k, v in ok.items() if k != "type"})))  # missing
        bad.append(
            (b"c-4", orjson.dumps({**ok, "timestamp": f"2026-11-23 08:00:{i:02d}"}))
        )  # no zone
        bad.append((None, orjson.dumps({**ok, "event_id": f"nokey-{i}"})))  # missing key
    bad[-1] = (b"c-5", orjson.dumps({**ok, "properties": {"blob": "x" * (1024 * 1024 + 10)}}))
    bad[-2] = (b"c-5", orjson.dumps({k: v for k, v in ok.items() if k != "customer_id"}))  # no id
    return bad


@pytest.mark.tansu_smoke
def test_malformed_events_reach_the_dlq_while_valid_ones_are_processed(
    deployment: Deployment, start_worker: Any
) -> None:
    names = TopicNames(deployment.settings)
    valid = [envelope_bytes(e) for e in some_events(400, 40, seed=7)]
    bad = malformed_records()
    assert len(bad) == 50
    mixed = list(valid)
    for i, record in enumerate(bad):  # interleave: the bad ones sit among the valid ones
        mixed.insert(8 * i + 3, record)
    worker = start_worker()
    deployment.produce(mixed, names.events)
    wait_profiles(deployment, worker, expected_profiles(mixed))

    records = deployment.read(names.dlq)
    assert len(records) == 50
    # each as it was: key and value byte for byte, the reason and the source in headers
    assert sorted(((m.key(), m.value()) for m in records), key=repr) == sorted(bad, key=repr)
    dead = [dlq_reason(m.headers()) for m in records]
    assert all(d["reason"] and d["topic"] == names.events for d in dead)
    reasons = {d["reason"].split(":", 1)[0] for d in dead}
    assert {"bad JSON", "schema", "missing key", "missing id", "oversize payload"} <= reasons


@pytest.mark.tansu_smoke
def test_restart_recovers_every_profile(deployment: Deployment, start_worker: Any) -> None:
    names = TopicNames(deployment.settings)
    batches = [
        [envelope_bytes(e) for e in some_events(300, 60, seed=s, start=300 * s)] for s in range(3)
    ]
    sent: list[tuple[bytes | None, bytes]] = []

    # 1. a hard crash (SIGKILL) after the first batch, local state kept
    worker = start_worker("0")
    deployment.produce(batches[0], names.events)
    sent += batches[0]
    wait_profiles(deployment, worker, expected_profiles(sent))
    worker.stop(signal.SIGKILL)

    # 2. restart on the same state, more events: nothing folded twice, nothing lost
    worker = start_worker("0")
    deployment.produce(batches[1], names.events)
    sent += batches[1]
    wait_profiles(deployment, worker, expected_profiles(sent))
    worker.stop(signal.SIGTERM)

    # 3. the local state folder deleted: the profiles come back from the changelog
    shutil.rmtree(deployment.tmp / "state")
    worker = start_worker("0")
    deployment.produce(batches[2], names.events)
    sent += batches[2]
    wait_profiles(deployment, worker, expected_profiles(sent))
