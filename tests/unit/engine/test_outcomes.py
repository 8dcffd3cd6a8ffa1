"""Outcome records (core/journeys/outcome.py): each entry's life, written out by hand."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given, settings

from app.core.envelope import validate_event
from app.core.journeys.engine import Engine
from app.core.journeys.hashing import in_global_control, in_holdout
from app.core.journeys.outcome import ENDINGS, KINDS
from app.core.journeys.replay import replay
from app.core.timeutil import parse_rfc3339
from tests.unit.engine.helpers import HOUR, FixedScorer, event, iso, journey, policies, run
from tests.unit.engine.test_properties import JOURNEYS, POLICIES, START, _replay, event_lists

EMAIL = {"channel": "email", "template": "t"}


def brief(outcomes: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(kind, step, event_time) of each record, plus the detail that kind is about."""
    detail = {
        "entered": "trigger_type",
        "step": "step_kind",
        "sent": "channel",
        "suppressed": "reason",
        "held_out": "reason",
        "decided": "choice",
        "goal": "time_to_goal_ms",
        "exited": "reason",
    }
    return [
        (o["kind"], o["step"], o["event_time"], o.get(detail.get(o["kind"], ""))) for o in outcomes
    ]


def test_an_entry_that_converts_has_its_whole_life_recorded() -> None:
    j = journey(
        goal={"event": "OrderPlaced", "within": "1d"},
        steps=[
            {"id": "hello", "send": EMAIL},
            {"id": "w", "wait": "2h"},
            {"id": "again", "send": EMAIL},
        ],
    )
    result = run([j], [event("Start", "10:00"), event("OrderPlaced", "11:30")])
    assert brief(result.outcomes) == [
        ("entered", None, iso("10:00"), "Start"),
        ("step", "hello", iso("10:00"), "send"),
        ("step", "w", iso("10:00"), "wait"),
        # the moment's sends are arbitrated together once its steps have run (caps)
        ("sent", "hello", iso("10:00"), "email"),
        ("goal", None, iso("11:30"), int(1.5 * HOUR)),
    ]
    sent = result.outcomes[3]
    assert sent["action_id"] == result.actions[0]["action_id"]
    assert {
        (o["customer_id"], o["journey"], o["journey_version"], o["entry"]) for o in result.outcomes
    } == {("c-1", "j", 1, 1)}
    assert result.outcomes[0]["trigger_event_id"] == result.actions[0]["trigger_event_id"]


def test_an_entry_that_walks_off_its_steps_ends_and_a_timeout_is_recorded() -> None:
    j = journey(
        steps=[
            {"id": "wf", "wait_for": {"event": "Go", "timeout": "1h", "on_timeout": "late"}},
            {"id": "early", "send": EMAIL, "next": "end"},
            {"id": "late", "send": {"channel": "sms", "template": "t"}},
        ]
    )
    result = run([j], [event("Start", "10:00")], until="12:00")
    assert brief(result.outcomes) == [
        ("entered", None, iso("10:00"), "Start"),
        ("step", "wf", iso("10:00"), "wait_for"),
        ("timed_out", "wf", iso("11:00"), None),
        ("step", "late", iso("11:00"), "send"),
        ("ended", None, iso("11:00"), None),
        ("sent", "late", iso("11:00"), "sms"),
    ]


def test_an_exit_names_its_event_and_a_suppression_its_reason() -> None:
    j = journey(
        exit_on=[{"event": "Stop"}],
        steps=[{"id": "hello", "send": EMAIL}, {"id": "w", "wait": "1h"}],
    )
    consent = event("ConsentUpdated", "09:00", channel="email", granted=False)
    result = run([j], [consent, event("Start", "10:00"), event("Stop", "10:30")])
    assert brief(result.outcomes) == [
        ("entered", None, iso("10:00"), "Start"),
        ("step", "hello", iso("10:00"), "send"),
        ("suppressed", "hello", iso("10:00"), "consent"),
        ("step", "w", iso("10:00"), "wait"),
        ("exited", None, iso("10:30"), "exit_on"),
    ]
    assert result.outcomes[-1]["event_type"] == "Stop"
    assert result.actions == []


def test_a_decide_records_every_option_and_do_nothing() -> None:
    j = journey(
        steps=[
            {
                "id": "nba",
                "decide": {
                    "propensity": "intent",
                    "options": [
                        {"id": "rest", "value": 9},
                        {"id": "mail", "value": 1, "channel": "email", "template": "b"},
                        {
                            "id": "vip",
                            "value": 50,
                            "when": "profile.attributes.vip == true",
                            "channel": "sms",
                            "template": "v",
                        },
                    ],
                },
            }
        ]
    )
    result = run([j], [event("Start", "10:00")], scorer=FixedScorer(intent=0.5))
    decided = [o for o in result.outcomes if o["kind"] == "decided"]
    assert len(decided) == 1
    assert decided[0]["propensity"] == 0.5
    assert decided[0]["options"] == [
        {"id": "rest", "eligible": True, "score": 4.5},
        {"id": "mail", "eligible": True, "score": 0.5},
        {"id": "vip", "eligible": False, "score": None},
    ]
    assert (decided[0]["choice"], decided[0]["channel"]) == ("rest", None)
    assert result.actions == []
    assert [o["kind"] for o in result.outcomes] == ["entered", "step", "decided", "ended"]


