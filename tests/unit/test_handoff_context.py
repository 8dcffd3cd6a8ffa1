"""The live-agent handoff context (app/core/handoff.py): what the profile keeps of the last events
and the chat transcript, and what the engine puts on ``agent`` actions."""

from __future__ import annotations

import copy
import random
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from app.core.delivery.handoff import handoff_ticket
from app.core.handoff import (
    PROPS_MAX,
    RECENT_MAX,
    STRING_MAX,
    TRANSCRIPT_MAX,
    compact_properties,
    merge_handoff,
)
from app.core.journeys import Engine
from app.core.profile import fold, new_profile
from app.core.profile_merge import merge_profiles
from app.core.timeutil import format_ms


def ev(eid: str, etype: str, ts: int, **props: Any) -> dict[str, Any]:
    return {"event_id": eid, "type": etype, "ts": ts, "properties": props, "key": "c-1"}


def fold_all(events: list[dict[str, Any]]) -> dict[str, Any]:
    profile = new_profile("c-1")
    for e in events:
        fold(profile, e)
    return profile


def test_recent_keeps_the_newest_events_compacted_oldest_first() -> None:
    events = [
        ev(f"e-{i:02d}", "PageViewed", 1_000 + i, url=f"/p/{i}", bounce_rate=0.1) for i in range(15)
    ]
    events.append(ev("e-99", "ProfileUpdated", 2_000, plan="gold", email="a@x"))
    profile = fold_all(events)
    recent = profile["recent"]
    assert len(recent) == RECENT_MAX
    assert [r[1] for r in recent] == [f"e-{i:02d}" for i in range(6, 15)] + ["e-99"]
    assert recent[0] == [1_006, "e-06", "PageViewed", {"url": "/p/6"}]  # analytics dropped
    assert recent[-1] == [2_000, "e-99", "ProfileUpdated", {}]  # traits: in the snapshot
    assert "transcript" not in profile  # no chat, no field


def test_compaction_keeps_scalars_cuts_strings_and_caps_the_count() -> None:
    props = {f"k{i}": i for i in range(PROPS_MAX + 3)}
    props.update(items=[1, 2], nested={"a": 1}, note="x" * 500, session_id="s-1")
    out = compact_properties("OrderPlaced", props)
    assert len(out) == PROPS_MAX and all(isinstance(v, int) for v in out.values())
    out = compact_properties("OrderPlaced", {"note": "x" * 500, "items": [1], "total": 9.5})
    assert out == {"note": "x" * STRING_MAX, "total": 9.5}


def test_chat_messages_make_the_transcript() -> None:
    events = [
        ev("m-1", "ChatMessage", 10, text="my card was declined", sender="customer"),
        ev("m-2", "ChatMessage", 20, text="Let me check that for you", sender="bot"),
        ev("m-3", "ChatMessage", 30, text=""),  # nothing said: no line
        ev("m-4", "ChatMessage", 40, text="still waiting"),  # sender defaults to customer
    ]
    events += [ev(f"n-{i:02d}", "ChatMessage", 100 + i, text=f"line {i}") for i in range(25)]
    profile = fold_all(events)
    lines = profile["transcript"]
    assert len(lines) == TRANSCRIPT_MAX
    assert lines[-1] == [124, "n-24", "customer", "line 24"]
    first = fold_all(events[:4])["transcript"]
    assert first == [
        [10, "m-1", "customer", "my card was declined"],
        [20, "m-2", "bot", "Let me check that for you"],
        [40, "m-4", "customer", "still waiting"],
    ]
    # the text is not kept twice: the recent event shows who spoke, not what
    assert fold_all(events[:1])["recent"][0][3] == {"sender": "customer"}


event_lists = st.lists(
    st.tuples(st.integers(0, 50), st.sampled_from(["PageViewed", "ChatMessage", "CartAbandoned"])),
    min_size=0,
    max_size=40,
)


