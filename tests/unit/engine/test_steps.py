"""Every step kind, through the engine (via the pure replay driver)."""

from __future__ import annotations

import pytest

from app.core.timeutil import parse_rfc3339
from tests.unit.engine.helpers import FixedScorer, event, iso, journey, lives, run, sent, u

SEND = {"send": {"channel": "email", "template": "t"}}


KINDS = ("send", "wait", "wait_for", "branch", "split", "decide", "update")


def s(step_id: str, **body: object) -> dict[str, object]:
    """A step; a plain email send unless ``body`` names a kind."""
    kind = {} if any(k in body for k in KINDS) else SEND
    return {"id": step_id, **kind, **body}


def test_send_emits_the_full_action_record_at_the_moment_it_is_reached() -> None:
    j = journey(
        id="welcome",
        version=4,
        steps=[s("hi", send={"channel": "sms", "template": "hello", "data": {"n": "1 + 1"}})],
    )
    result = run([j], [event("Start", "10:00", eid="e-9")])
    (a,) = result.actions
    assert a == {
        "action_id": a["action_id"],
        "customer_id": "c-1",
        "journey": "welcome",
        "journey_version": 4,
        "step": "hi",
        "channel": "sms",
        "template": "hello",
        "variant": None,
        "trigger_event_id": "e-9",
        "event_time": iso("10:00"),
        "decided_at": iso("10:00"),
        "scores": {"churn": 0.0, "intent": 0.0},
        "data": {"n": 2},
        "entry": 1,
        "model_version": "none",
        "context": {"category": "promotional", "priority": 0, "visit": 1},
        "profile": {
            "id": "c-1",
            "attributes": {},
            "counts": {"Start": 1},
            "first_seen": parse_rfc3339(iso("10:00")),
            "last_seen": parse_rfc3339(iso("10:00")),
            "consent": {},
            "open_tickets": 0,
            "lifetime_value": 0.0,
        },
    }


def test_the_recipient_snapshot_is_the_profile_when_decided_not_later() -> None:
    j = journey(steps=[s("hi"), s("w", wait="1h"), s("again")])
    result = run(
        [j],
        [
            event("Start", "10:00", eid="e-1"),
            event("Identify", "10:30", eid="e-2", email="a@example.com"),
        ],
        until="12:00",
    )
    first, second = result.actions
    assert first["profile"]["attributes"] == {}  # the address came after the first send
    assert second["profile"]["attributes"] == {"email": "a@example.com"}
    assert second["profile"]["counts"] == {"Start": 1, "Identify": 1}
    for action in result.actions:  # bookkeeping and handoff lists stay in the profile
        assert not {"attr_ts", "consent_ts", "session", "recent"} & set(action["profile"])


def test_wait_continues_its_duration_after_the_step_was_reached() -> None:
    j = journey(steps=[s("w", wait="2h"), s("a"), s("w2", wait="90s"), s("b")])
    result = run([j], [event("Start", "10:00")], until="13:00")
    assert sent(result) == [(iso("12:00"), "c-1", "a"), (iso("12:01:30"), "c-1", "b")]


def test_a_timer_that_is_not_yet_due_does_not_fire() -> None:
    j = journey(steps=[s("w", wait="2h"), s("a")])
    assert sent(run([j], [event("Start", "10:00")], until="11:59:59")) == []


WAIT_FOR = {
    "event": "OrderPlaced",
    "when": "event.properties.total > 0",
    "timeout": "1h",
    "on_event": "thanks",
    "on_timeout": "nudge",
}


