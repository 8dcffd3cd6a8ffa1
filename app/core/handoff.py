"""What a live agent needs at a handoff, kept in the profile and put on ``agent`` actions.

An agent who takes over from a journey must not ask the customer to repeat themselves: the
``agent`` action's ``context`` carries the customer's last events, the conversation transcript
and the journey's history (the sink adds the profile snapshot; app/core/delivery/handoff.py).
The least state that gives this lives in the profile, folded with every event:

``recent``      the last ``RECENT_MAX`` events, oldest first, each ``[ts, event_id, type, props]``
                with ``props`` compacted (:func:`compact_properties`)
``transcript``  the last ``TRANSCRIPT_MAX`` lines of ``ChatMessage`` events, oldest first, each
                ``[ts, event_id, sender, text]``; absent until the customer's first message

Both lists keep the newest items by ``(ts, event_id)``, the order replay handles events in, and
skip an event id they hold already: what they hold is a function of the set of events seen,
not of the order they arrived in, so live and replay agree even when events come late.

The journey's history needs no new state: the entry (number, start, trigger, variant, the
action steps it reached and how often) and the customer's journeys (entries so far, the last
start, where an active one waits) are already in the journey state.
"""

from __future__ import annotations

from bisect import insort
from itertools import islice
from typing import Any

from app.core.timeutil import format_ms

#: events kept in ``profile.recent``
RECENT_MAX = 10
#: transcript lines kept in ``profile.transcript``
TRANSCRIPT_MAX = 20
#: properties kept per recent event, and the length a string property is cut to
PROPS_MAX = 8
STRING_MAX = 120
#: a transcript line is cut to this many characters
LINE_MAX = 1_000

#: events whose ``properties.text`` is a line of the conversation (``sender``: customer, agent
#: or bot; ``customer`` when absent)
TRANSCRIPT_EVENTS = frozenset({"ChatMessage"})
#: their properties are the profile's attributes already (the snapshot shows them)
TRAIT_EVENTS = frozenset({"Identify", "ProfileUpdated"})
#: web analytics, device and bookkeeping figures: nothing an agent reads, kept out of ``recent``
NOISE = frozenset(
    {
        "session_id",
        "duration_s",
        "bounce_rate",
        "exit_rate",
        "page_value",
        "operating_system",
        "browser",
        "region",
        "traffic_type",
        "action_id",
        "attempts",
        "text",  # a chat line: in the transcript
    }
)

_SCALARS = frozenset({str, int, float, bool, type(None)})


def compact_properties(etype: str, props: dict[str, Any]) -> dict[str, Any]:
    """The properties worth showing an agent: scalars only, no noise, strings cut short, at most
    ``PROPS_MAX`` of them; none for trait events. (One comprehension: this runs per event.)"""
    if not props or etype in TRAIT_EVENTS:
        return {}
    out = {
        name: value[:STRING_MAX] if type(value) is str else value
        for name, value in props.items()
        if name not in NOISE and type(value) in _SCALARS
    }
    if len(out) > PROPS_MAX:
        out = dict(islice(out.items(), PROPS_MAX))
    return out


def _keep(items: list[list[Any]], item: list[Any], cap: int) -> None:
    """Insert ``item`` (``[ts, event_id, ...]``) keeping the newest ``cap`` by (ts, event_id)."""
    if items:
        last = items[-1]
        if item[0] > last[0] or (item[0] == last[0] and item[1] > last[1]):
            items.append(item)  # the usual case: the newest event
        else:
            eid = item[1]
            for kept in items:
                if kept[1] == eid:
                    return  # a repeat
            first = items[0]
            if len(items) >= cap and (item[0], item[1]) < (first[0], first[1]):
                return  # older than everything kept
            insort(items, item, key=lambda x: (x[0], x[1]))
        if len(items) > cap:
            del items[0]
    else:
        items.append(item)


def note_event(profile: dict[str, Any], event: dict[str, Any]) -> None:
    """Fold ``event`` into ``profile.recent`` (and ``profile.transcript`` for a chat line)."""
    etype = event["type"]
    ts = event["ts"]
    eid = event.get("event_id") or ""  # normalised events always have one
    props = event["properties"]
    item = [ts, eid, etype, compact_properties(etype, props) if props else {}]
    recent = profile.get("recent")
    if recent is None:
        profile["recent"] = [item]
    else:  # _keep's usual case inline: this runs for every event
        last = recent[-1]
        if ts > last[0] or (ts == last[0] and eid > last[1]):
            recent.append(item)
            if len(recent) > RECENT_MAX:
                del recent[0]
        else:
            _keep(recent, item, RECENT_MAX)
    if etype in TRANSCRIPT_EVENTS:
        text = props.get("text")
        if isinstance(text, str) and text:
            sender = props.get("sender")
            line = [ts, eid, sender if isinstance(sender, str) else "customer", text[:LINE_MAX]]
            transcript = profile.get("transcript")
            if transcript is None:
                transcript = profile["transcript"] = []
            _keep(transcript, line, TRANSCRIPT_MAX)


def merge_handoff(into: dict[str, Any], other: dict[str, Any]) -> None:
    """Profile merge (identity): the union of both sides' lists, newest kept, as if one profile
    had seen every event."""
    for name, cap in (("recent", RECENT_MAX), ("transcript", TRANSCRIPT_MAX)):
        theirs = other.get(name)
        if not theirs:
            continue
        ours = into.get(name)
        if ours is None:
            ours = into[name] = []
        for item in theirs:
            _keep(ours, list(item), cap)


# -- the agent action's context ------------------------------------------------------------------


def last_events(profile: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"timestamp": format_ms(ts), "event_id": eid, "type": etype, "properties": dict(props)}
        for ts, eid, etype, props in profile.get("recent") or ()
    ]


def transcript(profile: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"timestamp": format_ms(ts), "event_id": eid, "sender": sender, "text": text}
        for ts, eid, sender, text in profile.get("transcript") or ()
    ]


def journey_history(
    jstate: dict[str, Any], journey_id: str, entry: dict[str, Any], step_id: str
) -> dict[str, Any]:
    """This entry's story so far and every journey of the customer (entries so far, the last
    start, the step an active one is at: for this journey, the step that hands over)."""
    entries = jstate["entries"]
    journeys = []
    for jid, (count, started) in sorted(jstate["history"].items()):
        active = entries.get(jid)
        at = step_id if jid == journey_id else active["at"] if active is not None else None
        journeys.append(
            {
                "journey": jid,
                "entries": count,
                "last_started_at": format_ms(started),
                "active": active is not None,
                "at": at,
            }
        )
    return {
        "entry": {
            "journey": journey_id,
            "number": entry["n"],
            "started_at": format_ms(entry["t0"]),
            "trigger_event_id": entry["tid"],
            "variant": entry["var"],
            "steps_reached": dict(entry["vis"]),
        },
        "journeys": journeys,
    }


def handoff_context(
    profile: dict[str, Any],
    jstate: dict[str, Any],
    journey_id: str,
    entry: dict[str, Any],
    step_id: str,
) -> dict[str, Any]:
    """The keys an ``agent`` action's ``context`` gets: ``last_events``, ``transcript``,
    ``history`` (see the module docstring)."""
    return {
        "last_events": last_events(profile),
        "transcript": transcript(profile),
        "history": journey_history(jstate, journey_id, entry, step_id),
    }
