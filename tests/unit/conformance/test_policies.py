"""Spec "Policies" and its "Edge rules": consent, suppression, quiet hours, caps, arbitration."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.conformance.harness import event, ok, replay, ts


def send_journey(
    jid: str = "j",
    channel: str = "email",
    trigger: str = "A",
    priority: int | None = None,
    category: str | None = None,
    extra: str = "",
) -> str:
    head = f"id: {jid}\nversion: 1\ntrigger: {{event: {trigger}}}\n"
    if priority is not None:
        head += f"priority: {priority}\n"
    if category is not None:
        head += f"category: {category}\n"
    return (
        head + extra + f"steps:\n  - {{id: s_{jid}, send: {{channel: {channel}, template: t}}}}\n"
    )


# -- consent ----------------------------------------------------------------------------------


def test_consent_applies_without_a_policies_file(tmp_path: Path) -> None:
    """ "a send on a channel for which profile.consent[channel] == false is suppressed";
    "Consent applies even without a policies file." """
    sms = send_journey("sms_j", "sms")
    email = send_journey("email_j", "email")
    run = ok(
        replay(
            tmp_path,
            [sms, email],
            [
                event("e0", "ConsentUpdated", ts("09:00"), channel="sms", granted=False),
                event("e1", "A", ts("10:00")),
                event("e2", "ConsentUpdated", ts("11:00"), channel="sms", granted=True),
                event("e3", "A", ts("12:00")),
            ],
        )
    )
    assert run.sends() == [
        (ts("10:00"), "c1", "email_j", "s_email_j"),
        (ts("12:00"), "c1", "email_j", "s_email_j"),
        (ts("12:00"), "c1", "sms_j", "s_sms_j"),
    ]
    assert run.why() == [(ts("10:00"), "c1", "s_sms_j", "suppressed", "consent")]


def test_consent_applies_whatever_the_category(tmp_path: Path) -> None:
    """ "Consent: ... is suppressed, whatever the category" (even one that bypasses the rest)."""
    policies = "categories:\n  transactional:\n    bypass: [frequency_caps, quiet_hours]\n"
    j = send_journey(category="transactional", channel="push")
    run = ok(
        replay(
            tmp_path,
            [j],
            [
                event("e0", "ConsentUpdated", ts("09:00"), channel="push", granted=False),
                event("e1", "A", ts("10:00")),
            ],
            policies=policies,
        )
    )
    assert run.actions == []
    assert run.why() == [(ts("10:00"), "c1", "s_j", "suppressed", "consent")]


# -- category suppression ---------------------------------------------------------------------


def test_category_suppression_and_promotional_default(tmp_path: Path) -> None:
    """ "categories: promotional: suppress_when: profile.open_tickets > 0"; "category defaults
    to promotional": a journey without a category is suppressed; a service one is not."""
    policies = 'categories:\n  promotional:\n    suppress_when: "profile.open_tickets > 0"\n'
    promo = send_journey("promo")
    service = send_journey("svc", category="service")
    run = ok(
        replay(
            tmp_path,
            [promo, service],
            [
                event("e0", "TicketOpened", ts("09:00"), ticket_id="t"),
                event("e1", "A", ts("10:00")),
            ],
            policies=policies,
        )
    )
    assert run.sends() == [(ts("10:00"), "c1", "svc", "s_svc")]
    assert run.why() == [(ts("10:00"), "c1", "s_promo", "suppressed", "category")]
    assert run.decisions[0]["context"]["category"] == "promotional"


def test_a_suppressed_send_moves_its_entry_on(tmp_path: Path) -> None:
    """ "a send that fails is recorded as suppressed with its reason, and its entry moves on to
    its next step as if it had been sent." """
    j = """\
id: j
version: 1
trigger: {event: A}
steps:
  - {id: first, send: {channel: sms, template: t}}
  - {id: w, wait: 1h}
  - {id: second, send: {channel: email, template: t}}
"""
    run = ok(
        replay(
            tmp_path,
            [j],
            [
                event("e0", "ConsentUpdated", ts("09:00"), channel="sms", granted=False),
                event("e1", "A", ts("10:00")),
            ],
            until=ts("12:00"),
        )
    )
    assert run.sends() == [(ts("11:00"), "c1", "j", "second")]
    assert run.why() == [(ts("10:00"), "c1", "first", "suppressed", "consent")]


