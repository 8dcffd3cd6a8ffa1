"""Policies: consent, category suppression, quiet hours, caps, bypass, arbitration."""

from __future__ import annotations

import pytest

from tests.unit.engine.helpers import decided, event, iso, journey, policies, run, sent, u

EMAIL = {"channel": "email", "template": "t"}
SMS = {"channel": "sms", "template": "t"}


def send(step_id: str, body: dict[str, str] = EMAIL, **extra: object) -> dict[str, object]:
    return {"id": step_id, "send": body, **extra}


def wait(step_id: str, duration: str) -> dict[str, object]:
    return {"id": step_id, "wait": duration}


QUIET = {"start": "21:00", "end": "08:00", "default_timezone": "UTC", "action": "defer"}


# -- consent -------------------------------------------------------------------------------------


@pytest.mark.parametrize("category", ["promotional", "transactional", "service"])
def test_consent_suppresses_even_without_policies_and_the_entry_moves_on(category: str) -> None:
    j = journey(category=category, steps=[send("by_sms", SMS), send("by_email")])
    events = [
        event("ConsentUpdated", "09:00", channel="sms", granted=False),
        event("Start", "10:00"),
    ]
    result = run([j], events)
    assert sent(result) == [(iso("10:00"), "c-1", "by_email")]
    assert decided(result) == [(iso("10:00"), "by_sms", "suppressed", "consent")]


def test_consent_granted_again_allows_sends() -> None:
    j = journey(steps=[send("by_sms", SMS)])
    events = [
        event("ConsentUpdated", "09:00", channel="sms", granted=False),
        event("ConsentUpdated", "09:30", channel="sms", granted=True),
        event("Start", "10:00"),
    ]
    assert [a["step"] for a in run([j], events).actions] == ["by_sms"]


# -- reachability --------------------------------------------------------------------------------


def test_a_send_without_the_channels_address_is_unreachable_and_the_entry_moves_on() -> None:
    j = journey(category="transactional", steps=[send("by_email"), send("by_sms", SMS)])
    policy = policies(reachability={"email": "email"})
    result = run([j], [event("Start", "10:00")], policy)
    # sms names no address: it goes; the email has none in the profile
    assert sent(result) == [(iso("10:00"), "c-1", "by_sms")]
    assert decided(result) == [(iso("10:00"), "by_email", "suppressed", "unreachable")]


def test_an_address_in_the_profile_or_the_steps_data_reaches() -> None:
    j = journey(steps=[send("by_sms", SMS)])
    policy = policies(reachability={"sms": ["phone", "mobile"]})
    events = [
        event("Identify", "09:00", customer="c-1", mobile="+44 7700 900000"),
        event("Start", "10:00", customer="c-1"),
        event("Start", "10:00", customer="c-2"),
    ]
    result = run([j], events, policy)
    assert sent(result) == [(iso("10:00"), "c-1", "by_sms")]
    assert decided(result) == [(iso("10:00"), "by_sms", "suppressed", "unreachable")]
    to_data = journey(
        steps=[send("by_sms", {**SMS, "data": {"phone": "entry.trigger.properties.to"}})]
    )
    result = run([to_data], [event("Start", "10:00", customer="c-3", to="+1 555 0100")], policy)
    assert sent(result) == [(iso("10:00"), "c-3", "by_sms")]


def test_consent_is_checked_before_reachability_and_reachability_before_categories() -> None:
    j = journey(steps=[send("offer")])
    policy = policies(
        reachability={"email": "email"},
        categories={"promotional": {"suppress_when": "profile.open_tickets > 0"}},
    )
    refused = [event("ConsentUpdated", "09:00", channel="email", granted=False)]
    assert decided(run([j], [*refused, event("Start", "10:00")], policy)) == [
        (iso("10:00"), "offer", "suppressed", "consent")
    ]
    ticket = [event("TicketOpened", "09:00", ticket_id="t1", severity="low")]
    assert decided(run([j], [*ticket, event("Start", "10:00")], policy)) == [
        (iso("10:00"), "offer", "suppressed", "unreachable")
    ]


