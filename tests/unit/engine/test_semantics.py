"""The spec's Semantics and Edge rules: phases, timers, entries, goals, holdout, ids, versions."""

from __future__ import annotations

from hashlib import sha256

import pytest

from app.core.journeys.engine import Engine
from app.core.profile import new_profile
from tests.unit.engine.helpers import (
    HOUR,
    FixedScorer,
    event,
    iso,
    journey,
    lives,
    ms,
    run,
    sent,
    u,
)

EMAIL = {"channel": "email", "template": "t"}


def send(step_id: str, **extra: object) -> dict[str, object]:
    return {"id": step_id, "send": EMAIL, **extra}


def wait(step_id: str, duration: str) -> dict[str, object]:
    return {"id": step_id, "wait": duration}


# -- expressions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "enters"),
    [
        ("event.properties.v > 1", True),
        ("event.properties.missing > 1", False),  # a missing field: false, counted
        ("event.properties.v > 'x'", False),  # a type error: false, counted
        ("1", False),  # only `true` counts as true
        ("'true'", False),
        ("profile.counts['Start'] == 1", True),  # the event is folded first (phase 0)
        ("profile.first_seen == timestamp('2026-11-23T10:00:00Z')", True),  # CEL timestamps
        ("scores.churn == 0.0 && scores.intent == 0.0", True),  # the default scorer
        ("entry.trigger.event_id == event.event_id", True),
    ],
)
def test_trigger_when_only_true_counts(when: str, enters: bool) -> None:
    j = journey(trigger={"event": "Start", "when": when})
    result = run([j], [event("Start", "10:00", v=2)])
    assert bool(result.actions) is enters


def test_failing_expressions_are_counted_per_journey() -> None:
    j = journey(id="broken", trigger={"event": "Start", "when": "event.properties.missing > 1"})
    ok = journey(id="fine", trigger={"event": "Start", "when": "true"})
    result = run([j, ok], [event("Start", "10:00"), event("Start", "11:00", customer="c-2")])
    assert result.failures == {"broken": 2}


def test_event_is_absent_after_a_wait_so_expressions_using_it_are_false() -> None:
    j = journey(
        trigger={"event": "Start"},
        steps=[
            wait("w", "1h"),
            {
                "id": "route",
                "branch": [
                    {"when": "event.properties.v == 2", "goto": "via_event"},
                    {"when": "entry.trigger.properties.v == 2", "goto": "via_trigger"},
                ],
            },
            send("via_event", next="end"),
            send("via_trigger"),
        ],
    )
    result = run([j], [event("Start", "10:00", v=2)], until="12:00")
    assert [a["step"] for a in result.actions] == ["via_trigger"]
    assert result.failures == {"j": 1}


def test_entry_started_at_is_a_timestamp() -> None:
    j = journey(
        steps=[
            wait("w", "1h"),
            {
                "id": "route",
                "branch": [
                    {
                        "when": "entry.started_at == timestamp('2026-11-23T10:00:00Z')",
                        "goto": "yes",
                    }
                ],
            },
            send("no", next="end"),
            send("yes"),
        ]
    )
    assert [a["step"] for a in run([j], [event("Start", "10:00")], until="12:00").actions] == [
        "yes"
    ]


def test_scores_are_computed_lazily_at_most_once_per_moment() -> None:
    scorer = FixedScorer(intent=0.9)
    j = journey(
        trigger={"event": "Start", "when": "scores.intent > 0.5"},
        steps=[
            {"id": "route", "branch": [{"when": "scores.intent > 0.8", "goto": "a"}]},
            send("a"),
        ],
    )
    result = run([j], [event("Start", "10:00"), event("Noise", "10:01")], scorer=scorer)
    assert result.actions[0]["scores"] == {"churn": 0.0, "intent": 0.9}
    assert result.actions[0]["model_version"] == "fixed-1"
    assert scorer.calls == 1  # two expressions and the action record share one computation


# -- time and timers -----------------------------------------------------------------------------


def test_a_timer_due_at_an_events_time_fires_before_the_event() -> None:
    # The wait ends at 11:00 and sends; the exit at 11:00 comes after it.
    j = journey(exit_on=[{"event": "Stop"}], steps=[wait("w", "1h"), send("a")])
    assert sent(run([j], [event("Start", "10:00"), event("Stop", "11:00")])) == [
        (iso("11:00"), "c-1", "a")
    ]


def test_timer_actions_carry_the_due_time_not_the_time_they_were_noticed() -> None:
    j = journey(steps=[wait("w", "1h"), send("a"), wait("w2", "1h"), send("b")])
    result = run([j], [event("Start", "10:00"), event("Noise", "15:00")])
    assert sent(result) == [(iso("11:00"), "c-1", "a"), (iso("12:00"), "c-1", "b")]