# -- check order ------------------------------------------------------------------------------

ALL = """\
frequency_caps:
  - {channel: any, max: 1, per: 24h}
quiet_hours: {start: "21:00", end: "08:00", default_timezone: UTC, action: drop}
categories:
  promotional:
    suppress_when: "profile.attributes.vip == false"
"""


@pytest.mark.parametrize(
    ("failing", "reason"),
    [
        ({"consent", "category", "quiet", "cap"}, "consent"),
        ({"category", "quiet", "cap"}, "category"),
        ({"quiet", "cap"}, "quiet_hours"),
        ({"cap"}, "frequency_cap"),
    ],
)
def test_checks_run_in_order_consent_category_quiet_caps(
    tmp_path: Path, failing: set[str], reason: str
) -> None:
    """ "each send passes consent, category suppression, quiet hours and the caps, in that
    order": the first failing check names the reason."""
    events = [event("e0", "ProfileUpdated", ts("00:00"), vip="category" not in failing)]
    if "consent" in failing:
        events.append(event("e1", "ConsentUpdated", ts("00:01"), channel="email", granted=False))
    if "cap" in failing:  # an earlier emitted send (transactional bypasses quiet hours)
        events.append(event("e2", "B", ts("20:00")))
    events.append(event("e3", "A", ts("22:00") if "quiet" in failing else ts("20:30")))
    filler = send_journey("filler", "push", trigger="B", category="transactional")
    policies = ALL + "  transactional:\n    bypass: [quiet_hours]\n"
    run = ok(replay(tmp_path, [send_journey(), filler], events, policies=policies))
    assert [(d["step"], d["reason"]) for d in run.decisions] == [("s_j", reason)]


# -- quiet hours ------------------------------------------------------------------------------

QUIET = """\
quiet_hours:
  start: "21:00"
  end: "08:00"
  default_timezone: UTC
  action: {action}
"""
WINTER = "2026-01-14"  # New York is UTC-5


def test_quiet_hours_wrap_midnight_in_the_customer_zone_and_defer(tmp_path: Path) -> None:
    """ "quiet_hours: in the customer's time zone (profile.attributes.timezone, else default)";
    "Quiet hours are start <= local time < end, wrapping midnight. A deferred send is arbitrated
    again, in full, at the end of quiet hours, with that moment as its event_time"; "defer: the
    send and the entry wait until quiet hours end". 03:00Z is 22:00 in New York; the quiet
    ends at 08:00 New York = 13:00Z, and the entry's next send follows at once."""
    j = """\
id: j
version: 1
trigger: {event: A}
steps:
  - {id: s1, send: {channel: email, template: t}}
  - {id: s2, send: {channel: sms, template: t}}
"""
    run = ok(
        replay(
            tmp_path,
            [j],
            [
                event("e0", "ProfileUpdated", ts("00:00", WINTER), timezone="America/New_York"),
                event("e1", "A", ts("03:00", "2026-01-15")),
            ],
            policies=QUIET.format(action="defer"),
            until=ts("14:00", "2026-01-15"),
        )
    )
    at = ts("13:00", "2026-01-15")
    assert run.sends() == [(at, "c1", "j", "s1"), (at, "c1", "j", "s2")]
    assert all(a["decided_at"] == at for a in run.actions)
    assert run.decisions == []  # "deferrals are not decisions"


