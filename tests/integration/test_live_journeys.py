"""Journeys live on the broker: parity with replay, crashes, a second worker, durable timers.

Most tests date their events a day ahead of the wall clock, one every 100 ms of event time, and
produce them in time order: each partition's time is then its newest event time (the wall
clock is behind it), so the live run is deterministic and must equal the pure core. A final
clock event per partition moves every partition to the replay's ``--until``. The last test
uses the wall clock itself: a wait that spans a worker restart.
"""

from __future__ import annotations

import copy
import signal
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from app.core.journeys.state import next_due
from tests.integration.live_support import (
    JOURNEYS,
    POLICIES,
    WORKER_ARGS,
    Expected,
    clock_events,
    journey_events,
    live_actions,
    live_decisions,
    live_outcomes,
    produce_events,
    replayed_outcomes,
    run_replay,
    same_decision,
    same_outcomes,
    wait_for_actions,
    wait_for_state,
)
from tests.integration.support import Deployment

DAY_MS = 86_400_000


def future_ms() -> int:
    return (int(time.time() * 1000) // 1000) * 1000 + DAY_MS


def assert_same_actions(live: list[dict[str, Any]], expected: Expected) -> None:
    by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in live:
        by_id[record["action_id"]].append(record)
    assert set(by_id) == set(expected.actions), (
        f"extra {sorted(set(by_id) - set(expected.actions))[:5]}, "
        f"missing {sorted(set(expected.actions) - set(by_id))[:5]}"
    )
    for action_id, records in by_id.items():  # a duplicate is the same action again
        want = expected.actions[action_id]
        for record in records:
            differ = {k: (record.get(k), want.get(k)) for k in record.keys() | want.keys()}
            assert same_decision(record, want), {k: v for k, v in differ.items() if v[0] != v[1]}


@pytest.mark.tansu_smoke
def test_live_actions_equal_segue_replay(
    deployment: Deployment, start_worker: Any, tmp_path: Path
) -> None:
    start = future_ms()
    originals = journey_events(300, 30, seed=1, start_ms=start)
    events = []
    for i, event in enumerate(originals):  # producers retry: copies, three records later
        events.append(event)
        if i % 20 == 3:
            events.append(dict(originals[i - 3]))
    copies = len(events) - len(originals)
    until = start + 300 * 100 + 60_000
    events += clock_events(deployment.settings.partitions, until, "end")

    # segue replay on the same events, as an analyst would run it
    replay_actions, replay_decisions = run_replay(
        tmp_path, events, "--journeys", str(JOURNEYS), "--policies", str(POLICIES)
    )
    expected = Expected(events, until)
    assert {a["action_id"] for a in replay_actions} == set(expected.actions)
    # the test is only worth something if every kind of outcome occurs
    assert {a["channel"] for a in replay_actions} >= {"email", "push", "sms", "agent"}
    assert {d["reason"] for d in replay_decisions} >= {"holdout", "frequency_cap"}

    worker = start_worker("0", *WORKER_ARGS)
    produce_events(deployment, events)
    live = wait_for_actions(deployment, [worker], expected)

    assert {a["action_id"] for a in live} == {a["action_id"] for a in replay_actions}
    assert {d["action_id"] for d in live_decisions(deployment)} == {
        d["action_id"] for d in replay_decisions
    }
    assert_same_actions(live, expected)
    assert all(a["source_timestamp"] or a["step"] != "hello" for a in live)
    wait_for_state(deployment, worker, expected)
    assert worker.metric("segue_action_latency_seconds_count") > 0
    assert worker.metric("segue_events_duplicate_total") == copies  # each copy folded once
    # the outcome records too, every entry's life as replay tells it (the final states are
    # in: the outputs of every moment were acknowledged before them)
    replayed = replayed_outcomes(tmp_path)
    assert {o["kind"] for o in replayed} >= {"entered", "step", "sent", "held_out", "goal"}
    same_outcomes(live_outcomes(deployment), replayed)


def test_sigkill_mid_stream_loses_no_action_entry_or_timer(
    deployment: Deployment, start_worker: Any
) -> None:
    start = future_ms()
    first = journey_events(200, 25, seed=2, start_ms=start)
    rest = journey_events(200, 25, seed=2, start_ms=start, first=200)
    until = start + 400 * 100 + 60_000
    end = clock_events(deployment.settings.partitions, until, "end")
    expected = Expected(first + rest + end, until)

    worker = start_worker("0", *WORKER_ARGS)
    produce_events(deployment, first)
    worker.wait_metric("segue_actions_total", 10)
    produce_events(deployment, rest[:100])
    worker.stop(signal.SIGKILL)  # mid-stream: batches in flight, timers pending

    worker = start_worker("0", *WORKER_ARGS)
    produce_events(deployment, rest[100:] + end)
    live = wait_for_actions(deployment, [worker], expected)
    assert_same_actions(live, expected)
    wait_for_state(deployment, worker, expected)


def test_a_second_worker_takes_partitions_and_their_timers(
    deployment: Deployment, start_worker: Any
) -> None:
    start = future_ms()
    batches = [journey_events(150, 25, seed=3, start_ms=start, first=150 * i) for i in range(3)]
    until = start + 450 * 100 + 60_000
    end = clock_events(deployment.settings.partitions, until, "end")
    expected = Expected([e for b in batches for e in b] + end, until)

    first = start_worker("0", *WORKER_ARGS)
    produce_events(deployment, batches[0])
    first.wait_metric("segue_actions_total", 5)
    second = start_worker("1", *WORKER_ARGS)
    produce_events(deployment, batches[1])  # while the group rebalances
    second.wait_for("the second worker to own partitions", lambda: owns_partitions(second))
    produce_events(deployment, batches[2] + end)

    live = wait_for_actions(deployment, [first, second], expected)
    assert_same_actions(live, expected)
    wait_for_state(deployment, second, expected)
    # both workers did part of the work
    assert second.metric("segue_profile_updates_total") > 0
    assert first.metric("segue_profile_updates_total") > 0


def test_two_processes_of_one_worker_share_the_work_and_give_the_replay_actions(
    deployment: Deployment, start_worker: Any
) -> None:
    start = future_ms()
    events = journey_events(300, 30, seed=5, start_ms=start)
    until = start + 300 * 100 + 60_000
    events += clock_events(deployment.settings.partitions, until, "end")
    expected = Expected(events, until)

    worker = start_worker("0", *WORKER_ARGS, "--processes", "2")
    second = copy.copy(worker)  # child 1 serves its metrics on the next port
    second.metrics_port = worker.metrics_port + 1
    for child in (worker, second):
        child.wait_for("a process to own partitions", lambda c=child: owns_partitions(c))
    produce_events(deployment, events)
    live = wait_for_actions(deployment, [worker], expected)
    assert_same_actions(live, expected)
    wait_for_state(deployment, worker, expected)
    assert worker.metric("segue_profile_updates_total") > 0
    assert second.metric("segue_profile_updates_total") > 0


def owns_partitions(worker: Any) -> bool:
    return worker.metric("segue_runtime_assigned_partitions") > 0


def test_a_wait_that_spans_a_restart_fires_after_it_with_the_same_id(
    deployment: Deployment, start_worker: Any
) -> None:
    now = int(time.time() * 1000)
    signup = {
        "event_id": "wall-1",
        "type": "SignedUp",
        "customer_id": "c-wall",
        "timestamp": now_text(now),
        "properties": {},
    }
    expected = Expected([signup], now + DAY_MS)
    by_step = {a["step"]: a["action_id"] for a in expected.actions.values()}
    assert set(by_step) == {"hello", "nudge"}  # the nudge comes 13 s later, after two timers

    worker = start_worker("0", *WORKER_ARGS)
    produce_events(deployment, [signup])
    worker.wait_for(
        "the welcome email",
        lambda: by_step["hello"] in {a["action_id"] for a in live_actions(deployment)},
    )
    worker.stop(signal.SIGKILL)
    assert by_step["nudge"] not in {a["action_id"] for a in live_actions(deployment)}
    _, jstate = expected_state_after_hello(signup)
    assert next_due(jstate) is not None  # a timer was pending when the worker died

    worker = start_worker("0", *WORKER_ARGS)
    live = wait_for_actions(deployment, [worker], expected, timeout_s=120)
    assert_same_actions(live, expected)


def now_text(ms: int) -> str:
    from app.core.timeutil import format_ms

    return format_ms(ms)


def expected_state_after_hello(signup: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    from app.core.envelope import validate_event

    expected = Expected([signup], validate_event(signup)["ts"])
    return expected.states["c-wall"]
