"""Spec "Semantics": time, timers, and the order in which an event is handled."""

from __future__ import annotations

from pathlib import Path

from tests.unit.conformance.harness import event, ok, replay, ts

CAP_ONE = """\
frequency_caps:
  - {channel: any, max: 1, per: 24h}
"""


def test_timer_due_at_t_fires_before_the_event_at_t(tmp_path: Path) -> None:
    """ "When the engine is at time T, every timer due at or before T fires first, in order of
    due time, before the event at T is handled." The timer's send is arbitrated in its own
    moment, so it takes the only cap slot although the event's journey has a higher priority."""
    timer = """\
id: waiter
version: 1
priority: 0
trigger: {event: A}
steps:
  - {id: w, wait: 1h}
  - {id: late, send: {channel: email, template: t}}
"""
    instant = """\
id: instant
version: 1
priority: 99
trigger: {event: B}
steps:
  - {id: now, send: {channel: email, template: t}}
"""
    run = ok(
        replay(
            tmp_path,
            [timer, instant],
            [event("e1", "A", ts("10:00")), event("e2", "B", ts("11:00"))],
            policies=CAP_ONE,
        )
    )
    assert run.sends() == [(ts("11:00"), "c1", "waiter", "late")]
    assert run.why() == [(ts("11:00"), "c1", "now", "suppressed", "frequency_cap")]


def test_timers_fire_in_order_of_due_time(tmp_path: Path) -> None:
    """ "every timer due at or before T fires first, in order of due time": the 1h wait fires
    before the 2h wait although its journey has the lower priority, so it takes the cap."""
    short = """\
id: short
version: 1
priority: 0
trigger: {event: A}
steps:
  - {id: w, wait: 1h}
  - {id: s, send: {channel: email, template: t}}
"""
    long = """\
id: long
version: 1
priority: 50
trigger: {event: A}
steps:
  - {id: w, wait: 2h}
  - {id: l, send: {channel: email, template: t}}
"""
    run = ok(
        replay(
            tmp_path,
            [short, long],
            [event("e1", "A", ts("10:00")), event("e2", "Other", ts("15:00"))],
            policies=CAP_ONE,
        )
    )
    assert run.sends() == [(ts("11:00"), "c1", "short", "s")]
    assert run.why() == [(ts("12:00"), "c1", "l", "suppressed", "frequency_cap")]


def test_timer_actions_carry_the_due_time(tmp_path: Path) -> None:
    """ "A timer's actions carry the due time as their event_time, not the time the engine
    noticed it": the next event comes hours later; the send is stamped with the due time."""
    j = """\
id: j
version: 1
trigger: {event: A}
steps:
  - {id: w, wait: 90m}
  - {id: s, send: {channel: email, template: t}}
"""
    run = ok(replay(tmp_path, [j], [event("e1", "A", ts("10:00")), event("e2", "X", ts("23:00"))]))
    assert run.sends() == [(ts("11:30"), "c1", "j", "s")]
    assert run.actions[0]["decided_at"] == ts("11:30")


def test_steps_run_at_once_until_the_first_wait(tmp_path: Path) -> None:
    """ "On entry, steps run at once until the first wait or wait_for; a send reached at time T
    has event_time T." """
    j = """\
id: j
version: 1
trigger: {event: A}
steps:
  - {id: s1, send: {channel: email, template: t}}
  - {id: s2, send: {channel: sms, template: t}}
  - {id: w, wait: 1h}
  - {id: s3, send: {channel: push, template: t}}
"""
    run = ok(replay(tmp_path, [j], [event("e1", "A", ts("10:00:05"))], until=ts("10:30")))
    assert run.sends() == [(ts("10:00:05"), "c1", "j", "s1"), (ts("10:00:05"), "c1", "j", "s2")]


