"""Session folding rules (app/core/session.py) and their wiring into profile folding."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from app.core.profile import fold, new_profile
from app.core.session import SESSION_GAP_MS, fold_session

T0 = 1_790_000_000_000  # some moment in 2026 (epoch ms)
MIN = 60_000


def ev(etype: str, ts: int, **props: Any) -> dict[str, Any]:
    return {"type": etype, "ts": ts, "properties": props}


def started(ts: int = T0, **props: Any) -> dict[str, Any]:
    base = {
        "session_id": "s1",
        "visitor_type": "Returning_Visitor",
        "operating_system": 2,
        "browser": 3,
        "region": 4,
        "traffic_type": 5,
    }
    return ev("SessionStarted", ts, **{**base, **props})


def page(ts: int, kind: str = "administrative", **props: Any) -> dict[str, Any]:
    return ev("PageViewed", ts, page_type=kind, **props)


def test_session_started_opens_a_session_with_the_device_fields() -> None:
    profile = new_profile("c")
    fold_session(profile, started())
    s = profile["session"]
    assert (s["id"], s["start"], s["last"], s["visitor"]) == ("s1", T0, T0, "Returning_Visitor")
    assert (s["os"], s["browser"], s["region"], s["traffic"]) == (2, 3, 4, 5)
    assert (s["pages"], s["n"], s["dur"]) == (0, [0, 0, 0], [0.0, 0.0, 0.0])


def test_page_views_accumulate_per_kind_and_product_views_are_product_pages() -> None:
    profile = new_profile("c")
    fold_session(profile, started())
    fold_session(
        profile, page(T0 + MIN, "administrative", duration_s=10, bounce_rate=0.1, exit_rate=0.2)
    )
    fold_session(profile, page(T0 + 2 * MIN, "informational", duration_s=5.5, page_value=3))
    fold_session(profile, ev("ProductViewed", T0 + 3 * MIN, duration_s=7, page_value=12.5))
    fold_session(profile, page(T0 + 4 * MIN, "product_related", duration_s=1, exit_rate=0.05))
    s = profile["session"]
    assert s["n"] == [1, 1, 2]
    assert s["dur"] == [10.0, 5.5, 8.0]
    assert s["pages"] == 4
    assert (s["bounce"], s["exit"], s["value"]) == (0.1, 0.25, 15.5)
    assert s["last"] == T0 + 4 * MIN


def test_a_gap_over_30_minutes_starts_a_returning_session_on_the_same_device() -> None:
    profile = new_profile("c")
    fold_session(profile, started(visitor_type="New_Visitor"))
    fold_session(profile, page(T0 + SESSION_GAP_MS))  # exactly 30 min: same session
    assert profile["session"]["pages"] == 1
    later = T0 + 2 * SESSION_GAP_MS + 1
    fold_session(profile, page(later, "informational", duration_s=3))
    s = profile["session"]
    assert (s["start"], s["pages"], s["n"], s["visitor"]) == (
        later,
        1,
        [0, 1, 0],
        "Returning_Visitor",
    )
    assert (s["os"], s["browser"], s["region"], s["traffic"]) == (2, 3, 4, 5)


def test_a_new_session_started_resets_the_counters() -> None:
    profile = new_profile("c")
    fold_session(profile, started())
    fold_session(profile, page(T0 + MIN))
    fold_session(profile, started(T0 + 2 * MIN, session_id="s2", visitor_type="Other"))
    s = profile["session"]
    assert (s["id"], s["pages"], s["visitor"], s["start"]) == ("s2", 0, "Other", T0 + 2 * MIN)


def test_a_page_view_naming_another_session_starts_it() -> None:
    profile = new_profile("c")
    fold_session(profile, started())
    fold_session(profile, page(T0 + MIN, session_id="s1"))
    fold_session(profile, page(T0 + 2 * MIN, session_id="s9"))
    assert (profile["session"]["id"], profile["session"]["pages"]) == ("s9", 1)


def test_a_page_view_without_any_session_opens_a_new_visitor_session() -> None:
    profile = new_profile("c")
    fold_session(profile, page(T0, "product_related", duration_s=4))
    s = profile["session"]
    assert (s["visitor"], s["pages"], s["n"], s["start"]) == ("New_Visitor", 1, [0, 0, 1], T0)


def test_session_started_without_visitor_type_infers_it_from_history() -> None:
    profile = new_profile("c")
    fold_session(profile, ev("SessionStarted", T0))
    assert profile["session"]["visitor"] == "New_Visitor"
    fold_session(profile, ev("SessionStarted", T0 + 5 * MIN, visitor_type="Bogus"))
    assert profile["session"]["visitor"] == "Returning_Visitor"


def test_unknown_page_kinds_and_bad_numbers_are_ignored() -> None:
    profile = new_profile("c")
    fold_session(profile, started())
    fold_session(profile, page(T0 + MIN, "checkout", duration_s=100))
    assert profile["session"]["pages"] == 0
    fold_session(
        profile,
        page(T0 + MIN, duration_s=-5, bounce_rate="0.3", exit_rate=True, page_value=float("inf")),
    )
    s = profile["session"]
    assert (s["pages"], s["dur"], s["bounce"], s["exit"], s["value"]) == (
        1,
        [0.0, 0.0, 0.0],
        0.0,
        0.0,
        0.0,
    )


def test_late_events_count_but_never_move_time_backwards() -> None:
    profile = new_profile("c")
    fold_session(profile, started())
    fold_session(profile, page(T0 + 10 * MIN))
    fold_session(profile, page(T0 + 5 * MIN))  # late, within the session
    fold_session(profile, page(T0 - MIN))  # before the session began: not part of it
    s = profile["session"]
    assert (s["pages"], s["last"], s["start"]) == (2, T0 + 10 * MIN, T0)


def test_other_events_leave_the_session_alone() -> None:
    profile = new_profile("c")
    fold_session(profile, ev("CartUpdated", T0, cart_value=3))
    assert "session" not in profile


def test_profile_fold_keeps_the_session() -> None:
    profile = new_profile("c")
    for event in (started(), page(T0 + MIN, duration_s=2)):
        fold(profile, event)
    assert profile["session"]["pages"] == 1
    assert profile["counts"] == {"SessionStarted": 1, "PageViewed": 1}


_kinds = st.sampled_from(["administrative", "informational", "product_related", "other"])
_events = st.lists(
    st.one_of(
        st.builds(lambda dt: started(T0 + dt), st.integers(0, 10**8)),
        st.builds(
            lambda dt, kind, d: page(T0 + dt, kind, duration_s=d, page_value=d),
            st.integers(-(10**6), 10**8),
            _kinds,
            st.one_of(st.floats(allow_nan=True), st.integers(-5, 5), st.none()),
        ),
    ),
    max_size=40,
)


@given(_events)
def test_session_invariants_hold_for_any_event_sequence(events: list[dict[str, Any]]) -> None:
    profile = new_profile("c")
    for event in events:
        fold_session(profile, event)
    s = profile.get("session")
    if s is None:
        return
    assert s["pages"] == sum(s["n"])
    assert s["start"] <= s["last"]
    assert all(d >= 0.0 for d in s["dur"])
    assert min(s["bounce"], s["exit"], s["value"]) >= 0.0
