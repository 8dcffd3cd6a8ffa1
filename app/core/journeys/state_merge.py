"""Merging an anonymous visitor's journey state into the customer's when identity links them.

``merge_states(into, other, now)`` moves ``other`` (the anonymous key's state) into ``into`` (the
customer's), in place, and returns the outcome records it caused. Rules, per journey:

- History combines: ``count = count(into) + count(other)`` and the last start is the later of the
  two, so ``reentry: once`` still refuses a second entry (either side entered: no more) and a
  cooldown runs from the latest entry of either side.
- Only the anonymous side has an active entry: it carries over, paused where it was, with its
  timer, variant, control-group flag and visits. It is renumbered to the combined count (it was
  the anonymous side's latest entry), so its later action ids (journey, version, *customer*,
  entry, step, visit) can never equal an action id of one of the customer's own entries.
- Both sides have an active entry: the customer's continues; the anonymous one ends with a
  ``exited`` outcome, reason ``merged`` (the customer's own entry is the one the customer is in).
- Only the customer has one: it continues unchanged.
- Emitted sends still inside the cap window are pooled: caps count per person, so the anonymous
  side's recent sends count toward the customer's caps from now on.
- Remembered event ids (``seen``, core/duplicates.py) are pooled too: a copy of an event the
  visitor had, arriving under the customer after the link, is still a duplicate.

Nothing runs here: a carried-over entry whose timer is already due fires at the customer's next
``advance`` or event, as any due timer does.
"""

from __future__ import annotations

import copy
from typing import Any

from app.core.duplicates import merge_seen
from app.core.journeys.outcome import EXITED, MERGED, outcome_record
from app.core.journeys.state import JState
from app.core.timeutil import format_ms


def merge_states(into: JState, other: JState, now_ms: int) -> list[dict[str, Any]]:
    """Fold the anonymous ``other`` state into the customer's ``into`` (in place)."""
    outcomes: list[dict[str, Any]] = []
    history = into["history"]
    counts_before = {jid: h[0] for jid, h in history.items()}
    for jid, (count, start) in other["history"].items():
        mine = history.get(jid)
        if mine is None:
            history[jid] = [count, start]
        else:
            history[jid] = [mine[0] + count, max(mine[1], start)]
    entries = into["entries"]
    for jid, entry in other["entries"].items():
        if jid in entries:
            # under the anonymous key: the entry was never the customer's
            record = outcome_record(EXITED, other["key"], jid, entry, now_ms, format_ms(now_ms))
            record["reason"] = MERGED
            record["merged_into"] = into["key"]
            outcomes.append(record)
            continue
        carried = copy.deepcopy(entry)
        carried["n"] = counts_before.get(jid, 0) + entry["n"]
        entries[jid] = carried
    if other["sent"]:
        into["sent"] = sorted(into["sent"] + copy.deepcopy(other["sent"]), key=lambda s: s[0])
    theirs = other.get("seen")
    if theirs:
        merge_seen(into.setdefault("seen", {}), theirs)
    return outcomes