def test_without_a_reachability_block_nothing_is_checked() -> None:
    j = journey(steps=[send("offer")])
    assert sent(run([j], [event("Start", "10:00")], policies())) == [(iso("10:00"), "c-1", "offer")]


# -- category suppression ------------------------------------------------------------------------


def test_category_suppression_while_a_ticket_is_open() -> None:
    promo = journey(id="promo", steps=[send("offer")])
    service = journey(id="help", category="service", steps=[send("update")])
    policy = policies(categories={"promotional": {"suppress_when": "profile.open_tickets > 0"}})
    events = [
        event("TicketOpened", "09:00", ticket_id="t1", severity="low"),
        event("Start", "10:00"),
        event("TicketClosed", "11:00", ticket_id="t1"),
        event("Start", "12:00"),
    ]
    result = run([promo, service], events, policy)
    assert [(a["event_time"], a["journey"]) for a in result.actions] == [
        (iso("10:00"), "help"),
        (iso("12:00"), "help"),
        (iso("12:00"), "promo"),
    ]
    assert decided(result) == [(iso("10:00"), "offer", "suppressed", "category")]


# -- quiet hours ---------------------------------------------------------------------------------


def test_quiet_hours_defer_the_send_and_the_entry_until_they_end() -> None:
    j = journey(steps=[send("a"), wait("w", "1h"), send("b")])
    result = run(
        [j], [event("Start", "22:30")], policies(quiet_hours=QUIET), until="2026-11-24T12:00:00Z"
    )
    next_morning = "2026-11-24T08:00:00Z"
    assert [(a["event_time"], a["step"]) for a in result.actions] == [
        (next_morning, "a"),
        ("2026-11-24T09:00:00Z", "b"),  # the entry waited too: its wait starts after the send
    ]
    assert result.actions[0]["context"]["deferred_from"] == iso("22:30")
    assert result.decisions == []  # deferrals are not decisions


@pytest.mark.parametrize(
    ("clock", "quiet"),
    [
        ("20:59:59", False),
        ("21:00", True),  # start <= local time
        ("23:59", True),
        ("2026-11-24T00:00:00Z", True),  # wraps midnight
        ("2026-11-24T07:59:59Z", True),
        ("2026-11-24T08:00:00Z", False),  # local time < end
    ],
)
def test_quiet_hours_window_is_start_inclusive_end_exclusive(clock: str, quiet: bool) -> None:
    j = journey(steps=[send("a")])
    drop = policies(quiet_hours={**QUIET, "action": "drop"})
    result = run([j], [event("Start", clock)], drop)
    assert (decided(result) != []) is quiet
    assert (result.actions == []) is quiet


def test_quiet_hours_that_do_not_wrap_midnight() -> None:
    j = journey(steps=[send("a")])
    lunch = policies(quiet_hours={**QUIET, "start": "12:00", "end": "14:00"})
    result = run([j], [event("Start", "13:00"), event("Start", "15:00", customer="c-2")], lunch)
    assert sent(result) == [(iso("14:00"), "c-1", "a"), (iso("15:00"), "c-2", "a")]


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        # 22:30 UTC is 07:30 in Tokyo (quiet until 08:00 local = 23:00 UTC)
        ("Asia/Tokyo", iso("23:00")),
        # 22:30 UTC is 17:30 in New York: not quiet
        ("America/New_York", iso("22:30")),
        # an unknown zone falls back to the default (UTC): quiet until 08:00 UTC
        ("Mars/Olympus_Mons", "2026-11-24T08:00:00Z"),
        (None, "2026-11-24T08:00:00Z"),
    ],
)
def test_quiet_hours_use_the_customers_time_zone(zone: str | None, expected: str) -> None:
    j = journey(steps=[send("a")])
    events = [event("Start", "22:30")]
    if zone is not None:
        events.insert(0, event("ProfileUpdated", "09:00", timezone=zone))
    result = run([j], events, policies(quiet_hours=QUIET), until="2026-11-24T12:00:00Z")
    assert [a["event_time"] for a in result.actions] == [expected]


