import pytest

from app.core.timeutil import TimeFormatError, format_ms, parse_duration, parse_rfc3339


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-23T08:00:00Z", "2026-11-23T08:00:00Z"),
        ("2026-11-23T09:00:00+01:00", "2026-11-23T08:00:00Z"),
        ("2026-11-23t08:00:00.250z", "2026-11-23T08:00:00.250Z"),
        ("2026-11-22T23:30:00-09:00", "2026-11-23T08:30:00Z"),
    ],
)
def test_rfc3339_round_trip_normalises_to_utc(text: str, expected: str) -> None:
    assert format_ms(parse_rfc3339(text)) == expected


@pytest.mark.parametrize("text", ["2026-11-23T08:00:00", "2026-11-23", "yesterday", "", 5])
def test_rfc3339_requires_a_zone(text: object) -> None:
    with pytest.raises(TimeFormatError):
        parse_rfc3339(text)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "ms"), [("90s", 90_000), ("15m", 900_000), ("2h", 7_200_000), ("7d", 604_800_000)]
)
def test_durations(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize("text", ["2", "2w", "1.5h", "-1h", "h", ""])
def test_bad_durations(text: str) -> None:
    with pytest.raises(TimeFormatError):
        parse_duration(text)
