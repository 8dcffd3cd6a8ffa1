"""Spec "Replay" and its "Edge rules": inputs, ordering, exit codes, output lines."""

from __future__ import annotations

import random
from pathlib import Path

import orjson

from tests.unit.conformance.harness import event, ok, replay, ts

WAITER = """\
id: j
version: 1
trigger: {event: A}
steps:
  - {id: hello, send: {channel: email, template: t}}
  - {id: w, wait: 1h}
  - {id: bye, send: {channel: email, template: t}}
"""


def test_until_fires_pending_timers_at_or_before_it(tmp_path: Path) -> None:
    """ "--until moves time on to that moment at the end so that pending timers fire." A timer
    due exactly at --until fires; one due after it does not."""
    at = ok(replay(tmp_path / "a", [WAITER], [event("e1", "A", ts("10:00"))], until=ts("11:00")))
    assert [a["step"] for a in at.actions] == ["hello", "bye"]
    before = ok(
        replay(tmp_path / "b", [WAITER], [event("e1", "A", ts("10:00"))], until=ts("10:59:59"))
    )
    assert [a["step"] for a in before.actions] == ["hello"]


def test_until_earlier_than_the_last_event_is_an_error(tmp_path: Path) -> None:
    """ "an --until earlier than the last event is an error" (bad arguments: exit 2)."""
    run = replay(tmp_path, [WAITER], [event("e1", "A", ts("10:00"))], until=ts("09:59"))
    assert run.code == 2
    assert "--until" in run.stderr


def test_until_equal_to_the_last_event_is_fine(tmp_path: Path) -> None:
    """ "an --until earlier than the last event is an error": equal is not earlier."""
    run = ok(replay(tmp_path, [WAITER], [event("e1", "A", ts("10:00"))], until=ts("10:00")))
    assert [a["step"] for a in run.actions] == ["hello"]


def test_without_until_timers_up_to_the_last_event_fire(tmp_path: Path) -> None:
    """ "Without --until, replay fires the timers due at or before the last event's time" (the
    last event of the whole file, here another customer's)."""
    at = ok(
        replay(
            tmp_path / "a",
            [WAITER],
            [event("e1", "A", ts("10:00")), event("e2", "X", ts("11:00"), "c2")],
        )
    )
    assert [(a["customer_id"], a["step"]) for a in at.actions] == [("c1", "hello"), ("c1", "bye")]
    before = ok(
        replay(
            tmp_path / "b",
            [WAITER],
            [event("e1", "A", ts("10:00")), event("e2", "X", ts("10:59"), "c2")],
        )
    )
    assert [(a["customer_id"], a["step"]) for a in before.actions] == [("c1", "hello")]


def test_malformed_lines_are_reported_with_line_numbers_and_exit_1(tmp_path: Path) -> None:
    """ "Malformed lines are reported with their line number and skipped; the exit code says
    whether any were"; "event_id, type, timestamp (RFC 3339 with a zone) and one of
    customer_id / anonymous_id are required; anything else is malformed"; "Blank lines are
    ignored"; "Replay exits 1 if any line was skipped"."""
    good = event("e1", "A", ts("10:00"))
    lines: list[dict[str, object] | str] = [
        good,  # 1
        "{not json",  # 2
        "",  # 3: blank, ignored
        {"type": "A", "timestamp": ts("10:00"), "customer_id": "c1"},  # 4: no event_id
        {"event_id": "x", "timestamp": ts("10:00"), "customer_id": "c1"},  # 5: no type
        {
            "event_id": "x",
            "type": "A",
            "timestamp": "2026-03-02T10:00:00",
            "customer_id": "c1",
        },  # 6
        {"event_id": "x", "type": "A", "timestamp": ts("10:00")},  # 7: no id
        "   ",  # 8: blank
        event("e2", "A", ts("10:00"), "c2"),  # 9
        "[1, 2]",  # 10: not an object
    ]
    run = replay(tmp_path, [WAITER], lines)
    assert run.code == 1
    prefix = f"{tmp_path / 'events.jsonl'}:"
    reported = sorted(
        int(line[len(prefix) :].split(":")[0])
        for line in run.stderr.splitlines()
        if line.startswith(prefix)
    )
    assert reported == [2, 4, 5, 6, 7, 10]
    assert [(a["customer_id"], a["step"]) for a in run.actions] == [
        ("c1", "hello"),
        ("c2", "hello"),
    ]


