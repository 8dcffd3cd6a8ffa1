"""Which event or timer is behind each outcome record of one journey entry.

Outcome records name their event only where it ends or starts something (``entered``'s trigger,
``goal`` and ``exit_on``'s ``event_id``). The rest follows from the entry's own life, read in
order, as the engine walks it (app/core/journeys/run.py):

- an entry paused at a ``wait`` resumes only when its timer fires: the first record after the
  pause is the timer's (the wait ended);
- paused at a ``wait_for``, it resumes on its timeout (a ``timed_out`` record) or on the awaited
  event (any other first record: the customer's event of that type at that time);
- a send whose outcome has not come by the entry's next moment was deferred by quiet hours: that
  moment is its timer's, when they ended;
- every other record belongs to the moment of the record before it.

Time alone would not do: a timer due at the very millisecond of an event fires in the same
instant, before it. An entry whose first records are gone (live, past the outcomes topic's
retention) falls back on the events known at that time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.core.journeys.compiled import DECIDE, SEND, WAIT, WAIT_FOR, Journey
from app.core.journeys.outcome import (
    DECIDED,
    ENTERED,
    EXITED,
    GOAL,
    HELD_OUT,
    MERGED,
    ORPHANED,
    SENT,
    STEP,
    SUPPRESSED,
    TIMED_OUT,
)
from app.core.timeutil import format_ms, parse_rfc3339
from app.explain.events import EventIndex, brief
from app.explain.pauses import duration_text, step_of

Cause = dict[str, Any]  # {"events": [brief, ...]} | {"timer": text} | {"other": text}

SENDS = (SENT, SUPPRESSED, HELD_OUT)


def causes_of(
    records: Sequence[dict[str, Any]],
    journey: Journey | None,
    events: EventIndex,
    goal_type: str | None = None,
) -> list[Cause]:
    """One cause per record of one entry (``records`` in the order they happened)."""
    causes: list[Cause] = []
    current: Cause = {"other": "not on record"}
    paused: tuple[str, str, int] | None = None  # (wait kind, step, since) the entry waits at
    reached: dict[str, int] = {}  # step -> when it was last reached (deferred sends)
    unsent: dict[str, int] = {}  # sends reached whose outcome has not come yet
    last: int | None = None
    for r in records:
        at = parse_rfc3339(r["event_time"])
        kind = r["kind"]
        step: str = r.get("step") or ""  # "" where no step applies (entered, goal, ...)
        deferred = min(unsent.values()) if at != last and unsent else None
        if kind == ENTERED:
            tid = r.get("trigger_event_id")
            current = {"events": [events.get(tid) or brief(tid, r.get("trigger_type"), at)]}
            paused = None
        elif kind in (GOAL, EXITED) and r.get("event_id"):
            eid = r["event_id"]
            etype = r.get("event_type") or (goal_type if kind == GOAL else None)
            current = {"events": [events.get(eid) or brief(eid, etype, at)]}
        elif kind == EXITED and r.get("reason") == MERGED:
            current = {"other": f"identity: this visitor was linked to {r.get('merged_into')}"}
        elif kind == EXITED and r.get("reason") == ORPHANED:
            current = {"other": "its journey version is no longer loaded"}
        elif kind == TIMED_OUT:
            awaited = getattr(step_of(journey, step), "event", None)
            what = f" waiting for {awaited}" if awaited else ""
            current = {"timer": f"{step} timed out{what}"}
            paused = None
        elif deferred is not None or (kind in SENDS and step in reached and reached[step] < at):
            since = deferred if deferred is not None else reached[step]
            current = {"timer": f"quiet hours ended (the send was deferred at {format_ms(since)})"}
            unsent.clear()
        elif paused is not None and (at > paused[2] or kind not in SENDS):
            # (a send reached before the pause is arbitrated at the end of the pause's moment)
            current = _resumed(paused, journey, events, at)
            paused = None
        elif at != last:  # a new moment with no record that names its cause
            if r.get("source_timestamp", "") is None:  # live: no input event behind it
                current = {"timer": "a timer"}
            else:
                found = events.at(at)
                current = {"events": found} if found else {"other": "not on record"}
        causes.append(current)
        if kind == STEP and step:
            reached[step] = at
            if r.get("step_kind") in (WAIT, WAIT_FOR):
                paused = (r["step_kind"], step, at)
            elif r.get("step_kind") in (SEND, DECIDE):
                unsent[step] = at
        elif kind in SENDS or (kind == DECIDED and r.get("channel") is None):
            unsent.pop(step, None)  # decided (a decide that sends nothing has no send outcome)
        last = at
    return causes


def _resumed(
    paused: tuple[str, str, int], journey: Journey | None, events: EventIndex, at: int
) -> Cause:
    kind, step_id, _ = paused
    step = step_of(journey, step_id)
    if kind == WAIT:
        length = f" ({duration_text(step.duration)})" if step and step.duration else ""
        return {"timer": f"the wait {step_id}{length} ended"}
    awaited = step.event if step is not None else None
    return {"events": events.at(at, awaited) or [brief(None, awaited, at)]}