@pytest.mark.parametrize(
    ("later", "expected"),
    [
        ([("OrderPlaced", "10:30", {"total": 5})], [("10:30", "thanks")]),
        ([("OrderPlaced", "10:30", {"total": 0})], [("11:00", "nudge")]),  # when is false
        ([("Other", "10:30", {})], [("11:00", "nudge")]),
        ([], [("11:00", "nudge")]),
        # the timeout fires first when the event comes at the very moment it is due
        ([("OrderPlaced", "11:00", {"total": 5})], [("11:00", "nudge")]),
    ],
)
def test_wait_for_continues_on_the_event_or_on_the_timeout(later, expected) -> None:  # type: ignore[no-untyped-def]
    j = journey(
        steps=[
            {"id": "wf", "wait_for": WAIT_FOR},
            s("nudge", next="end", send={"channel": "email", "template": "n"}),
            s("thanks"),
        ]
    )
    events = [event("Start", "10:00")] + [event(t, c, **p) for t, c, p in later]
    result = run([j], events, until="12:00")
    assert sent(result) == [(iso(c), "c-1", step) for c, step in expected]


def test_wait_for_defaults_to_next_then_to_the_following_step() -> None:
    j1 = journey(
        steps=[
            {
                "id": "wf",
                "next": "b",
                "wait_for": {"event": "X", "timeout": "1h", "on_timeout": "a"},
            },
            s("a", next="end"),
            s("b"),
        ]
    )
    j2 = journey(steps=[{"id": "wf", "wait_for": {"event": "X", "timeout": "1h"}}, s("a")])
    events = [event("Start", "10:00"), event("X", "10:10")]
    assert [a["step"] for a in run([j1], events).actions] == ["b"]
    assert sent(run([j2], [event("Start", "10:00")], until="12:00")) == [(iso("11:00"), "c-1", "a")]


def test_a_wait_for_reached_while_an_event_is_handled_never_matches_that_event() -> None:
    j = journey(
        trigger={"event": "X"},
        steps=[
            {"id": "wf", "wait_for": {"event": "X", "timeout": "1h", "on_event": "matched"}},
            s("timed_out", next="end"),
            s("matched"),
        ],
    )
    result = run([j], [event("X", "10:00")], until="12:00")
    assert sent(result) == [(iso("11:00"), "c-1", "timed_out")]


@pytest.mark.parametrize(
    ("cart", "expected"),
    [(100, "big"), (50, "medium"), (1, "small")],
)
def test_branch_takes_the_first_case_that_holds_else_the_default(cart: int, expected: str) -> None:
    j = journey(
        trigger={"event": "Cart"},
        steps=[
            {
                "id": "route",
                "branch": [
                    {"when": "entry.trigger.properties.cart_value >= 80", "goto": "big"},
                    {"when": "event.properties.cart_value >= 40", "goto": "medium"},
                    {"goto": "small"},
                ],
            },
            s("big", next="end"),
            s("medium", next="end"),
            s("small"),
        ],
    )
    assert [a["step"] for a in run([j], [event("Cart", "10:00", cart_value=cart)]).actions] == [
        expected
    ]


def test_branch_without_a_match_or_default_continues_with_the_next_step() -> None:
    j = journey(
        steps=[
            {"id": "route", "branch": [{"when": "false", "goto": "b"}]},
            s("a", next="end"),
            s("b"),
        ]
    )
    assert [a["step"] for a in run([j], [event("Start", "10:00")]).actions] == ["a"]


@pytest.mark.parametrize("customer", [f"c-{i}" for i in range(12)])
def test_split_follows_the_spec_hash_and_the_variant_is_on_later_actions(customer: str) -> None:
    j = journey(
        id="ab",
        steps=[
            {
                "id": "pick",
                "split": [
                    {"variant": "A", "weight": 1, "goto": "a"},
                    {"variant": "B", "weight": 3, "goto": "b"},
                ],
            },
            s("a", next="later"),
            s("b"),
            s("later", wait="1h"),
            s("after"),
        ],
    )
    draw = u(f"ab:pick:{customer}")
    variant = "A" if draw < 0.25 else "B"
    result = run([j], [event("Start", "10:00", customer=customer)], until="12:00")
    assert [(a["step"], a["variant"]) for a in result.actions] == [
        (variant.lower(), variant),
        ("after", variant),
    ]


