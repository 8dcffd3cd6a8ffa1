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


def format_ms(ms: int) -> str:
    """Format epoch milliseconds as RFC 3339 UTC: seconds, plus .mmm only when non-zero."""
    moment = _EPOCH + timedelta(milliseconds=ms)
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    frac = ms % 1_000
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
