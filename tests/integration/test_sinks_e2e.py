"""Events through live journeys and the sinks to real providers, and the receipts back into the
journeys (issue 6's end-to-end test, on the real broker).

events topic ─► segue worker (journeys_e2e/handoff.yaml) ─► actions.email / .agent / .webhook
  ─► segue sink email (real SMTP server, aiosmtpd) / agent, webhook (real HTTP server checking
  every HMAC signature) ─► MessageSent on events.receipts ─► the worker folds them into the
  profiles, and the journey, waiting for each receipt, sends its next action.

What must happen comes from the pure core, never from the test: the core replays the events the
worker consumed (the test's events plus the receipts the sinks produced; the receipts carry the
sinks' wall-clock time, after the events they answer), and every action it emits must reach its
provider exactly once, with an agent ticket that carries the full context the core put there.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from app.core.journeys import Engine, load_journeys, load_policies
from app.core.timeutil import format_ms, parse_rfc3339
from app.topics.specs import TopicNames
from tests.integration.live_support import (
    Expected,
    live_actions,
    produce_events,
    read_values,
    same_decision,
    wait_for_state,
)
from tests.integration.sink_support import sinks_to_real_providers
from tests.integration.support import Deployment, WorkerProcess
from tests.integration.test_cli import segue
from tests.sink_servers import HttpRecorder, SmtpRecorder

HERE = Path(__file__).parent
JOURNEYS = HERE / "journeys_e2e"
POLICIES = HERE / "policies_e2e.yaml"
SECRET = "e2e-secret"
CUSTOMERS = 6


def scripted_events(start_ms: int) -> list[dict[str, Any]]:
    """Per customer: who they are, a browse, a chat line, a failed payment. The last customer
    refused the agent channel: the handoff is suppressed, and nothing follows it."""
    events: list[dict[str, Any]] = []

    def add(customer: str, etype: str, **props: Any) -> None:
        n = len(events)
        events.append(
            {
                "event_id": f"e2e-{n:03d}",
                "type": etype,
                "customer_id": customer,
                "timestamp": format_ms(start_ms + n * 10),
                "properties": props,
            }
        )

    for i in range(1, CUSTOMERS + 1):
        c = f"c-{i}"
        add(c, "Identify", email=f"{c}@example.com", name=f"Name {c}")
        add(c, "ProductViewed", product_id=f"p-{i}", price=10.0 * i, bounce_rate=0.1)
        add(c, "ChatMessage", text=f"my card keeps failing on order o-{i}", sender="customer")
        add(c, "ChatMessage", text="Sorry to hear that, a colleague will call you", sender="bot")
        if i == CUSTOMERS:
            add(c, "ConsentUpdated", channel="agent", granted=False)
        add(c, "PaymentFailed", order_id=f"o-{i}", amount=20.0 + i, reason="card_declined")
    return events


def delivered(smtp: SmtpRecorder, http: HttpRecorder) -> dict[str, Counter[str]]:
    """Action ids each real server accepted, per channel, with their counts."""
    with http.lock:
        paths = [(a["path"], a["idempotency_key"]) for a in http.accepted]
    return {
        "email": smtp.action_ids(),
        "agent": Counter(k for p, k in paths if p == "/helpdesk"),
        "webhook": Counter(k for p, k in paths if p == "/hooks"),
    }


def test_events_flow_through_journeys_and_sinks_to_real_providers_and_back(
    deployment: Deployment, start_worker: Any
) -> None:
    names = TopicNames(deployment.settings)
    engine = Engine(load_journeys(JOURNEYS), load_policies(POLICIES))
    start = int(time.time() * 1000) - 60_000  # the receipts come later, at the sinks' clock
    events = scripted_events(start)
    worker: WorkerProcess = start_worker(
        "0", "--journeys", str(JOURNEYS), "--policies", str(POLICIES)
    )
    with sinks_to_real_providers(deployment, SECRET) as (smtp, http, sinks):
        produce_events(deployment, events)

        # The loop is closed when the core, given the events and every receipt so far,
        # expects exactly what the servers accepted, and every delivery has its receipt.
        state: dict[str, Any] = {}

        def settled() -> bool:
            receipts = read_values(deployment, [names.receipts])
            until = max(parse_rfc3339(e["timestamp"]) for e in events + receipts)
            expected = Expected(events + receipts, until, engine)
            got = delivered(smtp, http)
            state.update(expected=expected, receipts=receipts, got=got)
            ids = {i for counts in got.values() for i in counts}
            sent = {r["properties"]["action_id"] for r in receipts if r["type"] == "MessageSent"}
            return bool(ids) and set(expected.actions) == ids == sent

        try:
            worker.wait_for("the journeys and the sinks to settle", settled, 150)
        except AssertionError:
            logs = "\n".join(s.log()[-2000:] for s in sinks)
            exp = state.get("expected")
            assigned = {s.channel: s.metric("segue_sink_assigned_partitions") for s in sinks}
            on_topics = Counter(a["channel"] for a in live_actions(deployment))
            failed = [
                r["properties"] for r in state.get("receipts", []) if r["type"] != "MessageSent"
            ]
            raise AssertionError(
                f"delivered {state.get('got')}\nexpected "
                f"{sorted(exp.actions) if exp else None}\non the action topics {on_topics}, "
                f"sinks' assigned partitions {assigned}, failures {failed[:3]}\n{logs}\n{worker.log()[-3000:]}"
            ) from None

    expected: Expected = state["expected"]
    receipts: list[dict[str, Any]] = state["receipts"]
    got: dict[str, Counter[str]] = state["got"]

    # Each expected action exactly once at its provider, on its channel, signatures all good.
    by_channel: dict[str, dict[str, int]] = {"email": {}, "agent": {}, "webhook": {}}
    for action_id, action in expected.actions.items():
        by_channel[action["channel"]][action_id] = 1
    assert {ch: dict(c) for ch, c in got.items()} == by_channel
    assert http.rejected_signatures == 0
    # The walk needs the loop: notify, then (on its receipt) handoff, then crm_update. The
    # customer who refused the agent channel gets the email only.
    steps = Counter(a["step"] for a in expected.actions.values())
    assert steps == {"notify": CUSTOMERS, "handoff": CUSTOMERS - 1, "crm_update": CUSTOMERS - 1}
    assert {d["reason"] for d in expected.decisions.values()} == {"consent"}
    assert Counter(r["type"] for r in receipts) == {"MessageSent": len(expected.actions)}

    # The action topics hold what the core decided (live stamps aside), nothing else.
    live = live_actions(deployment)
    assert sorted(a["action_id"] for a in live) == sorted(expected.actions)
    assert all(same_decision(a, expected.actions[a["action_id"]]) for a in live)

    # The agent ticket carries the full context: the profile snapshot, the last events (with
    # the email's receipt among them), the transcript, the journey's history.
    with http.lock:
        tickets = [a["body"] for a in http.accepted if a["path"] == "/helpdesk"]
    assert len(tickets) == CUSTOMERS - 1
    for ticket in tickets:
        context = expected.actions[ticket["ticket_id"]]["context"]
        customer = ticket["customer_id"]
        assert ticket["last_events"] == context["last_events"]
        assert ticket["transcript"] == context["transcript"]
        assert ticket["journey"]["history"] == context["history"]
        assert [line["text"] for line in ticket["transcript"]] == [
            e["properties"]["text"]
            for e in events
            if e["customer_id"] == customer and e["type"] == "ChatMessage"
        ]
        kinds = [e["type"] for e in ticket["last_events"]]
        assert kinds[-2:] == ["PaymentFailed", "MessageSent"], kinds
        assert ticket["last_events"][-1]["properties"]["step"] == "notify"
        assert ticket["journey"]["history"]["entry"]["steps_reached"] == {
            "notify": 1,
            "handoff": 1,
        }
        assert ticket["profile"]["attributes"]["email"] == f"{customer}@example.com"
        assert "card_declined" in ticket["summary"]

    # The worker folded every receipt: profiles, journey states and timers are the core's.
    wait_for_state(deployment, worker, expected)
    assert set(expected.timers()) == {f"c-{CUSTOMERS}"}  # the refused one waits for a receipt


def test_an_erasure_reaches_the_sinks_dedupe_stores(
    deployment: Deployment, start_worker: Any
) -> None:
    """`segue forget`: each running sink forgets the customer's delivered actions, in the
    customer's partition order, and says so on segue.audit (by request id, nothing else)."""
    start = int(time.time() * 1000) - 60_000
    events = [e for e in scripted_events(start) if e["customer_id"] in ("c-1", "c-2")]
    start_worker("0", "--journeys", str(JOURNEYS), "--policies", str(POLICIES))
    with sinks_to_real_providers(deployment, SECRET) as (smtp, _http, sinks):
        produce_events(deployment, events)
        sinks[0].wait_for("both emails delivered", lambda: len(smtp.action_ids()) == 2, 120)
        done = segue(deployment.env, "forget", "c-1")
        assert done.returncode == 0, done.stderr
        request = done.stdout.strip()
        audit = TopicNames(deployment.settings).audit

        def receipts() -> dict[str, dict[str, Any]]:
            found = read_values(deployment, [audit])
            return {r["store"]: r for r in found if r.get("request_id") == request}

        sinks[0].wait_for(
            "every running sink's receipt",
            lambda: {"sink:email", "sink:agent", "sink:webhook"} <= set(receipts()),
            120,
        )
    got = receipts()
    assert got["sink:email"]["actions_forgotten"] == 1  # c-1's email, not c-2's
    assert "c-1" not in orjson.dumps(list(got.values())).decode()
