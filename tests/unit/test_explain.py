"""The explanation of one customer (app/explain/), on scripted customers run through the engine
the way ``segue explain --events`` runs them (the replay's loop, identity resolved)."""

from __future__ import annotations

from typing import Any

from app.core.identity import IdentityConfig
from app.core.identity_replay import DictTable
from app.core.journeys.engine import Engine
from app.core.journeys.replay import order_events
from app.core.profile import new_profile
from app.explain.assemble import Customer, explain
from app.explain.events import EventIndex
from app.explain.profile_view import profile_lines
from app.explain.render import render
from app.explain.trace import Seen, replayed_customer, trace
from tests.unit.engine.helpers import event, iso, journey, ms, policies

#: the journey as its file holds it (test_explain_cli.py writes it out as YAML)
CART_DOC: dict[str, Any] = {
    "id": "cart",
    "version": 2,
    "trigger": {"event": "CartAbandoned"},
    "steps": [
        {"id": "remind", "send": {"channel": "email", "template": "cart_reminder"}},
        {"id": "nudge", "send": {"channel": "sms", "template": "cart_sms"}},
        {
            "id": "wait_order",
            "wait_for": {"event": "OrderPlaced", "timeout": "1h", "on_timeout": "last_call"},
        },
        {"id": "last_call", "send": {"channel": "push", "template": "last_call"}},
        {"id": "pause", "wait": "1d"},
        {"id": "final", "send": {"channel": "email", "template": "final_offer"}},
    ],
}
CART = journey(**CART_DOC)
#: one send per two hours on any channel: the push after the timeout is capped
CAP = policies(frequency_caps=[{"channel": "any", "max": 1, "per": "2h"}])


def explained(
    journeys: list[dict[str, Any]],
    events: list[dict[str, Any]],
    who: str,
    until: str,
    policy: dict[str, Any] | None = None,
    only: str | None = None,
) -> dict[str, Any]:
    engine = Engine(journeys, policy)
    kept: list[tuple[dict[str, Any], Seen | None]] = []
    traced = trace(
        order_events(events),
        engine,
        IdentityConfig(),
        DictTable(),
        DictTable(),
        who,
        ms(until),
        lambda record, seen: kept.append((record, seen)),
    )
    assert traced.key is not None, f"{who} not found"
    return explain(replayed_customer(traced, who, kept, engine.versions, ms(until)), only)


def scripted() -> list[dict[str, Any]]:
    """c-1 withdrew SMS consent, abandoned a cart, came back after the wait_for timed out;
    c-2 abandoned a cart at the same moment (not c-1's business)."""
    return [
        event("ConsentUpdated", "10:00", "c-1", "e-consent", channel="sms", granted=False),
        event("CartAbandoned", "10:05", "c-1", "e-cart", cart_value=42.5),
        event("PageViewed", "11:30", "c-1", "e-view"),
        event("CartAbandoned", "10:05", "c-2", "x-cart"),
    ]


def decisions(entry: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (d["time"], d["kind"], d["step"], d.get("reason"), d["because"]) for d in entry["decisions"]
    ]


def test_a_send_a_suppression_and_a_wait_with_timeout_are_explained() -> None:
    doc = explained([CART], scripted(), "c-1", "12:00", CAP)
    assert doc["customer_id"] == "c-1" and doc["source"] == "replay"
    assert doc["as_of"] == iso("12:00")
    (cart,) = doc["journeys"]
    assert cart["journey"] == "cart" and cart["entries_so_far"] == 1
    (entry,) = cart["entries"]
    assert (entry["entry"], entry["version"], entry["control"], entry["variant"]) == (
        1,
        2,
        False,
        None,
    )
    assert entry["trigger"] == {"event_id": "e-cart", "type": "CartAbandoned", "time": iso("10:05")}
    assert (entry["status"], entry["step"]) == ("active", "pause")
    assert entry["timer"]["due"] == iso("11:05", "2026-11-24")
    assert entry["timer"]["kind"] == "wait"
    assert entry["timer"]["then"] == {
        "step": "final",
        "kind": "send",
        "channel": "email",
        "template": "final_offer",
    }
    cart_event = {"events": [entry["trigger"]]}
    timed_out = {"timer": "wait_order timed out waiting for OrderPlaced"}
    assert decisions(entry) == [
        (iso("10:05"), "entered", None, None, cart_event),
        (iso("10:05"), "suppressed", "nudge", "consent", cart_event),  # at once, when reached
        (iso("10:05"), "sent", "remind", None, cart_event),  # the moment's sends, at its end
        (iso("11:05"), "timed_out", "wait_order", None, timed_out),
        (iso("11:05"), "suppressed", "last_call", "frequency_cap", timed_out),
    ]
    sent = entry["decisions"][2]
    assert (sent["channel"], sent["template"]) == ("email", "cart_reminder")
    assert len(sent["action_id"]) == 32
    assert [p["step"] for p in entry["path"]] == [
        "remind",
        "nudge",
        "wait_order",
        "last_call",
        "pause",
    ]
    assert [(a["outcome"], a["channel"], a["template"], a["reason"]) for a in doc["answers"]] == [
        ("suppressed", "sms", "cart_sms", "consent"),
        ("sent", "email", "cart_reminder", None),
        ("suppressed", "push", "last_call", "frequency_cap"),
        ("not_yet", "email", "final_offer", None),
    ]
    assert doc["answers"][1]["text"] == (
        f"email cart_reminder: sent at {iso('10:05')} (cart v2 entry 1, step remind)"
    )
    assert doc["answers"][2]["text"] == (
        f"push last_call: suppressed (frequency_cap) at {iso('11:05')} "
        "(cart v2 entry 1, step last_call)"
    )


