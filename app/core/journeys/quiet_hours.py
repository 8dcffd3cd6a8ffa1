"""Quiet hours in the customer's time zone: is a moment quiet, and when does the quiet end.

Quiet means ``start <= local time < end``, wrapping midnight when start > end; start == end
means no quiet hours at all. A zone name that zoneinfo does not know falls back to the
policy's default zone (itself falling back to UTC), so a bad profile attribute never stops a send.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.core.timeutil import from_datetime, to_datetime


class QuietHoursError(ValueError):
    """A quiet-hours clock time is not ``HH:MM`` (or ``HH:MM:SS``)."""


def parse_clock(text: str) -> int:
    """``"21:00"`` -> seconds after local midnight."""
    parts = str(text).split(":")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) not in (2, 3) or not all(len(p) == 2 for p in parts):
        raise QuietHoursError(f"invalid clock time {text!r}: expected HH:MM")
    h, m, s = [*numbers, 0][:3]
    if not (0 <= h < 24 and 0 <= m < 60 and 0 <= s < 60):
        raise QuietHoursError(f"invalid clock time {text!r}")
    return h * 3600 + m * 60 + s


@lru_cache(maxsize=1024)
def zone(name: object) -> ZoneInfo | None:
    """The zone for an IANA name, or None when the name is not a known zone."""
    if not isinstance(name, str) or not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


class QuietHours:
    __slots__ = ("action", "default_zone", "end", "start")

    def __init__(self, start: str, end: str, default_timezone: str | None, action: str) -> None:
        self.start = parse_clock(start)
        self.end = parse_clock(end)
        self.default_zone = zone(default_timezone or "UTC") or UTC
        if action not in ("defer", "drop"):
            raise QuietHoursError(f"quiet_hours.action must be defer or drop, not {action!r}")
        self.action = action

    def quiet_until(self, now_ms: int, zone_name: object) -> int | None:
        """None when ``now_ms`` is not quiet there, else the epoch ms at which the quiet ends."""
        start, end = self.start, self.end
        if start == end:
            return None
        tz = zone(zone_name) or self.default_zone
        local = to_datetime(now_ms).astimezone(tz)
        clock = local.hour * 3600 + local.minute * 60 + local.second
        if start < end:
            if not start <= clock < end:
                return None
            day = local.date()
        else:
            if end <= clock < start:
                return None
            day = local.date() if clock < end else local.date() + timedelta(days=1)
        h, rest = divmod(end, 3600)
        m, s = divmod(rest, 60)
        end_local = datetime(day.year, day.month, day.day, h, m, s, tzinfo=tz)
        # A DST gap can put the wall-clock end "before" now; time must still move forward.
        return max(from_datetime(end_local), now_ms + 1)
