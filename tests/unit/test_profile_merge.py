"""Merging an anonymous profile into a customer's (app/core/profile_merge.py, core/stamps.py)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from app.core.profile import fold, new_profile
from app.core.profile_merge import merge_profiles
from app.core.stamps import restamp, time_of

# fields the rules say are order-independent when no two competing writes share a time
BY_RULE = ("counts", "first_seen", "last_seen", "attributes", "consent", "lifetime_value")


def ev(etype: str, ts: int, key: str = "c-1", **props: Any) -> dict[str, Any]:
    return {"type": etype, "ts": ts, "properties": props, "key": key}


def fold_all(events: list[dict[str, Any]], key: str = "c-1") -> dict[str, Any]:
    profile = new_profile(key)
    for event in events:
        fold(profile, event)
    return profile


def merged(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return merge_profiles(copy.deepcopy(a), copy.deepcopy(b))


def times(profile: dict[str, Any], field: str, stamps: str) -> dict[str, int | None]:
    return {name: time_of(profile.get(stamps), name) for name in profile[field]}


# -- fold keeps per-key times ---------------------------------------------------------------


def test_an_older_event_never_overwrites_a_newer_value() -> None:
    profile = fold_all(
        [
            ev("ProfileUpdated", 200, plan="gold", tier=2),
            ev("ProfileUpdated", 100, plan="free", email="a@x"),  # late: only email is new
            ev("ConsentUpdated", 300, channel="sms", granted=False),
            ev("ConsentUpdated", 250, channel="sms", granted=True),  # late: ignored
        ]
    )
    assert profile["attributes"] == {"plan": "gold", "tier": 2, "email": "a@x"}
    assert times(profile, "attributes", "attr_ts") == {"plan": 200, "tier": 200, "email": 100}
    assert profile["consent"] == {"sms": False}
    assert times(profile, "consent", "consent_ts") == {"sms": 300}


def test_at_equal_times_the_event_processed_later_wins() -> None:
    profile = fold_all([ev("ProfileUpdated", 5, plan="a"), ev("Identify", 5, plan="b")])
    assert profile["attributes"]["plan"] == "b"


def test_times_are_stored_as_the_common_time_plus_exceptions() -> None:
    traits = {f"t{i}": i for i in range(20)}
    profile = fold_all([ev("Identify", 10, email="a@x"), ev("ProfileUpdated", 20, **traits)])
    assert profile["attr_ts"] == [20, {"email": 10}]


def test_values_of_a_profile_stored_before_times_were_kept_are_older_than_any_event() -> None:
    legacy = new_profile("c-1")
    legacy["attributes"] = {"plan": "gold", "email": "a@x"}
    fold(legacy, ev("ProfileUpdated", 1, plan="free"))
    assert legacy["attributes"] == {"plan": "free", "email": "a@x"}
    assert times(legacy, "attributes", "attr_ts") == {"plan": 1, "email": None}
    other = fold_all([ev("ProfileUpdated", 0, email="b@x")])
    assert merged(legacy, other)["attributes"]["email"] == "b@x"  # timed beats untimed
    assert merged(other, legacy)["attributes"]["email"] == "b@x"


def test_restamp_keeps_the_latest_of_equally_common_times() -> None:
    assert restamp({"a": 1, "b": 2}, None, {"a": 5, "b": 7}) == [7, {"a": 5}]
    assert restamp({"a": 1}, None, {"a": None}) == [0, {"a": None}]


# -- merge rules ----------------------------------------------------------------------------


def test_each_field_merges_by_its_rule() -> None:
    customer = fold_all(
        [
            ev("Identify", 1_000, email="c@x", plan="gold"),
            ev("ConsentUpdated", 1_100, channel="email", granted=True),
            ev("OrderPlaced", 1_200, total=30),
            ev("TicketOpened", 1_300),
        ]
    )
    anonymous = fold_all(
        [
            ev("PageViewed", 500, "a-1", page_type="informational", session_id="s1"),
            ev("ProfileUpdated", 1_050, "a-1", plan="free", timezone="Europe/Paris"),
            ev("ConsentUpdated", 900, "a-1", channel="email", granted=False),  # older: loses
            ev("ConsentUpdated", 1_400, "a-1", channel="sms", granted=False),
            ev("OrderPlaced", 1_500, "a-1", total=12.5),
            ev("TicketOpened", 1_600, "a-1"),
        ],
        "a-1",
    )
    out = merged(customer, anonymous)
    assert out["id"] == "c-1"
    assert out["counts"] == {
        "Identify": 1,
        "ConsentUpdated": 3,
        "OrderPlaced": 2,
        "TicketOpened": 2,
        "PageViewed": 1,
        "ProfileUpdated": 1,
    }
    assert (out["first_seen"], out["last_seen"]) == (500, 1_600)
    assert out["attributes"] == {"email": "c@x", "plan": "free", "timezone": "Europe/Paris"}
    assert out["consent"] == {"email": True, "sms": False}
    assert (out["open_tickets"], out["lifetime_value"]) == (2, 42.5)
    assert out["session"] == anonymous["session"]


def test_the_newer_session_is_kept() -> None:
    def browsed(key: str, ts: int, sid: str) -> dict[str, Any]:
        return fold_all([ev("SessionStarted", ts, key, session_id=sid, visitor_type="Other")], key)

    old, new = browsed("c-1", 100, "s-old"), browsed("a-1", 200, "s-new")
    assert merged(old, new)["session"]["id"] == "s-new"
    assert merged(new, old)["session"]["id"] == "s-new"
    assert merged(old, fold_all([], "a-1"))["session"]["id"] == "s-old"


def test_merging_an_empty_profile_changes_nothing() -> None:
    customer = fold_all([ev("Identify", 3, email="c@x"), ev("OrderPlaced", 4, total=2)])
    assert merged(customer, new_profile("a-1")) == customer


def test_unknown_keys_of_the_other_side_are_kept() -> None:
    other = new_profile("a-1")
    other["future_field"] = {"x": 1}
    assert merged(new_profile("c-1"), other)["future_field"] == {"x": 1}


# -- properties -------------------------------------------------------------------------------

ANON_TYPES = ["PageViewed", "ProductViewed", "SessionStarted", "CartUpdated", "ProfileUpdated"]
ANON_TYPES += ["ConsentUpdated", "OrderPlaced", "TicketOpened"]
CUSTOMER_TYPES = ["ProfileUpdated", "ConsentUpdated", "OrderPlaced", "TicketOpened"]
CUSTOMER_TYPES += ["TicketClosed", "CheckoutStarted"]


def _event(etype: str, ts: int, key: str, pick: int) -> dict[str, Any]:
    props: dict[str, Any] = {
        "ProfileUpdated": {["plan", "timezone", "tenure"][pick % 3]: pick},
        "ConsentUpdated": {"channel": ["sms", "email"][pick % 2], "granted": pick % 3 == 0},
        "OrderPlaced": {"total": pick},
        "PageViewed": {"page_type": "product_related", "session_id": f"s{pick % 2}"},
        "ProductViewed": {"session_id": f"s{pick % 2}", "duration_s": pick},
        "SessionStarted": {"session_id": f"s{pick % 2}", "visitor_type": "New_Visitor"},
    }.get(etype, {})
    return ev(etype, ts, key, **props)


def side(types: list[str], key: str) -> Any:
    """Events of one side; times are given later (unique over both sides)."""
    return st.lists(st.tuples(st.sampled_from(types), st.integers(0, 99)), max_size=15)


def timed(specs: list[tuple[str, int]], key: str, times_: list[int]) -> list[dict[str, Any]]:
    return [_event(t, ts, key, pick) for (t, pick), ts in zip(specs, times_, strict=True)]


@st.composite
def two_sides(draw: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Anonymous and customer events with distinct times, each side in time order."""
    anon = draw(side(ANON_TYPES, "a-1"))
    cust = draw(side(CUSTOMER_TYPES, "c-1"))
    stamps = draw(
        st.lists(
            st.integers(0, 10**8),
            min_size=len(anon) + len(cust),
            max_size=len(anon) + len(cust),
            unique=True,
        )
    )
    a_times = sorted(stamps[: len(anon)])
    c_times = sorted(stamps[len(anon) :])
    return timed(anon, "a-1", a_times), timed(cust, "c-1", c_times)