@pytest.mark.parametrize(
    ("local", "quiet"),
    [
        ("20:59", False),
        ("21:00", True),
        ("23:59", True),
        ("00:00", True),
        ("07:59", True),
        ("08:00", False),
    ],
)
def test_quiet_hours_boundaries(tmp_path: Path, local: str, quiet: bool) -> None:
    """ "Quiet hours are start <= local time < end, wrapping midnight." (Europe/Paris is UTC+1 in
    January; action drop, so a quiet send is a decision.)"""
    hour, minute = (int(x) for x in local.split(":"))
    utc_hour = (hour - 1) % 24
    day = "2026-01-15" if hour >= 1 else "2026-01-14"
    events = [
        event("e0", "ProfileUpdated", ts("00:00", "2026-01-10"), timezone="Europe/Paris"),
        event("e1", "A", ts(f"{utc_hour:02d}:{minute:02d}", day)),
    ]
    run = ok(replay(tmp_path, [send_journey()], events, policies=QUIET.format(action="drop")))
    assert len(run.actions) == (0 if quiet else 1)
    assert [d["reason"] for d in run.decisions] == (["quiet_hours"] if quiet else [])


def test_default_timezone_applies_without_a_profile_zone(tmp_path: Path) -> None:
    """ "in the customer's time zone (profile.attributes.timezone, else default)": 21:30Z is
    quiet in UTC but only 16:30 in New York, the default here."""
    policies = QUIET.format(action="drop").replace("UTC", "America/New_York")
    run = ok(
        replay(
            tmp_path,
            [send_journey()],
            [event("e1", "A", ts("21:30", "2026-01-15"))],
            policies=policies,
        )
    )
    assert len(run.actions) == 1
    with_zone = ok(
        replay(
            tmp_path / "z",
            [send_journey()],
            [
                event("e0", "ProfileUpdated", ts("00:00", "2026-01-15"), timezone="UTC"),
                event("e1", "A", ts("21:30", "2026-01-15")),
            ],
            policies=policies,
        )
    )
    assert with_zone.why() == [
        (ts("21:30", "2026-01-15"), "c1", "s_j", "suppressed", "quiet_hours")
    ]


def test_drop_suppresses_and_the_entry_moves_on(tmp_path: Path) -> None:
    """ "drop: suppressed" (reason quiet_hours), and "its entry moves on to its next step as if
    it had been sent"."""
    j = """\
id: j
version: 1
trigger: {event: A}
steps:
  - {id: s1, send: {channel: email, template: t}}
  - {id: w, wait: 12h}
  - {id: s2, send: {channel: email, template: t}}
"""
    run = ok(
        replay(
            tmp_path,
            [j],
            [event("e1", "A", ts("22:00"))],
            policies=QUIET.format(action="drop"),
            until=ts("12:00", "2026-03-03"),
        )
    )
    assert run.why() == [(ts("22:00"), "c1", "s1", "suppressed", "quiet_hours")]
    assert run.sends() == [(ts("10:00", "2026-03-03"), "c1", "j", "s2")]


def test_deferred_send_is_arbitrated_again_in_full(tmp_path: Path) -> None:
    """ "A deferred send is arbitrated again, in full, at the end of quiet hours": consent
    revoked while it waits suppresses it then, with that moment as its event_time."""
    run = ok(
        replay(
            tmp_path,
            [send_journey(channel="sms")],
            [
                event("e1", "A", ts("22:00")),
                event("e2", "ConsentUpdated", ts("23:00"), channel="sms", granted=False),
            ],
            policies=QUIET.format(action="defer"),
            until=ts("09:00", "2026-03-03"),
        )
    )
    assert run.actions == []
    assert run.why() == [(ts("08:00", "2026-03-03"), "c1", "s_j", "suppressed", "consent")]


def test_deferred_send_meets_the_caps_when_quiet_hours_end(tmp_path: Path) -> None:
    """ "A deferred send is arbitrated again, in full": a send emitted meanwhile (by a
    transactional journey that bypasses quiet hours) fills the cap it then meets."""
    policies = QUIET.format(action="defer") + (
        "frequency_caps:\n  - {channel: any, max: 1, per: 24h}\n"
        "categories:\n  transactional:\n    bypass: [quiet_hours]\n"
    )
    run = ok(
        replay(
            tmp_path,
            [send_journey(), send_journey("tx", trigger="B", category="transactional")],
            [event("e1", "A", ts("22:00")), event("e2", "B", ts("06:00", "2026-03-03"))],
            policies=policies,
            until=ts("09:00", "2026-03-03"),
        )
    )
    assert run.sends() == [(ts("06:00", "2026-03-03"), "c1", "tx", "s_tx")]
    assert run.why() == [(ts("08:00", "2026-03-03"), "c1", "s_j", "suppressed", "frequency_cap")]


