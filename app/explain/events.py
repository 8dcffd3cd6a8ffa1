"""A customer's events as briefs ``{"event_id", "type", "time"}``, found by id or by time.

An explanation names the event behind each decision. Where the events come from depends on the
form: a replay knows the event it was handling when a record was made (trace.py); live, the
customer's events are read back from the input topics, and where those have expired, the
profile's ``recent`` list (id, type and time of the last few) and the journey state's ``seen``
ids (id and time, no type) still name them. The same event may come from several of these: the
index keeps one brief per id, with its type where any source knew it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from app.core.timeutil import format_ms

Brief = dict[str, Any]


def brief(event_id: str | None, etype: str | None, ts: int) -> Brief:
    return {"event_id": event_id, "type": etype, "time": format_ms(ts)}


class EventIndex:
    """Briefs of one customer's events by id and by time (epoch ms)."""

    def __init__(self) -> None:
        self._by_id: dict[str, tuple[int, Brief]] = {}
        self._by_time: dict[int, list[Brief]] = {}

    def add(self, event_id: str, etype: str | None, ts: int) -> None:
        known = self._by_id.get(event_id)
        if known is not None:
            if known[1]["type"] is None and etype is not None:
                known[1]["type"] = etype  # a later source knew its type
            return
        item = brief(event_id, etype, ts)
        self._by_id[event_id] = (ts, item)
        self._by_time.setdefault(ts, []).append(item)

    def add_events(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Normalised events (app.core.envelope.validate_event), or anything with the same
        ``event_id``, ``type`` and ``ts``."""
        for e in events:
            event_id, etype, ts = e.get("event_id"), e.get("type"), e.get("ts")
            if isinstance(event_id, str) and isinstance(ts, int):
                self.add(event_id, etype if isinstance(etype, str) else None, ts)

    def add_profile(self, profile: Mapping[str, Any] | None) -> None:
        """The profile's ``recent`` list: [ts, event_id, type, props] (app/core/handoff.py)."""
        for item in (profile or {}).get("recent") or ():
            if isinstance(item, list) and len(item) >= 3:
                ts, event_id, etype = item[0], item[1], item[2]
                if isinstance(ts, int) and isinstance(event_id, str):
                    self.add(event_id, etype if isinstance(etype, str) else None, ts)

    def add_seen(self, jstate: Mapping[str, Any] | None) -> None:
        """The journey state's remembered ids (app/core/duplicates.py): ids and times only."""
        seen = (jstate or {}).get("seen") or {}
        for event_id, ts in seen.items():
            if isinstance(ts, int):
                self.add(event_id, None, ts)

    def get(self, event_id: str | None) -> Brief | None:
        if event_id is None:
            return None
        found = self._by_id.get(event_id)
        return dict(found[1]) if found is not None else None

    def at(self, ts: int, etype: str | None = None) -> list[Brief]:
        """The events at exactly ``ts``; of type ``etype`` when given (an unknown type may be
        it: such briefs are kept when no brief of the type is known)."""
        found = self._by_time.get(ts) or []
        if etype is None:
            return [dict(b) for b in found]
        typed = [dict(b) for b in found if b["type"] == etype]
        return typed or [{**b, "type": etype} for b in found if b["type"] is None]
