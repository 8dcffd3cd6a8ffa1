"""The event-time window: how far from its partition's time an event may be dated.

A partition's time drives its timers (docs/live.md, "Timers"): one event dated far ahead would
move it there for good, and every wait on the partition would fire at once. One dated far behind
would enter journeys whose waits are long past due. Both are producers' bugs (a wrong clock, a
unit mix-up); they go to the dead-letter topic with the reason instead of into the state.

The reference is the partition's time as ingest sees it: the newest event time handled on the
input partition, and for the far-future side also the record's own broker timestamp (the
producer's clock when it sent the record, or the broker's append time), so a sparse or new
partition still has a sensible "now". The far-past side uses event time only, so history
published in time order (a backfill, a data set) passes however old it is.

Pure: the live ingest (app/worker/ingest.py) calls it with its reference; replay from a file has
no record timestamps and orders events by time, so there only the envelope's fixed range
(app/core/envelope.py) applies.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.timeutil import format_ms

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class EventTimeWindow:
    """Events dated more than ``ahead_ms`` after, or more than ``behind_ms`` before, their
    partition's time are refused; 0 turns a side off."""

    ahead_ms: int = 7 * DAY_MS
    behind_ms: int = 30 * DAY_MS

    def problem(self, ts: int, newest_ms: int, record_ms: int | None) -> str | None:
        """Why the event at ``ts`` is out of the window, else None. ``newest_ms``: the newest
        event time handled on the partition (0: none yet); ``record_ms``: the record's
        timestamp (None or negative: unknown)."""
        if self.ahead_ms:
            now = max(newest_ms, record_ms or 0)
            if now and ts > now + self.ahead_ms:
                return (
                    f"timestamp too far ahead: {format_ms(ts)} is more than "
                    f"{self.ahead_ms // 3_600_000} h after the partition's time {format_ms(now)}"
                )
        if self.behind_ms and newest_ms and ts < newest_ms - self.behind_ms:
            return (
                f"timestamp too far behind: {format_ms(ts)} is more than "
                f"{self.behind_ms // 3_600_000} h before the partition's time {format_ms(newest_ms)}"
            )
        return None