def test_wait_for_timeout_at_t_wins_over_a_matching_event_at_t(tmp_path: Path) -> None:
    """ "every timer due at or before T fires first ... before the event at T is handled": a
    wait_for whose timeout is due at T has timed out when the matching event at T arrives."""
    j = """\
id: j
version: 1
trigger: {event: A}
steps:
  - id: wf
    wait_for: {event: OrderPlaced, timeout: 1h, on_event: thanks, on_timeout: remind}
  - {id: thanks, send: {channel: email, template: thanks}, next: end}
  - {id: remind, send: {channel: email, template: remind}}
"""
    run = ok(
        replay(
            tmp_path, [j], [event("e1", "A", ts("10:00")), event("e2", "OrderPlaced", ts("11:00"))]
        )
    )
    assert run.sends() == [(ts("11:00"), "c1", "j", "remind")]


def test_phase0_fold_comes_before_everything(tmp_path: Path) -> None:
    """ "(0) it is folded into the customer's profile": the trigger's own event is already in
    profile.counts and profile.open_tickets when the trigger and exit_on conditions run."""
    j = """\
id: j
version: 1
trigger: {event: A, when: "profile.counts.A == 1"}
exit_on:
  - {event: TicketOpened, when: "profile.open_tickets == 1"}
steps:
  - {id: s1, send: {channel: email, template: t}}
  - {id: w, wait: 1h}
  - {id: s2, send: {channel: email, template: t}}
"""
    run = ok(
        replay(
            tmp_path,
            [j],
            [event("e1", "A", ts("10:00")), event("e2", "TicketOpened", ts("10:10"))],
            until=ts("12:00"),
        )
    )
    assert run.sends() == [(ts("10:00"), "c1", "j", "s1")]


def test_phase1_exit_comes_before_phase2_wait_for(tmp_path: Path) -> None:
    """ "(1) goals and exit_on of the customer's active entries, (2) wait_for steps waiting for
    it": an event that is both the exit and the awaited event ends the entry first."""
    j = """\
id: j
version: 1
trigger: {event: A}
exit_on: [{event: OrderPlaced}]
steps:
  - {id: wf, wait_for: {event: OrderPlaced, timeout: 1d}}
  - {id: thanks, send: {channel: email, template: t}}
"""
    run = ok(
        replay(
            tmp_path, [j], [event("e1", "A", ts("10:00")), event("e2", "OrderPlaced", ts("11:00"))]
        )
    )
    assert run.sends() == []


def test_phase1_goal_comes_before_phase2_wait_for(tmp_path: Path) -> None:
    """ "(1) goals ... (2) wait_for steps": reaching the goal ends the entry, so the wait_for
    on the same event never resumes it."""
    j = """\
id: j
version: 1
trigger: {event: A}
goal: {event: OrderPlaced, within: 1d}
steps:
  - {id: wf, wait_for: {event: OrderPlaced, timeout: 1d}}
  - {id: thanks, send: {channel: email, template: t}}
"""
    run = ok(
        replay(
            tmp_path, [j], [event("e1", "A", ts("10:00")), event("e2", "OrderPlaced", ts("11:00"))]
        )
    )
    assert run.sends() == []


def test_phase2_wait_for_comes_before_phase3_triggers(tmp_path: Path) -> None:
    """ "(2) wait_for steps waiting for it, (3) triggers": an update made by a resumed
    wait_for is visible to a trigger condition of the same event."""
    waiter = """\
id: waiter
version: 1
trigger: {event: A}
steps:
  - {id: wf, wait_for: {event: B, timeout: 1d}}
  - {id: mark, update: {set: {flag: "true"}}}
"""
    starter = """\
id: starter
version: 1
priority: 100
trigger: {event: B, when: "profile.attributes.flag == true"}
steps:
  - {id: hello, send: {channel: email, template: t}}
"""
    run = ok(
        replay(
            tmp_path,
            [waiter, starter],
            [event("e1", "A", ts("10:00")), event("e2", "B", ts("11:00"))],
        )
    )
    assert run.sends() == [(ts("11:00"), "c1", "starter", "hello")]