def test_the_text_gives_the_answers_then_each_entry() -> None:
    text = render(explained([CART], scripted(), "c-1", "12:00", CAP))
    lines = text.splitlines()
    assert lines[0] == f"customer c-1: from a replay, as of {iso('12:00')}"
    assert lines[2:7] == [
        "answers:",
        f"  sms cart_sms: suppressed (consent) at {iso('10:05')} (cart v2 entry 1, step nudge)",
        f"  email cart_reminder: sent at {iso('10:05')} (cart v2 entry 1, step remind)",
        f"  push last_call: suppressed (frequency_cap) at {iso('11:05')} "
        "(cart v2 entry 1, step last_call)",
        f"  email final_offer: not yet, due {iso('11:05', '2026-11-24')} when the wait pause "
        "ends (cart v2 entry 1, step final)",
    ]
    assert "cart v2 entry 1: active, at pause" in lines
    assert f"  entered {iso('10:05')} on CartAbandoned e-cart; treatment group" in lines
    assert (
        f"  timer {iso('11:05', '2026-11-24')}: the wait pause (1d) ends; "
        "then final (send email final_offer)"
    ) in lines
    assert any(
        line.startswith(f"  {iso('11:05')}  suppressed (frequency_cap) push last_call")
        and line.endswith("<- timer: wait_order timed out waiting for OrderPlaced")
        for line in lines
    ), text


def test_only_the_customers_records_and_a_journey_filter() -> None:
    doc = explained([CART], scripted(), "c-2", "12:00", CAP)
    (entry,) = doc["journeys"][0]["entries"]
    assert entry["trigger"]["event_id"] == "x-cart"
    assert all(e["customer_id"] == "c-2" for e in doc["journeys"][0]["entries"])
    narrowed = explained([CART], scripted(), "c-1", "12:00", CAP, only="welcome")
    assert narrowed["journeys"] == [
        {"journey": "welcome", "entries_so_far": 0, "entries": [], "note": "never entered"}
    ]
    assert narrowed["answers"] == []


WAITS = journey(
    id="waits",
    trigger={"event": "SignedUp"},
    goal={"event": "OrderPlaced", "within": "1d"},
    steps=[
        {"id": "pause", "wait": "1h"},
        {"id": "hello", "send": {"channel": "email", "template": "hello"}},
        {"id": "listen", "wait_for": {"event": "AppOpened", "timeout": "2h"}},
        {"id": "tip", "send": {"channel": "push", "template": "tip"}},
        {"id": "hold", "wait": "1d"},
    ],
)


