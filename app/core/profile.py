"""The unified customer profile and the folding of one event into it.

A profile is a plain dict (cheap to copy, serialise and hand to CEL):

``id``             the customer (or, until linked, anonymous) id
``attributes``     traits from ``Identify`` / ``ProfileUpdated`` properties, flat, latest wins
``counts``         events seen per event type
``first_seen``     epoch ms of the earliest event time seen (None before any event)
``last_seen``      epoch ms of the latest event time seen
``consent``        channel -> bool, from ``ConsentUpdated`` ({"channel": "sms", "granted": false})
``open_tickets``   ``TicketOpened`` minus ``TicketClosed``, never below 0
``lifetime_value`` sum of ``OrderPlaced.properties.total``
``session``        the current web session, only once the customer browsed (see core/session.py)

"Latest wins" follows processing order, which is event-time order in replay and partition
order live (events of one customer share a partition, so producers' order is kept).
"""

from __future__ import annotations

from typing import Any

from app.core.session import fold_session

Profile = dict[str, Any]

TRAIT_EVENTS = frozenset({"Identify", "ProfileUpdated"})


def new_profile(key: str) -> Profile:
    return {
        "id": key,
        "attributes": {},
        "counts": {},
        "first_seen": None,
        "last_seen": None,
        "consent": {},
        "open_tickets": 0,
        "lifetime_value": 0.0,
    }


def fold(profile: Profile, event: dict[str, Any]) -> Profile:
    """Fold a normalised event into ``profile`` (in place, for speed) and return it."""
    etype = event["type"]
    ts = event["ts"]
    counts = profile["counts"]
    counts[etype] = counts.get(etype, 0) + 1
    first = profile["first_seen"]
    if first is None or ts < first:
        profile["first_seen"] = ts
    last = profile["last_seen"]
    if last is None or ts > last:
        profile["last_seen"] = ts
    props = event["properties"]
    if etype in TRAIT_EVENTS:
        profile["attributes"].update(props)
    elif etype == "ConsentUpdated":
        channel = props.get("channel")
        granted = props.get("granted")
        if isinstance(channel, str) and isinstance(granted, bool):
            profile["consent"][channel] = granted
    elif etype == "TicketOpened":
        profile["open_tickets"] += 1
    elif etype == "TicketClosed":
        profile["open_tickets"] = max(0, profile["open_tickets"] - 1)
    elif etype == "OrderPlaced":
        total = props.get("total")
        if isinstance(total, int | float) and not isinstance(total, bool):
            profile["lifetime_value"] += float(total)
    fold_session(profile, event)
    return profile
