"""Spec "File" and "Edge rules" on journey files: defaults, versions, and validation that is
no stricter than the spec (a journey the spec allows must replay, never exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.conformance.harness import event, ok, replay, ts


def test_defaults_category_priority_reentry_holdout(tmp_path: Path) -> None:
    """ "Journey files: id, version, trigger and steps are required; category defaults to
    promotional, priority to 0, reentry to after_exit." """
    j = "id: minimal\nversion: 1\ntrigger: {event: A}\nsteps:\n  - {id: s, send: {channel: email, template: t}}\n"
    run = ok(replay(tmp_path, [j], [event("e1", "A", ts("10:00")), event("e2", "A", ts("10:05"))]))
    assert [
        (a["entry"], a["context"]["category"], a["context"]["priority"]) for a in run.actions
    ] == [
        (1, "promotional", 0),
        (2, "promotional", 0),
    ]
    assert run.decisions == []  # holdout defaults to 0: nobody is held out


@pytest.mark.parametrize("missing", ["id", "version", "trigger", "steps"])
def test_required_fields(tmp_path: Path, missing: str) -> None:
    """ "Journey files: id, version, trigger and steps are required" (else exit 2)."""
    lines = {
        "id": "id: j",
        "version": "version: 1",
        "trigger": "trigger: {event: A}",
        "steps": "steps:\n  - {id: s, send: {channel: email, template: t}}",
    }
    doc = "\n".join(v for k, v in lines.items() if k != missing) + "\n"
    run = replay(tmp_path, {"j.yaml": doc}, [event("e1", "A", ts("10:00"))])
    assert run.code == 2
    assert "j.yaml" in run.stderr


def test_version_is_stamped_on_actions(tmp_path: Path) -> None:
    """ "A journey's version is stamped on each entry." """
    j = "id: j\nversion: 7\ntrigger: {event: A}\nsteps:\n  - {id: s, send: {channel: email, template: t}}\n"
    run = ok(replay(tmp_path, [j], [event("e1", "A", ts("10:00"))]))
    assert [a["journey_version"] for a in run.actions] == [7]


def test_running_entries_finish_on_their_version() -> None:
    """ "Entries already running when a new version is deployed finish on the version they
    started on": an engine holding both versions keeps the v1 entry on v1 while new entries
    use v2 (state carried over as a restarted worker would)."""
    from app.core.envelope import validate_event
    from app.core.journeys.defaults import journey_with_defaults
    from app.core.journeys.engine import Engine
    from app.core.profile import new_profile

    def version(v: int, template: str) -> dict[str, object]:
        return journey_with_defaults(
            {
                "id": "j",
                "version": v,
                "trigger": {"event": "A"},
                "steps": [
                    {"id": "w", "wait": "1h"},
                    {"id": "s", "send": {"channel": "email", "template": template}},
                ],
            },
            "j.yaml",
        )

    def ev(eid: str, etype: str, when: str, customer: str) -> dict[str, object]:
        return validate_event(event(eid, etype, ts(when), customer))

    old = Engine([version(1, "old")])
    p1, s1 = new_profile("c1"), old.new_state("c1")
    old.handle_event(p1, s1, ev("e1", "A", "10:00", "c1"))
    new = Engine([version(1, "old"), version(2, "new")])  # the deployment keeps v1 around
    p2, s2 = new_profile("c2"), new.new_state("c2")
    new.handle_event(p2, s2, ev("e2", "A", "10:00", "c2"))
    out1 = new.advance(p1, s1, 12 * 3_600_000 + 1_772_409_600_000)
    out2 = new.advance(p2, s2, 12 * 3_600_000 + 1_772_409_600_000)
    assert [(a["journey_version"], a["template"]) for a in out1.actions] == [(1, "old")]
    assert [(a["journey_version"], a["template"]) for a in out2.actions] == [(2, "new")]


# -- no stricter than the spec ----------------------------------------------------------------