def test_quiet_hours_drop_suppresses_and_moves_on() -> None:
    j = journey(steps=[send("a"), send("b", SMS)])
    result = run([j], [event("Start", "23:00")], policies(quiet_hours={**QUIET, "action": "drop"}))
    assert result.actions == []
    assert decided(result) == [
        (iso("23:00"), "a", "suppressed", "quiet_hours"),
        (iso("23:00"), "b", "suppressed", "quiet_hours"),
    ]


def test_a_deferred_send_is_arbitrated_again_in_full() -> None:
    j = journey(steps=[send("a", SMS)])
    events = [
        event("Start", "23:00"),
        event("ConsentUpdated", "23:30", channel="sms", granted=False),
    ]
    result = run([j], events, policies(quiet_hours=QUIET), until="2026-11-24T12:00:00Z")
    assert result.actions == []
    assert decided(result) == [("2026-11-24T08:00:00Z", "a", "suppressed", "consent")]


def test_goals_and_exits_still_apply_while_a_send_is_deferred() -> None:
    j = journey(exit_on=[{"event": "Stop"}], steps=[send("a")])
    events = [event("Start", "23:00"), event("Stop", "23:30")]
    result = run([j], events, policies(quiet_hours=QUIET), until="2026-11-24T12:00:00Z")
    assert result.actions == []
    assert result.decisions == []


def test_bypass_quiet_hours() -> None:
    j = journey(category="transactional", steps=[send("receipt")])
    policy = policies(quiet_hours=QUIET, categories={"transactional": {"bypass": ["quiet_hours"]}})
    assert sent(run([j], [event("Start", "23:00")], policy)) == [(iso("23:00"), "c-1", "receipt")]


# -- caps ----------------------------------------------------------------------------------------


def test_caps_count_emitted_sends_in_a_sliding_window() -> None:
    j = journey(reentry="after_exit", steps=[send("a")])
    policy = policies(frequency_caps=[{"channel": "any", "max": 2, "per": "24h"}])
    times = ["01:00", "02:00", "03:00", "2026-11-24T01:00:00Z", "2026-11-24T01:00:01Z"]
    result = run([j], [event("Start", t) for t in times], policy)
    # at 03:00 two are in (T-24h, T]; at 01:00 next day the 01:00 send is exactly 24h old: out
    assert [a["event_time"] for a in result.actions] == [
        iso("01:00"),
        iso("02:00"),
        "2026-11-24T01:00:00Z",
    ]
    assert [(d["event_time"], d["reason"]) for d in result.decisions] == [
        (iso("03:00"), "frequency_cap"),
        ("2026-11-24T01:00:01Z", "frequency_cap"),
    ]


def test_a_channel_cap_counts_only_that_channel() -> None:
    j = journey(steps=[send("s1", SMS), send("e1"), send("s2", SMS), send("e2")])
    policy = policies(frequency_caps=[{"channel": "sms", "max": 1, "per": "1h"}])
    result = run([j], [event("Start", "10:00")], policy)
    assert [a["step"] for a in result.actions] == ["e1", "e2", "s1"]
    assert decided(result) == [(iso("10:00"), "s2", "suppressed", "frequency_cap")]


def test_a_send_that_bypasses_the_caps_still_counts_toward_them() -> None:
    receipt = journey(id="receipt", category="transactional", priority=100, steps=[send("r")])
    promo = journey(id="promo", steps=[send("p")])
    policy = policies(
        frequency_caps=[{"channel": "any", "max": 1, "per": "24h"}],
        categories={"transactional": {"bypass": ["frequency_caps"]}},
    )
    events = [event("Start", "10:00"), event("Start", "11:00", customer="c-2")]
    result = run([receipt, promo], events, policy)
    # c-1: the receipt goes first (priority) and uses the cap; the promo is capped
    assert [(a["customer_id"], a["journey"]) for a in result.actions] == [
        ("c-1", "receipt"),
        ("c-2", "receipt"),
    ]
    assert [(d["customer_id"], d["journey"], d["reason"]) for d in result.decisions] == [
        ("c-1", "promo", "frequency_cap"),
        ("c-2", "promo", "frequency_cap"),
    ]


