"""Duplicate events (issue 13, item 5): copies of one event_id fold once per customer, within the
window (app/core/duplicates.py)."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from app.core.duplicates import DuplicateRule, merge_seen
from app.core.envelope import validate_event
from app.core.journeys.engine import Engine
from app.core.journeys.replay import dump_lines, replay
from app.core.profile import new_profile
from app.settings import Settings
from tests.unit.engine.helpers import HOUR, event, journey, ms

RECEIPT = journey(
    id="receipt",
    category="transactional",
    trigger={"event": "OrderPlaced"},
    steps=[{"id": "thanks", "send": {"channel": "email", "template": "t"}}],
)
WAITER = journey(
    id="waiter",
    trigger={"event": "CartAbandoned"},
    goal={"event": "OrderPlaced", "within": "1d"},
    steps=[
        {"id": "w", "wait_for": {"event": "PageViewed", "timeout": "3h"}},
        {"id": "nudge", "send": {"channel": "email", "template": "t"}},
    ],
)


class Customer:
    """One customer's state through the engine, event by event (live order)."""

    def __init__(self, engine: Engine, key: str = "c-1") -> None:
        self.engine = engine
        self.profile = new_profile(key)
        self.jstate = engine.new_state(key)
        self.actions: list[dict[str, Any]] = []
        self.duplicates = 0

    def handle(self, e: dict[str, Any]) -> None:
        out = self.engine.handle_event(self.profile, self.jstate, dict(e))
        self.actions.extend(out.actions)
        self.duplicates += out.duplicates


def order(eid: str, clock: str, total: float = 10.0, customer: str = "c-1") -> dict[str, Any]:
    return event("OrderPlaced", clock, customer, eid=eid, total=total)


def test_twenty_copies_of_one_order_fold_once() -> None:
    c = Customer(Engine([RECEIPT]))
    for _ in range(20):
        c.handle(order("o-1", "10:00"))
    assert c.profile["counts"] == {"OrderPlaced": 1}
    assert c.profile["lifetime_value"] == 10.0
    assert [a["step"] for a in c.actions] == ["thanks"]  # no second trigger, no second send
    assert c.duplicates == 19
    assert len(c.profile["recent"]) == 1


def test_a_copy_changes_nothing_not_even_a_due_timer() -> None:
    c = Customer(Engine([WAITER]))
    c.handle(event("CartAbandoned", "10:00", eid="cart"))
    c.handle(event("PageViewed", "10:30", eid="view"))  # resumes the wait_for: nudge at 10:30
    before = orjson.dumps([c.profile, c.jstate])
    c.handle(event("CartAbandoned", "10:00", eid="cart"))
    c.handle(event("PageViewed", "15:00", eid="view"))  # a late copy: no timer, no fold
    assert orjson.dumps([c.profile, c.jstate]) == before
    assert c.duplicates == 2


def test_the_first_copy_handled_wins_whatever_the_copies_timestamps() -> None:
    """Live order: a later copy with another timestamp (earlier or later) is a duplicate while
    the first is remembered; the profile keeps the first copy's time."""
    c = Customer(Engine([RECEIPT]))
    c.handle(order("o-1", "10:00"))
    c.handle(order("o-1", "09:00"))  # earlier, arriving later
    c.handle(order("o-1", "20:00"))  # later, within the window
    assert c.duplicates == 2
    assert c.profile["counts"] == {"OrderPlaced": 1}
    assert c.profile["first_seen"] == c.profile["last_seen"] == ms("10:00")
    # replay orders by (time, event_id): the 09:00 copy comes first and is the one folded
    result = replay(
        [order("o-1", "10:00"), order("o-1", "20:00"), order("o-1", "09:00")], Engine([RECEIPT])
    )
    assert result.duplicates == 2
    assert [a["event_time"] for a in result.actions] == ["2026-11-23T09:00:00Z"]