@pytest.mark.parametrize("ender", ["exit", "goal"])
def test_goals_and_exit_on_apply_while_a_send_is_deferred(tmp_path: Path, ender: str) -> None:
    """ "goals and exit_on still apply while it waits": the entry ends, the send never happens."""
    extra = "exit_on: [{event: Stop}]\n" if ender == "exit" else "goal: {event: Stop, within: 1d}\n"
    run = ok(
        replay(
            tmp_path,
            [send_journey(extra=extra)],
            [event("e1", "A", ts("22:00")), event("e2", "Stop", ts("23:00"))],
            policies=QUIET.format(action="defer"),
            until=ts("09:00", "2026-03-03"),
        )
    )
    assert run.actions == [] and run.decisions == []


def test_transactional_bypass_of_quiet_hours(tmp_path: Path) -> None:
    """ "transactional: bypass: [frequency_caps, quiet_hours]" """
    policies = (
        QUIET.format(action="drop") + "categories:\n  transactional:\n    bypass: [quiet_hours]\n"
    )
    run = ok(
        replay(
            tmp_path,
            [send_journey(category="transactional")],
            [event("e1", "A", ts("23:00"))],
            policies=policies,
        )
    )
    assert run.sends() == [(ts("23:00"), "c1", "j", "s_j")]


# -- caps -------------------------------------------------------------------------------------

CAP = "frequency_caps:\n  - {channel: any, max: 1, per: 1h}\n"


@pytest.mark.parametrize(("second", "emitted"), [("10:59:59", False), ("11:00", True)])
def test_cap_window_is_t_minus_per_exclusive_to_t(
    tmp_path: Path, second: str, emitted: bool
) -> None:
    """ "A cap counts emitted sends whose time lies in (T - per, T]." """
    run = ok(
        replay(
            tmp_path,
            [send_journey()],
            [event("e1", "A", ts("10:00")), event("e2", "A", ts(second))],
            policies=CAP,
        )
    )
    assert len(run.actions) == (2 if emitted else 1)
    assert [d["reason"] for d in run.decisions] == ([] if emitted else ["frequency_cap"])


def test_any_cap_counts_every_channel_and_channel_caps_only_theirs(tmp_path: Path) -> None:
    """ "{channel: any, max: 3, per: 24h}", "{channel: sms, max: 1, per: 24h}": sends actually
    emitted, counted over a sliding event-time window."""
    policies = "frequency_caps:\n  - {channel: any, max: 3, per: 24h}\n  - {channel: sms, max: 1, per: 24h}\n"
    j = """\
id: j
version: 1
trigger: {event: A}
steps:
  - {id: a_sms, send: {channel: sms, template: t}}
  - {id: b_sms, send: {channel: sms, template: t}}
  - {id: c_email, send: {channel: email, template: t}}
  - {id: d_push, send: {channel: push, template: t}}
  - {id: e_push, send: {channel: push, template: t}}
"""
    run = ok(replay(tmp_path, [j], [event("e1", "A", ts("10:00"))], policies=policies))
    assert [a["step"] for a in run.actions] == ["a_sms", "c_email", "d_push"]
    assert [(d["step"], d["reason"]) for d in run.decisions] == [
        ("b_sms", "frequency_cap"),
        ("e_push", "frequency_cap"),
    ]


