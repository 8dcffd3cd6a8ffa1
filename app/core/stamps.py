"""Per-key event times of a flat map (profile attributes, consent), stored compactly.

A merge by event time needs the time of every key's value, but a profile must stay small: most
keys of a customer share a time (one ``ProfileUpdated`` writes twenty traits). So the times are
stored as ``[t, {name: t_name, ...}]``: every key of the map has time ``t`` except the few
listed. ``t`` is kept while it covers at least half of the keys; otherwise it becomes the most
common time (the latest of equally common ones). A listed time may be ``None``: a value written before
times were kept (a profile stored by an older version), older than any event.

``None`` instead of the pair means no key has a time (such a profile is upgraded on its first
write).
"""

from __future__ import annotations

from typing import Any

Stamps = list[Any]  # [int, dict[str, int | None]]


def time_of(stamps: Stamps | None, name: str) -> int | None:
    """The time of ``name``'s value (the caller knows the map holds ``name``), None if untimed."""
    if stamps is None:
        return None
    listed: dict[str, int | None] = stamps[1]
    if name in listed:
        return listed[name]
    time: int = stamps[0]
    return time


def restamp(
    values: dict[str, Any], stamps: Stamps | None, written: dict[str, int | None]
) -> Stamps:
    """The stamps after ``written`` (name -> time) were set in ``values`` (which holds them)."""
    if stamps is not None:
        default: int = stamps[0]
        listed = dict(stamps[1])
        for name, t in written.items():
            if t == default:
                listed.pop(name, None)
            else:
                listed[name] = t
        if 2 * len(listed) <= len(values):  # the default still covers most keys
            return [default, listed]
    # recount: the most common time (the latest of equally common ones) becomes the default
    times = {name: written[name] if name in written else time_of(stamps, name) for name in values}
    counts: dict[int, int] = {}
    for t in times.values():
        if t is not None:
            counts[t] = counts.get(t, 0) + 1
    if not counts:
        return [0, times]  # every value untimed: each listed as None
    default = max(counts, key=lambda t: (counts[t], t))
    return [default, {name: t for name, t in times.items() if t != default}]