def test_a_timer_due_at_the_moment_of_an_event_is_the_timers() -> None:
    # The wait ends at 11:00 exactly when an unrelated event comes: the send is the timer's.
    # The AppOpened resumes the wait_for (the event's); the order ends the entry (the goal).
    events = [
        event("SignedUp", "10:00", "c-1", "e-up"),
        event("PageViewed", "11:00", "c-1", "e-view"),
        event("AppOpened", "11:30", "c-1", "e-open"),
        event("OrderPlaced", "12:00", "c-1", "e-order", total=7.14),
    ]
    doc = explained([WAITS], events, "c-1", "13:00")
    (entry,) = doc["journeys"][0]["entries"]
    assert entry["status"] == "goal" and entry["timer"] is None
    assert entry["ended"] == {
        "time": iso("12:00"),
        "why": "reached its goal (OrderPlaced) 2h after it started",
    }
    because = [(d["kind"], d["step"], d["because"]) for d in entry["decisions"]]
    opened = {"event_id": "e-open", "type": "AppOpened", "time": iso("11:30")}
    order = {"event_id": "e-order", "type": "OrderPlaced", "time": iso("12:00")}
    assert because == [
        (
            "entered",
            None,
            {"events": [{"event_id": "e-up", "type": "SignedUp", "time": iso("10:00")}]},
        ),
        ("sent", "hello", {"timer": "the wait pause (1h) ended"}),
        ("sent", "tip", {"events": [opened]}),
        ("goal", None, {"events": [order]}),
    ]


def test_a_wait_for_still_waiting_says_what_for() -> None:
    events = [event("SignedUp", "10:00", "c-1", "e-up")]
    doc = explained([WAITS], events, "c-1", "11:30")
    (entry,) = doc["journeys"][0]["entries"]
    assert (entry["status"], entry["step"]) == ("active", "listen")
    timer = entry["timer"]
    assert (timer["due"], timer["kind"], timer["waits_for"]) == (
        iso("13:00"),
        "wait_for",
        "AppOpened",
    )
    assert timer["then"]["step"] == "tip" and timer["then_on_event"]["step"] == "tip"
    assert doc["answers"][-1]["text"] == (
        f"push tip: not yet, due {iso('13:00')} if AppOpened has not come by then "
        "(waits v1 entry 1, step tip)"
    )


NIGHT = journey(
    id="night",
    trigger={"event": "SignedUp"},
    holdout=0.0,
    steps=[{"id": "sms", "send": {"channel": "sms", "template": "hi"}}],
)
QUIET = policies(
    quiet_hours={"start": "21:00", "end": "08:00", "default_timezone": "UTC", "action": "defer"}
)


def test_a_send_deferred_by_quiet_hours_is_pending_then_the_timers() -> None:
    events = [event("SignedUp", "22:00", "c-1", "e-up")]
    waiting = explained([NIGHT], events, "c-1", "23:00", QUIET)
    (entry,) = waiting["journeys"][0]["entries"]
    assert entry["timer"]["kind"] == "defer"
    assert entry["timer"]["due"] == iso("08:00", "2026-11-24")
    assert waiting["answers"][0]["outcome"] == "deferred"
    assert waiting["answers"][0]["reason"] == "quiet_hours"
    done = explained([NIGHT], events, "c-1", "2026-11-24T09:00:00Z", QUIET)
    (entry,) = done["journeys"][0]["entries"]
    assert entry["status"] == "ended"
    deferred = {"timer": f"quiet hours ended (the send was deferred at {iso('22:00')})"}
    assert [(d["kind"], d["because"]) for d in entry["decisions"][1:]] == [
        ("ended", deferred),
        ("sent", deferred),
    ]


def test_an_anonymous_visitors_entry_carried_over_is_one_entry() -> None:
    browse = journey(
        id="browse",
        trigger={"event": "ProductViewed"},
        steps=[
            {"id": "wait_cart", "wait_for": {"event": "CartAbandoned", "timeout": "2h"}},
            {"id": "thanks", "send": {"channel": "email", "template": "thanks"}},
        ],
    )
    events = [
        event("ProductViewed", "10:00", None, "a-1", anonymous="anon-9"),
        event("Identify", "10:10", "u-1", "i-1", anonymous="anon-9"),
        event("CartAbandoned", "10:20", "u-1", "c-1"),
    ]
    for who in ("u-1", "anon-9", "anonymous_id:anon-9"):
        doc = explained([browse], events, who, "11:00")
        assert doc["customer_id"] == "u-1" and doc["requested_as"] == who
        (entry,) = doc["journeys"][0]["entries"]
        assert entry["customer_id"] == "u-1"
        assert entry["started_as"] == {"customer_id": "anon-9", "entry": 1}
        assert entry["trigger"]["event_id"] == "a-1"
        assert [(d["kind"], d["because"]["events"][0]["event_id"]) for d in entry["decisions"]] == [
            ("entered", "a-1"),
            ("ended", "c-1"),
            ("sent", "c-1"),
        ]
    # before the cart: the carried-over entry has not moved under the customer yet
    doc = explained([browse], events[:2], "u-1", "10:30")
    (entry,) = doc["journeys"][0]["entries"]
    assert (entry["status"], entry["step"], entry["started_as"]) == (
        "active",
        "wait_cart",
        {"customer_id": "anon-9", "entry": 1},
    )
    assert entry["timer"]["due"] == iso("12:00") and entry["trigger"]["event_id"] == "a-1"


