"""The unified customer profile and the folding of one event into it.

A profile is a plain dict (cheap to copy, serialise and hand to CEL):

``id``             the customer (or, until linked, anonymous) id
``attributes``     traits from ``Identify`` / ``ProfileUpdated`` properties, flat, latest wins
``attr_ts``        attribute name -> epoch ms of the event that wrote its current value
``counts``         events seen per event type
``first_seen``     epoch ms of the earliest event time seen (None before any event)
``last_seen``      epoch ms of the latest event time seen
``consent``        channel -> bool, from ``ConsentUpdated`` ({"channel": "sms", "granted": false})
``consent_ts``     channel -> epoch ms of the choice kept in ``consent``
``open_tickets``   ``TicketOpened`` minus ``TicketClosed``, never below 0
``lifetime_value`` sum of ``OrderPlaced.properties.total``
``session``        the current web session, only once the customer browsed (see core/session.py)

"Latest wins" is by event time: an attribute or a consent choice is written only when the event
is at least as recent as the one that wrote the value kept (``attr_ts`` / ``consent_ts``), so an
older event arriving late never overwrites a newer value. At equal times the event processed
later wins (partition order live, (time, event_id) order in replay). The per-key times are what
lets two profiles merge by event time (core/profile_merge.py) when an anonymous visitor is linked
to a customer. Profiles stored before these keys existed lack them: a key without a time is
treated as older than any event. A journey's ``update`` step stamps the moment's time.
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
        "attr_ts": {},
        "counts": {},
        "first_seen": None,
        "last_seen": None,
        "consent": {},
        "consent_ts": {},
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
        if props:
            attributes = profile["attributes"]
            stamps = profile.get("attr_ts")
            if stamps is None:
                stamps = profile["attr_ts"] = {}
            for name, value in props.items():
                if ts >= stamps.get(name, ts):  # an older event never overwrites a newer value
                    attributes[name] = value
                    stamps[name] = ts
    elif etype == "ConsentUpdated":
        channel = props.get("channel")
        granted = props.get("granted")
        if isinstance(channel, str) and isinstance(granted, bool):
            stamps = profile.get("consent_ts")
            if stamps is None:
                stamps = profile["consent_ts"] = {}
            if ts >= stamps.get(channel, ts):
                profile["consent"][channel] = granted
                stamps[channel] = ts
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
