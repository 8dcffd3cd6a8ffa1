"""Event time as integer epoch milliseconds, RFC 3339 at the edges.

The core keeps time as ``int`` milliseconds since the epoch (UTC): cheap to compare, hash and
store. Parsing and formatting happen only at the boundaries, always timezone-aware.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DURATION = re.compile(r"^([0-9]+)([smhd])$")
_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
# RFC 3339 date-time: a zone (Z or +hh:mm) is mandatory; 'T' may be 't' or ' ' per the RFC.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


class TimeFormatError(ValueError):
    """A timestamp or duration is not in the accepted format."""


def parse_rfc3339(text: str) -> int:
    """Parse an RFC 3339 timestamp *with zone* into epoch milliseconds (UTC)."""
    if not isinstance(text, str) or not _RFC3339.match(text):
        raise TimeFormatError(f"not an RFC 3339 timestamp with a zone: {text!r}")
    normalised = text.replace("t", "T").replace(" ", "T")
    if normalised[-1] in "Zz":
        normalised = normalised[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(normalised)
    except ValueError as exc:
        raise TimeFormatError(f"invalid timestamp {text!r}: {exc}") from exc
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000 + delta.microseconds // 1_000


_DATES: dict[int, str] = {}  # day since the epoch -> "YYYY-MM-DD"
_SECONDS: dict[int, str] = {}  # second since the epoch -> "YYYY-MM-DDTHH:MM:SS"


def format_ms(ms: int) -> str:
    """Format epoch milliseconds as RFC 3339 UTC: seconds, plus .mmm only when non-zero.

    strftime on a datetime cost ~4 us a call, and every action and outcome record formats its
    time: seconds already formatted come from a bounded cache (~0.5 us), others from the day's
    cached date and integer arithmetic (~1.7 us)."""
    second, frac = divmod(ms, 1_000)
    base = _SECONDS.get(second)
    if base is None:
        day, rest = divmod(second, 86_400)
        date = _DATES.get(day)
        if date is None:
            if len(_DATES) >= 4_096:
                _DATES.clear()
            date = _DATES[day] = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d")
        hour, rest = divmod(rest, 3_600)
        minute, sec = divmod(rest, 60)
        if len(_SECONDS) >= 65_536:
            _SECONDS.clear()
        base = _SECONDS[second] = f"{date}T{hour:02d}:{minute:02d}:{sec:02d}"
    return f"{base}.{frac:03d}Z" if frac else f"{base}Z"


def to_datetime(ms: int) -> datetime:
    """Epoch milliseconds to an aware UTC datetime (for CEL timestamps)."""
    return _EPOCH + timedelta(milliseconds=ms)


def from_datetime(moment: datetime) -> int:
    """An aware datetime to epoch milliseconds; naive datetimes are refused."""
    if moment.tzinfo is None:
        raise TimeFormatError("naive datetime: Segue only accepts timezone-aware datetimes")
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000 + delta.microseconds // 1_000


def parse_duration(text: str) -> int:
    """Parse a duration such as ``90s``, ``15m``, ``2h`` or ``7d`` into milliseconds."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if not match:
        raise TimeFormatError(
            f"invalid duration {text!r}: expected an integer and a unit s, m, h or d (e.g. 2h)"
        )
    return int(match.group(1)) * _UNIT_MS[match.group(2)]