def test_a_copy_outside_the_window_counts_again() -> None:
    """The window is (T - 24h, T], T the later of the customer's newest event and the copy."""
    c = Customer(Engine([RECEIPT]))
    c.handle(order("o-1", "2026-11-23T10:00:00Z"))
    c.handle(event("PageViewed", "2026-11-24T09:59:59Z"))  # newest now 23h59m59s later
    c.handle(order("o-1", "2026-11-23T10:00:00Z"))
    assert c.duplicates == 1
    c.handle(event("PageViewed", "2026-11-24T10:00:00Z"))  # exactly 24h: out of the window
    c.handle(order("o-1", "2026-11-23T10:00:00Z"))
    assert c.duplicates == 1
    assert c.profile["counts"]["OrderPlaced"] == 2
    assert c.profile["lifetime_value"] == 20.0
    # and a copy whose own time is a day later, even with nothing in between
    d = Customer(Engine([RECEIPT]))
    d.handle(order("o-2", "2026-11-23T10:00:00Z"))
    d.handle(order("o-2", "2026-11-24T10:00:00Z"))
    assert d.duplicates == 0 and d.profile["counts"]["OrderPlaced"] == 2


def test_an_event_later_than_the_window_is_folded_and_not_remembered() -> None:
    c = Customer(Engine([RECEIPT]))
    c.handle(event("PageViewed", "2026-11-25T10:00:00Z"))
    c.handle(order("old", "2026-11-23T10:00:00Z"))
    c.handle(order("old", "2026-11-23T10:00:00Z"))
    assert c.duplicates == 0 and c.profile["counts"]["OrderPlaced"] == 2
    assert "old" not in c.jstate["seen"]


def test_the_same_event_id_for_two_customers_is_not_a_duplicate() -> None:
    engine = Engine([RECEIPT])
    one, two = Customer(engine, "c-1"), Customer(engine, "c-2")
    one.handle(order("o-1", "10:00", customer="c-1"))
    two.handle(order("o-1", "10:00", customer="c-2"))
    assert one.duplicates == two.duplicates == 0
    assert one.profile["counts"] == two.profile["counts"] == {"OrderPlaced": 1}
    result = replay([order("o-1", "10:00", customer=c) for c in ("c-1", "c-2", "c-1")], engine)
    assert result.duplicates == 1
    assert sorted(a["customer_id"] for a in result.actions) == ["c-1", "c-2"]


def test_the_cap_forgets_the_oldest_ids_first() -> None:
    c = Customer(Engine([RECEIPT], duplicates=DuplicateRule(max_ids=3)))
    for i in range(5):
        c.handle(order(f"o-{i}", f"10:0{i}"))
    assert list(c.jstate["seen"]) == ["o-2", "o-3", "o-4"]
    c.handle(order("o-4", "10:04"))
    c.handle(order("o-0", "10:00"))  # forgotten: counts again
    assert c.duplicates == 1
    assert c.profile["counts"]["OrderPlaced"] == 6


def test_over_the_cap_a_tenth_is_forgotten_at_once() -> None:
    c = Customer(Engine([RECEIPT], duplicates=DuplicateRule(max_ids=20)))
    for i in range(21):
        c.handle(event("PageViewed", f"10:{i:02d}", eid=f"v-{i:02d}"))
    assert list(c.jstate["seen"]) == [f"v-{i:02d}" for i in range(3, 21)]  # 18 = 20 - 20 // 10


def test_the_state_forgets_ids_out_of_the_window() -> None:
    """The stored ids stay within the window (swept as the customer's time moves on)."""
    c = Customer(Engine([RECEIPT]))
    c.handle(event("PageViewed", "2026-11-23T10:00:00Z", eid="old"))
    c.handle(event("PageViewed", "2026-11-23T12:00:00Z", eid="mid"))
    c.handle(event("PageViewed", "2026-11-24T11:00:00Z", eid="new"))
    assert list(c.jstate["seen"]) == ["mid", "new"]


