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

from dataclasses import dataclass, field
from typing import Any

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
from app.core.profile import new_profile


@dataclass(slots=True)
class IdentityResult:
    rows: dict[str, Link] = field(default_factory=dict)
    #: (anonymous key, customer, at): every merge, in the order it ran
    merges: list[tuple[str, str, int]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)

    def identifiers_of_customer(self, customer: str) -> list[str]:
        return sorted(i for i, row in self.rows.items() if row["c"] == customer)


def replay_resolved(
    events: list[Event],
    engine: Engine,
    config: IdentityConfig,
    until: int | None = None,
    progress: Progress | None = None,
    keep_states: bool = False,
) -> tuple[ReplayResult, IdentityResult, dict[str, tuple[dict[str, Any], dict[str, Any]]]]:
    """Run ``events`` (any order) with identity resolution; see the module docstring.

    Returns the replay result, the identity outcome and (if ``keep_states``, else empty) the
    final (profile, journey state) of every key that was not merged away."""
    ordered = order_events(events)
    last = ordered[-1]["ts"] if ordered else None
    if until is not None and last is not None and until < last:
        raise ReplayError("--until is earlier than the last event; nothing after it may be cut")
    end = until if until is not None else last
    result = ReplayResult(actions=[], decisions=[], events=len(ordered), until=end)
    identity = IdentityResult()
    rows = identity.rows
    states: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}

    def keep(out: Outcome) -> None:
        if out.actions:
            result.actions.extend(out.actions)
        if out.decisions:
            result.decisions.extend(out.decisions)
        if out.outcomes:
            result.outcomes.extend(out.outcomes)
        result.duplicates += out.duplicates

    def state_of(key: str) -> tuple[dict[str, Any], dict[str, Any]]:
        state = states.get(key)
        if state is None:
            state = states[key] = (new_profile(key), engine.new_state(key))
        return state

    step = max(1, len(ordered) // 20)
    for done, event in enumerate(ordered, start=1):
        merges: list[tuple[str, str]] = []
        ids = identifiers_of(event, config)
        if ids:
            found = {i: rows[i] for i in ids if i in rows}
            resolution = resolve(event, found, config)
            rows.update(resolution.links)
            identity.conflicts.extend(resolution.conflicts)
            merges = resolution.merges
            if resolution.key != event["key"]:
                event = {**event, "key": resolution.key}
        profile, jstate = state_of(event["key"])
        keep(engine.handle_event(profile, jstate, event))
        at = event["ts"]
        for anonymous, customer in merges:
            identity.merges.append((anonymous, customer, at))
            other = states.pop(anonymous, None)
            if other is None:  # the visitor had no events yet: nothing to fold
                continue
            keep(retire(engine, other[0], other[1], at))
            into = state_of(customer)
            keep(fold_in(engine, into[0], into[1], other[0], other[1], at))
        if progress is not None and done % step == 0:
            progress(done, len(ordered))
    if end is not None:
        for profile, jstate in states.values():
            if jstate["entries"]:
                keep(engine.advance(profile, jstate, end))
    result.customers = len(states)
    result.actions.sort(key=output_key)
    result.decisions.sort(key=output_key)
    result.outcomes.sort(key=outcome_order)
    result.failures = dict(engine.failures)
    return result, identity, (states if keep_states else {})