def test_timers_of_several_entries_fire_in_due_order() -> None:
    j1 = journey(
        id="slow", steps=[wait("w", "3h"), {"id": "u1", "update": {"set": {"x": "'slow'"}}}]
    )
    j2 = journey(
        id="fast", steps=[wait("w", "1h"), {"id": "u2", "update": {"set": {"x": "'fast'"}}}]
    )
    j3 = journey(
        id="reader",
        trigger={"event": "Read"},
        steps=[
            send(
                "got",
                send={"channel": "email", "template": "t", "data": {"x": "profile.attributes.x"}},
            )
        ],
    )
    result = run([j1, j2, j3], [event("Start", "10:00"), event("Read", "14:00")])
    assert result.actions[0]["data"] == {"x": "slow"}


def test_advance_fires_timers_live_without_events() -> None:
    engine = Engine([journey(steps=[wait("w", "1h"), send("a")])])
    profile = new_profile("c-1")
    state = engine.new_state("c-1")
    engine.handle_event(profile, state, event("Start", "10:00"))
    assert engine.next_due(state) == ms("11:00")
    assert engine.advance(profile, state, ms("10:59:59")).actions == []
    out = engine.advance(profile, state, ms("11:30"))
    assert [a["event_time"] for a in out.actions] == [iso("11:00")]
    assert engine.next_due(state) is None


# -- handling order, entries, reentry ------------------------------------------------------------


def test_steps_run_at_once_until_the_first_wait() -> None:
    j = journey(steps=[send("a"), send("b"), wait("w", "1h"), send("c")])
    result = run([j], [event("Start", "10:00")])
    assert sent(result) == [(iso("10:00"), "c-1", "a"), (iso("10:00"), "c-1", "b")]


def test_a_trigger_while_active_is_ignored() -> None:
    j = journey(steps=[wait("w", "1h"), send("a")])
    result = run([j], [event("Start", "10:00"), event("Start", "10:30")], until="12:00")
    assert [(a["event_time"], a["entry"], a["trigger_event_id"]) for a in result.actions] == [
        (iso("11:00"), 1, result.actions[0]["trigger_event_id"])
    ]
    assert len(result.actions) == 1


@pytest.mark.parametrize(
    ("reentry", "starts", "entries"),
    [
        ("once", ["10:00", "12:00", "14:00"], [1]),
        ("after_exit", ["10:00", "10:30", "12:00"], [1, 2]),  # 10:30 is while active
        ({"cooldown": "3h"}, ["10:00", "12:00", "13:00"], [1, 2]),  # 13:00 - 10:00 >= 3h
        ({"cooldown": "3h"}, ["10:00", "12:00", "12:59:59"], [1]),
    ],
)
def test_reentry_rules(reentry: object, starts: list[str], entries: list[int]) -> None:
    j = journey(reentry=reentry, steps=[send("a"), wait("w", "1h")])
    result = run([j], [event("Start", t) for t in starts], until="20:00")
    assert [a["entry"] for a in result.actions] == entries


def test_phase_order_exit_before_wait_for_before_trigger() -> None:
    # One event `X` is both j's exit and k's wait_for and l's trigger.
    j = journey(id="jj", exit_on=[{"event": "X"}], steps=[wait("w", "5h"), send("late")])
    k = journey(
        id="kk",
        steps=[
            {"id": "wf", "wait_for": {"event": "X", "timeout": "5h", "on_timeout": "end"}},
            send("resumed"),
        ],
    )
    trig = journey(id="ll", trigger={"event": "X"}, steps=[send("started")])
    result = run([j, k, trig], [event("Start", "10:00"), event("X", "11:00")], until="20:00")
    assert [(a["journey"], a["step"]) for a in result.actions] == [
        ("kk", "resumed"),
        ("ll", "started"),
    ]
    assert ("jj", "exited") in [(o["journey"], o["kind"]) for o in result.outcomes]


def test_triggers_run_in_priority_then_id_order() -> None:
    # Each journey tags the profile; the last writer wins, revealing the order.
    def tagger(jid: str, priority: int) -> dict[str, object]:
        return journey(
            id=jid,
            priority=priority,
            steps=[
                {"id": "t", "update": {"set": {"order": f"profile.attributes.order + '{jid},'"}}}
            ],
        )

    reader = journey(
        id="reader",
        priority=-100,
        steps=[send("r", send={**EMAIL, "data": {"order": "profile.attributes.order"}})],
    )
    result = run(
        [tagger("b", 5), tagger("a", 5), tagger("c", 9), reader],
        [event("ProfileUpdated", "09:00", order=""), event("Start", "10:00")],
    )
    assert result.actions[0]["data"] == {"order": "c,a,b,"}