def test_a_window_of_zero_turns_the_rule_off() -> None:
    c = Customer(Engine([RECEIPT], duplicates=DuplicateRule(window=0)))
    for _ in range(3):
        c.handle(order("o-1", "10:00"))
    assert c.duplicates == 0 and c.profile["counts"]["OrderPlaced"] == 3
    assert "seen" not in c.jstate


def test_the_rule_and_its_settings() -> None:
    assert Settings().duplicates == DuplicateRule(24 * HOUR, 1_000)
    settings = Settings(duplicate_window="2h", duplicate_max_ids=50)
    assert settings.duplicates == DuplicateRule(2 * HOUR, 50)
    with pytest.raises(ValueError, match="invalid duration"):
        Settings(duplicate_window="2 hours")
    with pytest.raises(ValueError):
        Settings(duplicate_max_ids=0)


def test_a_state_stored_before_ids_were_remembered_starts_remembering() -> None:
    c = Customer(Engine([RECEIPT]))
    c.jstate = {"key": "c-1", "entries": {}, "history": {}, "sent": []}  # stored before
    c.handle(order("o-1", "10:00"))
    c.handle(order("o-1", "10:00"))
    assert c.duplicates == 1


def test_identity_merge_pools_the_remembered_ids() -> None:
    """A copy of an event the anonymous visitor had is a duplicate under the customer too."""
    engine = Engine([RECEIPT])
    anonymous, customer = Customer(engine, "a-1"), Customer(engine, "c-1")
    anonymous.handle(event("OrderPlaced", "10:00", None, eid="o-1", anonymous="a-1", total=5))
    customer.handle(order("o-2", "09:00"))
    other = orjson.loads(orjson.dumps(anonymous.jstate))
    engine.merge_state(customer.jstate, anonymous.jstate, ms("10:05"))
    assert anonymous.jstate == other  # left as it was
    assert list(customer.jstate["seen"]) == ["o-2", "o-1"]  # oldest first
    customer.handle(order("o-1", "10:00"))
    assert customer.duplicates == 1


def test_merge_seen_keeps_the_later_time_of_an_id_both_had() -> None:
    into = {"b": 5, "a": 1}
    merge_seen(into, {"a": 3, "c": 2})
    assert list(into.items()) == [("c", 2), ("a", 3), ("b", 5)]


def envelope(eid: str, etype: str, clock: str, customer: str, **props: Any) -> dict[str, Any]:
    return {
        "event_id": eid,
        "type": etype,
        "customer_id": customer,
        "timestamp": f"2026-11-23T{clock}:00Z",
        "properties": props,
    }


def test_replay_with_copies_in_any_line_order_gives_byte_identical_output() -> None:
    lines = []
    for n in range(6):
        customer = f"c-{n % 3}"
        lines.append(envelope(f"cart-{n}", "CartAbandoned", f"1{n}:00", customer))
        lines.append(envelope(f"view-{n}", "PageViewed", f"1{n}:30", customer))
        lines.append(envelope(f"order-{n}", "OrderPlaced", f"1{n}:45", customer, total=n))
    copies = [dict(line) for line in lines[::2]] * 3  # every other event, three more times
    baseline = replay([validate_event(x) for x in lines], Engine([RECEIPT, WAITER]), ms("23:00"))
    outputs = set()
    for seed in range(5):
        shuffled = lines + copies
        random.Random(seed).shuffle(shuffled)
        result = replay(
            [validate_event(x) for x in shuffled], Engine([RECEIPT, WAITER]), ms("23:00")
        )
        assert result.duplicates == len(copies)
        outputs.add(dump_lines(result.actions) + b"--\n" + dump_lines(result.decisions))
    assert outputs == {dump_lines(baseline.actions) + b"--\n" + dump_lines(baseline.decisions)}
    assert baseline.actions