def pick(profile: dict[str, Any], fields: tuple[str, ...] = BY_RULE) -> dict[str, Any]:
    out = {f: profile[f] for f in fields}
    out["attr_times"] = times(profile, "attributes", "attr_ts")
    out["consent_times"] = times(profile, "consent", "consent_ts")
    return out


@given(two_sides())
def test_merge_is_symmetric_where_the_rules_say(sides: Any) -> None:
    anon, cust = sides
    a, c = fold_all(anon, "a-1"), fold_all(cust, "c-1")
    ac, ca = merged(a, c), merged(c, a)
    assert pick(ac) == pick(ca)
    assert ac["open_tickets"] == ca["open_tickets"]
    assert ac.get("session") == ca.get("session")  # only the anonymous side browses


@given(two_sides(), two_sides())
def test_merge_is_associative_where_the_rules_say(one: Any, two: Any) -> None:
    p, q, r = fold_all(one[0], "a-1"), fold_all(one[1], "c-1"), fold_all(two[1], "c-2")
    left = merged(merged(p, q), r)
    right = merged(p, merged(q, r))
    # times may coincide across the two draws: compare what does not depend on ties
    for f in ("counts", "first_seen", "last_seen", "lifetime_value", "open_tickets"):
        assert left[f] == right[f]


@given(two_sides())
def test_merging_the_two_folds_equals_folding_everything_into_one(sides: Any) -> None:
    anon, cust = sides
    everything = sorted(anon + cust, key=lambda e: e["ts"])
    whole = fold_all([e for e in everything if e["type"] != "TicketClosed"])
    parts = merged(
        fold_all([e for e in cust if e["type"] != "TicketClosed"]), fold_all(anon, "a-1")
    )
    assert pick(parts) == pick(whole)
    assert parts["open_tickets"] == whole["open_tickets"]


@given(two_sides(), st.data())
def test_identify_before_between_or_after_the_anonymous_events_gives_one_profile(
    sides: Any, data: Any
) -> None:
    """The stream's three cases: the anonymous events processed before the Identify build the
    anonymous profile, which merges when the Identify links it; those after are re-keyed to
    the customer and fold into the merged profile."""
    anon, cust = sides
    used = {e["ts"] for e in anon + cust}
    at = data.draw(st.integers(0, 10**8).filter(lambda t: t not in used))
    identify = ev("Identify", at, "c-1", email="c@x", plan="x")
    results = []
    for position in (0, len(anon) // 2, len(anon)):
        customer = fold_all([*cust, identify])
        anonymous = fold_all(anon[:position], "a-1")
        merge_profiles(customer, anonymous)
        for event in anon[position:]:
            fold(customer, event)
        results.append(customer)
    first = results[0]
    for other in results[1:]:
        assert pick(other, (*BY_RULE, "open_tickets", "id")) == pick(
            first, (*BY_RULE, "open_tickets", "id")
        )
        assert other.get("session") == first.get("session")
