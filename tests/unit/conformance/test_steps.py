"""Spec "Step kinds" and the step rules of "Edge rules"."""

from __future__ import annotations

from pathlib import Path

from tests.unit.conformance.harness import event, ok, replay, ts


def test_next_step_id_and_next_end(tmp_path: Path) -> None:
    """ "Every step continues with the next one in the list, unless it has next: STEP_ID or
    next: end" """
    j = """\
id: j
version: 1
trigger: {event: A}
steps:
  - {id: a, send: {channel: email, template: t}, next: c}
  - {id: b, send: {channel: email, template: t}}
  - {id: c, send: {channel: email, template: t}}
  - id: route
    branch:
      - {when: "true", goto: d}
      - {goto: b}
  - {id: d, send: {channel: push, template: t}, next: end}
  - {id: e, send: {channel: push, template: t}}
"""
    run = ok(replay(tmp_path, [j], [event("e1", "A", ts("10:00"))]))
    # a -> c -> route -> d -> end: b and e are never reached on this path
    assert [a["step"] for a in run.actions] == ["a", "c", "d"]


def test_branch_first_matching_case_wins(tmp_path: Path) -> None:
    """ "branch: [{when?, goto}]: the first case whose when holds; the case without when is the
    default" """
    j = """\
id: j
version: 1
trigger: {event: A}
steps:
  - id: route
    branch:
      - {when: "event.properties.v > 10", goto: big}
      - {when: "event.properties.v > 5", goto: mid}
      - {goto: small}
  - {id: big, send: {channel: email, template: big}, next: end}
  - {id: mid, send: {channel: email, template: mid}, next: end}
  - {id: small, send: {channel: email, template: small}}
"""
    events = [
        event("e1", "A", ts("10:00"), customer="c1", v=20),
        event("e2", "A", ts("10:00"), customer="c2", v=7),
        event("e3", "A", ts("10:00"), customer="c3", v=1),
    ]
    run = ok(replay(tmp_path, [j], events))
    assert [(a["customer_id"], a["step"]) for a in run.actions] == [
        ("c1", "big"),
        ("c2", "mid"),
        ("c3", "small"),
    ]


def test_branch_without_match_and_default_continues_and_ignores_next(tmp_path: Path) -> None:
    """ "A branch with no matching case and no default continues with the next step. next is
    ignored on branch and split" """
    j = """\
id: j
version: 1
trigger: {event: A}
steps:
  - id: route
    next: far
    branch:
      - {when: "event.properties.v > 10", goto: far}
  - {id: near, send: {channel: email, template: near}}
  - {id: far, send: {channel: email, template: far}}
"""
    run = ok(replay(tmp_path, [j], [event("e1", "A", ts("10:00"), v=1)]))
    # output order is (event_time, customer, journey, step): far sorts before near
    assert [a["step"] for a in run.actions] == ["far", "near"]


def test_split_ignores_next(tmp_path: Path) -> None:
    """ "next is ignored on branch and split" """
    j = """\
id: j
version: 1
trigger: {event: A}
steps:
  - id: pick
    next: other
    split:
      - {variant: only, weight: 1, goto: chosen}
  - {id: other, send: {channel: email, template: other}, next: end}
  - {id: chosen, send: {channel: email, template: chosen}}
"""
    run = ok(replay(tmp_path, [j], [event("e1", "A", ts("10:00"))]))
    assert [(a["step"], a["variant"]) for a in run.actions] == [("chosen", "only")]


def test_wait_for_next_is_the_default_for_on_event_and_on_timeout(tmp_path: Path) -> None:
    """ "on wait_for it [next] is the default for on_event and on_timeout" """
    j = """\
id: j
version: 1
trigger: {event: A}
steps:
  - {id: wf, wait_for: {event: B, timeout: 1h}, next: target}
  - {id: skipped, send: {channel: email, template: skipped}}
  - {id: target, send: {channel: email, template: target}}
"""
    on_event = ok(
        replay(tmp_path / "e", [j], [event("e1", "A", ts("10:00")), event("e2", "B", ts("10:30"))])
    )
    assert [(a["event_time"], a["step"]) for a in on_event.actions] == [(ts("10:30"), "target")]
    on_timeout = ok(replay(tmp_path / "t", [j], [event("e1", "A", ts("10:00"))], until=ts("11:00")))
    assert [(a["event_time"], a["step"]) for a in on_timeout.actions] == [(ts("11:00"), "target")]


def test_wait_for_defaults_to_the_next_step_and_honours_when(tmp_path: Path) -> None:
    """ "wait_for: {event, when?, timeout, on_event?, on_timeout?}: continue when a matching
    event arrives, or when the timeout passes" (on_event / on_timeout default: the next step);
    an event whose `when` is false does not match."""
    j = """\
id: j
version: 1
trigger: {event: A}
steps:
  - id: wf
    wait_for: {event: OrderPlaced, when: "event.properties.total > 0", timeout: 2h, on_timeout: late}
  - {id: thanks, send: {channel: email, template: thanks}, next: end}
  - {id: late, send: {channel: email, template: late}}
"""
    run = ok(
        replay(
            tmp_path,
            [j],
            [
                event("e1", "A", ts("10:00")),
                event("e2", "OrderPlaced", ts("10:30"), total=0),
                event("e3", "OrderPlaced", ts("11:00"), total=9),
            ],
        )
    )
    assert [(a["event_time"], a["step"]) for a in run.actions] == [(ts("11:00"), "thanks")]


