"""Quiet hours in local time, across midnight and daylight-saving changes."""

from __future__ import annotations

import pytest

from app.core.journeys.quiet_hours import QuietHours, QuietHoursError, parse_clock
from app.core.timeutil import format_ms, parse_rfc3339


@pytest.mark.parametrize(
    ("now", "zone", "until"),
    [
        # 23:00 CET on the night clocks go forward: quiet ends at 08:00 CEST = 06:00 UTC
        ("2026-03-28T22:00:00Z", "Europe/Paris", "2026-03-29T06:00:00Z"),
        # the night clocks go back: 08:00 CET = 07:00 UTC
        ("2026-10-24T22:00:00Z", "Europe/Paris", "2026-10-25T07:00:00Z"),
        # 00:30 local, after midnight: quiet ends at 08:00 the same local day
        ("2026-11-23T15:30:00Z", "Asia/Tokyo", "2026-11-23T23:00:00Z"),
        ("2026-11-23T23:30:00Z", "Asia/Tokyo", None),  # 08:30 local
        ("2026-11-23T12:00:00Z", "Europe/Paris", None),
    ],
)
def test_quiet_until(now: str, zone: str, until: str | None) -> None:
    quiet = QuietHours("21:00", "08:00", "UTC", "defer")
    result = quiet.quiet_until(parse_rfc3339(now), zone)
    assert (None if result is None else format_ms(result)) == until


def test_bad_zones_fall_back_to_the_default() -> None:
    quiet = QuietHours("21:00", "08:00", "Asia/Tokyo", "drop")
    now = parse_rfc3339("2026-11-23T13:00:00Z")  # 22:00 in Tokyo, 13:00 UTC
    assert quiet.quiet_until(now, "Not/AZone") == parse_rfc3339("2026-11-23T23:00:00Z")
    assert quiet.quiet_until(now, 42) == parse_rfc3339("2026-11-23T23:00:00Z")
    assert quiet.quiet_until(now, "UTC") is None


@pytest.mark.parametrize("text", ["8:00", "24:00", "12:60", "noon", "12"])
def test_clock_times_are_hh_mm(text: str) -> None:
    with pytest.raises(QuietHoursError):
        parse_clock(text)
