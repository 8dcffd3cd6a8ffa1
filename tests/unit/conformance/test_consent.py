"""Spec "Policies": consent modes (opt_in / opt_out per channel and category), unsubscribe and
its scope, and "time since" (``profile.last_event_at`` and ``now``). Expected sends by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.conformance.harness import event, ok, replay, ts
from tests.unit.conformance.test_policies import send_journey

MODES = """\
consent:
  sms: opt_in
  push: opt_in
categories:
  transactional:
    consent: {email: opt_out, sms: opt_out}
"""


def test_opt_in_channels_need_an_explicit_grant_and_opt_out_ones_an_explicit_no(
    tmp_path: Path,
) -> None:
    """Marketing SMS and push opt-in, transactional SMS opt-out, email opt-out everywhere."""
    journeys = [
        send_journey("promo_sms", "sms"),
        send_journey("promo_push", "push"),
        send_journey("promo_email", "email"),
        send_journey("tx_sms", "sms", category="transactional"),
    ]
    run = ok(replay(tmp_path, journeys, [event("e1", "A", ts("10:00"))], policies=MODES))
    # no consent record at all: only the opt-out sends go
    assert sorted(s[2] for s in run.sends()) == ["promo_email", "tx_sms"]
    assert sorted((d[2], d[4]) for d in run.why()) == [
        ("s_promo_push", "consent"),
        ("s_promo_sms", "consent"),
    ]


def test_an_explicit_grant_opens_an_opt_in_channel_and_a_no_closes_every_mode(
    tmp_path: Path,
) -> None:
    journeys = [
        send_journey("promo_sms", "sms"),
        send_journey("tx_sms", "sms", category="transactional"),
    ]
    events = [
        event("e0", "ConsentUpdated", ts("09:00"), channel="sms", granted=True),
        event("e1", "A", ts("10:00")),
        event("e2", "ConsentUpdated", ts("11:00"), channel="sms", granted=False),
        event("e3", "A", ts("12:00")),
    ]
    policies = MODES + "  promotional: {}\n"
    run = ok(replay(tmp_path, journeys, events, policies=policies))
    assert run.sends() == [
        (ts("10:00"), "c1", "promo_sms", "s_promo_sms"),
        (ts("10:00"), "c1", "tx_sms", "s_tx_sms"),
    ]
    assert sorted((d[0], d[2], d[4]) for d in run.why()) == [
        (ts("12:00"), "s_promo_sms", "consent"),
        (ts("12:00"), "s_tx_sms", "consent"),
    ]


def test_any_sets_every_channel_not_named_and_without_modes_the_default_stands(
    tmp_path: Path,
) -> None:
    journeys = [send_journey("e", "email"), send_journey("w", "webhook"), send_journey("s", "sms")]
    policies = "consent: {any: opt_in, webhook: opt_out}\n"
    run = ok(replay(tmp_path, journeys, [event("e1", "A", ts("10:00"))], policies=policies))
    assert [s[2] for s in run.sends()] == ["w"]
    plain = ok(replay(tmp_path / "plain", journeys, [event("e1", "A", ts("10:00"))]))
    assert sorted(s[2] for s in plain.sends()) == ["e", "s", "w"]


def test_unsubscribed_withdraws_promotional_sends_on_every_channel_not_transactional(
    tmp_path: Path,
) -> None:
    journeys = [
        send_journey("p_email", "email"),
        send_journey("p_push", "push"),
        send_journey("t_email", "email", category="transactional"),
        send_journey("s_email", "email", category="service"),
    ]
    events = [event("e0", "Unsubscribed", ts("09:00")), event("e1", "A", ts("10:00"))]
    run = ok(replay(tmp_path, journeys, events))
    assert sorted(s[2] for s in run.sends()) == ["s_email", "t_email"]
    assert sorted((d[2], d[3], d[4]) for d in run.why()) == [
        ("s_p_email", "suppressed", "unsubscribed"),
        ("s_p_push", "suppressed", "unsubscribed"),
    ]


def test_an_unsubscribe_naming_a_channel_or_a_category_withdraws_only_that(
    tmp_path: Path,
) -> None:
    journeys = [
        send_journey("p_email", "email"),
        send_journey("p_sms", "sms"),
        send_journey("s_email", "email", category="service"),
    ]
    by_channel = ok(
        replay(
            tmp_path / "a",
            journeys,
            [
                event("e0", "Unsubscribed", ts("09:00"), channel="sms"),
                event("e1", "A", ts("10:00")),
            ],
        )
    )
    assert sorted(s[2] for s in by_channel.sends()) == ["p_email", "s_email"]
    by_category = ok(
        replay(
            tmp_path / "b",
            journeys,
            [
                event("e0", "Unsubscribed", ts("09:00"), category="service"),
                event("e1", "A", ts("10:00")),
            ],
        )
    )
    assert sorted(s[2] for s in by_category.sends()) == ["p_email", "p_sms"]
    assert by_category.why() == [(ts("10:00"), "c1", "s_s_email", "suppressed", "unsubscribed")]


def test_a_later_grant_lifts_an_unsubscribe_for_that_channel_only(tmp_path: Path) -> None:
    journeys = [send_journey("p_email", "email"), send_journey("p_push", "push")]
    events = [
        event("e0", "Unsubscribed", ts("09:00")),
        event("e1", "ConsentUpdated", ts("09:30"), channel="email", granted=True),
        event("e2", "A", ts("10:00")),
    ]
    run = ok(replay(tmp_path, journeys, events))
    assert [s[2] for s in run.sends()] == ["p_email"]
    assert run.why() == [(ts("10:00"), "c1", "s_p_push", "suppressed", "unsubscribed")]
    # a grant made before the unsubscribe lifts nothing
    earlier = ok(
        replay(
            tmp_path / "earlier",
            journeys,
            [
                event("e1", "ConsentUpdated", ts("08:30"), channel="email", granted=True),
                event("e0", "Unsubscribed", ts("09:00")),
                event("e2", "A", ts("10:00")),
            ],
        )
    )
    assert earlier.sends() == []


TIME_SINCE = """\
categories:
  promotional:
    suppress_when: >-
      "TicketOpened" in profile.last_event_at
      && now - profile.last_event_at["TicketOpened"] < duration("1h")