# -- goals and exits -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order_at", "goal", "sends"),
    [
        ("10:30", True, []),
        ("12:00", True, []),  # exactly start + within counts (the timer at 12:00 fires first)
        ("12:00:01", False, ["a"]),  # later: neither counts nor ends the entry
    ],
)
def test_goal_within_counts_from_the_start(order_at: str, goal: bool, sends: list[str]) -> None:
    j = journey(
        goal={"event": "OrderPlaced", "within": "2h"},
        steps=[wait("w", "3h"), send("a")],
    )
    result = run([j], [event("Start", "10:00"), event("OrderPlaced", order_at)], until="20:00")
    assert [a["step"] for a in result.actions] == sends
    assert ("goal" in lives(result.outcomes)) is goal


def test_goal_when_must_hold() -> None:
    j = journey(
        goal={"event": "OrderPlaced", "within": "1d", "when": "event.properties.total > 10"},
        steps=[wait("w", "3h"), send("a")],
    )
    events = [event("Start", "10:00"), event("OrderPlaced", "11:00", total=5)]
    assert [a["step"] for a in run([j], events, until="20:00").actions] == ["a"]


def test_exit_on_ends_the_entry_and_no_send_follows() -> None:
    j = journey(
        exit_on=[{"event": "TicketOpened", "when": "event.properties.severity == 'high'"}],
        steps=[wait("w", "1h"), send("a")],
    )
    start = event("Start", "10:00")
    low = run([j], [start, event("TicketOpened", "10:30", severity="low")], until="12:00")
    high = run([j], [start, event("TicketOpened", "10:30", severity="high")], until="12:00")
    assert [a["step"] for a in low.actions] == ["a"]
    assert high.actions == []
    assert lives(high.outcomes) == ["entered", "exited:exit_on"]


def test_an_event_that_ends_an_entry_may_start_a_new_one() -> None:
    j = journey(
        trigger={"event": "Cart"},
        exit_on=[{"event": "Cart"}],
        steps=[send("a"), wait("w", "1d")],
    )
    result = run([j], [event("Cart", "10:00"), event("Cart", "11:00")])
    assert [(a["event_time"], a["entry"]) for a in result.actions] == [
        (iso("10:00"), 1),
        (iso("11:00"), 2),
    ]


def test_goals_and_exits_apply_while_waiting_for_an_event() -> None:
    j = journey(
        exit_on=[{"event": "Stop"}],
        steps=[{"id": "wf", "wait_for": {"event": "Go", "timeout": "5h"}}, send("a")],
    )
    result = run([j], [event("Start", "10:00"), event("Stop", "10:10"), event("Go", "10:20")])
    assert result.actions == []


# -- holdout, split hashing, action ids ----------------------------------------------------------


def _customers_by_holdout(jid: str, share: float) -> tuple[str, str]:
    control = next(f"c-{i}" for i in range(1000) if u(f"{jid}:c-{i}") < share)
    treated = next(f"c-{i}" for i in range(1000) if u(f"{jid}:c-{i}") >= share)
    return control, treated


def test_holdout_uses_the_spec_hash_and_control_sends_are_recorded_not_emitted() -> None:
    j = journey(
        id="promo",
        holdout=0.5,
        goal={"event": "OrderPlaced", "within": "1d"},
        steps=[send("a"), wait("w", "1h"), send("b")],
    )
    control, treated = _customers_by_holdout("promo", 0.5)
    events = [
        event("Start", "10:00", customer=control),
        event("Start", "10:00", customer=treated),
        event("OrderPlaced", "10:30", customer=control),
    ]
    result = run([j], events, until="12:00")
    assert [(a["customer_id"], a["step"]) for a in result.actions] == [
        (treated, "a"),
        (treated, "b"),
    ]
    assert [
        (d["customer_id"], d["step"], d["decision"], d["reason"]) for d in result.decisions
    ] == [
        (control, "a", "held_out", "holdout"),
    ]
    # control entries are measured for the goal
    assert [(o["kind"], o["control"]) for o in result.outcomes if o["kind"] == "goal"] == [
        ("goal", True)
    ]