def test_triggers_run_in_priority_then_id_order(tmp_path: Path) -> None:
    """ "(3) triggers that may start new entries (in order of journey priority, then journey
    id)": the higher-priority journey starts first and its update is visible to the other's
    trigger; with equal priority, the smaller id starts first."""
    high = """\
id: zz_high
version: 1
priority: 5
trigger: {event: A}
steps:
  - {id: mark, update: {set: {first: "'zz_high'"}}}
"""
    low = """\
id: aa_low
version: 1
priority: 1
trigger: {event: A, when: "profile.attributes.first == 'zz_high'"}
steps:
  - {id: s, send: {channel: email, template: t}}
"""
    tie_a = """\
id: mm_a
version: 1
priority: 1
trigger: {event: A}
steps:
  - {id: mark, update: {set: {second: "'mm_a'"}}}
"""
    tie_b = """\
id: mm_b
version: 1
priority: 1
trigger: {event: A, when: "profile.attributes.second == 'mm_a'"}
steps:
  - {id: s, send: {channel: email, template: t}}
"""
    run = ok(replay(tmp_path, [high, low, tie_a, tie_b], [event("e1", "A", ts("10:00"))]))
    # aa_low (priority 1) starts after zz_high (5); mm_b after mm_a (same priority, id order)
    assert run.sends() == [(ts("10:00"), "c1", "aa_low", "s"), (ts("10:00"), "c1", "mm_b", "s")]


def test_wait_for_reached_while_handling_an_event_never_matches_it(tmp_path: Path) -> None:
    """ "A wait_for reached while an event is being handled never matches that same event." The
    trigger event reaches a wait_for on its own type: only a later event of that type matches."""
    j = """\
id: j
version: 1
trigger: {event: A}
steps:
  - id: wf
    wait_for: {event: A, timeout: 1h, on_event: got, on_timeout: timeout}
  - {id: got, send: {channel: email, template: got}, next: end}
  - {id: timeout, send: {channel: email, template: timeout}}
"""
    alone = ok(replay(tmp_path / "a", [j], [event("e1", "A", ts("10:00"))], until=ts("12:00")))
    assert alone.sends() == [(ts("11:00"), "c1", "j", "timeout")]
    second = ok(
        replay(
            tmp_path / "b",
            [j],
            [event("e1", "A", ts("10:00")), event("e2", "A", ts("10:20"))],
            until=ts("12:00"),
        )
    )
    # e2 resumes entry 1, which ends in phase 2; e2 then starts entry 2 in phase 3
    assert second.sends() == [
        (ts("10:20"), "c1", "j", "got"),
        (ts("11:20"), "c1", "j", "timeout"),
    ]
    assert [a["entry"] for a in second.actions] == [1, 2]


def test_wait_for_reached_in_phase2_does_not_match_the_same_event(tmp_path: Path) -> None:
    """ "A wait_for reached while an event is being handled never matches that same event": a
    wait_for resumed by event E that reaches a second wait_for on E's type stays there."""
    j = """\
id: j
version: 1
trigger: {event: Start}
steps:
  - {id: wf1, wait_for: {event: A, timeout: 1d, on_timeout: end}}
  - {id: one, send: {channel: email, template: one}}
  - {id: wf2, wait_for: {event: A, timeout: 1d, on_timeout: end}}
  - {id: two, send: {channel: email, template: two}}
"""
    run = ok(
        replay(
            tmp_path,
            [j],
            [
                event("e0", "Start", ts("09:00")),
                event("e1", "A", ts("10:00")),
                event("e2", "A", ts("11:00")),
            ],
        )
    )
    assert run.sends() == [(ts("10:00"), "c1", "j", "one"), (ts("11:00"), "c1", "j", "two")]


def test_a_wait_of_zero_fires_in_the_same_moment(tmp_path: Path) -> None:
    """ "wait: DURATION: a durable timer: continue DURATION after the moment the step was
    reached": with 0s, the send that follows has the same event_time."""
    j = """\
id: j
version: 1
trigger: {event: A}
steps:
  - {id: w, wait: 0s}
  - {id: s, send: {channel: email, template: t}}
"""
    run = ok(replay(tmp_path, [j], [event("e1", "A", ts("10:00"))]))
    assert run.sends() == [(ts("10:00"), "c1", "j", "s")]