def test_a_send_that_bypasses_the_caps_still_counts_toward_them(tmp_path: Path) -> None:
    """ "a send that bypasses the caps still counts toward them" """
    policies = CAP + "categories:\n  transactional:\n    bypass: [frequency_caps]\n"
    tx = send_journey("tx", trigger="B", category="transactional")
    run = ok(
        replay(
            tmp_path,
            [send_journey(), tx],
            [
                event("e1", "B", ts("10:00")),
                event("e2", "B", ts("10:10")),
                event("e3", "A", ts("10:20")),
            ],
            policies=policies,
        )
    )
    assert run.sends() == [(ts("10:00"), "c1", "tx", "s_tx"), (ts("10:10"), "c1", "tx", "s_tx")]
    assert run.why() == [(ts("10:20"), "c1", "s_j", "suppressed", "frequency_cap")]


def test_held_out_sends_never_count_toward_caps(tmp_path: Path) -> None:
    """ "Holdout: control entries' sends ... where one would be emitted it is recorded as held
    out instead, and it never counts toward caps." holdout: 1 puts every entry in control."""
    control = send_journey("ctl", priority=10, extra="holdout: 1\n")
    run = ok(
        replay(
            tmp_path, [control, send_journey("j")], [event("e1", "A", ts("10:00"))], policies=CAP
        )
    )
    assert run.sends() == [(ts("10:00"), "c1", "j", "s_j")]
    assert run.why() == [(ts("10:00"), "c1", "s_ctl", "held_out", "holdout")]


def test_control_sends_pass_consent_suppression_and_quiet_hours_first(tmp_path: Path) -> None:
    """ "control entries' sends pass consent, suppression and quiet hours like any other; where
    one would be emitted it is recorded as held out instead" """
    control = send_journey("ctl", channel="sms", extra="holdout: 1\n")
    run = ok(
        replay(
            tmp_path,
            [control],
            [
                event("e0", "ConsentUpdated", ts("09:00"), channel="sms", granted=False),
                event("e1", "A", ts("10:00")),
            ],
        )
    )
    assert run.why() == [(ts("10:00"), "c1", "s_ctl", "suppressed", "consent")]
    quiet = ok(
        replay(
            tmp_path / "q",
            [control],
            [event("e1", "A", ts("23:00"))],
            policies=QUIET.format(action="drop"),
        )
    )
    assert quiet.why() == [(ts("23:00"), "c1", "s_ctl", "suppressed", "quiet_hours")]


# -- arbitration ------------------------------------------------------------------------------


def test_arbitration_by_priority_then_journey_id_then_step_order(tmp_path: Path) -> None:
    """ "Within one moment, a customer's sends are arbitrated in order of journey priority, then
    journey id, then step order within an entry." With room for two sends, the higher priority
    journey's two steps win over a smaller id; then the smaller id wins a tie."""
    policies = "frequency_caps:\n  - {channel: any, max: 2, per: 1h}\n"
    two = """\
id: zz_top
version: 1
priority: 5
trigger: {event: A}
steps:
  - {id: z2, send: {channel: email, template: t}}
  - {id: a1, send: {channel: email, template: t}}
"""
    run = ok(
        replay(
            tmp_path,
            [two, send_journey("aa", priority=1)],
            [event("e1", "A", ts("10:00"))],
            policies=policies,
        )
    )
    assert [a["step"] for a in run.actions] == ["a1", "z2"]  # output order is by step id
    assert [(d["step"], d["reason"]) for d in run.decisions] == [("s_aa", "frequency_cap")]
    one = "frequency_caps:\n  - {channel: any, max: 1, per: 1h}\n"
    step_order = ok(replay(tmp_path / "s", [two], [event("e1", "A", ts("10:00"))], policies=one))
    assert [a["step"] for a in step_order.actions] == ["z2"]  # first in the list, not by name
    ids = ok(
        replay(
            tmp_path / "i",
            [send_journey("bb"), send_journey("ab"), send_journey("ba")],
            [event("e1", "A", ts("10:00"))],
            policies=one,
        )
    )
    assert [a["journey"] for a in ids.actions] == ["ab"]