def test_blank_lines_alone_do_not_change_the_exit_code(tmp_path: Path) -> None:
    """ "Blank lines are ignored." """
    run = replay(tmp_path, [WAITER], ["", event("e1", "A", ts("10:00")), "", "  "])
    assert run.code == 0, run.stderr
    assert len(run.actions) == 1


def test_invalid_journey_exits_2_with_messages(tmp_path: Path) -> None:
    """ "Replay exits ... 2 if a journey or policy file is invalid (with the validation
    messages)" """
    bad = "id: Bad-Id\nversion: 0\ntrigger: {event: A}\nsteps:\n  - {id: s, send: {channel: fax, template: t}}\n"
    run = replay(tmp_path, {"bad.yaml": bad}, [event("e1", "A", ts("10:00"))])
    assert run.code == 2
    assert "bad.yaml" in run.stderr
    assert "version" in run.stderr and "channel" in run.stderr
    assert run.actions == []


def test_invalid_policies_exit_2_with_messages(tmp_path: Path) -> None:
    """ "Replay exits ... 2 if a journey or policy file is invalid (with the validation
    messages)" """
    run = replay(
        tmp_path,
        [WAITER],
        [event("e1", "A", ts("10:00"))],
        policies="frequency_caps:\n  - {channel: pigeon, max: 1, per: 1h}\n",
    )
    assert run.code == 2
    assert "policies.yaml" in run.stderr and "frequency_caps" in run.stderr


def test_equal_timestamps_are_ordered_by_event_id(tmp_path: Path) -> None:
    """ "Events with equal timestamps are ordered by event_id." The first of the two (by id)
    triggers the entry; the other is ignored while it is active."""
    events = [event("b-2", "A", ts("10:00")), event("a-1", "A", ts("10:00"))]
    run = ok(replay(tmp_path, [WAITER], events))
    assert [a["trigger_event_id"] for a in run.actions] == ["a-1"]


def test_events_are_ordered_by_time_not_by_line(tmp_path: Path) -> None:
    """ "orders them stably by timestamp": a line written earlier but timed later comes later,
    whatever the zone offset it is written in."""
    j = "id: j\nversion: 1\ntrigger: {event: B}\nsteps:\n  - {id: s, send: {channel: email, template: t, data: {n: 'profile.counts.A'}}}\n"
    events = [
        event("e1", "B", "2026-03-02T12:00:00+02:00"),  # 10:00Z
        event("e2", "A", ts("09:30")),
        event("e3", "A", ts("10:30")),
    ]
    run = ok(replay(tmp_path, [j], events))
    assert [(a["event_time"], a["data"]) for a in run.actions] == [(ts("10:00"), {"n": 1})]


def test_shuffled_input_gives_byte_identical_output(tmp_path: Path) -> None:
    """ "The output is a function of the inputs alone: the same events in any line order give
    byte-identical output" """
    policies = "frequency_caps:\n  - {channel: any, max: 2, per: 1h}\n"
    j2 = WAITER.replace("id: j\n", "id: k\nholdout: 0.5\n")
    events: list[dict[str, object] | str] = []
    for c in range(12):
        for k, etype in enumerate(["A", "A", "X", "A"]):
            events.append(event(f"e{c}-{k}", etype, ts(f"10:{(k * 17 + c) % 60:02d}"), f"c{c}"))
    events.append(event("same", "A", ts("10:05"), "c1"))
    events.append(event("same", "A", ts("10:05"), "c1"))  # an exact duplicate
    first = ok(replay(tmp_path / "0", [WAITER, j2], events, policies=policies))
    assert first.actions and first.decisions
    rng = random.Random(7)
    for n in range(1, 4):
        shuffled = list(events)
        rng.shuffle(shuffled)
        other = ok(replay(tmp_path / str(n), [WAITER, j2], shuffled, policies=policies))
        assert other.raw_actions == first.raw_actions
        assert other.raw_decisions == first.raw_decisions


