"""Spec "Semantics" and "Edge rules": entries, re-entry, goals and exit_on."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.conformance.harness import event, ok, replay, ts


def journey(reentry: str | None = None, extra: str = "") -> str:
    head = "id: j\nversion: 1\ntrigger: {event: A}\n"
    if reentry is not None:
        head += f"reentry: {reentry}\n"
    return (
        head
        + extra
        + """\
steps:
  - {id: hello, send: {channel: email, template: t}}
  - {id: w, wait: 1h}
  - {id: bye, send: {channel: email, template: t}}
"""
    )


def test_a_trigger_while_active_is_ignored(tmp_path: Path) -> None:
    """ "A customer is in a journey at most once at a time; a trigger while active is ignored." """
    run = ok(
        replay(
            tmp_path,
            [journey()],
            [event("e1", "A", ts("10:00")), event("e2", "A", ts("10:30"))],
            until=ts("12:00"),
        )
    )
    assert run.sends() == [(ts("10:00"), "c1", "j", "hello"), (ts("11:00"), "c1", "j", "bye")]
    assert {a["trigger_event_id"] for a in run.actions} == {"e1"}
    assert {a["entry"] for a in run.actions} == {1}


def test_after_exit_is_the_default_and_allows_a_new_entry_once_ended(tmp_path: Path) -> None:
    """ "reentry ... defaults to after_exit": "after_exit a new one once the last has ended"."""
    run = ok(
        replay(
            tmp_path,
            [journey()],
            [
                event("e1", "A", ts("10:00")),
                event("e2", "A", ts("11:00")),
                event("e3", "A", ts("11:30")),
            ],
            until=ts("13:00"),
        )
    )
    # e2 at 11:00: the timer due at 11:00 fires first, entry 1 ends, e2 starts entry 2
    assert [(a["event_time"], a["step"], a["entry"]) for a in run.actions] == [
        (ts("10:00"), "hello", 1),
        (ts("11:00"), "bye", 1),
        (ts("11:00"), "hello", 2),
        (ts("12:00"), "bye", 2),
    ]


def test_once_allows_one_entry_ever(tmp_path: Path) -> None:
    """ "reentry: once allows one entry ever" """
    run = ok(
        replay(
            tmp_path,
            [journey("once")],
            [
                event("e1", "A", ts("10:00")),
                event("e2", "A", ts("12:00")),
                event("e3", "A", ts("20:00")),
            ],
        )
    )
    assert [a["trigger_event_id"] for a in run.actions] == ["e1", "e1"]


@pytest.mark.parametrize(
    ("second", "entered"),
    [("11:59:59", False), ("12:00", True)],
)
def test_cooldown_allows_reentry_when_now_minus_start_reaches_d(
    tmp_path: Path, second: str, entered: bool
) -> None:
    """ "{cooldown: D} a new one once the last has ended and D has passed since it started";
    "A cooldown allows re-entry when now - start >= D." The first entry ends at 11:00."""
    run = ok(
        replay(
            tmp_path,
            [journey("{cooldown: 2h}")],
            [event("e1", "A", ts("10:00")), event("e2", "A", ts(second))],
            until=ts("14:00"),
        )
    )
    assert ("e2" in {a["trigger_event_id"] for a in run.actions}) is entered


def test_cooldown_still_needs_the_last_entry_to_have_ended(tmp_path: Path) -> None:
    """ "{cooldown: D} a new one once the last has ended and D has passed": an entry still
    active after D blocks the trigger."""
    j = """\
id: j
version: 1
reentry: {cooldown: 1h}
trigger: {event: A}
steps:
  - {id: hello, send: {channel: email, template: t}}
  - {id: w, wait: 5h}
"""
    run = ok(replay(tmp_path, [j], [event("e1", "A", ts("10:00")), event("e2", "A", ts("12:00"))]))
    assert [a["trigger_event_id"] for a in run.actions] == ["e1"]


def test_exit_in_phase1_allows_reentry_in_phase3(tmp_path: Path) -> None:
    """ "An event that ends an entry (goal or exit_on) may start a new entry of the same journey
    in phase (3) under after_exit." """
    j = journey(extra="exit_on: [{event: A}]\n")
    run = ok(
        replay(
            tmp_path,
            [j],
            [event("e1", "A", ts("10:00")), event("e2", "A", ts("10:30"))],
            until=ts("12:00"),
        )
    )
    assert [
        (a["event_time"], a["step"], a["entry"], a["trigger_event_id"]) for a in run.actions
    ] == [
        (ts("10:00"), "hello", 1, "e1"),
        (ts("10:30"), "hello", 2, "e2"),
        (ts("11:30"), "bye", 2, "e2"),
    ]


def test_goal_in_phase1_allows_reentry_in_phase3(tmp_path: Path) -> None:
    """ "An event that ends an entry (goal or exit_on) may start a new entry of the same journey
    in phase (3) under after_exit." """
    j = journey(extra="goal: {event: A, within: 1d}\n")
    run = ok(
        replay(
            tmp_path,
            [j],
            [event("e1", "A", ts("10:00")), event("e2", "A", ts("10:30"))],
            until=ts("12:00"),
        )
    )
    assert [(a["step"], a["entry"]) for a in run.actions] == [
        ("hello", 1),
        ("hello", 2),
        ("bye", 2),
    ]


def test_exit_in_phase1_does_not_reenter_under_once(tmp_path: Path) -> None:
    """ "reentry: once allows one entry ever", even when an event ends the entry in phase 1."""
    j = journey("once", extra="exit_on: [{event: A}]\n")
    run = ok(
        replay(
            tmp_path,
            [j],
            [event("e1", "A", ts("10:00")), event("e2", "A", ts("10:30"))],
            until=ts("12:00"),
        )
    )
    assert run.sends() == [(ts("10:00"), "c1", "j", "hello")]


