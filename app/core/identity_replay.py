"""Replay with identity resolution: the pure equivalent of the live identity wiring.

``replay_resolved`` runs the events in (time, event_id) order through ``resolve`` with a dict
as the identity table; each event is handled under the key ``resolve`` gives it; at each merge
the anonymous side is retired and folded into the customer (``identity_merge``), in the order
the live stream does it (the claiming event first, then the merge). Unlike plain ``replay``,
customers are not independent here (a merge joins two keys), so the events run in one global
time order.

The result is a :class:`~app.core.journeys.replay.ReplayResult` whose ``states`` hold every
surviving key's (profile, journey state) when ``keep_states`` is set, and ``identity`` the final
rows, merges and review records (what the stream writes to its table and review topic).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.core.erasure import before_erasure, is_erasure
from app.core.identity import IdentityConfig, Link, identifiers_of, resolve
from app.core.identity_merge import fold_in, retire
from app.core.journeys.engine import Engine
from app.core.journeys.outcome import Outcome
from app.core.journeys.replay import (
    Event,
    Progress,
    ReplayError,
    ReplayResult,
    order_events,
    outcome_order,
    output_key,
)
from app.core.journeys.state import next_due
from app.core.profile import new_profile


@dataclass(slots=True)
class IdentityResult:
    rows: dict[str, Link] = field(default_factory=dict)
    #: (anonymous key, customer, at): every merge, in the order it ran
    merges: list[tuple[str, str, int]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)

    def identifiers_of_customer(self, customer: str) -> list[str]:
        return sorted(i for i, row in self.rows.items() if row["c"] == customer)


class Table(Protocol):
    """Keyed state the ordered run reads and writes: a dict in memory (``DictTable``), or a
    disk-backed store with a bounded cache for inputs larger than memory (app/replay/)."""

    def get(self, key: str) -> Any | None: ...

    def put(self, key: str, value: Any | None) -> None:
        """Set a key's value (``None``: delete). Called after every change, in place or not."""

    def items(self) -> Iterable[tuple[str, Any]]:
        """Every key and value (an erasure looks for the rows a customer owns)."""


class DictTable:
    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str) -> Any | None:
        return self.data.get(key)

    def put(self, key: str, value: Any | None) -> None:
        if value is None:
            self.data.pop(key, None)
        else:
            self.data[key] = value

    def items(self) -> Iterable[tuple[str, Any]]:
        return list(self.data.items())


class DueTimers:
    """Every customer's next timer, for a run in one global time order: the journeys with
    adaptive steps read other customers' rewards (core/journeys/bandit.py), so a timer's moment
    must come in its time among everyone's events, as the live partition does, not at the
    customer's next event. One heap entry per due time a key takes (not per event)."""

    __slots__ = ("_due", "_heap")

    def __init__(self) -> None:
        self._heap: list[tuple[int, str]] = []
        self._due: dict[str, int] = {}

    def note(self, key: str, state: Any | None) -> None:
        """After a change to ``key``'s state (None: gone): remember its next due time."""
        due = next_due(state[1]) if state is not None else None
        if due is None:
            self._due.pop(key, None)
        elif self._due.get(key) != due:
            self._due[key] = due
            heapq.heappush(self._heap, (due, key))

    def fire_before(
        self, engine: Engine, states: Table, before: int, keep: Callable[[Outcome], None]
    ) -> None:
        """Fire every timer due before ``before``, in due order, each customer's moment by
        itself."""
        heap, dues = self._heap, self._due
        while heap and heap[0][0] < before:
            due, key = heapq.heappop(heap)
            if dues.get(key) != due:
                continue  # changed since: its current time has an entry of its own
            del dues[key]
            state = states.get(key)
            if state is None:
                continue
            keep(engine.advance(state[0], state[1], due))
            states.put(key, state)
            self.note(key, state)


