"""The unified customer profile and the folding of one event into it.

A profile is a plain dict (cheap to copy, serialise and hand to CEL):

``id``             the customer (or, until linked, anonymous) id
``attributes``     traits from ``Identify`` / ``ProfileUpdated`` properties, flat, latest wins
``attr_ts``        when each attribute's value was written (core/stamps.py; absent until the first)
``counts``         events seen per event type
``first_seen``     epoch ms of the earliest event time seen (None before any event)
``last_seen``      epoch ms of the latest event time seen
``consent``        channel -> bool, from ``ConsentUpdated`` ({"channel": "sms", "granted": false})
``consent_ts``     when each consent choice was made (core/stamps.py; absent until the first)
``open_tickets``   ``TicketOpened`` minus ``TicketClosed``, never below 0
``lifetime_value`` sum of ``OrderPlaced.properties.total``
``session``        the current web session, only once the customer browsed (see core/session.py)
``recent``         the last few events, compacted, for a live agent (see core/handoff.py)
``transcript``     the last chat lines, only once the customer wrote one (see core/handoff.py)

Size: a profile is written to its changelog on every change, so it is bounded whatever the
events carry: at most ``MAX_ATTRIBUTES`` attributes (a trait with a new name beyond that is not
kept; known names still update), each value at most ``MAX_ATTRIBUTE_BYTES`` as JSON (a larger
one is not kept: the event stays on its input topic); ``recent`` and ``transcript`` are capped
in core/handoff.py.

"Latest wins" is by event time: an attribute or a consent choice is written only when the event
is at least as recent as the one that wrote the value kept (``attr_ts`` / ``consent_ts``), so an
older event arriving late never overwrites a newer value. At equal times the event processed
later wins (partition order live, (time, event_id) order in replay). The per-key times are what
lets two profiles merge by event time (core/profile_merge.py) when an anonymous visitor is linked
to a customer. A value stored before times were kept (an older profile) is older than
any event. A journey's ``update`` step stamps the moment's time.
"""

from __future__ import annotations

from typing import Any

import orjson

from app.core.handoff import note_event
from app.core.session import fold_session
from app.core.stamps import Stamps, restamp, time_of

Profile = dict[str, Any]

TRAIT_EVENTS = frozenset({"Identify", "ProfileUpdated"})
MAX_ATTRIBUTES = 200
MAX_ATTRIBUTE_BYTES = 4_096
_SMALL_SCALARS = (int, float, bool, type(None))


def _storable(props: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
    """The traits of ``props`` a profile keeps (the size rules in the module doc)."""
    room = MAX_ATTRIBUTES - len(attributes)
    kept = {}
    for name, value in props.items():
        if name not in attributes and name not in kept:
            if room <= 0:
                continue
            room -= 1
        if isinstance(value, str):
            # (a character is at most 4 bytes: short strings need no encoding to tell)
            if len(value) > MAX_ATTRIBUTE_BYTES // 4 and len(value.encode()) > MAX_ATTRIBUTE_BYTES:
                continue
        elif (
            not isinstance(value, _SMALL_SCALARS) and len(orjson.dumps(value)) > MAX_ATTRIBUTE_BYTES
        ):
            continue
        kept[name] = value
    return kept


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
        if props:
            attributes = profile["attributes"]
            props = _storable(props, attributes)
            stamps = profile.get("attr_ts")
            written: dict[str, int | None]
            if stamps is None:  # no value has a time yet: every value is older than this event
                attributes.update(props)
                written = dict.fromkeys(props, ts)
            else:
                default, listed = stamps
                written = {}
                for name, value in props.items():
                    kept = listed.get(name, default) if name in attributes else None
                    if kept is None or kept <= ts:  # an older event never overwrites a newer value
                        attributes[name] = value
                        written[name] = ts
            if written:
                profile["attr_ts"] = restamp(attributes, stamps, written)
    elif etype == "ConsentUpdated":
        channel = props.get("channel")
        granted = props.get("granted")
        if isinstance(channel, str) and isinstance(granted, bool):
            consent = profile["consent"]
            stamps = profile.get("consent_ts")
            if channel not in consent or _not_newer(stamps, channel, ts):
                consent[channel] = granted
                profile["consent_ts"] = restamp(consent, stamps, {channel: ts})
    elif etype == "TicketOpened":
        profile["open_tickets"] += 1
    elif etype == "TicketClosed":
        profile["open_tickets"] = max(0, profile["open_tickets"] - 1)
    elif etype == "OrderPlaced":
        total = props.get("total")
        if isinstance(total, int | float) and not isinstance(total, bool):
            profile["lifetime_value"] += float(total)
    fold_session(profile, event)
    note_event(profile, event)
    return profile


def _not_newer(stamps: Stamps | None, name: str, ts: int) -> bool:
    """Whether the value kept for ``name`` is not newer than an event at ``ts`` (ties: later wins)."""
    kept = time_of(stamps, name)
    return kept is None or kept <= ts


#: what a recipient snapshot leaves out: bookkeeping (the stamps, the web session) and the
#: handoff lists, which an ``agent`` action carries in its own ``context``
_NOT_FOR_RECIPIENTS = frozenset({"attr_ts", "consent_ts", "session", "recent", "transcript"})


def recipient_snapshot(profile: Profile) -> Profile:
    """The profile as a sink needs it to deliver an action (address, name, consent, counts),
    copied: the profile goes on changing in place, the action keeps what it was decided on.
    One level deep is enough, since folding replaces an attribute's value, never edits it."""
    return {
        name: dict(value) if type(value) is dict else value
        for name, value in profile.items()
        if name not in _NOT_FOR_RECIPIENTS
    }
