"""Issue 17: each event type's properties are checked against its schema
(topics/schemas/properties), and a failure names the path of the problem."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.envelope import InvalidEvent, decode_event
from app.core.event_properties import (
    PROPERTIES_DIR,
    PropertyProblem,
    PropertyRules,
    rules,
    use_rules,
)
from app.core.journeys.vocabulary import EVENT_TYPES

ORDER = {
    "order_id": "o-1",
    "total": 12.5,
    "items": [{"product_id": "p", "quantity": 1, "price": 12.5}],
}


def problem(rules_: PropertyRules, kind: str, properties: dict) -> tuple[str, str] | None:
    try:
        rules_.check(kind, properties)
    except PropertyProblem as exc:
        return exc.reason, exc.path
    return None


def test_a_wrong_type_is_refused_with_its_path_in_every_mode_but_off() -> None:
    for mode in ("types", "strict"):
        r = PropertyRules.load(mode)
        assert problem(r, "OrderPlaced", ORDER) is None
        assert problem(r, "OrderPlaced", {**ORDER, "total": "12.50"}) == (
            "properties of OrderPlaced: properties.total must be number",
            "properties.total",
        )
        items = [{"product_id": "p", "price": "free"}]
        assert problem(r, "OrderPlaced", {**ORDER, "items": items}) == (
            "properties of OrderPlaced: properties.items[0].price must be number",
            "properties.items[0].price",
        )
    assert problem(PropertyRules.load("off"), "OrderPlaced", {"total": "x"}) is None


def test_required_fields_are_enforced_only_when_strict() -> None:
    assert problem(PropertyRules.load("types"), "OrderPlaced", {"total": 3}) is None
    assert problem(PropertyRules.load("strict"), "OrderPlaced", {"total": 3}) == (
        "properties of OrderPlaced: properties.order_id is required",
        "properties.order_id",
    )


def test_unknown_types_pass_unless_rejected() -> None:
    assert problem(PropertyRules.load(), "LoyaltyTierChanged", {"tier": 3}) is None
    reason, path = problem(PropertyRules.load(reject_unknown=True), "LoyaltyTierChanged", {}) or (
        "",
        "",
    )
    assert reason.startswith("unknown event type 'LoyaltyTierChanged'") and path == "type"
    with pytest.raises(ValueError, match="not one of types, strict, off"):
        PropertyRules.load("lenient")


def test_every_documented_type_with_a_payload_has_a_schema_and_each_schema_a_type() -> None:
    schemas = {p.name.removesuffix(".schema.json") for p in PROPERTIES_DIR.glob("*.schema.json")}
    assert schemas <= set(EVENT_TYPES)
    # traits (Identify, ProfileUpdated) are free; the rest name their fields
    payload_free = {"Identify", "ProfileUpdated", "Unsubscribed", "OnboardingStepCompleted"}
    payload_free.add("ErasureRequested")  # Segue's own, written by `segue forget`
    assert set(EVENT_TYPES) - schemas <= payload_free


def test_the_envelope_dead_letters_a_broken_property_with_its_path() -> None:
    raw = orjson.dumps(
        {
            "event_id": "e",
            "type": "CartAbandoned",
            "customer_id": "c",
            "timestamp": "2026-03-02T10:00:00Z",
            "properties": {"cart_value": "lots"},
        }
    )
    with pytest.raises(InvalidEvent) as caught:
        decode_event(raw)
    assert (
        caught.value.reason == "properties of CartAbandoned: properties.cart_value must be number"
    )
    assert caught.value.path == "properties.cart_value"
    before = rules()
    try:
        use_rules(PropertyRules.load("off"))
        assert decode_event(raw)["properties"] == {"cart_value": "lots"}
    finally:
        use_rules(before)


property_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(-5, 5, allow_nan=False),
    st.text(max_size=3),
    st.lists(st.integers(0, 3), max_size=2),
    st.lists(
        st.fixed_dictionaries({"price": st.one_of(st.integers(), st.text(max_size=2))}), max_size=2
    ),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


@settings(max_examples=600, deadline=None)
@given(
    kind=st.sampled_from(sorted(rules().validators)),
    mode=st.sampled_from(["types", "strict"]),
    properties=st.dictionaries(
        st.sampled_from(
            [
                "order_id",
                "total",
                "items",
                "cart_value",
                "duration_s",
                "price",
                "text",
                "granted",
                "channel",
                "score",
                "session_id",
                "x",
            ]
        ),
        property_values,
        max_size=5,
    ),
)
def test_the_plain_check_never_passes_what_the_schema_refuses(
    kind: str, mode: str, properties: dict
) -> None:
    r = RULES[mode]
    if r.plain[kind].passes(properties):
        # (in ``types`` a null counts as absent: the validator is given the rest)
        given = {k: v for k, v in properties.items() if v is not None or mode == "strict"}
        r.validators[kind](given)  # must not raise


RULES = {mode: PropertyRules.load(mode) for mode in ("types", "strict")}


def test_the_common_events_take_the_plain_check() -> None:
    r = RULES["types"]
    assert r.plain["PageViewed"].passes({"session_id": "s", "duration_s": 3.5, "url": "/p"})
    assert r.plain["OrderPlaced"].passes({"order_id": "o", "total": 3})
    assert not r.plain["OrderPlaced"].passes({"order_id": "o", "total": 3, "items": []})  # nested
    assert not r.plain["PageViewed"].passes({"duration_s": -1})  # the validator says why