def test_action_id_is_the_documented_hash_and_counts_visits_in_loops() -> None:
    j = journey(
        id="loop",
        version=2,
        steps=[
            send("ping"),
            wait("w", "1h"),
            {
                "id": "count",
                "update": {
                    "set": {"n": "has(profile.attributes.n) ? profile.attributes.n + 1 : 1"}
                },
            },
            {"id": "more", "branch": [{"when": "profile.attributes.n < 3", "goto": "ping"}]},
        ],
    )
    result = run([j], [event("Start", "10:00", customer="x:1")], until="20:00")

    def expected(visit: int) -> str:
        return sha256(f"loop:2:x:1:1:ping:{visit}".encode()).hexdigest()[:32]

    assert [a["action_id"] for a in result.actions] == [expected(1), expected(2), expected(3)]
    assert [a["context"]["visit"] for a in result.actions] == [1, 2, 3]


def test_the_same_input_gives_the_same_ids_and_new_entries_new_ids() -> None:
    j = journey(steps=[send("a")])
    first = run([j], [event("Start", "10:00", eid="e-1"), event("Start", "11:00", eid="e-2")])
    again = run([j], [event("Start", "11:00", eid="e-2"), event("Start", "10:00", eid="e-1")])
    ids = [a["action_id"] for a in first.actions]
    assert ids == [a["action_id"] for a in again.actions]
    assert len(set(ids)) == 2


# -- versions ------------------------------------------------------------------------------------


def test_new_entries_use_the_highest_version_and_running_ones_finish_on_theirs() -> None:
    v1 = journey(version=1, steps=[wait("w", "1h"), send("old")])
    v2 = journey(version=2, steps=[wait("w", "1h"), send("new")])
    engine1 = Engine([v1])
    profile, state = new_profile("c-1"), engine1.new_state("c-1")
    engine1.handle_event(profile, state, event("Start", "10:00"))
    # deploy v2 beside the archived v1, with the running state
    engine2 = Engine([v2, v1])
    out = engine2.advance(profile, state, ms("11:00"))
    assert [(a["step"], a["journey_version"]) for a in out.actions] == [("old", 1)]
    out = engine2.handle_event(profile, state, event("Start", "12:00"))
    out = engine2.advance(profile, state, ms("13:00"))
    assert [(a["step"], a["journey_version"]) for a in out.actions] == [("new", 2)]


@pytest.mark.parametrize(("migrate", "expected"), [(False, []), (True, [("new", 2)])])
def test_an_entry_whose_version_is_gone_is_orphaned_or_migrated(
    migrate: bool, expected: list[tuple[str, int]]
) -> None:
    v1 = journey(version=1, steps=[wait("w", "1h"), send("old")])
    v2 = journey(version=2, steps=[wait("w", "1h"), send("new")])
    engine1 = Engine([v1])
    profile, state = new_profile("c-1"), engine1.new_state("c-1")
    engine1.handle_event(profile, state, event("Start", "10:00"))
    engine2 = Engine([v2], migrate_orphans=migrate)
    out = engine2.advance(profile, state, ms("11:00"))
    assert [(a["step"], a["journey_version"]) for a in out.actions] == expected
    if not migrate:
        assert lives(out.outcomes) == ["exited:orphaned"]
    assert state["entries"] == {}


def test_state_is_json_and_small() -> None:
    import orjson

    j = journey(
        trigger={"event": "Cart", "when": "event.properties.cart_value > 1"},
        steps=[
            wait("w", "1h"),
            {
                "id": "b",
                "branch": [{"when": "entry.trigger.properties.cart_value > 5", "goto": "a"}],
            },
            send("a"),
        ],
    )
    engine = Engine([j])
    profile, state = new_profile("c-1"), engine.new_state("c-1")
    engine.handle_event(profile, state, event("Cart", "10:00", cart_value=9, items=[1] * 100))
    raw = orjson.dumps(state)
    assert orjson.loads(raw) == state
    assert len(raw) < 1024
    assert state["entries"]["j"]["trig"] == {"properties": {"cart_value": 9}}  # only what is read
    assert HOUR == 3_600_000


def test_an_orphaned_entry_does_not_block_a_new_entry() -> None:
    v1 = journey(version=1, steps=[{"id": "wf", "wait_for": {"event": "X", "timeout": "9d"}}])
    v2 = journey(version=2, steps=[send("new")])
    engine1 = Engine([v1])
    profile, state = new_profile("c-1"), engine1.new_state("c-1")
    engine1.handle_event(profile, state, event("Start", "10:00"))
    out = Engine([v2]).handle_event(profile, state, event("Start", "11:00"))
    assert lives(out.outcomes) == ["exited:orphaned", "entered", "ended"]
    assert [(a["step"], a["entry"]) for a in out.actions] == [("new", 2)]
