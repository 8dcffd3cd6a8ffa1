"""Spec "Semantics" (expressions), "Profile fields that expressions can rely on" and the
expression rules of "Edge rules"."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.conformance.harness import event, ok, replay, ts


def gated(when: str) -> str:
    return (
        f'id: j\nversion: 1\ntrigger: {{event: A, when: "{when}"}}\n'
        "steps:\n  - {id: s, send: {channel: email, template: t}}\n"
    )


@pytest.mark.parametrize(
    ("when", "holds"),
    [
        ("true", True),
        ("1 == 1", True),
        ("1", False),  # an int, not true
        ("'true'", False),  # a string
        ("null", False),
        ("[true]", False),
        ("event.properties.flag", True),  # the JSON true of the event
        ("event.properties.missing > 3", False),  # an error: a missing field
        ("event.properties.text > 3", False),  # an error: a type error
        ("1 / 0 == 1", False),  # an error: division by zero
    ],
)
def test_only_true_is_true_and_errors_are_false(tmp_path: Path, when: str, holds: bool) -> None:
    """ "An expression that fails to evaluate (a missing field, a type error) counts as false";
    "Any result other than true counts as false." """
    run = ok(replay(tmp_path, [gated(when)], [event("e1", "A", ts("10:00"), flag=True, text="x")]))
    assert len(run.actions) == (1 if holds else 0)


def test_event_is_absent_after_a_wait_use_entry_trigger(tmp_path: Path) -> None:
    """ "after a wait, a timeout or a deferral there is none, and an expression that uses event
    is false there (use entry.trigger)" """
    j = """\
id: j
version: 1
trigger: {event: A}
steps:
  - {id: w, wait: 1h}
  - id: route
    branch:
      - {when: "event.type == 'A'", goto: by_event}
      - {when: "entry.trigger.type == 'A' && entry.trigger.properties.n == 3", goto: by_trigger}
  - {id: fallthrough, send: {channel: email, template: t}, next: end}
  - {id: by_event, send: {channel: email, template: t}, next: end}
  - {id: by_trigger, send: {channel: email, template: t}}
"""
    run = ok(replay(tmp_path, [j], [event("e1", "A", ts("10:00"), n=3)], until=ts("12:00")))
    assert [a["step"] for a in run.actions] == ["by_trigger"]


def test_event_is_absent_after_a_timeout(tmp_path: Path) -> None:
    """ "after a wait, a timeout or a deferral there is none" """
    j = """\
id: j
version: 1
trigger: {event: A}
steps:
  - {id: wf, wait_for: {event: B, timeout: 1h}}
  - id: route
    branch:
      - {when: "event.type == 'B'", goto: got_b}
  - {id: timed_out, send: {channel: email, template: t}, next: end}
  - {id: got_b, send: {channel: email, template: t}}
"""
    timeout = ok(replay(tmp_path / "t", [j], [event("e1", "A", ts("10:00"))], until=ts("12:00")))
    assert [a["step"] for a in timeout.actions] == ["timed_out"]
    got = ok(
        replay(tmp_path / "g", [j], [event("e1", "A", ts("10:00")), event("e2", "B", ts("10:30"))])
    )
    assert [a["step"] for a in got.actions] == ["got_b"]


def test_event_is_absent_after_a_deferral(tmp_path: Path) -> None:
    """ "after ... a deferral there is none": the step after a deferred send runs at the end of
    quiet hours without `event`."""
    j = """\
id: j
version: 1
trigger: {event: A}
steps:
  - {id: s, send: {channel: email, template: t}}
  - id: route
    branch:
      - {when: "has(event.type)", goto: with_event}
  - {id: without, send: {channel: push, template: t}, next: end}
  - {id: with_event, send: {channel: push, template: t}}
"""
    policies = 'quiet_hours: {start: "21:00", end: "08:00", action: defer}\n'
    run = ok(
        replay(
            tmp_path,
            [j],
            [event("e1", "A", ts("22:00"))],
            policies=policies,
            until=ts("09:00", "2026-03-03"),
        )
    )
    assert [(a["event_time"], a["step"]) for a in run.actions] == [
        (ts("08:00", "2026-03-03"), "s"),
        (ts("08:00", "2026-03-03"), "without"),
    ]


def test_profile_fields(tmp_path: Path) -> None:
    """ "profile.attributes.* (traits: the properties of Identify and ProfileUpdated events,
    flat, latest value wins), profile.counts[EVENT_TYPE], profile.first_seen,
    profile.last_seen, profile.consent[CHANNEL] ..., profile.open_tickets (TicketOpened minus
    TicketClosed, never below 0), profile.lifetime_value (sum of OrderPlaced.properties.total)";
    "first_seen and last_seen are CEL timestamps"."""
    data = {
        "plan": "profile.attributes.plan",
        "email": "profile.attributes.email",
        "orders": "profile.counts.OrderPlaced",
        "tickets": "profile.open_tickets",
        "ltv": "profile.lifetime_value",
        "sms": "profile.consent.sms",
        "span": "profile.last_seen - profile.first_seen == duration('3h')",
        "first": "profile.first_seen",
    }
    lines = "\n".join(f'        {k}: "{v}"' for k, v in data.items())
    j = (
        "id: j\nversion: 1\ntrigger: {event: Go}\nsteps:\n  - id: s\n    send:\n"
        f"      channel: email\n      template: t\n      data:\n{lines}\n"
    )
    events = [
        event("e1", "Identify", ts("09:00"), email="a@x", plan="free"),
        event("e2", "ProfileUpdated", ts("09:10"), plan="pro"),
        event("e3", "OrderPlaced", ts("09:20"), total=10.5),
        event("e4", "OrderPlaced", ts("09:30"), total=4),
        event("e5", "TicketClosed", ts("09:40")),
        event("e6", "TicketOpened", ts("09:50")),
        event("e7", "ConsentUpdated", ts("10:00"), channel="sms", granted=False),
        event("e8", "Go", ts("12:00")),
    ]
    run = ok(replay(tmp_path, [j], events))
    assert run.actions[0]["data"] == {
        "plan": "pro",
        "email": "a@x",
        "orders": 2,
        "tickets": 1,
        "ltv": 14.5,
        "sms": False,
        "span": True,
        "first": ts("09:00"),
    }


def test_scores_are_zero_without_models(tmp_path: Path) -> None:
    """ "where no model is configured every score is 0.0" """
    run = ok(
        replay(
            tmp_path,
            [gated("scores.churn == 0.0 && scores.intent == 0.0")],
            [event("e1", "A", ts("10:00"))],
        )
    )
    assert [a["scores"] for a in run.actions] == [{"churn": 0.0, "intent": 0.0}]


def test_entry_started_at_and_trigger_in_a_wait_for_condition(tmp_path: Path) -> None:
    """ "expressions see entry: entry.trigger (the event that started the entry), entry.variant
    and entry.started_at" """
    j = """\
id: j
version: 1
trigger: {event: A}
steps:
  - id: wf
    wait_for:
      event: B
      when: "event.properties.ref == entry.trigger.properties.ref && timestamp(event.timestamp) - entry.started_at < duration('1h')"
      timeout: 1d
      on_timeout: end
  - {id: s, send: {channel: email, template: t}}
"""
    events = [
        event("e1", "A", ts("10:00"), ref="r1"),
        event("e2", "B", ts("10:10"), ref="other"),
        event("e3", "B", ts("10:20"), ref="r1"),
    ]
    run = ok(replay(tmp_path, [j], events))
    assert [(a["event_time"], a["step"]) for a in run.actions] == [(ts("10:20"), "s")]