def run_resolved(
    ordered: Iterable[Event],
    engine: Engine,
    config: IdentityConfig | None,
    states: Table,
    rows: Table,
    keep: Callable[[Outcome], None],
    identity: IdentityResult | None = None,
    each: Callable[[int], None] | None = None,
    until: int | None = None,
    timers_in_time: bool = False,
    keep_due: Callable[[Outcome], None] | None = None,
) -> tuple[int, int | None, int, int]:
    """The loop of :func:`replay_resolved` over events already in (time, event_id) order:
    each event resolved (``config`` None: no identity resolution, every event under its own
    key), handled under its key, merges folded; every output to ``keep``. States are
    ``[profile, journey state]`` pairs keyed by customer (written back to ``states`` after each
    change), identity rows are keyed by identifier. ``identity`` collects the merges and
    conflicts (None: only counted); ``each(n)`` is called after the n-th event.

    Returns (events, the last event's time, merges, conflicts). The states still holding
    entries then need :func:`advance_all` at the end time. With adaptive journeys (or
    ``timers_in_time``) every timer fires in its time among the events (:class:`DueTimers`), up
    to ``until`` at the end; their outputs go to ``keep_due`` (default ``keep``): they belong to
    no event."""
    count = merged = conflicted = 0
    last: int | None = None
    handle = engine.handle_event
    timers = DueTimers() if engine.adaptive or timers_in_time else None
    for count, event in enumerate(ordered, start=1):
        if timers is not None:
            timers.fire_before(engine, states, event["ts"], keep_due or keep)
        merges: list[tuple[str, str]] = []
        if config is not None:
            ids = identifiers_of(event, config)
            if ids:
                found = {}
                for ident in ids:
                    row = rows.get(ident)
                    if row is not None:
                        found[ident] = row
                resolution = resolve(event, found, config)
                for ident, link in resolution.links.items():
                    rows.put(ident, link)
                if resolution.conflicts:
                    conflicted += len(resolution.conflicts)
                    if identity is not None:
                        identity.conflicts.extend(resolution.conflicts)
                merges = resolution.merges
                if resolution.key != event["key"]:
                    event = {**event, "key": resolution.key}
        key = event["key"]
        state = states.get(key)
        if state is None:
            state = (new_profile(key), engine.new_state(key))
        if is_erasure(event):  # core/erasure.py: what is due fires, then nothing is left
            keep(before_erasure(engine, state[0], state[1], event))
            states.put(key, None)
            if timers is not None:
                timers.note(key, None)
            for ident in [i for i, row in rows.items() if row["c"] == key]:
                rows.put(ident, None)
            last = event["ts"]
            if each is not None:
                each(count)
            continue
        keep(handle(state[0], state[1], event))
        states.put(key, state)
        if timers is not None:
            timers.note(key, state)
        at = last = event["ts"]
        for anonymous, customer in merges:
            merged += 1
            if identity is not None:
                identity.merges.append((anonymous, customer, at))
            other = states.get(anonymous)
            if other is None:  # the visitor had no events yet: nothing to fold
                continue
            states.put(anonymous, None)
            if timers is not None:
                timers.note(anonymous, None)
            keep(retire(engine, other[0], other[1], at))
            into = states.get(customer)
            if into is None:
                into = (new_profile(customer), engine.new_state(customer))
            keep(fold_in(engine, into[0], into[1], other[0], other[1], at))
            states.put(customer, into)
            if timers is not None:
                timers.note(customer, into)
        if each is not None:
            each(count)
    if timers is not None and until is not None:
        timers.fire_before(engine, states, until + 1, keep_due or keep)
    return count, last, merged, conflicted


@dataclass(slots=True)
class Pending:
    """The timers still waiting after the end time: the entries (one timer each) whose next
    step is later, and the earliest and latest of those times. A replay without ``--until``
    ends at its last event, so a journey's waits past it are here, not in the outputs."""

    timers: int = 0
    first: int | None = None
    last: int | None = None

    def note(self, jstate: Any) -> None:
        for entry in jstate["entries"].values():
            due = entry.get("due")
            if due is None:
                continue
            self.timers += 1
            if self.first is None or due < self.first:
                self.first = due
            if self.last is None or due > self.last:
                self.last = due


def advance_all(
    engine: Engine,
    states: Iterable[Any],
    end: int,
    keep: Callable[[Outcome], None],
    pending: Pending | None = None,
) -> None:
    """Move every (profile, journey state) with entries on to ``end``: its due timers fire;
    the timers still waiting after it are counted in ``pending``."""
    for profile, jstate in states:
        if jstate["entries"]:
            keep(engine.advance(profile, jstate, end))
            if pending is not None:
                pending.note(jstate)


def replay_in_time_order(
    events: list[Event],
    engine: Engine,
    until: int | None = None,
    progress: Progress | None = None,
) -> ReplayResult:
    """``replay`` without identity resolution, every customer in one global time order (what
    journeys with adaptive steps need): the same result shape and output order."""
    return replay_resolved(events, engine, None, until, progress)[0]


def _collect(result: ReplayResult) -> Callable[[Outcome], None]:
    def keep(out: Outcome) -> None:
        if out.actions:
            result.actions.extend(out.actions)
        if out.decisions:
            result.decisions.extend(out.decisions)
        if out.outcomes:
            result.outcomes.extend(out.outcomes)
        result.duplicates += out.duplicates

    return keep


def _each(ordered: list[Event], progress: Progress | None) -> Callable[[int], None] | None:
    if progress is None:
        return None
    step = max(1, len(ordered) // 20)
    total = len(ordered)

    def each(done: int) -> None:
        if done % step == 0:
            progress(done, total)

    return each


def _finish(result: ReplayResult, engine: Engine) -> None:
    result.actions.sort(key=output_key)
    result.decisions.sort(key=output_key)
    result.outcomes.sort(key=outcome_order)
    result.failures = dict(engine.failures)


def replay_resolved(
    events: list[Event],
    engine: Engine,
    config: IdentityConfig | None,
    until: int | None = None,
    progress: Progress | None = None,
    keep_states: bool = False,
) -> tuple[ReplayResult, IdentityResult, dict[str, tuple[dict[str, Any], dict[str, Any]]]]:
    """Run ``events`` (any order) with identity resolution (``config`` None: none, every event
    under its own key); see the module docstring.

    Returns the replay result, the identity outcome and (if ``keep_states``, else empty) the
    final (profile, journey state) of every key that was not merged away."""
    ordered = order_events(events)
    last = ordered[-1]["ts"] if ordered else None
    if until is not None and last is not None and until < last:
        raise ReplayError("--until is earlier than the last event; nothing after it may be cut")
    end = until if until is not None else last
    result = ReplayResult(actions=[], decisions=[], events=len(ordered), until=end)
    identity = IdentityResult()
    states = DictTable()
    rows = DictTable()
    rows.data = identity.rows
    keep = _collect(result)
    run_resolved(
        ordered, engine, config, states, rows, keep, identity, _each(ordered, progress), end
    )
    if end is not None:
        advance_all(engine, states.data.values(), end, keep)
    result.customers = len(states.data)
    _finish(result, engine)
    return result, identity, (states.data if keep_states else {})
