"""When a sink's profile snapshot includes the decision behind an action (core/delivery/snapshot.py),
checked against the journey states the real engine writes."""

from __future__ import annotations

import copy
from typing import Any

from app.core.delivery.snapshot import caught_up, journey_marks
from app.core.journeys import Engine
from app.core.profile import new_profile

JOURNEY = {
    "id": "loop",
    "version": 1,
    "trigger": {"event": "Ping"},
    "steps": [
        {"id": "hello", "send": {"channel": "email", "template": "welcome"}},
        {
            "id": "again",
            "wait_for": {
                "event": "Pong",
                "timeout": "1h",
                "on_event": "hello",
                "on_timeout": "end",
            },
        },
    ],
}


def ev(eid: str, etype: str, ts: int) -> dict[str, Any]:
    return {"event_id": eid, "type": etype, "ts": ts, "properties": {}, "key": "c-1"}


def test_a_snapshot_is_fresh_once_it_holds_the_deciding_state() -> None:
    engine = Engine([JOURNEY])
    profile, jstate = new_profile("c-1"), engine.new_state("c-1")
    before = copy.deepcopy(jstate)  # what the changelog held before the first decision
    (first,) = engine.handle_event(profile, jstate, ev("e-1", "Ping", 1_000)).actions
    after_first = copy.deepcopy(jstate)
    (second,) = engine.handle_event(profile, jstate, ev("e-2", "Pong", 2_000)).actions
    assert second["context"]["visit"] == 2  # the loop came back to the same step

    assert caught_up(journey_marks(before), first) is False
    assert caught_up(journey_marks(after_first), first) is True
    assert caught_up(journey_marks(after_first), second) is False  # one visit behind
    assert caught_up(journey_marks(jstate), second) is True
    assert caught_up({}, first) is False

    # the entry ends (timeout), a new one starts: older actions stay caught up
    engine.advance(profile, jstate, 2_000 + 3_600_000)
    assert caught_up(journey_marks(jstate), second) is True
    (third,) = engine.handle_event(profile, jstate, ev("e-3", "Ping", 9_000_000)).actions
    assert third["entry"] == 2
    assert caught_up(journey_marks(jstate), first) is True


def test_actions_that_do_not_say_their_entry_never_wait() -> None:
    assert caught_up({}, {"journey": "x", "step": "s"}) is None
    assert caught_up(None, {"journey": "x", "entry": "1"}) is None
