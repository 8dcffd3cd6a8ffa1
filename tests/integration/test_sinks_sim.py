"""Simulated customers through live journeys and the sinks to real providers (issue 6's
end-to-end test with the simulator's traffic, on the real broker).

app.sim (seeded) ─► events topic, paced by the wall clock ─► segue worker (journeys_sim/: the
demo journeys with waits of seconds) ─► actions.email / .webhook / .agent ─► segue sink email
(real SMTP server) / webhook, agent (real HTTP server checking every HMAC signature)
─► MessageSent on events.receipts ─► the worker folds them into the profiles.

Time: the events are dated ``LEAD_MS`` ahead of the wall clock and each is published when the
wall clock reaches its time minus ``LEAD_MS``, so the run lasts as long as the simulated traffic
and the waits fire live: a partition's time is the later of the wall clock and its newest event
time (docs/live.md), and the waits after the last events fire by the wall clock alone. As long
as the worker handles each event before the wall clock passes its time (its lag stays under
``LEAD_MS``), every customer's events and timers meet in the order of the event times, so the
live run must equal the pure core's replay.

What must happen comes from the pure core, never from the test: ``replay_resolved`` (the replay
with identity resolution, as the worker does it) over the events the worker consumed (the
simulated ones plus the receipts the sinks produced), moved on past the last wait. Every action
it emits must reach its provider exactly once, with a good signature, and come back as a
``MessageSent`` receipt that the worker folded into the customer's profile.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from app.core.envelope import validate_event
from app.core.identity_replay import replay_resolved
from app.core.journeys import Engine, load_journeys, load_policies
from app.core.timeutil import parse_rfc3339
from app.kafka_io import make_producer
from app.sim import simulate
from app.topics.specs import TopicNames
from tests.integration.live_support import live_actions, read_values
from tests.integration.sink_support import SinkProcess, sinks_to_real_providers
from tests.integration.support import Deployment, WorkerProcess, envelope_bytes
from tests.integration.test_live_journeys import owns_partitions
from tests.integration.test_sinks_e2e import delivered

HERE = Path(__file__).parent
JOURNEYS = HERE / "journeys_sim"
POLICIES = HERE / "policies_e2e.yaml"  # no caps, no quiet hours (any hour); consent applies
SECRET = "sim-secret"
SEED, RATE, DURATION_S, CUSTOMERS = 3, 8, 15, 40
#: how far the events' times run ahead of the wall clock: the worker's lag must stay below it
LEAD_MS = 8_000
#: replay's --until: past the longest wait (8 s) after the last event
AFTER_LAST_MS = 60_000


def simulated_events(start_ms: int) -> list[dict[str, Any]]:
    events = list(simulate(SEED, RATE, DURATION_S, start_ms, customers=CUSTOMERS))
    assert all(isinstance(e, dict) for e in events)  # no malformed records asked for
    return events  # type: ignore[return-value]


def publish_paced(deployment: Deployment, events: list[dict[str, Any]]) -> None:
    """Publish each event when the wall clock reaches its time minus ``LEAD_MS``, in order,
    through one producer (so each partition gets its events in time order)."""
    topic = TopicNames(deployment.settings).events
    producer = make_producer(deployment.settings)
    errors: list[Any] = []
    for event in events:
        due = (parse_rfc3339(event["timestamp"]) - LEAD_MS) / 1000
        while (delay := due - time.time()) > 0:
            producer.poll(min(delay, 0.05))
        key, value = envelope_bytes(event)
        producer.produce(
            topic, key=key, value=value, on_delivery=lambda e, _m: e and errors.append(e)
        )
        producer.poll(0)
    assert producer.flush(30) == 0
    assert not errors, errors


class Expectation:
    """The pure core's replay of what the worker consumed: events plus receipts so far."""

    def __init__(self, engine: Engine, deployment: Deployment, events: list[dict[str, Any]]):
        settings = deployment.settings
        names = TopicNames(settings)
        self.receipts = read_values(deployment, [names.receipts])
        consumed = [validate_event(e) for e in events + self.receipts]
        until = max(e["ts"] for e in consumed) + AFTER_LAST_MS
        result, self.identity, self.states = replay_resolved(
            consumed, engine, settings.identity_config, until, keep_states=True
        )
        self.actions = {a["action_id"]: a for a in result.actions}
        self.decisions = result.decisions
        self.sent = Counter(
            r["properties"]["action_id"] for r in self.receipts if r["type"] == "MessageSent"
        )