"""


@pytest.mark.parametrize(
    ("opened", "suppressed"),
    [("09:00:01", True), ("09:00", False), ("08:30", False), ("09:59:59", True)],
)
def test_no_promotion_within_an_hour_of_a_ticket_at_the_boundary(
    tmp_path: Path, opened: str, suppressed: bool
) -> None:
    """``now - last_event_at < 1h`` with the send at 10:00: a ticket at 09:00:01 is within the
    hour, one at exactly 09:00 is not (1h is not < 1h)."""
    events = [
        event("t", "TicketOpened", ts(opened), ticket_id="x"),
        event("t2", "TicketClosed", ts(opened), ticket_id="x"),
        event("e1", "A", ts("10:00")),
    ]
    run = ok(replay(tmp_path, [send_journey()], events, policies=TIME_SINCE))
    if suppressed:
        assert run.sends() == []
        assert run.why() == [(ts("10:00"), "c1", "s_j", "suppressed", "category")]
    else:
        assert run.sends() == [(ts("10:00"), "c1", "j", "s_j")]


def test_now_is_the_due_time_in_a_timer_moment(tmp_path: Path) -> None:
    """After ``wait: 2h`` the send's moment is 12:00: ``now`` is that, not the trigger's 10:00."""
    j = (
        "id: j\nversion: 1\ntrigger: {event: A}\nsteps:\n"
        "  - {id: w, wait: 2h}\n"
        "  - id: b\n    branch:\n"
        '      - when: \'now - profile.last_event_at["A"] >= duration("2h")\'\n'
        "        goto: s\n"
        "      - goto: end\n"
        "  - {id: s, send: {channel: email, template: t}}\n"
    )
    run = ok(replay(tmp_path, [j], [event("e1", "A", ts("10:00"))], until=ts("13:00")))
    assert run.sends() == [(ts("12:00"), "c1", "j", "s")]


def test_journeys_validate_knows_now(tmp_path: Path) -> None:
    j = (
        "id: j\nversion: 1\ntrigger: {event: A, when: 'now > timestamp(\"2026-01-01T00:00:00Z\")'}\n"
        "steps:\n  - {id: s, send: {channel: email, template: t}}\n"
    )
    run = ok(replay(tmp_path, [j], [event("e1", "A", ts("10:00"))]))
    assert run.sends() == [(ts("10:00"), "c1", "j", "s")]