def test_a_split_records_the_variant_on_the_step_and_on_what_follows() -> None:
    j = journey(
        goal={"event": "OrderPlaced"},
        steps=[
            {
                "id": "pick",
                "split": [
                    {"variant": "A", "weight": 1, "goto": "a"},
                    {"variant": "B", "weight": 1, "goto": "a"},
                ],
            },
            {"id": "a", "send": EMAIL},
            {"id": "w", "wait": "1h"},
        ],
    )
    result = run([j], [event("Start", "10:00"), event("OrderPlaced", "10:10")])
    variant = result.actions[0]["variant"]
    assert variant in ("A", "B")
    assert [o["variant"] for o in result.outcomes] == [
        None,
        variant,
        variant,
        variant,
        variant,
        variant,
    ]


def test_the_control_group_is_measured_but_never_sent() -> None:
    customer = next(c for c in (f"c-{i}" for i in range(100)) if in_holdout("j", c, 0.5))
    j = journey(
        holdout=0.5,
        goal={"event": "OrderPlaced"},
        steps=[{"id": "hello", "send": EMAIL}, {"id": "w", "wait": "1h"}],
    )
    result = run([j], [event("Start", "10:00", customer), event("OrderPlaced", "10:20", customer)])
    assert result.actions == []
    assert brief(result.outcomes) == [
        ("entered", None, iso("10:00"), "Start"),
        ("step", "hello", iso("10:00"), "send"),
        ("step", "w", iso("10:00"), "wait"),
        ("held_out", "hello", iso("10:00"), "holdout"),
        ("goal", None, iso("10:20"), 20 * 60_000),
    ]
    assert all(o["control"] for o in result.outcomes)


@settings(max_examples=80, deadline=None)
@given(event_lists())
def test_every_entry_enters_once_ends_at_most_once_and_control_is_never_sent(
    raw: list[dict[str, Any]],
) -> None:
    result = _replay(raw)
    ids = [o["outcome_id"] for o in result.outcomes]
    assert len(ids) == len(set(ids))
    assert ids == [o["outcome_id"] for o in _replay(raw).outcomes]  # stable
    entered = Counter(
        (o["customer_id"], o["journey"], o["entry"])
        for o in result.outcomes
        if o["kind"] == "entered"
    )
    ended = Counter(
        (o["customer_id"], o["journey"], o["entry"])
        for o in result.outcomes
        if o["kind"] in ENDINGS
    )
    assert set(entered.values()) <= {1}
    assert set(ended.values()) <= {1}
    assert set(ended) <= set(entered)
    assert {o["kind"] for o in result.outcomes} <= set(KINDS)
    # the control group's sends are recorded (held out) and counted, never emitted
    control = {
        (o["customer_id"], o["journey"], o["entry"]) for o in result.outcomes if o["control"]
    }
    assert not [
        a for a in result.actions if (a["customer_id"], a["journey"], a["entry"]) in control
    ]
    assert not [o for o in result.outcomes if o["control"] and o["kind"] == "sent"]
    # every action has its sent record and every decision its record of the same kind
    sent = {o["action_id"] for o in result.outcomes if o["kind"] == "sent"}
    assert sent == {a["action_id"] for a in result.actions}
    noted = {
        (o["action_id"], o["kind"])
        for o in result.outcomes
        if o["kind"] in ("suppressed", "held_out")
    }
    assert noted == {(d["action_id"], d["decision"]) for d in result.decisions}


def test_the_global_control_group_gets_no_promotional_send_from_any_journey() -> None:
    share = 0.5
    held = next(c for c in (f"c-{i}" for i in range(100)) if in_global_control(c, share))
    free = next(c for c in (f"c-{i}" for i in range(100)) if not in_global_control(c, share))
    promo = journey(id="promo", steps=[{"id": "offer", "send": EMAIL}])
    receipt = journey(id="receipt", category="transactional", steps=[{"id": "r", "send": EMAIL}])
    rules = policies(global_control={"share": share})
    events = [event("Start", "10:00", held), event("Start", "10:00", free)]
    result = run([promo, receipt], events, rules)
    emitted = sorted((a["customer_id"], a["journey"]) for a in result.actions)
    assert emitted == sorted([(free, "promo"), (free, "receipt"), (held, "receipt")])
    assert [(d["customer_id"], d["journey"], d["reason"]) for d in result.decisions] == [
        (held, "promo", "global_control")
    ]
    entered = {
        (o["customer_id"], o["journey"]): (o["category"], o["global_control"])
        for o in result.outcomes
        if o["kind"] == "entered"
    }
    assert entered == {
        (held, "promo"): ("promotional", True),
        (held, "receipt"): ("transactional", False),
        (free, "promo"): ("promotional", False),
        (free, "receipt"): ("transactional", False),
    }


@settings(max_examples=60, deadline=None)
@given(event_lists())
def test_a_customer_in_the_global_control_group_is_never_sent_a_promotion(
    raw: list[dict[str, Any]],
) -> None:
    rules = {**POLICIES, "global_control": {"share": 0.5, "categories": ["promotional"]}}
    events = [validate_event(e) for e in raw]
    until = max((e["ts"] for e in events), default=START) + 2 * 86_400_000
    result = replay(events, Engine(JOURNEYS, rules), until)
    for action in result.actions:
        if action["context"]["category"] == "promotional":
            assert not in_global_control(action["customer_id"], 0.5), action
    held = {d["action_id"] for d in result.decisions if d["reason"] == "global_control"}
    assert held == {
        o["action_id"]
        for o in result.outcomes
        if o["kind"] == "held_out" and o["reason"] == "global_control"
    }


def test_the_outcome_id_is_the_hash_of_what_the_record_is_about() -> None:
    from app.core.journeys.outcome import outcome_id

    result = run([journey()], [event("Start", "10:00")])
    entered = result.outcomes[0]
    at = parse_rfc3339(entered["event_time"])
    assert entered["outcome_id"] == outcome_id("j", 1, "c-1", 1, "entered", None, at)
