"""A customer's journey state: a small plain dict, stored as JSON (orjson) in RocksDB live.

```
{"key": "c-42",
 "entries": {journey_id: ENTRY},          # active entries, at most one per journey
 "history": {journey_id: [count, start]}, # entries started so far, start (ms) of the last one
 "sent":    [[ms, channel], ...],         # emitted sends still inside the widest cap window
 "seen":    {event_id: ms}}               # recent events' ids, oldest handled first
                                          # (core/duplicates.py; absent before any event)
```

An active ENTRY, paused at a step (short keys: there may be millions of them):

```
{"v": 3,            # the journey version the entry runs on
 "n": 1,            # entry number, from 1 per customer and journey
 "t0": ms,          # started at
 "tid": "e-1",      # trigger event id
 "trig": {...},     # the parts of the trigger event that expressions read (absent if none)
 "var": "A"|None,   # split variant
 "ho": false,       # control group (holdout)
 "at": "wait_2h",   # the step it is paused at
 "due": ms|None,    # its timer: wait end, wait_for timeout, or end of quiet hours
 "wait": "wait"|"wait_for"|"defer",
 "vis": {step_id: n},   # visits of action steps (for action ids), only when > 0
 "ad": {step_id: arm},  # adaptive choices not yet rewarded (absent when none; bandit.py)
 "defer": {...}}        # a deferred send: channel, template, data, option, reached-at
```
"""

from __future__ import annotations

from typing import Any

JState = dict[str, Any]


def new_state(key: str) -> JState:
    return {"key": key, "entries": {}, "history": {}, "sent": []}


def next_due(jstate: JState) -> int | None:
    """The earliest pending timer of any entry (None when nothing waits on time)."""
    best: int | None = None
    for entry in jstate["entries"].values():
        due = entry.get("due")
        if due is not None and (best is None or due < best):
            best = due
    return best