def test_sends_of_one_event_are_arbitrated_together_across_phases(tmp_path: Path) -> None:
    """ "Every send that one event (or one timer moment) produces for a customer is arbitrated
    together: in order of journey priority": the low-priority send reached in phase 2 loses
    to the high-priority send reached later, in phase 3."""
    waiting = """\
id: waiting
version: 1
priority: 1
trigger: {event: Start}
steps:
  - {id: wf, wait_for: {event: A, timeout: 1d}}
  - {id: resumed, send: {channel: email, template: t}}
"""
    run = ok(
        replay(
            tmp_path,
            [waiting, send_journey("starter", priority=9)],
            [event("e0", "Start", ts("09:00")), event("e1", "A", ts("10:00"))],
            policies=CAP,
        )
    )
    assert run.sends() == [(ts("10:00"), "c1", "starter", "s_starter")]
    assert run.why() == [(ts("10:00"), "c1", "resumed", "suppressed", "frequency_cap")]


def test_sends_of_one_timer_moment_are_arbitrated_together(tmp_path: Path) -> None:
    """ "Every send that one event (or one timer moment) produces ... is arbitrated together":
    two timers due at the same moment, the higher priority takes the only slot."""

    def waiter(jid: str, priority: int) -> str:
        return (
            f"id: {jid}\nversion: 1\npriority: {priority}\ntrigger: {{event: A}}\nsteps:\n"
            f"  - {{id: w, wait: 1h}}\n  - {{id: s_{jid}, send: {{channel: email, template: t}}}}\n"
        )

    run = ok(
        replay(
            tmp_path,
            [waiter("aa", 1), waiter("zz", 2)],
            [event("e1", "A", ts("10:00"))],
            policies=CAP,
            until=ts("12:00"),
        )
    )
    assert run.sends() == [(ts("11:00"), "c1", "zz", "s_zz")]
    assert run.why() == [(ts("11:00"), "c1", "s_aa", "suppressed", "frequency_cap")]


def test_priority_defaults_to_zero(tmp_path: Path) -> None:
    """ "priority ... default 0" (Edge rules: "priority to 0"): a journey without one beats
    priority -1 and ties with an explicit 0 (then the smaller id wins)."""
    one = "frequency_caps:\n  - {channel: any, max: 1, per: 1h}\n"
    run = ok(
        replay(
            tmp_path,
            [send_journey("zz"), send_journey("aa", priority=-1)],
            [event("e1", "A", ts("10:00"))],
            policies=one,
        )
    )
    assert [a["journey"] for a in run.actions] == ["zz"]
    tie = ok(
        replay(
            tmp_path / "t",
            [send_journey("zz"), send_journey("aa", priority=0)],
            [event("e1", "A", ts("10:00"))],
            policies=one,
        )
    )
    assert [a["journey"] for a in tie.actions] == ["aa"]


def test_only_emitted_sends_count_toward_the_caps(tmp_path: Path) -> None:
    """ "Only emitted sends count toward the caps": a send suppressed by the cap at 10:30 does
    not fill the window of the send at 11:00 (the 10:00 send has left (T - per, T])."""
    run = ok(
        replay(
            tmp_path,
            [send_journey()],
            [
                event("e1", "A", ts("10:00")),
                event("e2", "A", ts("10:30")),
                event("e3", "A", ts("11:00")),
            ],
            policies=CAP,
        )
    )
    assert [a["event_time"] for a in run.actions] == [ts("10:00"), ts("11:00")]
    assert run.why() == [(ts("10:30"), "c1", "s_j", "suppressed", "frequency_cap")]


def test_a_deferred_control_send_is_held_out_when_quiet_hours_end(tmp_path: Path) -> None:
    """ "control entries' sends pass consent, suppression and quiet hours like any other; where
    one would be emitted it is recorded as held out instead": deferred, then held out at 08:00."""
    control = send_journey("ctl", extra="holdout: 1\n")
    run = ok(
        replay(
            tmp_path,
            [control],
            [event("e1", "A", ts("22:00"))],
            policies=QUIET.format(action="defer"),
            until=ts("09:00", "2026-03-03"),
        )
    )
    assert run.why() == [(ts("08:00", "2026-03-03"), "c1", "s_ctl", "held_out", "holdout")]
