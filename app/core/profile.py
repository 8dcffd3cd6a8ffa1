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
``consent_trail``  every consent change (``ConsentUpdated``, ``Unsubscribed``) with its time,
                   event id, channel and category: the opt-in record an auditor asks for (the
                   latest ``MAX_CONSENT_TRAIL``; absent until the first)
``unsubscribed``   standing unsubscribes: {channel (None: every), category, at, event_id, lifted
                   (channels a later grant lifted it for)}; absent until the first
``last_event_at``  event type -> epoch ms of the latest event of that type (CEL: timestamps)
``open_tickets``   ``TicketOpened`` minus ``TicketClosed``, never below 0
``lifetime_value`` sum of ``OrderPlaced.properties.total``
``session``        the current web session, only once the customer browsed (see core/session.py)
``recent``         the last few events, compacted, for a live agent (see core/handoff.py)
``transcript``     the last chat lines, only once the customer wrote one (see core/handoff.py)
``sentiment``      the mean VADER compound ([-1, 1]) of the customer's last ``SENTIMENT_WINDOW`` (5)
                   scored texts, by (event time, event id): their chat lines, ticket subjects and
                   descriptions, survey comments; only once there was one (see core/sentiment.py)
``sentiment_window`` those texts' scores, ``[ts, event_id, compound]``, oldest first
``surveys``        the latest answer per survey (``csat``, ``nps``, ``ces``): ``{"score", "at",
                   "event_id"}``; only once the customer answered one (see core/sentiment.py)

Size: a profile is written to its changelog on every change, so it is bounded whatever the
events carry: at most ``MAX_ATTRIBUTES`` attributes (a trait with a new name beyond that is not
kept; known names still update), each value at most ``MAX_ATTRIBUTE_BYTES`` as JSON (a larger
one is not kept: the event stays on its input topic); ``recent`` and ``transcript`` are capped
in core/handoff.py, ``sentiment_window`` at 5 items and ``surveys`` at the 3 known surveys in
core/sentiment.py.

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
from app.core.sentiment import FEEDBACK_EVENTS, fold_feedback
from app.core.session import fold_session
from app.core.stamps import Stamps, restamp, time_of

Profile = dict[str, Any]

#: consent changes kept in a profile (the audit topic keeps them all): a producer repeating
#: ConsentUpdated must not grow the profile without end
MAX_CONSENT_TRAIL = 100
#: an unsubscribe without a category withdraws consent for this one
PROMOTIONAL = "promotional"

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
        "last_event_at": {},
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
    seen = profile.get("last_event_at")
    if seen is None:  # a profile stored before the field existed
        seen = profile["last_event_at"] = {}
    if seen.get(etype, -1) < ts:
        seen[etype] = ts
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
                if granted:
                    _lift_unsubscribes(profile, channel, ts)
            _note_consent(profile, event, channel, None, granted)
    elif etype == "Unsubscribed":
        channel = props.get("channel")
        category = props.get("category")
        channel = channel if isinstance(channel, str) and channel else None
        category = category if isinstance(category, str) and category else PROMOTIONAL
        standing = [
            u
            for u in profile.get("unsubscribed") or ()
            if (u["channel"], u["category"]) != (channel, category) or u["at"] > ts
        ]
        if not any((u["channel"], u["category"]) == (channel, category) for u in standing):
            standing.append(
                {
                    "channel": channel,
                    "category": category,
                    "at": ts,
                    "event_id": event.get("event_id") or "",
                    "lifted": [],
                }
            )
        profile["unsubscribed"] = standing
        _note_consent(profile, event, channel, category, False)
    elif etype == "TicketOpened":
        profile["open_tickets"] += 1
    elif etype == "TicketClosed":
        profile["open_tickets"] = max(0, profile["open_tickets"] - 1)
    elif etype == "OrderPlaced":
        total = props.get("total")
        if isinstance(total, int | float) and not isinstance(total, bool):
            profile["lifetime_value"] += float(total)
    if etype in FEEDBACK_EVENTS:
        fold_feedback(profile, event)
    fold_session(profile, event)
    note_event(profile, event)
    return profile


def _note_consent(
    profile: Profile,
    event: dict[str, Any],
    channel: str | None,
    category: str | None,
    granted: bool,
) -> None:
    """Keep the change in the consent trail, in (time, event id) order, the latest only."""
    trail = profile.get("consent_trail")
    if trail is None:
        trail = profile["consent_trail"] = []
    trail.append(
        {
            "at": event["ts"],
            "event_id": event.get("event_id") or "",
            "type": event["type"],
            "channel": channel,
            "category": category,
            "granted": granted,
        }
    )
    if len(trail) > 1 and _trail_order(trail[-2]) > _trail_order(trail[-1]):
        trail.sort(key=_trail_order)  # a late event: the trail stays in event time
    if len(trail) > MAX_CONSENT_TRAIL:
        del trail[: len(trail) - MAX_CONSENT_TRAIL]


def _trail_order(change: dict[str, Any]) -> tuple[int, str]:
    return (change["at"], change["event_id"])


def _lift_unsubscribes(profile: Profile, channel: str, ts: int) -> None:
    """A grant on ``channel`` lifts earlier unsubscribes for that channel (an unsubscribe from
    every channel stays for the others)."""
    standing = profile.get("unsubscribed")
    if not standing:
        return
    kept = []
    for u in standing:
        if u["at"] <= ts:
            if u["channel"] == channel:
                continue
            if u["channel"] is None and channel not in u["lifted"]:
                u["lifted"] = sorted([*u["lifted"], channel])
        kept.append(u)
    profile["unsubscribed"] = kept


def unsubscribed_from(profile: Profile, channel: str, category: str) -> bool:
    """Whether a standing unsubscribe withdraws consent for a send on ``channel`` of
    ``category``."""
    standing = profile.get("unsubscribed")
    if not standing:
        return False
    for u in standing:
        if u["category"] == category and (
            u["channel"] == channel or (u["channel"] is None and channel not in u["lifted"])
        ):
            return True
    return False


def _not_newer(stamps: Stamps | None, name: str, ts: int) -> bool:
    """Whether the value kept for ``name`` is not newer than an event at ``ts`` (ties: later wins)."""
    kept = time_of(stamps, name)
    return kept is None or kept <= ts


#: what a recipient snapshot leaves out: bookkeeping (the stamps, the web session), the
#: handoff lists, which an ``agent`` action carries in its own ``context``, and the sentiment
#: and survey figures (a journey puts them in a send's ``data`` when a message needs them): so
#: an action's snapshot is what it was before these existed, whatever the customer wrote
_NOT_FOR_RECIPIENTS = frozenset(
    {
        "attr_ts",
        "consent_ts",
        "consent_trail",
        "unsubscribed",
        "last_event_at",
        "session",
        "recent",
        "transcript",
        "sentiment",
        "sentiment_window",
        "surveys",
    }
)


def recipient_snapshot(profile: Profile) -> Profile:
    """The profile as a sink needs it to deliver an action (address, name, consent, counts),
    copied: the profile goes on changing in place, the action keeps what it was decided on.
    One level deep is enough, since folding replaces an attribute's value, never edits it."""
    return {
        name: dict(value) if type(value) is dict else value
        for name, value in profile.items()
        if name not in _NOT_FOR_RECIPIENTS
    }