def test_split_variant_is_visible_to_expressions_as_entry_variant() -> None:
    j = journey(
        id="ab",
        steps=[
            {"id": "pick", "split": [{"variant": "only", "weight": 1, "goto": "check"}]},
            {"id": "check", "branch": [{"when": "entry.variant == 'only'", "goto": "yes"}]},
            s("no", next="end"),
            s("yes"),
        ],
    )
    assert [a["step"] for a in run([j], [event("Start", "10:00")]).actions] == ["yes"]


def _decide(options: list[dict[str, object]]) -> dict[str, object]:
    return journey(steps=[{"id": "nba", "decide": {"propensity": "intent", "options": options}}])


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        # score x value x weight: 10 x 1 vs 4 x 3 -> the second
        (
            [
                {"id": "a", "value": 10, "channel": "email", "template": "a"},
                {"id": "b", "value": 4, "weight": 3, "channel": "sms", "template": "b"},
            ],
            ("b", "sms"),
        ),
        # a tie goes to the earlier option
        (
            [
                {"id": "a", "value": 6, "channel": "email", "template": "a"},
                {"id": "b", "value": 3, "weight": 2, "channel": "sms", "template": "b"},
            ],
            ("a", "email"),
        ),
        # an option whose `when` fails is not a candidate
        (
            [
                {
                    "id": "a",
                    "value": 9,
                    "when": "profile.attributes.vip == true",
                    "channel": "sms",
                    "template": "a",
                },
                {"id": "b", "value": 1, "channel": "email", "template": "b"},
            ],
            ("b", "email"),
        ),
        # the best option has no channel: do nothing
        (
            [{"id": "a", "value": 9}, {"id": "b", "value": 1, "channel": "email", "template": "b"}],
            None,
        ),
    ],
)
def test_decide_picks_the_highest_expected_value(options, expected) -> None:  # type: ignore[no-untyped-def]
    result = run([_decide(options)], [event("Start", "10:00")], scorer=FixedScorer(intent=0.5))
    got = [(a["context"]["option"], a["channel"]) for a in result.actions]
    assert got == ([] if expected is None else [expected])


def test_update_writes_an_attribute_visible_at_once_to_later_steps_and_other_journeys() -> None:
    writer = journey(
        id="writer",
        priority=10,
        steps=[
            {"id": "tag", "update": {"set": {"tier": "'gold'", "bad": "event.nope.nothing"}}},
            {"id": "check", "branch": [{"when": "profile.attributes.tier == 'gold'", "goto": "a"}]},
            s("never", next="end"),
            s("a"),
        ],
    )
    reader = journey(
        id="reader",
        trigger={"event": "Start", "when": "profile.attributes.tier == 'gold'"},
        steps=[
            s(
                "b",
                send={
                    "channel": "sms",
                    "template": "t",
                    "data": {"bad": "has(profile.attributes.bad)"},
                },
            )
        ],
    )
    result = run([writer, reader], [event("Start", "10:00")])
    assert [(a["journey"], a["step"]) for a in result.actions] == [("reader", "b"), ("writer", "a")]
    reader_action = result.actions[0]
    assert reader_action["data"] == {"bad": False}  # the failing update left it unset
    assert result.failures == {"writer": 1}


def test_next_end_and_the_end_of_the_list_end_the_entry() -> None:
    j = journey(
        trigger={"event": "Start"},
        steps=[
            {"id": "route", "branch": [{"when": "event.properties.x == 1", "goto": "b"}]},
            s("a", next="end"),
            s("b"),
        ],
    )
    events = [event("Start", "10:00", x=1), event("Start", "10:05", x=2)]
    result = run([j], events)
    # both entries ended at once (next: end, and the end of the list), so the second started
    assert [(a["entry"], a["step"]) for a in result.actions] == [(1, "b"), (2, "a")]
    assert lives(result.outcomes) == ["entered", "ended"] * 2
