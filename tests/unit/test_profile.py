"""Folding events into the unified profile (the pure core of the profiles agent)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from app.core.profile import MAX_CONSENT_TRAIL, fold, new_profile
from app.core.profile_merge import merge_profiles


def ev(etype: str, ts: int, **props: Any) -> dict[str, Any]:
    return {"type": etype, "ts": ts, "properties": props, "key": "c-1"}


def fold_all(events: list[dict[str, Any]]) -> dict[str, Any]:
    profile = new_profile("c-1")
    for event in events:
        fold(profile, event)
    return profile


def test_each_field_follows_the_spec() -> None:
    profile = fold_all(
        [
            ev("Identify", 300, email="a@x", plan="free"),
            ev("ProfileUpdated", 400, plan="gold", timezone="Europe/Paris"),
            ev("ConsentUpdated", 500, channel="sms", granted=False),
            ev("ConsentUpdated", 600, channel="email", granted=True),
            ev("TicketOpened", 700),
            ev("TicketOpened", 710),
            ev("TicketClosed", 720),
            ev("OrderPlaced", 100, total=20.5),
            ev("OrderPlaced", 800, total=4),
            ev("OrderPlaced", 810, total="12"),  # not a number: not counted into value
        ]
    )
    assert profile["attributes"] == {"email": "a@x", "plan": "gold", "timezone": "Europe/Paris"}
    assert profile["consent"] == {"sms": False, "email": True}
    assert profile["open_tickets"] == 1
    assert profile["lifetime_value"] == 24.5
    assert profile["counts"]["OrderPlaced"] == 3
    assert (profile["first_seen"], profile["last_seen"]) == (100, 810)


def test_open_tickets_never_go_below_zero() -> None:
    assert fold_all([ev("TicketClosed", 1), ev("TicketClosed", 2)])["open_tickets"] == 0


def test_consent_ignores_malformed_choices() -> None:
    profile = fold_all(
        [
            ev("ConsentUpdated", 1, channel="sms", granted="no"),
            ev("ConsentUpdated", 2, granted=True),
        ]
    )
    assert profile["consent"] == {}


TYPES = ["PageViewed", "OrderPlaced", "TicketOpened", "TicketClosed", "ConsentUpdated"]
events_strategy = st.lists(
    st.builds(
        lambda t, ts, total: ev(t, ts, total=total, channel="sms", granted=ts % 2 == 0),
        st.sampled_from(TYPES),
        st.integers(0, 10**12),
        st.integers(0, 1000),
    ),
    max_size=40,
)


@given(events_strategy)
def test_invariants_hold_for_any_stream(events: list[dict[str, Any]]) -> None:
    profile = fold_all(events)
    assert sum(profile["counts"].values()) == len(events)
    assert profile["open_tickets"] >= 0
    if events:
        assert profile["first_seen"] == min(e["ts"] for e in events)
        assert profile["last_seen"] == max(e["ts"] for e in events)


@given(events_strategy, st.randoms())
def test_counts_value_and_seen_do_not_depend_on_order(
    events: list[dict[str, Any]], rnd: Any
) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)
    a, b = fold_all(events), fold_all(shuffled)
    for field in ("counts", "first_seen", "last_seen", "lifetime_value"):
        assert a[field] == b[field]


def _ev(eid: str, etype: str, ts: int, **props: object) -> dict[str, object]:
    return {"event_id": eid, "type": etype, "ts": ts, "properties": props}


def test_last_event_at_keeps_the_latest_time_of_each_type_whatever_the_order() -> None:
    p = new_profile("c")
    for e in (_ev("a", "TicketOpened", 500), _ev("b", "TicketOpened", 300), _ev("c", "X", 100)):
        fold(p, e)
    assert p["last_event_at"] == {"TicketOpened": 500, "X": 100}
    old = new_profile("c")
    del old["last_event_at"]  # a profile stored before the field existed
    assert fold(old, _ev("d", "Y", 7))["last_event_at"] == {"Y": 7}


def test_the_consent_trail_records_every_change_in_event_time() -> None:
    p = new_profile("c")
    fold(p, _ev("e2", "ConsentUpdated", 200, channel="sms", granted=True))
    fold(p, _ev("e1", "ConsentUpdated", 100, channel="sms", granted=False))  # late, older
    fold(p, _ev("e3", "Unsubscribed", 300, channel="email"))
    assert [
        (c["at"], c["event_id"], c["type"], c["channel"], c["granted"]) for c in p["consent_trail"]
    ] == [
        (100, "e1", "ConsentUpdated", "sms", False),
        (200, "e2", "ConsentUpdated", "sms", True),
        (300, "e3", "Unsubscribed", "email", False),
    ]
    assert p["consent"] == {"sms": True}  # the older choice arrived late: it does not win
    assert p["unsubscribed"] == [
        {"channel": "email", "category": "promotional", "at": 300, "event_id": "e3", "lifted": []}
    ]
    for i in range(150):
        fold(p, _ev(f"x{i:03d}", "ConsentUpdated", 1000 + i, channel="push", granted=True))
    assert len(p["consent_trail"]) == MAX_CONSENT_TRAIL
    assert p["consent_trail"][-1]["event_id"] == "x149"


def test_merging_keeps_both_sides_consent_records() -> None:
    a, b = new_profile("c"), new_profile("anon")
    fold(a, _ev("a1", "TicketOpened", 100))
    fold(a, _ev("a2", "Unsubscribed", 150))
    fold(b, _ev("b1", "TicketOpened", 400))
    fold(b, _ev("b2", "ConsentUpdated", 120, channel="sms", granted=True))
    fold(b, _ev("b3", "Unsubscribed", 130, channel="push"))
    merged = merge_profiles(a, b)
    assert merged["last_event_at"]["TicketOpened"] == 400
    assert [c["event_id"] for c in merged["consent_trail"]] == ["b2", "b3", "a2"]
    assert {(u["channel"], u["category"]) for u in merged["unsubscribed"]} == {
        (None, "promotional"),
        ("push", "promotional"),
    }
