"""Envelope validation and normalisation, with the fast path for normalised UTC timestamps."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core import envelope
from app.core.envelope import InvalidEvent, decode_event, validate_event
from app.core.timeutil import TimeFormatError, format_ms, parse_rfc3339

# 1970-01-01 .. 2199-12-31: the range events may be dated (envelope.MIN_TS, MAX_TS)
LOW, HIGH = envelope.MIN_TS, envelope.MAX_TS - 1


def envelope_with(timestamp: Any, **fields: Any) -> dict[str, Any]:
    obj = {"event_id": "e-1", "type": "A", "timestamp": timestamp, "customer_id": "c-1"}
    obj.update(fields)
    return obj


@given(st.integers(LOW, HIGH))
def test_normalised_timestamps_take_the_fast_path_and_round_trip(ms: int) -> None:
    text = format_ms(ms)
    assert envelope._canonical_ms(text) == ms
    event = validate_event(envelope_with(text))
    assert (event["ts"], event["timestamp"]) == (ms, text)


@given(
    st.integers(LOW + 86_400_000, HIGH - 86_400_000),
    st.sampled_from(["Z", "z", "+00:00", "+05:30", "-08:00"]),
    st.sampled_from(["", ".0", ".000", ".5", ".123456", ".999"]),
    st.sampled_from(["T", "t", " "]),
)
def test_any_rfc3339_form_normalises_like_the_full_parser(
    ms: int, zone: str, fraction: str, separator: str
) -> None:
    base = format_ms(ms - ms % 1000)[:19].replace("T", separator)
    text = f"{base}{fraction}{zone}"
    expected = parse_rfc3339(text)
    event = validate_event(envelope_with(text))
    assert (event["ts"], event["timestamp"]) == (expected, format_ms(expected))


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("2026-03-02T10:00:00.000Z", "2026-03-02T10:00:00Z"),
        ("2026-03-02T10:00:00.500Z", "2026-03-02T10:00:00.500Z"),
        ("2026-03-02T10:00:00.5Z", "2026-03-02T10:00:00.500Z"),
        ("2026-03-02T11:00:00+01:00", "2026-03-02T10:00:00Z"),
        ("2026-03-02t10:00:00z", "2026-03-02T10:00:00Z"),
    ],
)
def test_timestamps_are_normalised_to_utc(text: str, normalised: str) -> None:
    assert validate_event(envelope_with(text))["timestamp"] == normalised


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-02T10:00:00",  # no zone
        "2026-02-30T10:00:00Z",  # no such day
        "2026-03-02T24:00:00Z",
        "2026-03-02T10:60:00Z",
        "2026-03-02T23:59:60Z",  # leap seconds are not accepted
        "2026-03-02T10:00:00.1234Z" + "x",
        "٢٠٢٦-03-02T10:00:00Z",  # non-ASCII digits
        "2026-03-02",
    ],
)
def test_bad_timestamps_are_invalid(text: str) -> None:
    with pytest.raises(TimeFormatError):
        parse_rfc3339(text)  # the full parser refuses it ...
    assert envelope._canonical_ms(text) is None  # ... and so does the fast path
    with pytest.raises(InvalidEvent, match="timestamp"):
        validate_event(envelope_with(text))


def test_non_string_timestamp_is_invalid() -> None:
    with pytest.raises(InvalidEvent):
        validate_event(envelope_with(1_772_445_600_000))


def test_normalised_event_fields() -> None:
    event = decode_event(
        b'{"event_id":"e","type":"T","timestamp":"2026-03-02T10:00:00Z","anonymous_id":"a-1"}'
    )
    assert event == {
        "event_id": "e",
        "type": "T",
        "customer_id": None,
        "anonymous_id": "a-1",
        "timestamp": "2026-03-02T10:00:00Z",
        "properties": {},
        "context": {},
        "ts": parse_rfc3339("2026-03-02T10:00:00Z"),
        "key": "a-1",
    }


@pytest.mark.parametrize(
    "obj",
    [
        {"type": "A", "timestamp": "2026-03-02T10:00:00Z", "customer_id": "c"},
        {"event_id": "e", "timestamp": "2026-03-02T10:00:00Z", "customer_id": "c"},
        {"event_id": "e", "type": "A", "customer_id": "c"},
        {"event_id": "e", "type": "A", "timestamp": "2026-03-02T10:00:00Z"},
        [1, 2],
    ],
)
def test_required_fields(obj: Any) -> None:
    with pytest.raises(InvalidEvent):
        validate_event(obj)


def _field(valid: Any, *edges: Any) -> st.SearchStrategy[Any]:
    """Mostly a valid value, sometimes one at or past the schema's edges: each example is a
    valid envelope with a field or two off, where a too-lax fast check would show."""
    return st.one_of(st.just(valid), st.just(valid), st.sampled_from(edges))


_EDGE_TEXT = ("", "x" * 256, "x" * 257, 7, None, ["e"])
_ENVELOPES = st.fixed_dictionaries(
    {
        "event_id": _field("e-1", *_EDGE_TEXT),
        "type": _field("CartAbandoned", "", "t" * 128, "t" * 129, 1.5, None),
        "customer_id": _field("c-1", "", "c" * 256, "c" * 257, 3, None),
        "anonymous_id": _field(None, "", "a-1", "a" * 256, "a" * 257, False),
        "timestamp": st.one_of(
            st.integers(LOW, HIGH).map(format_ms),
            st.sampled_from(["2026-11-23T08:00:00+01:00", "2026-11-23T08:00:00.000Z", "", 5]),
        ),
        "properties": _field({"cart_value": 1}, None, [], "p", 0),
        "context": _field({}, None, [1], "c", True),
    }
)


_ABSENT = st.one_of(
    st.just(set()),
    st.just(set()),
    st.sets(st.sampled_from(["event_id", "type", "timestamp", "customer_id"]), max_size=2),
)


@settings(max_examples=400)
@given(_ENVELOPES, _ABSENT)
def test_the_plain_form_check_accepts_only_what_the_schema_accepts(
    obj: dict[str, Any], absent: set[str]
) -> None:
    """The fast check is a subset of event.schema.json: what it passes, the schema passes, and
    its time is the full parser's."""
    for name in absent:
        obj.pop(name)
    fast = envelope._plainly_valid(obj)
    try:
        envelope._validate(obj)
        schema_ok = True
    except Exception:
        schema_ok = False
    if fast is not None:
        assert schema_ok, obj
        assert fast == parse_rfc3339(obj["timestamp"])