def test_exit_in_phase1_reenters_under_cooldown_only_after_d(tmp_path: Path) -> None:
    """ "{cooldown: D}": an exit ends the entry, but the new entry also needs D since the start."""
    j = journey("{cooldown: 30m}", extra="exit_on: [{event: A}]\n")
    run = ok(
        replay(
            tmp_path,
            [j],
            [
                event("e1", "A", ts("10:00")),
                event("e2", "A", ts("10:20")),
                event("e3", "A", ts("10:40")),
            ],
            until=ts("10:50"),
        )
    )
    # e2 ends entry 1 (exit) but 20m < 30m: no entry; e3 has no active entry and 40m >= 30m
    assert [(a["event_time"], a["step"], a["trigger_event_id"]) for a in run.actions] == [
        (ts("10:00"), "hello", "e1"),
        (ts("10:40"), "hello", "e3"),
    ]


@pytest.mark.parametrize(("order_at", "ends"), [("11:00", True), ("11:00:01", False)])
def test_goal_counts_at_most_start_plus_within(tmp_path: Path, order_at: str, ends: bool) -> None:
    """ "A goal counts if its event time is at most start + within; a matching event after that
    neither counts nor ends the entry." """
    j = """\
id: j
version: 1
trigger: {event: A}
goal: {event: OrderPlaced, within: 1h}
steps:
  - {id: w, wait: 2h}
  - {id: late, send: {channel: email, template: t}}
"""
    run = ok(
        replay(
            tmp_path,
            [j],
            [event("e1", "A", ts("10:00")), event("e2", "OrderPlaced", ts(order_at))],
            until=ts("13:00"),
        )
    )
    assert run.sends() == ([] if ends else [(ts("12:00"), "c1", "j", "late")])


def test_goal_when_must_hold(tmp_path: Path) -> None:
    """ "goal: the conversion this journey exists for ... reaching it ends the entry": a goal
    with a `when` counts only when it holds."""
    j = """\
id: j
version: 1
trigger: {event: A}
goal: {event: OrderPlaced, within: 1d, when: "event.properties.total > 10"}
steps:
  - {id: w, wait: 2h}
  - {id: late, send: {channel: email, template: t}}
"""
    small = ok(
        replay(
            tmp_path / "s",
            [j],
            [event("e1", "A", ts("10:00")), event("e2", "OrderPlaced", ts("11:00"), total=5)],
            until=ts("13:00"),
        )
    )
    assert small.sends() == [(ts("12:00"), "c1", "j", "late")]
    big = ok(
        replay(
            tmp_path / "b",
            [j],
            [event("e1", "A", ts("10:00")), event("e2", "OrderPlaced", ts("11:00"), total=50)],
            until=ts("13:00"),
        )
    )
    assert big.sends() == []


def test_exit_on_with_when(tmp_path: Path) -> None:
    """ "exit_on: any of these events ends the entry at once" (if its `when` holds)."""
    j = """\
id: j
version: 1
trigger: {event: A}
exit_on:
  - event: Unsubscribed
  - event: TicketOpened
    when: "event.properties.severity == 'high'"
steps:
  - {id: w, wait: 2h}
  - {id: late, send: {channel: email, template: t}}
"""
    low = ok(
        replay(
            tmp_path / "l",
            [j],
            [
                event("e1", "A", ts("10:00")),
                event("e2", "TicketOpened", ts("11:00"), severity="low"),
            ],
            until=ts("13:00"),
        )
    )
    assert low.sends() == [(ts("12:00"), "c1", "j", "late")]
    high = ok(
        replay(
            tmp_path / "h",
            [j],
            [
                event("e1", "A", ts("10:00")),
                event("e2", "TicketOpened", ts("11:00"), severity="high"),
            ],
            until=ts("13:00"),
        )
    )
    assert high.sends() == []
    unsub = ok(
        replay(
            tmp_path / "u",
            [j],
            [event("e1", "A", ts("10:00")), event("e2", "Unsubscribed", ts("11:59"))],
            until=ts("13:00"),
        )
    )
    assert unsub.sends() == []


def test_exit_on_applies_to_a_paused_wait_for(tmp_path: Path) -> None:
    """ "exit_on: any of these events ends the entry at once": also while a wait_for waits, so
    neither the awaited event nor the timeout continue it."""
    j = """\
id: j
version: 1
trigger: {event: A}
exit_on: [{event: Stop}]
steps:
  - {id: wf, wait_for: {event: B, timeout: 1h}}
  - {id: after, send: {channel: email, template: t}}
"""
    run = ok(
        replay(
            tmp_path,
            [j],
            [
                event("e1", "A", ts("10:00")),
                event("e2", "Stop", ts("10:10")),
                event("e3", "B", ts("10:20")),
            ],
            until=ts("12:00"),
        )
    )
    assert run.sends() == []


def test_reaching_the_end_of_the_list_ends_the_entry(tmp_path: Path) -> None:
    """ "Reaching the end of the list ends the entry." A new trigger then starts entry 2."""
    j = """\
id: j
version: 1
trigger: {event: A}
steps:
  - {id: hello, send: {channel: email, template: t}}
"""
    run = ok(replay(tmp_path, [j], [event("e1", "A", ts("10:00")), event("e2", "A", ts("10:01"))]))
    assert [a["entry"] for a in run.actions] == [1, 2]
