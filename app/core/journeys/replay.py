"""Deterministic replay: an event file through the very engine that runs live.

Pure: no files, no clock. ``parse_events`` turns lines into normalised events (and the lines it
skipped, with their numbers and reasons); ``replay`` orders the events stably by (time,
event_id), runs each customer's events through the engine, fires the timers still pending at
the end (up to ``until``, else the last event's time) and returns the actions and decisions in
the spec's output order, and the outcome records (core/journeys/outcome.py) in event time. The
output depends on the set of input lines only, never their order. Journeys with adaptive steps
share what they learn between customers, so those run every customer in one time order instead
(``replay_in_time_order``, the same result shape).
Copies of an event (the same ``event_id`` for one customer) fold once: the engine drops the
later ones in that order and ``duplicates`` counts them (core/duplicates.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import orjson

from app.core.envelope import InvalidEvent, validate_event
from app.core.erasure import before_erasure, is_erasure
from app.core.journeys.engine import Engine
from app.core.profile import new_profile
from app.core.tail_record import unwrap
from app.core.timeutil import parse_rfc3339

Event = dict[str, Any]
Progress = Callable[[int, int], None]


class ReplayError(ValueError):
    """The replay cannot run as asked (for example ``until`` before the last event)."""


@dataclass(slots=True)
class Skipped:
    line: int  # 1-based line number in the input
    reason: str


@dataclass(slots=True)
class ReplayResult:
    actions: list[dict[str, Any]]
    decisions: list[dict[str, Any]]
    #: outcome records in the order they happened per customer (``outcome_order`` sorts them)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    events: int = 0
    #: customers whose state is held at the end (an erasure request as the last event: none)
    customers: int = 0
    #: the time the replay ran up to (epoch ms), None for an empty input
    until: int | None = None
    failures: dict[str, int] = field(default_factory=dict)
    #: events dropped as copies of one the customer already had (core/duplicates.py)
    duplicates: int = 0
    #: identity resolution (replay_resolved): anonymous keys merged, conflicting claims
    merges: int = 0
    conflicts: int = 0


def parse_events(lines: Iterable[bytes | str]) -> tuple[list[Event], list[Skipped]]:
    """Decode and validate one envelope per line; blank lines are ignored."""
    events: list[Event] = []
    skipped: list[Skipped] = []
    loads = orjson.loads
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = loads(line)
        except orjson.JSONDecodeError as exc:
            skipped.append(Skipped(number, f"bad JSON: {exc}"))
            continue
        try:
            events.append(validate_event(unwrap(obj)))
        except InvalidEvent as exc:
            skipped.append(Skipped(number, exc.reason))
    return events, skipped


def _canonical(event: Event) -> bytes:
    return orjson.dumps(event, option=orjson.OPT_SORT_KEYS)


def order_events(events: list[Event]) -> list[Event]:
    """Stable order by (time, event_id); exact ties (a repeated event id) by content."""
    # two stable single-key sorts: the same order as one (ts, event_id) sort, ~2.5x faster
    ordered = sorted(events, key=itemgetter("event_id"))
    ordered.sort(key=itemgetter("ts"))
    i = 0
    n = len(ordered)
    while i < n:  # only equal (time, id) pairs need the costlier tie-break
        j = i + 1
        head = ordered[i]
        while (
            j < n and ordered[j]["ts"] == head["ts"] and ordered[j]["event_id"] == head["event_id"]
        ):
            j += 1
        if j - i > 1:
            ordered[i:j] = sorted(ordered[i:j], key=_canonical)
        i = j
    return ordered


_TIMES: dict[str, int] = {}  # a parse cache: the same instants recur a lot


def time_ms(text: str) -> int:
    """Epoch ms of an RFC 3339 ``event_time`` (compared as a time, not as text:
    ``...:00.5Z`` sorts before ``...:00Z`` as text)."""
    ms = _TIMES.get(text)
    if ms is None:
        if len(_TIMES) > 100_000:
            _TIMES.clear()
        ms = _TIMES[text] = parse_rfc3339(text)
    return ms


def output_key(record: dict[str, Any]) -> tuple[Any, ...]:
    """(event_time, customer_id, journey, step, action_id): the spec's output order."""
    return (
        time_ms(record["event_time"]),
        record["customer_id"],
        record["journey"],
        record["step"],
        record["action_id"],
    )


def outcome_order(record: dict[str, Any]) -> tuple[int, str]:
    """(event_time, customer_id): a stable sort by it keeps each customer moment's records in
    the order they happened (entered, its steps, its sends, ...)."""
    return (time_ms(record["event_time"]), record["customer_id"])


def replay(
    events: list[Event],
    engine: Engine,
    until: int | None = None,
    progress: Progress | None = None,
) -> ReplayResult:
    """Run ``events`` (any order) through ``engine``; see the module docstring."""
    if engine.adaptive:  # choices read other customers' rewards: one global time order
        from app.core.identity_replay import replay_in_time_order

        return replay_in_time_order(events, engine, until, progress)
    ordered = order_events(events)
    last = ordered[-1]["ts"] if ordered else None
    if until is not None and last is not None and until < last:
        raise ReplayError("--until is earlier than the last event; nothing after it may be cut")
    end = until if until is not None else last
    # Without adaptive steps customers are independent: each one's events run together.
    by_customer: dict[str, list[Event]] = {}
    for event in ordered:
        key = event["key"]
        bucket = by_customer.get(key)
        if bucket is None:
            by_customer[key] = [event]
        else:
            bucket.append(event)
    result = ReplayResult(actions=[], decisions=[], events=len(ordered))
    result.until = end
    actions, decisions, outcomes = result.actions, result.decisions, result.outcomes
    handle, advance = engine.handle_event, engine.advance
    done = 0
    step = max(1, len(ordered) // 20)
    mark = step
    for key, customer_events in by_customer.items():
        profile = new_profile(key)
        jstate = engine.new_state(key)
        erased = False  # the customer's last event was an erasure request: nothing is held
        for event in customer_events:
            erased = is_erasure(event)
            if erased:  # core/erasure.py: what is due fires, then a fresh start
                out = before_erasure(engine, profile, jstate, event)
                profile, jstate = new_profile(key), engine.new_state(key)
            else:
                out = handle(profile, jstate, event)
            if out.duplicates:
                result.duplicates += 1
                continue
            if out.actions:
                actions.extend(out.actions)
            if out.decisions:
                decisions.extend(out.decisions)
            if out.outcomes:
                outcomes.extend(out.outcomes)
        if not erased:
            result.customers += 1
        if end is not None and jstate["entries"]:
            out = advance(profile, jstate, end)
            actions.extend(out.actions)
            decisions.extend(out.decisions)
            outcomes.extend(out.outcomes)
        done += len(customer_events)
        if progress is not None and done >= mark:
            progress(done, len(ordered))
            mark = done + step
    actions.sort(key=output_key)
    decisions.sort(key=output_key)
    outcomes.sort(key=outcome_order)
    result.failures = dict(engine.failures)
    return result


def dump_lines(records: list[dict[str, Any]]) -> bytes:
    """One JSON object per line, keys sorted: byte-identical for identical records."""
    dumps = orjson.dumps
    option = orjson.OPT_SORT_KEYS
    return b"".join(dumps(r, option=option) + b"\n" for r in records)
