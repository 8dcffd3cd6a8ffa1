"""Is a profile snapshot read from the profiles changelog recent enough for an action?

The journey agent produces a batch's actions first and writes the customer's table value (profile
and journey state) only once they are on the broker (docs/live.md: the at-least-once order), so a
sink can read an action before the changelog holds the profile that action was decided on: a
customer's first email would then find no address. The journey state in the same value tells
when the changelog has caught up: the decision that made action (journey J, entry n, step S,
visit v) is in the value once J's entry count is past n, or entry n has ended, or entry n is
active and has reached S at least v times.

A sink keeps only these marks per customer (:func:`journey_marks`), not the journey state.
"""

from __future__ import annotations

from typing import Any

#: per journey id: (entries started, the active entry's number or None, its step visits)
Marks = dict[str, tuple[int, int | None, dict[str, int]]]


def journey_marks(jstate: dict[str, Any] | None) -> Marks:
    if not jstate:
        return {}
    entries = jstate.get("entries") or {}
    marks: Marks = {}
    for jid, (count, _start) in (jstate.get("history") or {}).items():
        active = entries.get(jid)
        if active is None:
            marks[jid] = (count, None, {})
        else:
            marks[jid] = (count, active.get("n"), dict(active.get("vis") or {}))
    return marks


def caught_up(marks: Marks | None, action: dict[str, Any]) -> bool | None:
    """True when the marks include the decision that produced ``action``; False when they
    are older; None when the action does not say (no ``entry`` number: another producer)."""
    entry = action.get("entry")
    journey = action.get("journey")
    if not isinstance(entry, int) or not isinstance(journey, str):
        return None
    if not marks:
        return False
    mark = marks.get(journey)
    if mark is None:
        return False
    count, active, visits = mark
    if count != entry:
        return count > entry
    if active != entry:
        return True  # entry n has ended: its end came after every action it made
    visit = (action.get("context") or {}).get("visit", 1)
    return visits.get(str(action.get("step")), 0) >= visit
