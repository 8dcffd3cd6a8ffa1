"""Merging two profiles of one person: an anonymous visitor's profile folded into a customer's.

``merge_profiles(into, other)`` writes the union into ``into`` (in place, like ``fold``) and
returns it. ``into`` keeps its ``id``. Field by field:

``counts``           summed per event type
``first_seen``       the earlier; ``last_seen`` the later (None counts as absent)
``attributes``       per name, the value with the later time (``attr_ts``, core/stamps.py; an
                     untimed value is older than any timed one); equal times keep ``into``'s
``consent``          per channel, the later explicit choice by ``consent_ts``; ties as above
``open_tickets``     summed (each side's tickets are that side's; both counts are >= 0)
``lifetime_value``   summed
``session``          the newer session, by (``last``, ``start``); ties keep ``into``'s. Sessions
                     are not joined: two devices browsing at once are two sessions, and the
                     intent model reads the one the person is on now
``recent``,          the newest of both sides by (time, event id), as if one profile had seen
``transcript``       every event (core/handoff.py)
``sentiment_window`` likewise the newest scored texts of both sides, ``sentiment`` their mean;
``surveys``          per survey the later answer by (time, event id) (core/sentiment.py)
``last_event_at``    per event type, the later time
``consent_trail``    both trails as one, in (time, event id) order, the latest MAX_CONSENT_TRAIL
``unsubscribed``     both sides' standing unsubscribes; per (channel, category) the later one
other keys           ``into``'s value, else ``other``'s (forward compatibility)

Order independence (``merge(a, b)`` equals ``merge(b, a)`` except ``id``; and merging the two
folds equals folding all the events into one profile) holds for counts, seen times and lifetime
value always, and for attributes and consent when no two competing writes share a time. It holds
for ``open_tickets`` unless a ``TicketClosed`` was clamped at 0 on one side, and for ``session``
when only one side browsed or the sessions do not overlap in time.
"""

from __future__ import annotations

import copy
from typing import Any

from app.core.handoff import merge_handoff
from app.core.profile import MAX_CONSENT_TRAIL, Profile
from app.core.sentiment import merge_feedback
from app.core.stamps import restamp, time_of

_MERGED = frozenset(
    {
        "id",
        "attributes",
        "attr_ts",
        "counts",
        "first_seen",
        "last_seen",
        "consent",
        "consent_ts",
        "open_tickets",
        "lifetime_value",
        "session",
        "recent",
        "transcript",
        "last_event_at",
        "consent_trail",
        "unsubscribed",
        "sentiment",
        "sentiment_window",
        "surveys",
    }
)


def _by_time(into: Profile, other: Profile, field: str, stamps_field: str) -> None:
    """Last writer wins per name, by event time; ``into`` wins ties and untimed rivals."""
    values = into[field]
    stamps = into.get(stamps_field)
    other_stamps = other.get(stamps_field)
    written: dict[str, int | None] = {}
    for name, value in other[field].items():
        theirs = time_of(other_stamps, name)
        if name in values:
            ours = time_of(stamps, name)
            if theirs is None or (ours is not None and ours >= theirs):
                continue
        values[name] = copy.deepcopy(value)
        written[name] = theirs
    if written:
        into[stamps_field] = restamp(values, stamps, written)


def _session_order(session: dict[str, Any]) -> tuple[int, int]:
    return (session["last"], session["start"])


def merge_profiles(into: Profile, other: Profile) -> Profile:
    """Fold ``other`` (an anonymous profile) into ``into`` (in place) and return ``into``."""
    counts = into["counts"]
    for etype, n in other["counts"].items():
        counts[etype] = counts.get(etype, 0) + n
    first = other["first_seen"]
    if first is not None and (into["first_seen"] is None or first < into["first_seen"]):
        into["first_seen"] = first
    last = other["last_seen"]
    if last is not None and (into["last_seen"] is None or last > into["last_seen"]):
        into["last_seen"] = last
    _by_time(into, other, "attributes", "attr_ts")
    _by_time(into, other, "consent", "consent_ts")
    into["open_tickets"] += other["open_tickets"]
    into["lifetime_value"] += other["lifetime_value"]
    theirs = other.get("session")
    if theirs is not None:
        ours = into.get("session")
        if ours is None or _session_order(theirs) > _session_order(ours):
            into["session"] = copy.deepcopy(theirs)
    merge_handoff(into, other)
    merge_feedback(into, other)
    _merge_consent_records(into, other)
    for name, value in other.items():
        if name not in _MERGED and name not in into:
            into[name] = copy.deepcopy(value)
    return into


def _merge_consent_records(into: Profile, other: Profile) -> None:
    seen = into.get("last_event_at")
    if seen is None:
        seen = into["last_event_at"] = {}
    for etype, ts in (other.get("last_event_at") or {}).items():
        if seen.get(etype, -1) < ts:
            seen[etype] = ts
    theirs = other.get("consent_trail")
    if theirs:
        keyed = {
            (c["at"], c["event_id"], c["type"], c["channel"] or "", c["category"] or ""): c
            for c in [*(into.get("consent_trail") or ()), *copy.deepcopy(theirs)]
        }
        into["consent_trail"] = [keyed[k] for k in sorted(keyed)][-MAX_CONSENT_TRAIL:]
    standing = other.get("unsubscribed")
    if standing:
        by_scope = {(u["channel"] or "", u["category"]): u for u in into.get("unsubscribed") or ()}
        for u in copy.deepcopy(standing):
            scope = (u["channel"] or "", u["category"])
            if scope not in by_scope or by_scope[scope]["at"] < u["at"]:
                by_scope[scope] = u
        into["unsubscribed"] = [by_scope[k] for k in sorted(by_scope)]
