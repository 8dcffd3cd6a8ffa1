"""Issue 13: no single record stops the pipeline. Whatever the bytes, the envelope returns an
event that can be forwarded (written again as JSON) or refuses it with a reason; the limits
and the event-time window say why; the DLQ record stays within what a producer can send; a
profile stays bounded; a failure of ours on one record goes to the DLQ and the batch goes on."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.dlq import ORIGINAL_MAX, dlq_reason, dlq_value_and_headers
from app.core.envelope import (
    MAX_DEPTH,
    MAX_KEYS,
    MAX_STRING,
    InvalidEvent,
    decode_event,
)
from app.core.event_time import DAY_MS, EventTimeWindow
from app.core.profile import MAX_ATTRIBUTE_BYTES, MAX_ATTRIBUTES, fold, new_profile
from app.core.timeutil import parse_rfc3339
from tests.unit.test_journey_agent import T0, events, processor, run

GOOD = {"event_id": "e-1", "type": "PageViewed", "customer_id": "c-1"}
WHEN = "2026-03-02T10:00:00Z"


def envelope(**fields: Any) -> bytes:
    return orjson.dumps({**GOOD, "timestamp": WHEN, **fields})


def reason(raw: bytes) -> str:
    with pytest.raises(InvalidEvent) as caught:
        decode_event(raw)
    return caught.value.reason


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


# -- the poison pills of the fault probe -------------------------------------------------------


@pytest.mark.parametrize("levels", [255, 600, 1_000, 1_099])
def test_deep_nesting_is_refused_with_a_reason(levels: int) -> None:
    text = b'{"a":' * levels + b"1" + b"}" * levels
    raw = envelope()[:-1] + b',"properties":' + text + b"}"
    assert "nested deeper" in reason(raw) or "bad JSON" in reason(raw)


@pytest.mark.parametrize(
    "timestamp",
    [
        "9999-12-31T23:59:59-23:59",  # overflows once in UTC
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+23:59",
        "2200-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
    ],
)
def test_timestamps_out_of_range_are_refused(timestamp: str) -> None:
    assert reason(envelope(timestamp=timestamp)).startswith("timestamp out of range")


def test_the_range_keeps_what_producers_send() -> None:
    for timestamp in (
        "1970-01-01T00:00:00Z",
        "2199-12-31T23:59:59.999Z",
        "2026-03-02T10:00:00+02:00",
    ):
        assert decode_event(envelope(timestamp=timestamp))["ts"] == parse_rfc3339(timestamp)


@pytest.mark.parametrize("field", ["customer_id", "anonymous_id", "event_id"])
def test_ids_with_control_characters_cannot_collide_with_internal_keys(field: str) -> None:
    assert "control character" in reason(envelope(**{field: "\u0000clock/1"}))
    assert "control character" in reason(envelope(**{field: "c\n1"}))


def test_other_unicode_ids_pass() -> None:
    assert decode_event(envelope(customer_id="kund\u00e9-\u00a01"))["key"] == "kund\u00e9-\u00a01"


def test_limits_on_properties_and_context() -> None:
    assert "nested deeper" in reason(envelope(properties=nested(MAX_DEPTH + 1)))
    decode_event(envelope(properties=nested(MAX_DEPTH - 1)))
    many = {f"k{i}": i for i in range(MAX_KEYS + 1)}
    assert "more than" in reason(envelope(properties=many))
    assert "more than" in reason(envelope(context={"list": list(range(MAX_KEYS + 1))}))
    assert "a string of" in reason(envelope(properties={"text": "x" * (MAX_STRING + 1)}))
    assert "a string of" in reason(envelope(properties={"deep": {"text": "x" * (MAX_STRING + 1)}}))
    decode_event(envelope(properties={"text": "x" * MAX_STRING, "n": list(range(100))}))


def test_an_oversize_event_is_refused_before_it_is_parsed() -> None:
    big = envelope(properties={"blob": "x" * (2 * 1024 * 1024)})
    assert reason(big).startswith("oversize payload")


# -- the fuzz test: arbitrary bytes and arbitrary JSON -----------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=40,
)


def accepted_or_refused(raw: bytes) -> None:
    try:
        event = decode_event(raw)
    except InvalidEvent as exc:
        assert exc.reason
        return
    # what is accepted can be forwarded and stored: orjson writes it back
    assert orjson.loads(orjson.dumps(event)) == event


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_anything_but_invalid_event(raw: bytes) -> None:
    accepted_or_refused(raw)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_arbitrary_json_never_raises_anything_but_invalid_event(value: Any) -> None:
    accepted_or_refused(json.dumps(value).encode())  # (json writes integers orjson would not)


@settings(max_examples=400, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "event_id": json_values,
            "type": json_values,
            "customer_id": json_values,
            "anonymous_id": json_values,
            "timestamp": st.one_of(
                json_values,
                st.datetimes().map(lambda d: d.isoformat() + "Z"),
                st.from_regex(
                    r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}([+-][0-9]{2}:[0-9]{2}|Z)\Z"
                ),
            ),
            "properties": json_values,
            "context": json_values,
        },
    )
)
def test_arbitrary_envelopes_never_raise_anything_but_invalid_event(value: dict[str, Any]) -> None:
    accepted_or_refused(json.dumps(value).encode())  # (json writes integers orjson would not)


# -- the event-time window ---------------------------------------------------------------------


def test_the_window_refuses_far_future_and_far_past() -> None:
    window = EventTimeWindow(ahead_ms=7 * DAY_MS, behind_ms=30 * DAY_MS)
    assert window.problem(T0, T0, T0) is None
    assert "too far ahead" in (window.problem(T0 + 8 * DAY_MS, T0, T0) or "")
    assert "too far behind" in (window.problem(T0 - 31 * DAY_MS, T0, T0) or "")
    # a new partition: the record's own timestamp is "now"
    assert "too far ahead" in (window.problem(T0 + 8 * DAY_MS, 0, T0) or "")
    # history published in order passes however old (its partition's time is its own)
    assert window.problem(T0 - 3_000 * DAY_MS, 0, T0) is None
    assert window.problem(T0 - 2_999 * DAY_MS, T0 - 3_000 * DAY_MS, T0) is None
    # nothing known: nothing to compare with
    assert window.problem(T0 + 900 * DAY_MS, 0, None) is None
    off = EventTimeWindow(ahead_ms=0, behind_ms=0)
    assert off.problem(T0 + 900 * DAY_MS, T0, T0) is None
    assert off.problem(T0 - 900 * DAY_MS, T0, T0) is None


# -- the DLQ record and the profile stay bounded ------------------------------------------------


def test_a_dead_letter_keeps_the_head_and_the_hash_of_a_record_over_the_topic_limit() -> None:
    import hashlib

    huge = b"x" * (3 * 1024 * 1024)
    value, headers = dlq_value_and_headers("oversize payload", huge, "events", 0, 7, T0)
    said = dlq_reason(headers)
    assert value == huge[:ORIGINAL_MAX]
    assert said["original-size"] == str(len(huge))
    assert said["original-sha256"] == hashlib.sha256(huge).hexdigest()
    assert len(value) + sum(len(k) + len(v or b"") for k, v in headers) < 4 * 1024 * 1024
    original = [("traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01"), ("x", None)]
    small, kept = dlq_value_and_headers("bad JSON", b"{", "events", 0, 8, None, original)
    assert small == b"{" and kept[:2] == original  # the original's headers first, as they were
    said = dlq_reason(kept)
    assert said == {"reason": "bad JSON", "topic": "events", "partition": "0", "offset": "8"}


def test_a_profile_keeps_at_most_its_attribute_budget() -> None:
    profile = new_profile("c-1")
    big = {
        "ts": T0,
        "type": "ProfileUpdated",
        "event_id": "e",
        "properties": {"bio": "x" * 1_000_000},
    }
    fold(profile, big)
    assert "bio" not in profile["attributes"]
    many = {f"a{i}": i for i in range(MAX_ATTRIBUTES + 50)}
    fold(profile, {"ts": T0 + 1, "type": "Identify", "event_id": "f", "properties": many})
    assert len(profile["attributes"]) == MAX_ATTRIBUTES
    # known names still update; nothing new beyond the budget
    fold(
        profile,
        {"ts": T0 + 2, "type": "Identify", "event_id": "g", "properties": {"a0": "new", "zz": 1}},
    )
    assert profile["attributes"]["a0"] == "new" and "zz" not in profile["attributes"]
    assert len(orjson.dumps(profile)) < MAX_ATTRIBUTES * MAX_ATTRIBUTE_BYTES


def test_six_megabyte_trait_events_leave_a_small_profile() -> None:
    profile = new_profile("c-1")
    for i in range(6):
        props = {f"blob{i}": "y" * 1_000_000, "plan": f"p{i}"}
        fold(
            profile,
            {"ts": T0 + i, "type": "ProfileUpdated", "event_id": f"e{i}", "properties": props},
        )
    assert profile["attributes"] == {"plan": "p5"}
    assert len(orjson.dumps(profile)) < 10_000


# -- a bug of ours on one record ----------------------------------------------------------------


def test_a_failure_in_the_engine_dead_letters_that_record_and_the_batch_goes_on() -> None:
    p, sink, store, _clocks = processor()
    stream = events(40)
    poison = stream[10]["event_id"]
    handle = p.engine.handle_event

    def failing(profile: Any, jstate: Any, event: dict[str, Any]) -> Any:
        if event["event_id"] == poison:
            raise ZeroDivisionError("a bug")
        return handle(profile, jstate, event)

    p.engine.handle_event = failing  # type: ignore[method-assign]
    run(p, store, stream)
    dead = [
        (v, dlq_reason(h))
        for (topic, _k, v), h in zip(sink.sent, sink.headers, strict=True)
        if topic.endswith("dlq")
    ]
    assert len(dead) == 1
    value, said = dead[0]
    assert said["reason"].startswith("internal error in journeys (ZeroDivisionError: a bug)")
    assert orjson.loads(value)["event_id"] == poison
    # every other event was folded
    folded = sum(sum(r["profile"]["counts"].values()) for r in store.records.values())
    assert folded == len(stream) - 1
