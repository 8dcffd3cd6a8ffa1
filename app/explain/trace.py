"""A replay for one explanation: ``segue replay``'s loop, noting the event behind each record.

The run is the replay's own (``run_resolved``: identity resolved as live, the same engine), over
every event, since a customer's key is only known once identity has seen them all. Each outcome
record goes to ``keep`` with the event being handled when it was made (None for the timers fired
at the end): that is how the explanation names the events of a replay. Then the ID is resolved
against the run's identity rows and states, and only that customer is moved on to the end
time: customers are independent once the events are in, and the others are not wanted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from app.core.identity import IdentityConfig
from app.core.identity_replay import IdentityResult, Table, run_resolved
from app.core.journeys.engine import Engine
from app.core.journeys.outcome import Outcome
from app.core.journeys.replay import Event
from app.explain.assemble import Customer, Definitions
from app.explain.events import EventIndex
from app.explain.identify import resolve_key

#: the event being handled when a record was made: (event_id, type, epoch ms)
Seen = tuple[str, str, int]
#: (outcome record, the event being handled or None)
Keep = Callable[[dict[str, Any], Seen | None], None]


@dataclass
class Traced:
    """The customer the ID names in a replay (key None: no such customer)."""

    key: str | None
    profile: dict[str, Any] | None = None
    jstate: dict[str, Any] | None = None
    #: the customer's key and the anonymous keys merged into it: their records are its own
    keys: set[str] = field(default_factory=set)


class _Tracer:
    def __init__(self, keep: Keep) -> None:
        self._keep = keep
        self.current: Event | None = None

    def events(self, ordered: Iterable[Event]) -> Iterator[Event]:
        # run_resolved handles each event (and keeps its outputs) before it asks for the next
        for event in ordered:
            self.current = event
            yield event
        self.current = None

    def keep(self, out: Outcome) -> None:
        event = self.current
        seen = None if event is None else (event["event_id"], event["type"], event["ts"])
        for record in out.outcomes:
            self._keep(record, seen)

    def keep_timers(self, out: Outcome) -> None:
        """The moments of timers that fire in their time among everyone's events (journeys with
        adaptive steps): no event of the customer's behind them."""
        for record in out.outcomes:
            self._keep(record, None)


def trace(
    ordered: Iterable[Event],
    engine: Engine,
    identity: IdentityConfig | None,
    states: Table,
    rows: Table,
    identifier: str,
    end: int | None,
    keep: Keep,
) -> Traced:
    """Run ``ordered`` (in (time, event_id) order) and find ``identifier``'s customer; its timers
    due by ``end`` fire (their records go to ``keep`` too)."""
    tracer = _Tracer(keep)
    merges = IdentityResult()
    run_resolved(
        tracer.events(ordered),
        *(engine, identity, states, rows, tracer.keep, merges),
        until=end,
        keep_due=tracer.keep_timers,
    )

    def owner_of(ident: str) -> str | None:
        row = rows.get(ident)
        return row["c"] if row else None

    key = resolve_key(identifier, owner_of, lambda k: states.get(k) is not None)
    if key is None:
        return Traced(None)
    profile, jstate = states.get(key)  # type: ignore[misc]
    if end is not None and jstate["entries"]:
        tracer.keep(engine.advance(profile, jstate, end))
    keys = {key} | {anonymous for anonymous, customer, _ in merges.merges if customer == key}
    return Traced(key, profile, jstate, keys)


def replayed_customer(
    traced: Traced,
    identifier: str,
    kept: Iterable[tuple[dict[str, Any], Seen | None]],
    definitions: Definitions,
    end: int | None,
) -> Customer:
    """The explanation's input from a trace: the records ``keep`` was given, those of the
    customer's keys kept, with the events behind them."""
    assert traced.key is not None
    outcomes = []
    events = EventIndex()
    for record, seen in kept:
        if record["customer_id"] in traced.keys:
            outcomes.append(record)
            if seen is not None:
                events.add(*seen)
    return Customer(
        customer_id=traced.key,
        requested_as=identifier,
        source="replay",
        jstate=traced.jstate,
        outcomes=outcomes,
        events=events,
        definitions=definitions,
        as_of=end,
    )