@given(event_lists, st.integers(0, 2**32))
def test_what_is_kept_does_not_depend_on_arrival_order_or_repeats(
    spec: list[tuple[int, str]], seed: int
) -> None:
    events = [ev(f"e-{i:03d}", t, ts, text=f"t{i}") for i, (ts, t) in enumerate(spec)]
    shuffled = events + events[: len(events) // 2]  # some arrive twice
    random.Random(seed).shuffle(shuffled)
    ordered = sorted(events, key=lambda e: (e["ts"], e["event_id"]))
    a, b = fold_all(ordered), fold_all(shuffled)
    assert a.get("recent") == b.get("recent")
    assert a.get("transcript") == b.get("transcript")


@given(event_lists, st.integers(0, 2**32))
def test_a_merge_keeps_what_one_profile_of_all_events_keeps(
    spec: list[tuple[int, str]], seed: int
) -> None:
    events = [ev(f"e-{i:03d}", t, ts, text=f"t{i}") for i, (ts, t) in enumerate(spec)]
    rng = random.Random(seed)
    left = [e for e in events if rng.random() < 0.5]
    right = [e for e in events if e not in left]
    whole = fold_all(events)
    into = merge_profiles(fold_all(left), fold_all(right))
    assert into.get("recent", []) == whole.get("recent", [])
    assert into.get("transcript", []) == whole.get("transcript", [])
    alone: dict[str, Any] = {}
    merge_handoff(alone, copy.deepcopy(whole))
    assert alone.get("recent", []) == whole.get("recent", [])


HANDOFF_JOURNEY = {
    "id": "payment_rescue",
    "version": 2,
    "category": "service",
    "trigger": {"event": "PaymentFailed"},
    "steps": [
        {"id": "retry_link", "send": {"channel": "email", "template": "payment_retry_link"}},
        {"id": "pause", "wait": "1h"},
        {"id": "call", "send": {"channel": "agent", "template": "payment_rescue_call"}},
    ],
}
OTHER = {
    "id": "welcome",
    "version": 1,
    "trigger": {"event": "SignedUp"},
    "steps": [{"id": "wait_long", "wait": "7d"}],
}


def test_agent_actions_carry_last_events_transcript_and_history() -> None:
    engine = Engine([HANDOFF_JOURNEY, OTHER])
    profile, jstate = new_profile("c-1"), engine.new_state("c-1")
    t0 = 1_800_000_000_000
    events = [
        ev("e-1", "SignedUp", t0, plan="basic"),
        ev("e-2", "ChatMessage", t0 + 1_000, text="my payment failed twice", sender="customer"),
        ev("e-3", "PaymentFailed", t0 + 2_000, order_id="o-1", amount=30.0, reason="declined"),
        ev("e-4", "MessageSent", t0 + 3_000, action_id="a-1", channel="email", journey="x"),
    ]
    actions = []
    for e in events:
        actions += engine.handle_event(profile, jstate, e).actions
    (email,) = actions
    assert set(email["context"]) == {"category", "priority", "visit"}  # not an agent action
    (call,) = engine.advance(profile, jstate, t0 + 2_000 + 3_600_000).actions
    context = call["context"]
    assert context["category"] == "service" and context["visit"] == 1
    assert [e["event_id"] for e in context["last_events"]] == ["e-1", "e-2", "e-3", "e-4"]
    assert context["last_events"][2] == {
        "timestamp": format_ms(t0 + 2_000),
        "event_id": "e-3",
        "type": "PaymentFailed",
        "properties": {"order_id": "o-1", "amount": 30.0, "reason": "declined"},
    }
    assert context["transcript"] == [
        {
            "timestamp": format_ms(t0 + 1_000),
            "event_id": "e-2",
            "sender": "customer",
            "text": "my payment failed twice",
        }
    ]
    history = context["history"]
    assert history["entry"] == {
        "journey": "payment_rescue",
        "number": 1,
        "started_at": format_ms(t0 + 2_000),
        "trigger_event_id": "e-3",
        "variant": None,
        "steps_reached": {"retry_link": 1, "call": 1},
    }
    assert history["journeys"] == [
        {
            "journey": "payment_rescue",
            "entries": 1,
            "last_started_at": format_ms(t0 + 2_000),
            "active": True,
            "at": "call",  # the step that hands over
        },
        {
            "journey": "welcome",
            "entries": 1,
            "last_started_at": format_ms(t0),
            "active": True,
            "at": "wait_long",
        },
    ]
    # the sink's ticket passes it all on, and the snapshot does not repeat the lists
    ticket = handoff_ticket(call, profile, "summary", "subject")
    assert ticket["last_events"] == context["last_events"]
    assert ticket["transcript"] == context["transcript"]
    assert ticket["journey"]["history"] == history
    assert "recent" not in ticket["profile"] and "transcript" not in ticket["profile"]
    assert ticket["profile"]["attributes"] == profile["attributes"]