def test_a_skipped_step_is_allowed_and_only_warned_about(tmp_path: Path) -> None:
    """ "Every step continues with the next one in the list, unless it has next: STEP_ID": a
    step every path jumps over is allowed (replay runs the journey and warns)."""
    j = """\
id: j
version: 1
trigger: {event: A}
steps:
  - {id: a, send: {channel: email, template: t}, next: c}
  - {id: b, send: {channel: sms, template: t}}
  - {id: c, send: {channel: push, template: t}}
"""
    run = ok(replay(tmp_path, [j], [event("e1", "A", ts("10:00"))]))
    assert [a["step"] for a in run.actions] == ["a", "c"]
    assert "warning" in run.stderr and "'b'" in run.stderr


def test_a_loop_without_a_wait_that_ends_is_allowed(tmp_path: Path) -> None:
    """ "branch: the first case whose when holds": a loop through update and branch that
    leaves after a few rounds is a valid journey; it runs (with a warning)."""
    j = """\
id: counter
version: 1
trigger: {event: A}
steps:
  - {id: init, update: {set: {n: "0"}}}
  - {id: bump, update: {set: {n: "profile.attributes.n + 1"}}}
  - id: again
    branch:
      - {when: "profile.attributes.n < 3", goto: bump}
  - {id: done, send: {channel: email, template: t, data: {n: "profile.attributes.n"}}}
"""
    run = ok(replay(tmp_path, [j], [event("e1", "A", ts("10:00"))]))
    assert [a["data"] for a in run.actions] == [{"n": 3}]


def test_goal_without_within_has_no_time_limit(tmp_path: Path) -> None:
    """ "goal: {event, within}": the spec requires only id, version, trigger and steps; a goal
    without `within` is taken as having no time limit (docs/engine.md, Decisions)."""
    j = """\
id: j
version: 1
trigger: {event: A}
goal: {event: OrderPlaced}
steps:
  - {id: w, wait: 30d}
  - {id: s, send: {channel: email, template: t}}
"""
    run = ok(
        replay(
            tmp_path,
            [j],
            [event("e1", "A", ts("10:00")), event("e2", "OrderPlaced", ts("10:00", "2026-03-20"))],
            until=ts("10:00", "2026-04-10"),
        )
    )
    assert run.actions == []


def test_decide_options_need_neither_template_nor_identifier_ids(tmp_path: Path) -> None:
    """ "decide: {propensity, options: [{id, value, weight?, when?, channel?, template?}]}":
    channel and template are each optional; an option without a channel does nothing."""
    j = """\
id: j
version: 1
trigger: {event: A}
steps:
  - id: nba
    decide:
      propensity: churn
      options:
        - {id: "10% off", value: 1, weight: 0, template: unused}
        - {id: "call me", value: 1, channel: agent}
"""
    run = ok(replay(tmp_path, [j], [event("e1", "A", ts("10:00"))]))
    # scores are 0.0, every product is 0: the first option wins the tie and does nothing
    assert run.actions == []
    j2 = j.replace("template: unused", "when: 'false'")
    run2 = ok(replay(tmp_path / "2", [j2], [event("e1", "A", ts("10:00"))]))
    assert [(a["channel"], a["template"], a["context"]["option"]) for a in run2.actions] == [
        ("agent", None, "call me")
    ]


def test_split_weight_zero_turns_a_variant_off(tmp_path: Path) -> None:
    """ "split: [{variant, weight, goto}]: the first variant whose cumulative weight share
    exceeds u": a variant of weight 0 has no share and is never chosen."""
    j = """\
id: j
version: 1
trigger: {event: A}
steps:
  - id: pick
    split:
      - {variant: dark, weight: 0, goto: s}
      - {variant: lit, weight: 1, goto: s}
  - {id: s, send: {channel: email, template: t}}
"""
    events = [event(f"e{i}", "A", ts("10:00"), f"c{i}") for i in range(20)]
    run = ok(replay(tmp_path, [j], events))
    assert {a["variant"] for a in run.actions} == {"lit"}


def test_update_literals(tmp_path: Path) -> None:
    """ "update: {set: {name: expression}}": a YAML number or boolean is the expression of that
    value (as CEL `5` or `true` would be)."""
    j = """\
id: j
version: 1
trigger: {event: A}
steps:
  - {id: up, update: {set: {score: 5, vip: true, ratio: 0.5}}}
  - id: s
    send: {channel: email, template: t, data: {v: "[profile.attributes.score, profile.attributes.vip, profile.attributes.ratio]"}}
"""
    run = ok(replay(tmp_path, [j], [event("e1", "A", ts("10:00"))]))
    assert [a["data"] for a in run.actions] == [{"v": [5, True, 0.5]}]


