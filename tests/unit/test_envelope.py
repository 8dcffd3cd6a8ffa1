"""Envelope validation: every bad input is an InvalidEvent with a reason, never a crash."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.envelope import MAX_EVENT_BYTES, InvalidEvent, decode_event, validate_event

GOOD = {
    "event_id": "e-1",
    "type": "CartAbandoned",
    "customer_id": "c-42",
    "anonymous_id": None,
    "timestamp": "2026-11-23T09:00:00+01:00",
    "properties": {"cart_value": 129.5},
    "context": {"channel": "web"},
}


def test_a_valid_envelope_is_normalised() -> None:
    event = decode_event(orjson.dumps(GOOD))
    assert event["timestamp"] == "2026-11-23T08:00:00Z"
    assert event["ts"] == 1_795_420_800_000
    assert event["key"] == "c-42"
    assert event["properties"] == {"cart_value": 129.5}


def test_anonymous_only_events_are_keyed_by_the_anonymous_id() -> None:
    event = validate_event({**GOOD, "customer_id": None, "anonymous_id": "a-9"})
    assert event["key"] == "a-9"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "bad JSON"),
        (b"[1, 2]", "envelope must be a JSON object"),
        (b'"text"', "envelope must be a JSON object"),
        (orjson.dumps({**GOOD, "event_id": 7}), "schema"),
        (orjson.dumps({k: v for k, v in GOOD.items() if k != "type"}), "schema"),
        (orjson.dumps({k: v for k, v in GOOD.items() if k != "timestamp"}), "schema"),
        (orjson.dumps({**GOOD, "customer_id": None}), "missing id"),
        (orjson.dumps({**GOOD, "customer_id": "", "anonymous_id": ""}), "missing id"),
        (orjson.dumps({**GOOD, "timestamp": "2026-11-23T08:00:00"}), "schema"),
        (orjson.dumps({**GOOD, "timestamp": "2026-02-30T08:00:00Z"}), "timestamp"),
        (orjson.dumps({**GOOD, "properties": [1]}), "schema"),
        (b"x" * (MAX_EVENT_BYTES + 1), "oversize payload"),
        (None, "empty value"),
    ],
)
def test_bad_input_is_rejected_with_a_reason(raw: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        decode_event(raw)
    assert info.value.reason.startswith(reason)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(raw: bytes) -> None:
    try:
        decode_event(raw)
    except InvalidEvent as exc:
        assert exc.reason


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(st.dictionaries(st.sampled_from([*GOOD, "extra"]), json_values, max_size=8))
def test_arbitrary_objects_are_either_valid_or_rejected(obj: dict[str, Any]) -> None:
    try:
        event = validate_event(obj)
    except InvalidEvent as exc:
        assert exc.reason
        return
    assert isinstance(event["key"], str) and event["key"]
    assert event["timestamp"].endswith("Z")
    assert isinstance(event["properties"], dict) and isinstance(event["context"], dict)