def test_output_order_is_event_time_customer_journey_step(tmp_path: Path) -> None:
    """ "writes the emitted actions one per line, ordered by (event_time, customer_id, journey,
    step)" """
    j_b = "id: bb\nversion: 1\ntrigger: {event: A}\nsteps:\n  - {id: y, send: {channel: email, template: t}}\n  - {id: x, send: {channel: email, template: t}}\n"
    j_a = "id: aa\nversion: 1\ntrigger: {event: A}\nsteps:\n  - {id: z, send: {channel: email, template: t}}\n"
    events = [
        event("e1", "A", ts("10:00:00.500"), "c0"),
        event("e2", "A", ts("10:00"), "c2"),
        event("e3", "A", ts("10:00"), "c1"),
    ]
    run = ok(replay(tmp_path, [j_b, j_a], events))
    assert run.sends() == [
        (ts("10:00"), "c1", "aa", "z"),
        (ts("10:00"), "c1", "bb", "x"),
        (ts("10:00"), "c1", "bb", "y"),
        (ts("10:00"), "c2", "aa", "z"),
        (ts("10:00"), "c2", "bb", "x"),
        (ts("10:00"), "c2", "bb", "y"),
        ("2026-03-02T10:00:00.500Z", "c0", "aa", "z"),
        ("2026-03-02T10:00:00.500Z", "c0", "bb", "x"),
        ("2026-03-02T10:00:00.500Z", "c0", "bb", "y"),
    ]


def test_decision_lines_are_the_action_record_plus_decision_and_reason(tmp_path: Path) -> None:
    """ "--decisions lines are the action record plus decision (suppressed or held_out) and
    reason"; "In replay decided_at equals event_time." """
    policies = "frequency_caps:\n  - {channel: any, max: 1, per: 1h}\n"
    run = ok(
        replay(
            tmp_path,
            [WAITER],
            [event("e1", "A", ts("10:00")), event("e2", "B", ts("12:00"))],
            policies=policies,
        )
    )
    assert len(run.actions) == 2 and run.decisions == []
    j2 = WAITER.replace("id: j\n", "id: k\n")
    both = ok(
        replay(
            tmp_path / "2",
            [WAITER, j2],
            [event("e1", "A", ts("10:00"))],
            policies=policies,
            until=ts("12:00"),
        )
    )
    action, decision = both.actions[0], both.decisions[0]
    assert set(decision) == set(action) | {"decision", "reason"}
    assert (decision["decision"], decision["reason"]) == ("suppressed", "frequency_cap")
    for record in both.actions + both.decisions:
        assert record["decided_at"] == record["event_time"]
        assert record["customer_id"] == "c1"
        assert record["journey_version"] == 1


def test_anonymous_only_events_are_handled_under_the_anonymous_id(tmp_path: Path) -> None:
    """ "Until identity resolution links them, an event with only an anonymous_id is handled
    under that id." """
    events = [
        event("e1", "A", ts("10:00"), customer=None, anonymous="anon-7"),
        event("e2", "A", ts("10:00"), customer="c9", anonymous="anon-8"),
    ]
    run = ok(replay(tmp_path, [WAITER], events))
    assert [(a["customer_id"], a["step"]) for a in run.actions] == [
        ("anon-7", "hello"),
        ("c9", "hello"),
    ]


def test_every_time_comes_from_the_events(tmp_path: Path) -> None:
    """ "every time in it comes from the events, never from the wall clock": two runs give the
    same bytes, and every time in the output is an event time or a timer's due time."""
    events = [event("e1", "A", ts("10:00")), event("e2", "X", ts("13:00"))]
    a = ok(replay(tmp_path / "a", [WAITER], events))
    b = ok(replay(tmp_path / "b", [WAITER], events))
    assert a.raw_actions == b.raw_actions
    times = {v for line in a.actions for k, v in line.items() if k in ("event_time", "decided_at")}
    assert times == {ts("10:00"), ts("11:00")}
    assert all(orjson.loads(x) for x in a.raw_actions.splitlines())


def test_until_that_is_not_rfc3339_is_an_error(tmp_path: Path) -> None:
    """ "--until RFC3339": anything else is an invalid argument (exit 2, nothing written)."""
    run = replay(tmp_path, [WAITER], [event("e1", "A", ts("10:00"))], until="tomorrow")
    assert run.code == 2
    assert "--until" in run.stderr
    assert run.raw_actions == b""