def test_empty_exit_on_is_allowed(tmp_path: Path) -> None:
    """ "exit_on: optional": an empty `exit_on:` (YAML null) is the same as none."""
    j = "id: j\nversion: 1\ntrigger: {event: A}\nexit_on:\nsteps:\n  - {id: s, send: {channel: email, template: t}}\n"
    run = ok(replay(tmp_path, [j], [event("e1", "A", ts("10:00"))]))
    assert len(run.actions) == 1


def test_a_cap_of_zero_blocks_the_channel(tmp_path: Path) -> None:
    """ "frequency_caps: sends actually emitted, counted over a sliding window": max 0 allows
    none on that channel."""
    j = "id: j\nversion: 1\ntrigger: {event: A}\nsteps:\n  - {id: s, send: {channel: sms, template: t}}\n  - {id: e, send: {channel: email, template: t}}\n"
    policies = "frequency_caps:\n  - {channel: sms, max: 0, per: 1d}\n"
    run = ok(replay(tmp_path, [j], [event("e1", "A", ts("10:00"))], policies=policies))
    assert [a["step"] for a in run.actions] == ["e"]
    assert [d["reason"] for d in run.decisions] == ["frequency_cap"]


def test_the_spec_example_journey_runs(tmp_path: Path) -> None:
    """The spec's example journey file (section "File") is valid and replays."""
    example = """\
id: cart_recovery          # [a-z][a-z0-9_]*, unique
version: 3                 # integer >= 1; bump it on every change
description: Win back abandoned carts
category: promotional      # promotional | transactional | service (policies apply per category)
priority: 50               # higher wins arbitration; default 0
trigger:
  event: CartAbandoned     # an entry starts on this event type ...
  when: "event.properties.cart_value >= 20.0"   # ... if this expression holds (optional)
reentry: after_exit        # once | after_exit (default) | {cooldown: 7d}
exit_on:                   # optional: any of these events ends the entry at once
  - event: Unsubscribed
  - event: TicketOpened
    when: "event.properties.severity == 'high'"
goal:                      # optional: the conversion this journey exists for
  event: OrderPlaced
  within: 7d               # counted from the entry's start; reaching it ends the entry
holdout: 0.1               # share of entries put in the control group (default 0)
steps:
  - id: wait_2h
    wait: 2h
  - id: route
    branch:
      - when: "scores.intent >= 0.6"
        goto: email_offer
      - goto: sms_nudge                 # a branch without `when` is the default; it must be last
  - id: email_offer
    send: {channel: email, template: cart_offer}
    next: end
  - id: sms_nudge
    send: {channel: sms, template: cart_reminder}
  - id: wait_purchase
    wait_for:
      event: OrderPlaced
      when: "event.properties.total > 0"   # optional
      timeout: 24h
      on_event: end                        # default: the next step
      on_timeout: agent_call               # default: the next step
  - id: agent_call
    send: {channel: agent, template: cart_callback}
"""
    policies = """\
frequency_caps:                 # sends actually emitted, counted over a sliding event-time window
  - {channel: any, max: 3, per: 24h}
  - {channel: sms, max: 1, per: 24h}
quiet_hours:                    # in the customer's time zone (profile.attributes.timezone, else default)
  start: "21:00"
  end: "08:00"
  default_timezone: UTC
  action: defer                 # defer: the send and the entry wait until quiet hours end; drop: suppressed
categories:
  promotional:
    suppress_when: "profile.open_tickets > 0"
  transactional:
    bypass: [frequency_caps, quiet_hours]
"""
    # a customer outside the 10% control group
    customer = "c3"
    from tests.unit.conformance.harness import unit

    assert unit(f"cart_recovery:{customer}") >= 0.1
    run = ok(
        replay(
            tmp_path,
            {"cart_recovery.yaml": example},
            [event("e1", "CartAbandoned", ts("10:00"), customer, cart_value=30.0)],
            policies=policies,
            until=ts("13:00", "2026-03-03"),
        )
    )
    assert run.sends() == [
        (ts("12:00"), customer, "cart_recovery", "sms_nudge"),
        (ts("12:00", "2026-03-03"), customer, "cart_recovery", "agent_call"),
    ]