def test_decide_highest_score_times_value_times_weight_with_models_off(tmp_path: Path) -> None:
    """ "decide: ... choose the highest scores[propensity] x value x weight (weight defaults to
    1, ties go to the earlier option)": without models every score is 0.0, so every product is
    0 and the earliest option whose `when` holds wins."""
    j = """\
id: j
version: 1
trigger: {event: A}
steps:
  - id: nba
    decide:
      propensity: intent
      options:
        - {id: never, value: 100, when: "false", channel: sms, template: never}
        - {id: first, value: 1, channel: email, template: first}
        - {id: second, value: 50, weight: 3, channel: push, template: second}
"""
    run = ok(replay(tmp_path, [j], [event("e1", "A", ts("10:00"))]))
    assert [
        (a["step"], a["channel"], a["template"], a["context"]["option"]) for a in run.actions
    ] == [("nba", "email", "first", "first")]


def test_decide_option_without_channel_does_nothing(tmp_path: Path) -> None:
    """ "an option without a channel means "do nothing"": the entry moves on, no action."""
    j = """\
id: j
version: 1
trigger: {event: A}
steps:
  - id: nba
    decide:
      propensity: churn
      options:
        - {id: nothing, value: 1}
        - {id: mail, value: 1, channel: email, template: t}
  - {id: after, send: {channel: push, template: after}}
"""
    run = ok(replay(tmp_path, [j], [event("e1", "A", ts("10:00"))]))
    assert [a["step"] for a in run.actions] == ["after"]
    assert run.decisions == []


def test_update_is_visible_to_later_steps_and_other_journeys(tmp_path: Path) -> None:
    """ "update: {set: {name: expression}}: write profile.attributes.name (visible at once to
    later steps and to other journeys)" """
    writer = """\
id: writer
version: 1
priority: 10
trigger: {event: A}
steps:
  - {id: up, update: {set: {tier: "'gold'", points: "size(profile.attributes.tier) + 1"}}}
  - id: route
    branch:
      - {when: "profile.attributes.tier == 'gold'", goto: gold}
  - {id: plain, send: {channel: email, template: plain}, next: end}
  - {id: gold, send: {channel: email, template: gold, data: {tier: "profile.attributes.tier"}}}
"""
    reader = """\
id: reader
version: 1
trigger: {event: A, when: "profile.attributes.tier == 'gold'"}
steps:
  - {id: hello, send: {channel: push, template: t, data: {points: "profile.attributes.points"}}}
"""
    run = ok(replay(tmp_path, [writer, reader], [event("e1", "A", ts("10:00"))]))
    assert [(a["journey"], a["step"], a["data"]) for a in run.actions] == [
        ("reader", "hello", {"points": 5}),
        ("writer", "gold", {"tier": "gold"}),
    ]


def test_update_whose_expression_fails_leaves_the_attribute_unchanged(tmp_path: Path) -> None:
    """ "An update whose expression fails leaves the attribute unchanged." """
    j = """\
id: j
version: 1
trigger: {event: A}
steps:
  - {id: up, update: {set: {tier: "event.properties.missing.deeper"}}}
  - {id: s, send: {channel: email, template: t, data: {tier: "profile.attributes.tier"}}}
"""
    run = ok(
        replay(
            tmp_path,
            [j],
            [
                event("e0", "ProfileUpdated", ts("09:00"), tier="silver"),
                event("e1", "A", ts("10:00")),
            ],
        )
    )
    assert [a["data"] for a in run.actions] == [{"tier": "silver"}]


def test_send_data_is_evaluated_when_the_send_is_reached(tmp_path: Path) -> None:
    """ "send.data values are expressions evaluated when the send is reached": after a wait,
    the profile includes the events that arrived meanwhile."""
    j = """\
id: j
version: 1
trigger: {event: A}
steps:
  - {id: now, send: {channel: email, template: t, data: {views: "profile.counts.A"}}}
  - {id: w, wait: 1h}
  - id: later
    send:
      channel: email
      template: t
      data: {views: "profile.counts.PageViewed", started: "entry.started_at", trig: "entry.trigger.properties.cart"}
"""
    run = ok(
        replay(
            tmp_path,
            [j],
            [
                event("e1", "A", ts("10:00"), cart=42),
                event("e2", "PageViewed", ts("10:10")),
                event("e3", "PageViewed", ts("10:20")),
            ],
            until=ts("12:00"),
        )
    )
    assert [a["data"] for a in run.actions] == [
        {"views": 1},
        {"views": 2, "started": ts("10:00"), "trig": 42},
    ]
