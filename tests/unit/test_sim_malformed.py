"""Malformed records: the requested share, every documented kind, all rejected."""

from __future__ import annotations

import orjson
import pytest

from app.core.envelope import MAX_EVENT_BYTES, InvalidEvent, decode_event, validate_event
from app.core.timeutil import TimeFormatError, parse_rfc3339
from app.sim import DEFAULT_START_MS, simulate
from app.sim.malformed import KINDS, kind_of

REASON_PREFIX = {
    "bad JSON": "bad_json",
    "envelope must be a JSON object": "not_object",
    "schema:": "wrong_type or missing",
    "missing id": "missing_id",
    "timestamp:": "bad_time",
    "oversize payload": "oversize",
}


def _reason_kind(raw: bytes) -> str:
    with pytest.raises(InvalidEvent) as caught:
        decode_event(raw)
    for prefix, kind in REASON_PREFIX.items():
        if caught.value.reason.startswith(prefix):
            return kind
    raise AssertionError(f"unexpected reason {caught.value.reason!r}")


@pytest.mark.parametrize("rate", [0.001, 0.02, 0.3])
def test_malformed_share_is_exact_and_all_are_rejected(rate: float) -> None:
    records = list(simulate(5, 100.0, 60.0, DEFAULT_START_MS, malformed_rate=rate))
    bad = [r for r in records if isinstance(r, bytes)]
    assert len(records) == 6000
    assert len(bad) == int(6000 * rate)
    for raw in bad:
        assert b"\n" not in raw
        _reason_kind(raw)
    for event in records:
        if isinstance(event, dict):
            validate_event(event)


def test_fifty_malformed_cover_every_kind_including_one_oversize() -> None:
    records = list(simulate(9, 50.0, 100.0, DEFAULT_START_MS, malformed_rate=0.01))
    bad = [r for r in records if isinstance(r, bytes)]
    assert len(bad) == 50
    seen = {_reason_kind(raw) for raw in bad}
    assert seen == set(REASON_PREFIX.values())
    oversize = [raw for raw in bad if len(raw) > MAX_EVENT_BYTES]
    assert len(oversize) == 1


def test_kinds_cycle_and_oversize_is_rare() -> None:
    kinds = [kind_of(k) for k in range(1000)]
    assert set(kinds[:6]) == set(KINDS)
    assert kinds.count("oversize") == 2  # the 50th and the 550th
    assert kinds[49] == kinds[549] == "oversize"


def test_malformed_records_keep_their_slot_in_time() -> None:
    # Parsable malformed records with a good timestamp sit in timestamp order with the rest.
    records = list(simulate(3, 100.0, 30.0, DEFAULT_START_MS, malformed_rate=0.2))
    stamps = []
    for record in records:
        obj = record if isinstance(record, dict) else _maybe(record)
        if isinstance(obj, dict) and isinstance(obj.get("timestamp"), str):
            try:
                stamps.append(parse_rfc3339(obj["timestamp"]))
            except TimeFormatError:
                continue  # a bad_time record
    assert len(stamps) > len(records) * 0.8
    assert stamps == sorted(stamps)


def _maybe(raw: bytes) -> object:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