def test_simulated_customers_reach_the_providers(deployment: Deployment, start_worker: Any) -> None:
    engine = Engine(load_journeys(JOURNEYS), load_policies(POLICIES))
    worker: WorkerProcess = start_worker(
        "0", "--journeys", str(JOURNEYS), "--policies", str(POLICIES)
    )
    with sinks_to_real_providers(deployment, SECRET) as (smtp, http, sinks):
        # The traffic is dated from now on: start it once the worker owns its partitions,
        # so its lag is the stream's, not the group join's.
        worker.wait_for("the worker to own partitions", lambda: owns_partitions(worker))
        events = simulated_events(int(time.time() * 1000) + LEAD_MS)
        publish_paced(deployment, events)

        # Settled when the core, given the events and every receipt so far, expects exactly
        # what the servers accepted, and every delivery has come back as a receipt.
        state: dict[str, Any] = {}

        def settled() -> bool:
            expected = Expectation(engine, deployment, events)
            got = delivered(smtp, http)
            state.update(expected=expected, got=got)
            ids = {i for counts in got.values() for i in counts}
            return set(expected.actions) == ids == set(expected.sent)

        try:
            worker.wait_for("the journeys and the sinks to settle", settled, 150)
        except AssertionError:
            raise AssertionError(diagnose(deployment, state, sinks, worker)) from None
    # Counted again once the sinks stopped: nothing came twice after the run settled.
    got = delivered(smtp, http)

    expected: Expectation = state["expected"]
    # The test is only worth something if every channel and a live wait take part.
    steps = Counter((a["journey"], a["step"]) for a in expected.actions.values())
    assert {a["channel"] for a in expected.actions.values()} == {"email", "webhook", "agent"}
    assert steps[("sim_browse_reminder", "email_reminder")] > 0  # after a 5 s wait
    assert steps[("sim_ticket_followup", "agent_handoff")] > 0  # after an 8 s wait
    # ... and nothing further was due later: the replay's horizon left no send out.
    consumed = [validate_event(e) for e in events + expected.receipts]
    until_far = max(e["ts"] for e in consumed) + 86_400_000
    result, _, _ = replay_resolved(consumed, engine, deployment.settings.identity_config, until_far)
    assert {a["action_id"] for a in result.actions} == set(expected.actions)

    # The waits after the last events fired by the wall clock alone (nothing in the stream
    # was that late), at their time, never before it.
    last_event = max(parse_rfc3339(e["timestamp"]) for e in events)
    tail = {i for i, a in expected.actions.items() if parse_rfc3339(a["event_time"]) > last_event}
    assert tail
    live = live_actions(deployment)
    assert all(
        parse_rfc3339(a["decided_at"]) >= parse_rfc3339(a["event_time"])
        for a in live
        if a["action_id"] in tail
    )

    # Each expected action exactly once at its provider, on its channel; no bad signature.
    by_channel: dict[str, dict[str, int]] = {"email": {}, "agent": {}, "webhook": {}}
    for action_id, action in expected.actions.items():
        by_channel[action["channel"]][action_id] = 1
    assert {ch: dict(c) for ch, c in got.items()} == by_channel
    assert http.rejected_signatures == 0
    assert Counter(r["type"] for r in expected.receipts) == {"MessageSent": len(expected.actions)}
    assert all(n == 1 for n in expected.sent.values())
    # The action topics hold what the core decided, nothing else.
    assert sorted(a["action_id"] for a in live) == sorted(expected.actions)

    # The receipts came back into the profiles: each customer's MessageSent count is the
    # core's, which is the number of that customer's deliveries.
    per_customer = Counter(a["customer_id"] for a in expected.actions.values())
    assert {
        k: p["counts"].get("MessageSent", 0)
        for k, (p, _) in expected.states.items()
        if p["counts"].get("MessageSent")
    } == dict(per_customer)
    wait_for_receipt_counts(deployment, worker, dict(per_customer))


def stored_sent_counts(deployment: Deployment) -> dict[str, int]:
    names = TopicNames(deployment.settings)
    counts = {}
    for key, record in deployment.latest_state(names.profiles_changelog).items():
        if "profile" in record:  # not a merged visitor's tombstone
            n = record["profile"]["counts"].get("MessageSent", 0)
            if n:
                counts[key] = n
    return counts


def wait_for_receipt_counts(
    deployment: Deployment, worker: WorkerProcess, expected: dict[str, int]
) -> None:
    last: dict[str, int] = {}

    def matches() -> bool:
        nonlocal last
        last = stored_sent_counts(deployment)
        return last == expected

    try:
        worker.wait_for("the receipts in the profiles", matches, 60)
    except AssertionError:
        wrong = {k: (last.get(k), v) for k, v in expected.items() if last.get(k) != v}
        extra = set(last) - set(expected)
        raise AssertionError(f"MessageSent counts differ {wrong}, extra {extra}") from None


def diagnose(
    deployment: Deployment, state: dict[str, Any], sinks: list[SinkProcess], worker: WorkerProcess
) -> str:
    """Why the run did not settle, with the worker's lag (the test's premise)."""
    exp: Expectation | None = state.get("expected")
    got = state.get("got") or {}
    ids = {i for counts in got.values() for i in counts}
    expected = set(exp.actions) if exp else set()
    live = live_actions(deployment)
    # An action decided on an event (not a timer) while the wall clock was already past the
    # event's time breaks the premise: the worker lagged more than LEAD_MS.
    late = [
        (a["step"], parse_rfc3339(a["decided_at"]) - parse_rfc3339(a["event_time"]))
        for a in live
        if a.get("source_timestamp")
        and parse_rfc3339(a["decided_at"]) > parse_rfc3339(a["event_time"])
    ]
    failed = [r["properties"] for r in (exp.receipts if exp else []) if r["type"] != "MessageSent"]
    live_ids = {a["action_id"] for a in live}
    logs = "\n".join(s.log()[-2000:] for s in sinks)
    return (
        f"delivered but not expected {sorted(ids - expected)[:5]}\n"
        f"expected but not delivered {sorted(expected - ids)[:5]}\n"
        f"on the action topics but not expected {sorted(live_ids - expected)[:5]}\n"
        f"decided after the event's time (lag, ms) {late[:5]}\n"
        f"receipts {Counter(exp.sent.values()) if exp else None}, failures {failed[:3]}\n"
        f"{logs}\n{worker.log()[-3000:]}"
    )
