"""Journey state when identity links an anonymous visitor to a customer (Engine.merge_state)."""

from __future__ import annotations

import copy
from typing import Any

from app.core.journeys.engine import Engine
from app.core.journeys.outcome import MERGED, Outcome
from app.core.profile import new_profile
from app.core.profile_merge import merge_profiles
from tests.unit.engine.helpers import event, iso, journey, ms, policies

CART = {"event": "CartAbandoned"}
EMAIL = {"channel": "email", "template": "t"}
NUDGE = [{"id": "wait_1h", "wait": "1h"}, {"id": "nudge", "send": EMAIL}]


class Person:
    """One key's profile and journey state, as the shell's tables hold them."""

    def __init__(self, engine: Engine, key: str) -> None:
        self.engine = engine
        self.profile = new_profile(key)
        self.jstate = engine.new_state(key)
        self.out = Outcome()

    def on(self, etype: str, clock: str, **props: Any) -> Outcome:
        customer, anonymous = (
            (None, self.jstate["key"])
            if self.jstate["key"].startswith("a-")
            else (self.jstate["key"], None)
        )
        out = self.engine.handle_event(
            self.profile, self.jstate, event(etype, clock, customer, anonymous=anonymous, **props)
        )
        self.out.extend(out)
        return out

    def at(self, clock: str) -> Outcome:
        out = self.engine.advance(self.profile, self.jstate, ms(clock))
        self.out.extend(out)
        return out

    def absorb(self, anonymous: Person, clock: str) -> Outcome:
        """What the shell does on a merge: profile and journey state of the anonymous key."""
        before = copy.deepcopy(anonymous.jstate)
        merge_profiles(self.profile, anonymous.profile)
        out = self.engine.merge_state(self.jstate, anonymous.jstate, ms(clock))
        assert anonymous.jstate == before  # the other side is read, never changed
        self.out.extend(out)
        return out


def people(
    *journeys: dict[str, Any], policy: dict[str, Any] | None = None
) -> tuple[Person, Person]:
    engine = Engine(list(journeys), policy)
    return Person(engine, "c-1"), Person(engine, "a-1")


def actions(out: Outcome) -> list[tuple[str, str, str, int]]:
    return [(a["event_time"], a["customer_id"], a["step"], a["entry"]) for a in out.actions]


def test_an_entry_only_the_anonymous_side_has_carries_over_and_sends_to_the_customer() -> None:
    customer, visitor = people(journey(id="cart", trigger=CART, steps=NUDGE))
    visitor.on("CartAbandoned", "10:00")
    assert customer.absorb(visitor, "10:30").outcomes == []
    assert customer.engine.next_due(customer.jstate) == ms("11:00")
    assert actions(customer.at("11:00")) == [(iso("11:00"), "c-1", "nudge", 1)]
    assert customer.jstate["history"] == {"cart": [1, ms("10:00")]}


def test_a_carried_entry_is_renumbered_after_the_customers_own_entries() -> None:
    customer, visitor = people(journey(id="cart", trigger=CART, steps=NUDGE))
    customer.on("CartAbandoned", "08:00")
    first = customer.at("09:00").actions[0]
    visitor.on("CartAbandoned", "10:00")
    customer.absorb(visitor, "10:30")
    second = customer.at("11:00").actions[0]
    assert (first["entry"], second["entry"]) == (1, 2)
    assert first["action_id"] != second["action_id"]
    customer.on("CartAbandoned", "12:00")  # a later entry continues the combined numbering
    assert customer.at("13:00").actions[0]["entry"] == 3


def test_when_both_sides_are_in_a_journey_the_customers_entry_continues() -> None:
    customer, visitor = people(journey(id="cart", trigger=CART, steps=NUDGE))
    customer.on("CartAbandoned", "10:10")
    visitor.on("CartAbandoned", "10:00")
    out = customer.absorb(visitor, "10:30")
    assert [
        (o["customer_id"], o["journey"], o["entry"], o["kind"], o["reason"], o["event_time"])
        for o in out.outcomes
    ] == [(visitor.jstate["key"], "cart", 1, "exited", MERGED, iso("10:30"))]
    assert actions(customer.at("12:00")) == [(iso("11:10"), "c-1", "nudge", 1)]
    assert customer.jstate["history"]["cart"] == [2, ms("10:10")]


def test_once_still_holds_when_only_the_anonymous_side_had_entered() -> None:
    customer, visitor = people(journey(id="cart", trigger=CART, reentry="once"))
    assert visitor.on("CartAbandoned", "10:00").actions
    customer.absorb(visitor, "10:30")
    assert customer.on("CartAbandoned", "11:00").actions == []


def test_a_cooldown_runs_from_the_latest_entry_of_either_side() -> None:
    j = journey(id="cart", trigger=CART, reentry={"cooldown": "3h"})
    customer, visitor = people(j)
    customer.on("CartAbandoned", "08:00")
    visitor.on("CartAbandoned", "10:00")
    customer.absorb(visitor, "10:30")
    assert customer.on("CartAbandoned", "12:00").actions == []  # 10:00 + 3h not reached
    assert [a["entry"] for a in customer.on("CartAbandoned", "13:00").actions] == [3]


def test_the_anonymous_sides_recent_sends_count_toward_the_customers_caps() -> None:
    j = journey(id="cart", trigger=CART)
    policy = policies(frequency_caps=[{"channel": "email", "max": 1, "per": "24h"}])
    customer, visitor = people(j, policy=policy)
    assert visitor.on("CartAbandoned", "10:00").actions
    customer.absorb(visitor, "10:30")
    out = customer.on("CartAbandoned", "11:00")
    assert out.actions == []
    assert [d["reason"] for d in out.decisions] == ["frequency_cap"]


def test_merging_a_visitor_without_journeys_changes_nothing() -> None:
    customer, visitor = people(journey(id="cart", trigger=CART, steps=NUDGE))
    customer.on("CartAbandoned", "10:00")
    before = copy.deepcopy(customer.jstate)
    assert customer.absorb(visitor, "10:30").outcomes == []
    assert customer.jstate == before


def test_an_update_step_is_stamped_so_a_late_older_event_does_not_undo_it() -> None:
    j = journey(id="tag", trigger=CART, steps=[{"id": "tag", "update": {"set": {"plan": "'vip'"}}}])
    customer, _ = people(j)
    customer.on("CartAbandoned", "10:00")
    customer.on("ProfileUpdated", "09:00", plan="free", tier=1)  # late, older than the update
    assert customer.profile["attributes"] == {"plan": "vip", "tier": 1}
    customer.on("ProfileUpdated", "11:00", plan="gold")
    assert customer.profile["attributes"]["plan"] == "gold"