def test_live_records_name_their_events_from_the_profile_and_the_state() -> None:
    # Live there is no trace: the events come from the input topics, the profile's recent
    # events and the state's remembered ids. The worker handles each event as it comes; the
    # timer due at 11:05 fired when the 11:30 event arrived, so its records carry that event's
    # broker time (source_timestamp), and are still the timer's.
    engine = Engine([CART], CAP)
    profile, jstate = new_profile("c-1"), engine.new_state("c-1")
    outcomes = []
    for e in order_events([e for e in scripted() if e["key"] == "c-1"]):
        for r in engine.handle_event(profile, jstate, e).outcomes:
            outcomes.append({**r, "decided_at": e["timestamp"], "source_timestamp": e["timestamp"]})
    index = EventIndex()
    index.add_seen(jstate)  # ids and times
    index.add_profile(profile)  # and their types
    twice = outcomes + outcomes[:3]  # the topic is written at least once
    doc = explain(Customer("c-1", "c-1", "live", jstate, twice, index, engine.versions))
    (entry,) = doc["journeys"][0]["entries"]
    assert (entry["status"], entry["step"], entry["timer"]["due"]) == (
        "active",
        "pause",
        iso("11:05", "2026-11-24"),
    )
    assert entry["trigger"] == {"event_id": "e-cart", "type": "CartAbandoned", "time": iso("10:05")}
    timed_out = {"timer": "wait_order timed out waiting for OrderPlaced"}
    assert [(d["kind"], d["because"]) for d in entry["decisions"]] == [
        ("entered", {"events": [entry["trigger"]]}),
        ("suppressed", {"events": [entry["trigger"]]}),
        ("sent", {"events": [entry["trigger"]]}),
        ("timed_out", timed_out),
        ("suppressed", timed_out),
    ]
    # past the outcome topic's retention the entered record is gone: the events known at the
    # time still name the first moment's cause, and the state the trigger
    later = explain(Customer("c-1", "c-1", "live", jstate, outcomes[1:], index, engine.versions))
    (entry,) = later["journeys"][0]["entries"]
    assert entry["trigger"]["event_id"] == "e-cart"
    assert entry["decisions"][0]["because"] == {"events": [entry["trigger"]]}


def test_profile_view_is_compact_and_readable() -> None:
    engine = Engine([CART], CAP)
    profile, jstate = new_profile("c-1"), engine.new_state("c-1")
    for e in [
        event("Identify", "09:00", "c-1", "e-id", first_name="Ann", plan="gold"),
        *scripted()[:2],
        event("OrderPlaced", "10:30", "c-1", "e-o1", total=3.1),
        event("OrderPlaced", "10:31", "c-1", "e-o2", total=4.04),
    ]:
        engine.handle_event(profile, jstate, e)
    assert profile["lifetime_value"] != 7.14  # the float sum as stored
    record = {"profile": profile, "journeys": jstate, "ids": ["email_hash:ab12"], "merged": []}
    text = "\n".join(profile_lines(record))
    assert "attr_ts" not in text and "e-id" not in text  # no bookkeeping
    lines = profile_lines(record)
    assert lines[0].split() == ["customer", "c-1"]
    assert f"first {iso('09:00')}, last {iso('10:31')}" in lines[1]
    assert lines[2].split(None, 1) == ["attributes", "first_name=Ann, plan=gold"]
    assert "CartAbandoned 1, ConsentUpdated 1, Identify 1, OrderPlaced 2 (5 in all)" in lines[3]
    assert lines[4].split(None, 1) == ["consent", "sms withdrawn"]
    assert lines[6].split() == ["lifetime", "value", "7.14"]
    assert lines[7].split() == ["linked", "email_hash:ab12"]
    assert lines[8].split(None, 1) == [
        "journeys",
        # the order resumed the wait_for: the entry went on to its day-long pause
        f"cart v2 entry 1: active at pause, wait until {iso('10:30', '2026-11-24')}",
    ]
