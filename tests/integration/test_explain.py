"""`segue explain ID` on the real broker: a live worker, a scripted customer, and the command
shows the journeys, the step each entry waits at, its pending timer and every decision with its
reason and the event (or timer) behind it; `segue profile get` shows the same customer to a
person, and its raw record with --json."""

from __future__ import annotations

import time
from typing import Any

import orjson

from app.cli.profile import fetch_record
from app.core.journeys.hashing import in_holdout
from app.core.timeutil import format_ms
from app.privacy.export import records_of
from app.topics.specs import TopicNames
from tests.integration.live_support import WORKER_ARGS, produce_events
from tests.integration.support import Deployment
from tests.integration.test_cli import segue

DAY_MS = 86_400_000


def outside_the_cart_holdout() -> str:
    """A customer id the cart journey's 20 % control group does not take (its sends would be
    held out, not suppressed)."""
    return next(f"eve-{n}" for n in range(100) if not in_holdout("cart", f"eve-{n}", 0.2))


def scripted(customer: str, t0: int) -> list[dict[str, Any]]:
    """Dated a day ahead: the partition's time is its newest event's, so the timers due by the
    last event fire and the later ones stay pending, whatever the wall clock does."""

    def ev(n: int, seconds: int, etype: str, **props: Any) -> dict[str, Any]:
        return {
            "event_id": f"{customer}-{n}",
            "type": etype,
            "customer_id": customer,
            "timestamp": format_ms(t0 + seconds * 1000),
            "properties": props,
        }

    return [
        ev(0, 0, "TicketOpened", ticket_id="t-1", severity="low"),  # promotional sends: suppressed
        ev(1, 1, "SignedUp"),  # welcome: hello sent at once, then a 5 s pause
        ev(2, 2, "CartAbandoned", cart_value=50.0, items=1),  # cart: 3 s, then the reminder
        ev(3, 7, "PageViewed"),  # fires both waits: the reminder is suppressed (category)
    ]


def test_explain_a_live_customer(deployment: Deployment, start_worker: Any) -> None:
    customer = outside_the_cart_holdout()
    t0 = (int(time.time() * 1000) // 1000) * 1000 + DAY_MS
    at = lambda seconds: format_ms(t0 + seconds * 1000)  # noqa: E731
    worker = start_worker("0", *WORKER_ARGS)
    produce_events(deployment, scripted(customer, t0))
    outcomes_topic = TopicNames(deployment.settings).outcomes

    def processed() -> bool:
        record = fetch_record(deployment.settings, customer)
        entries = (record or {}).get("journeys", {}).get("entries", {})
        if entries.get("cart", {}).get("at") != "wait_more":
            return False
        kinds = {o["kind"] for o in records_of(deployment.settings, outcomes_topic, customer)}
        return "suppressed" in kinds

    worker.wait_for(f"{customer}'s events handled", processed)

    done = segue(deployment.env, "explain", customer, "--json")
    assert done.returncode == 0, done.stderr
    doc = orjson.loads(done.stdout)
    assert (doc["customer_id"], doc["source"], doc["as_of"]) == (customer, "live", at(7))
    assert doc["worker_timer"] == at(9)  # the timers changelog: cart's wait ends first
    journeys = {j["journey"]: j for j in doc["journeys"]}
    assert sorted(journeys) == ["cart", "welcome"]

    (cart,) = journeys["cart"]["entries"]
    assert (cart["version"], cart["entry"], cart["status"], cart["step"]) == (
        2,
        1,
        "active",
        "wait_more",
    )
    assert cart["control"] is False
    trigger = {"event_id": f"{customer}-2", "type": "CartAbandoned", "time": at(2)}
    assert cart["trigger"] == trigger
    # the definitions are the worker's own (its deploy record names the files)
    assert cart["timer"]["due"] == at(9) and cart["timer"]["kind"] == "wait"
    assert cart["timer"]["then"] == {
        "step": "call",
        "kind": "send",
        "channel": "agent",
        "template": "cart_callback",
    }
    waited = {"timer": "the wait wait_a_bit (3s) ended"}
    assert [
        (d["time"], d["kind"], d["step"], d.get("reason"), d["because"]) for d in cart["decisions"]
    ] == [
        (at(2), "entered", None, None, {"events": [trigger]}),
        (at(5), "suppressed", "remind", "category", waited),
    ]
    assert (cart["decisions"][1]["channel"], cart["decisions"][1]["template"]) == (
        "email",
        "cart_reminder",
    )

    (welcome,) = journeys["welcome"]["entries"]
    assert (welcome["version"], welcome["status"], welcome["step"]) == (1, "active", "wait_step")
    signed_up = {"event_id": f"{customer}-1", "type": "SignedUp", "time": at(1)}
    assert welcome["timer"]["due"] == at(14)
    assert welcome["timer"]["waits_for"] == "OnboardingStepCompleted"
    assert welcome["timer"]["then"]["template"] == "nudge"
    assert [p["step"] for p in welcome["path"]] == ["hello", "pause", "route", "wait_step"]
    assert [(d["kind"], d["step"], d["because"]) for d in welcome["decisions"]] == [
        ("entered", None, {"events": [signed_up]}),
        ("sent", "hello", {"events": [signed_up]}),
    ]
    assert [a["text"] for a in doc["answers"]] == [
        f"email welcome: sent at {at(1)} (welcome v1 entry 1, step hello)",
        f"email cart_reminder: suppressed (category) at {at(5)} (cart v2 entry 1, step remind)",
        f"agent cart_callback: not yet, due {at(9)} when the wait wait_more ends "
        "(cart v2 entry 1, step call)",
        f"sms nudge: not yet, due {at(14)} if OnboardingStepCompleted has not come by then "
        "(welcome v1 entry 1, step nudge)",
    ]
    assert doc["answers"][1]["reason"] == "category"

    text = segue(deployment.env, "explain", f"{customer}", "--journey", "cart")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == f"customer {customer}: live, from the worker's state; last event {at(7)}"
    assert f"  {doc['answers'][1]['text']}" in lines
    assert "cart v2 entry 1: active, at wait_more" in lines
    assert not any(line.startswith("welcome") for line in lines)

    shown = segue(deployment.env, "profile", "get", customer)
    assert shown.returncode == 0, shown.stderr
    view = shown.stdout
    assert "attr_ts" not in view and "{" not in view  # for people, not the raw record
    assert "open tickets    1" in view
    assert f"cart v2 entry 1: active at wait_more, wait until {at(9)}" in view
    assert f"welcome v1 entry 1: active at wait_step, wait_for until {at(14)}" in view
    raw = segue(deployment.env, "profile", "get", customer, "--json")
    assert orjson.loads(raw.stdout)["counts"]["PageViewed"] == 1
    assert segue(deployment.env, "explain", "nobody").returncode == 1