@pytest.mark.parametrize(
    ("specs", "winner"),
    [
        ([("alpha", 1), ("beta", 5)], "beta"),  # higher priority first
        ([("beta", 5), ("alpha", 5)], "alpha"),  # then journey id
    ],
)
def test_one_moments_sends_are_arbitrated_by_priority_then_id(
    specs: list[tuple[str, int]], winner: str
) -> None:
    js = [journey(id=jid, priority=p, steps=[send("s")]) for jid, p in specs]
    policy = policies(frequency_caps=[{"channel": "any", "max": 1, "per": "1h"}])
    result = run(js, [event("Start", "10:00")], policy)
    assert [a["journey"] for a in result.actions] == [winner]


def test_arbitration_covers_wait_for_resumes_and_new_entries_of_one_event() -> None:
    # low priority resumes in phase 2, high priority starts in phase 3: high still wins the cap
    low = journey(
        id="low",
        priority=1,
        steps=[{"id": "wf", "wait_for": {"event": "Go", "timeout": "1d"}}, send("resumed")],
    )
    high = journey(id="high", priority=9, trigger={"event": "Go"}, steps=[send("started")])
    policy = policies(frequency_caps=[{"channel": "any", "max": 1, "per": "1h"}])
    result = run([low, high], [event("Start", "09:00"), event("Go", "10:00")], policy)
    assert [a["step"] for a in result.actions] == ["started"]
    assert decided(result) == [(iso("10:00"), "resumed", "suppressed", "frequency_cap")]


def test_timer_sends_due_at_the_same_moment_are_arbitrated_together() -> None:
    a = journey(id="aa", priority=1, steps=[wait("w", "1h"), send("x")])
    b = journey(id="bb", priority=2, steps=[wait("w", "1h"), send("y")])
    policy = policies(frequency_caps=[{"channel": "any", "max": 1, "per": "1h"}])
    result = run([a, b], [event("Start", "10:00")], policy, until="12:00")
    assert [(r["event_time"], r["journey"]) for r in result.actions] == [(iso("11:00"), "bb")]


# -- holdout and policies ------------------------------------------------------------------------


def test_control_sends_pass_consent_first_and_never_count_toward_caps() -> None:
    control = next(f"c-{i}" for i in range(1000) if u(f"promo:c-{i}") < 0.5)
    promo = journey(id="promo", priority=9, holdout=0.5, steps=[send("p", SMS), send("q")])
    other = journey(id="other", steps=[send("o")])
    policy = policies(frequency_caps=[{"channel": "any", "max": 1, "per": "1h"}])
    events = [
        event("ConsentUpdated", "09:00", customer=control, channel="sms", granted=False),
        event("Start", "10:00", customer=control),
    ]
    result = run([promo, other], events, policy)
    assert [a["journey"] for a in result.actions] == ["other"]  # held-out q used no cap
    assert decided(result) == [
        (iso("10:00"), "p", "suppressed", "consent"),
        (iso("10:00"), "q", "held_out", "holdout"),
    ]


def test_deferred_sends_meet_the_caps_together_when_quiet_hours_end() -> None:
    low = journey(id="low", priority=1, steps=[send("x")])
    high = journey(id="high", priority=2, trigger={"event": "Other"}, steps=[send("y")])
    policy = policies(quiet_hours=QUIET, frequency_caps=[{"channel": "any", "max": 1, "per": "1h"}])
    events = [event("Start", "22:00"), event("Other", "23:00")]
    result = run([low, high], events, policy, until="2026-11-24T12:00:00Z")
    morning = "2026-11-24T08:00:00Z"
    assert [(a["event_time"], a["journey"]) for a in result.actions] == [(morning, "high")]
    assert decided(result) == [(morning, "x", "suppressed", "frequency_cap")]
