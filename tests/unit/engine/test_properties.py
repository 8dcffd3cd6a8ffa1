"""Property tests: order independence, no send after an exit or goal, caps, timers, stable ids."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.envelope import validate_event
from app.core.journeys.engine import Engine
from app.core.journeys.replay import dump_lines, replay
from app.core.profile import new_profile
from app.core.timeutil import format_ms, parse_duration, parse_rfc3339
from tests.unit.engine.helpers import journey, policies

START = parse_rfc3339("2026-11-23T00:00:00Z")
MINUTE = 60_000
EMAIL = {"channel": "email", "template": "t"}
SMS = {"channel": "sms", "template": "t"}

JOURNEYS = [
    journey(
        id="nurture",
        priority=5,
        trigger={"event": "Start"},
        exit_on=[{"event": "Stop"}],
        goal={"event": "OrderPlaced", "within": "1d"},
        holdout=0.3,
        steps=[
            {"id": "hello", "send": EMAIL},
            {"id": "w", "wait": "2h"},
            {
                "id": "pick",
                "split": [
                    {"variant": "A", "weight": 1, "goto": "a"},
                    {"variant": "B", "weight": 1, "goto": "b"},
                ],
            },
            {"id": "a", "send": SMS, "next": "wf"},
            {"id": "b", "send": EMAIL},
            {
                "id": "wf",
                "wait_for": {"event": "Go", "timeout": "3h", "on_event": "yes", "on_timeout": "no"},
            },
            {"id": "yes", "send": SMS, "next": "end"},
            {"id": "no", "send": EMAIL},
        ],
    ),
    journey(
        id="ping",
        trigger={"event": "Go"},
        reentry={"cooldown": "1h"},
        exit_on=[{"event": "Stop"}],
        steps=[
            {"id": "p1", "send": SMS},
            {"id": "w", "wait": "30m"},
            {"id": "p2", "send": EMAIL},
        ],
    ),
    journey(
        id="receipt",
        category="transactional",
        priority=50,
        trigger={"event": "OrderPlaced"},
        steps=[{"id": "r", "send": EMAIL}],
    ),
]
POLICIES = policies(
    frequency_caps=[
        {"channel": "any", "max": 3, "per": "6h"},
        {"channel": "sms", "max": 1, "per": "2h"},
    ],
    quiet_hours={"start": "21:00", "end": "08:00", "default_timezone": "UTC", "action": "defer"},
    categories={
        "promotional": {"suppress_when": "profile.open_tickets > 0"},
        "transactional": {"bypass": ["frequency_caps"]},
    },
)
TYPES = ["Start", "Stop", "Go", "OrderPlaced", "TicketOpened", "TicketClosed", "ConsentUpdated"]


@st.composite
def event_lists(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(min_value=0, max_value=40))
    events = []
    for i in range(n):
        etype = draw(st.sampled_from(TYPES))
        props: dict[str, Any] = {}
        if etype == "ConsentUpdated":
            props = {
                "channel": draw(st.sampled_from(["sms", "email"])),
                "granted": draw(st.booleans()),
            }
        # few distinct times, so that ties (same moment) are common
        minute = draw(st.integers(min_value=0, max_value=3 * 24 * 60 // 15)) * 15
        events.append(
            {
                "event_id": f"e-{draw(st.integers(min_value=0, max_value=n * 2))}-{i}",
                "type": etype,
                "customer_id": draw(st.sampled_from(["c-0", "c-1", "c-2"])),
                "timestamp": format_ms(START + minute * MINUTE),
                "properties": props,
            }
        )
    return events


def _replay(raw: list[dict[str, Any]], until_extra: int = 2 * 86_400_000):  # type: ignore[no-untyped-def]
    events = [validate_event(e) for e in raw]
    until = max((e["ts"] for e in events), default=START) + until_extra
    return replay(events, Engine(JOURNEYS, POLICIES), until)


@settings(max_examples=60, deadline=None)
@given(event_lists(), st.randoms(use_true_random=False))
def test_any_input_order_gives_the_same_output(
    raw: list[dict[str, Any]], rng: random.Random
) -> None:
    first = _replay(raw)
    shuffled = raw[:]
    rng.shuffle(shuffled)
    second = _replay(shuffled)
    assert dump_lines(first.actions) == dump_lines(second.actions)
    assert dump_lines(first.decisions) == dump_lines(second.decisions)


@settings(max_examples=60, deadline=None)
@given(event_lists())
def test_the_same_input_twice_gives_the_same_action_ids(raw: list[dict[str, Any]]) -> None:
    ids = [a["action_id"] for a in _replay(raw).actions]
    assert ids == [a["action_id"] for a in _replay(raw).actions]
    assert len(ids) == len(set(ids))  # and every emitted action has its own id


@settings(max_examples=60, deadline=None)
@given(event_lists())
def test_no_send_after_an_exit_or_a_goal(raw: list[dict[str, Any]]) -> None:
    result = _replay(raw)
    ends = {
        (o["customer_id"], o["journey"], o["entry"]): parse_rfc3339(o["event_time"])
        for o in result.outcomes
        if o["kind"] in ("exited", "goal")
    }
    for record in result.actions + result.decisions:
        end = ends.get((record["customer_id"], record["journey"], record["entry"]))
        if end is not None:
            assert parse_rfc3339(record["event_time"]) <= end


@settings(max_examples=60, deadline=None)
@given(event_lists())
def test_caps_are_never_exceeded(raw: list[dict[str, Any]]) -> None:
    """Wherever a capped send was emitted, its windows hold at most ``max`` sends.

    Receipts bypass the caps (and still count), so a window may overflow at a receipt's
    time: a timer moment at the same time T comes before the event's moment (timers fire
    first), so a send of that timer moment never saw the receipt. Receipts at exactly T are
    therefore left out of T's window (a lower bound of what the engine counted).
    """
    result = _replay(raw)
    caps = [(c["channel"], c["max"], parse_duration(c["per"])) for c in POLICIES["frequency_caps"]]
    by_customer: dict[str, list[tuple[int, str, bool]]] = {}
    for a in result.actions:
        by_customer.setdefault(a["customer_id"], []).append(
            (parse_rfc3339(a["event_time"]), a["channel"], a["journey"] == "receipt")
        )
    for sends in by_customer.values():
        for t, sent_channel, bypass in sends:
            if bypass:
                continue
            for channel, most, per in caps:
                if channel not in ("any", sent_channel):
                    continue
                window = [
                    s
                    for s in sends
                    if t - per < s[0] <= t and channel in ("any", s[1]) and not (s[2] and s[0] == t)
                ]
                assert len(window) <= most


@settings(max_examples=60, deadline=None)
@given(event_lists(), st.lists(st.integers(min_value=1, max_value=600), max_size=10))
def test_a_timer_never_fires_before_its_time(raw: list[dict[str, Any]], steps: list[int]) -> None:
    """Live-style: events, then the clock moved on in random steps; nothing is ever early."""
    engine = Engine(JOURNEYS, POLICIES)
    events = sorted((validate_event(e) for e in raw), key=lambda e: (e["ts"], e["event_id"]))
    states: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for event in events:
        profile, state = states.setdefault(
            event["key"], (new_profile(event["key"]), engine.new_state(event["key"]))
        )
        due = engine.next_due(state)
        out = engine.handle_event(profile, state, event)
        for record in out.actions + out.decisions:
            fired = parse_rfc3339(record["event_time"])
            # the event's own moment, or a timer that was due by then (never before its due time)
            assert fired == event["ts"] or (due is not None and due <= fired <= event["ts"])
        nxt = engine.next_due(state)
        assert nxt is None or nxt > event["ts"]  # nothing due at or before now is left pending
    now = max((e["ts"] for e in events), default=START)
    for step in steps:
        now += step * MINUTE
        for profile, state in states.values():
            due = engine.next_due(state)
            out = engine.advance(profile, state, now)
            for record in out.actions + out.decisions:
                fired = parse_rfc3339(record["event_time"])
                assert due is not None and due <= fired <= now
            nxt = engine.next_due(state)
            assert nxt is None or nxt > now


@settings(max_examples=60, deadline=None)
@given(
    event_lists(),
    st.lists(
        st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=24 * 60 - 1)),
        max_size=15,
    ),
    st.randoms(use_true_random=False),
)
def test_copies_within_the_window_change_nothing(
    raw: list[dict[str, Any]], picks: list[tuple[int, int]], rng: random.Random
) -> None:
    """Producers retry: copies of events (the same event_id, the same or a later timestamp less
    than the 24 h window after the original) inserted anywhere leave the actions and decisions
    as they were; replay counts each copy as a duplicate."""
    if not raw:
        return
    events = [validate_event(e) for e in raw]
    until = max(e["ts"] for e in events) + 2 * 86_400_000
    copies = []
    for index, later_minutes in picks:
        original = raw[index % len(raw)]
        copy = dict(original)
        if later_minutes % 2:  # half of them: the very same envelope
            copy["timestamp"] = format_ms(
                parse_rfc3339(original["timestamp"]) + later_minutes * MINUTE
            )
        copies.append(copy)
    mixed = raw + copies
    rng.shuffle(mixed)
    first = replay(events, Engine(JOURNEYS, POLICIES), until)
    second = replay([validate_event(e) for e in mixed], Engine(JOURNEYS, POLICIES), until)
    assert second.duplicates == len(copies)
    assert dump_lines(second.actions) == dump_lines(first.actions)
    assert dump_lines(second.decisions) == dump_lines(first.decisions)
