"""Envelope validation and normalisation, with the fast path for normalised UTC timestamps."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core import envelope
from app.core.envelope import InvalidEvent, decode_event, validate_event
from app.core.timeutil import TimeFormatError, format_ms, parse_rfc3339

# 1000-01-01 .. 9999-12-31, in epoch ms (format_ms does not pad years below 1000)
LOW, HIGH = -30_610_224_000_000, 253_402_300_799_999


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