def test_the_plain_form_check_takes_the_common_envelope() -> None:
    obj = envelope_with("2026-11-23T08:00:00Z", properties={"a": 1}, context={}, anonymous_id=None)
    assert envelope._plainly_valid(obj) == parse_rfc3339("2026-11-23T08:00:00Z")


_NESTED = st.recursive(
    st.one_of(st.integers(0, 9), st.text(max_size=3)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=6), st.dictionaries(st.text(max_size=2), inner, max_size=6)
    ),
    max_leaves=40,
)


@settings(max_examples=300)
@given(st.integers(0, envelope.MAX_DEPTH + 3), _NESTED)
def test_a_payload_small_enough_to_skip_the_walk_never_hides_a_problem(
    depth: int, leaf: Any
) -> None:
    """The size proof (``_small_enough``) only ever skips walks that would find nothing, also
    at the depth limit, where a small payload can nest too deep."""
    value = leaf
    for _ in range(depth):
        value = {"k": value}
    obj = envelope_with("2026-11-23T08:00:00Z", properties={"p": value}, context={"c": [value]})
    raw = orjson.dumps(obj)
    if envelope._small_enough(raw):
        assert envelope._shape_problem(obj["properties"], "properties") is None
        assert envelope._shape_problem(obj["context"], "context") is None
    walked: Any
    try:
        walked = validate_event(obj)
    except InvalidEvent as exc:
        walked = exc.reason
    try:
        decoded: Any = decode_event(raw)
    except InvalidEvent as exc:
        decoded = exc.reason
    assert decoded == walked


def test_a_small_payload_nested_too_deep_is_still_refused() -> None:
    value: Any = 1
    for _ in range(envelope.MAX_DEPTH + 1):
        value = [value]
    raw = orjson.dumps(envelope_with("2026-11-23T08:00:00Z", properties={"p": value}))
    assert len(raw) < 200
    with pytest.raises(InvalidEvent, match="nested deeper"):
        decode_event(raw)


@given(st.integers(-(10**13), 10**14))
def test_format_ms_writes_what_datetime_writes(ms: int) -> None:
    """The cached formatter against the plain datetime one, before 1970 too."""
    from datetime import UTC, datetime, timedelta

    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    expected = f"{base}.{ms % 1000:03d}Z" if ms % 1000 else f"{base}Z"
    assert format_ms(ms) == expected
    assert format_ms(ms) == expected  # and again, from the cache
