"""A closed-loop simulation with a known best arm: customers answer the arm the engine gave them.

The event simulator (generator.py) is open loop: its customers never see what Segue sends. To
show that an adaptive ``split`` or ``decide`` finds the better arm, the customers here react to
the engine's choice: each one arrives with the journey's trigger event, the engine (the same
one replay and the worker run, in one global time order) chooses an arm, and the customer
converts (emits the reward event, e.g. the goal's ``OrderPlaced``) with the probability given
for that arm, some minutes to hours later. Everything is seeded: the same plan gives the same
events, and ``segue replay`` of those events makes the same choices.

The output is the event stream (to publish live or replay) and, per entry, the arm chosen and
how (explore, exploit, holdout), from which the best arm's share over time and the regret
(the conversions lost against always playing the best arm) follow.
"""

from __future__ import annotations

import copy
import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from app.core.envelope import validate_event
from app.core.identity_replay import DictTable, run_resolved
from app.core.journeys.bandit import Books
from app.core.journeys.engine import Engine
from app.core.journeys.hashing import unit_interval
from app.core.journeys.outcome import Outcome
from app.core.journeys.replay import time_ms
from app.core.timeutil import format_ms, parse_duration
from app.sim.generator import DEFAULT_START_MS

#: reactions come this long after the choice at least, and at most this much more
MIN_DELAY_MS = 10 * 60_000
DELAY_SPAN_MS = 12 * 3_600_000
#: after the last arrival, a clock event of a type no journey uses every so often, so that the
#: entries still waiting reach the adaptive step in their time (and replay goes as far)
CLOCK = "SimulationClock"
CLOCK_MS = 10 * 60_000


@dataclass(frozen=True, slots=True)
class ArmsPlan:
    journey: dict[str, Any]  # the journey document (as loaded from YAML)
    step: str  # the adaptive split or decide step
    rates: dict[str, float]  # arm -> probability that a customer given it converts
    entries: int = 4_000
    per_hour: float = 100.0  # arrivals (trigger events) per hour of event time
    seed: int = 1
    start_ms: int = DEFAULT_START_MS
    #: the event that rewards the arm (default: the journey's goal event)
    reward_event: str | None = None
    trigger_properties: dict[str, Any] = field(default_factory=lambda: {"cart_value": 60.0})


@dataclass(slots=True)
class Choice:
    customer: str
    at_ms: int
    arm: str
    mode: str | None  # explore / exploit / holdout; None for a fixed split
    converted: bool = False


@dataclass(slots=True)
class ArmsRun:
    events: list[dict[str, Any]]  # the raw envelopes, in time order
    choices: list[Choice]  # one per entry that reached the step, in time order

    def best_share(self, best: str, block: int) -> list[float]:
        """The best arm's share of the choices in consecutive blocks of ``block`` entries."""
        shares = []
        for i in range(0, len(self.choices) - block + 1, block):
            part = self.choices[i : i + block]
            shares.append(sum(c.arm == best for c in part) / block)
        return shares

    def regret(self, rates: dict[str, float]) -> list[float]:
        """Cumulative expected regret after each entry: sum of (best rate - chosen arm's)."""
        top = max(rates.values())
        total = 0.0
        out = []
        for c in self.choices:
            total += top - rates.get(c.arm, 0.0)
            out.append(total)
        return out


def without_adaptive(journey: dict[str, Any]) -> dict[str, Any]:
    """The same journey with its steps' ``adaptive`` blocks removed: the fixed split to compare
    with."""
    fixed = copy.deepcopy(journey)
    for step in fixed.get("steps") or ():
        step.pop("adaptive", None)
    return fixed


def run_arms(
    plan: ArmsPlan,
    engine_for: Callable[[dict[str, Any]], Engine],
    journey: dict[str, Any] | None = None,
) -> ArmsRun:
    """Run the plan through ``engine_for(journey)`` (default: the plan's journey)."""
    doc = journey if journey is not None else plan.journey
    engine = engine_for(doc)
    jid = doc["id"]
    trigger = doc["trigger"]["event"]
    reward = plan.reward_event or (doc.get("goal") or {}).get("event")
    if reward is None:
        raise ValueError("the journey has no goal: give the reward event")
    gap = 3_600_000 / plan.per_hour
    pending: list[tuple[int, int, dict[str, Any]]] = []  # (ts, sequence, raw envelope)
    sequence = 0
    for i in range(plan.entries):
        at = plan.start_ms + int(i * gap + unit_interval(f"arrive:{plan.seed}:{i}") * gap)
        pending.append(
            (
                at,
                sequence,
                _envelope(f"arm-{plan.seed}-{i}", trigger, f"c-{i}", at, plan.trigger_properties),
            )
        )
        sequence += 1
    if plan.entries:  # the clock goes on after the last arrival: every entry reaches its step
        last_arrival = max(at for at, _, _ in pending)
        for k in range(1, tail_ms(doc) // CLOCK_MS + 2):
            at = last_arrival + k * CLOCK_MS
            for key in _clock_keys(engine.arms):
                pending.append((at, sequence, _envelope(f"clock-{k}-{key}", CLOCK, key, at, {})))
                sequence += 1
    heapq.heapify(pending)
    events: list[dict[str, Any]] = []
    choices: list[Choice] = []
    last = [0]

    def source() -> Iterator[dict[str, Any]]:
        while pending:
            at, _, raw = heapq.heappop(pending)
            if at < last[0]:
                raise AssertionError("a reaction came before an event already handled")
            last[0] = at
            events.append(raw)
            yield validate_event(raw)

    def keep(out: Outcome) -> None:
        nonlocal sequence
        for record in out.outcomes:
            if record["journey"] != jid or record["step"] != plan.step:
                continue
            if record["kind"] == "step" and record.get("variant") is not None:
                arm = record["variant"]
            elif record["kind"] == "decided" and record.get("choice") is not None:
                arm = record["choice"]
            else:
                continue
            customer = record["customer_id"]
            at = time_ms(record["event_time"])  # an event's time, or a timer's due time
            choice = Choice(customer, at, arm, record.get("adaptive"))
            choices.append(choice)
            draw = f"{plan.seed}:{customer}:{record['entry']}"
            if unit_interval(f"convert:{draw}") < plan.rates.get(arm, 0.0):
                choice.converted = True
                when = at + MIN_DELAY_MS + int(unit_interval(f"delay:{draw}") * DELAY_SPAN_MS)
                # a timer fires before the next event: with arrivals sparser than the least
                # delay, a reaction may not go before what was handled already
                when = max(when, last[0])
                properties = {"order_id": f"o-{customer}-{record['entry']}", "total": 40.0}
                raw = _envelope(f"won-{draw}", reward, customer, when, properties)
                heapq.heappush(pending, (when, sequence, raw))
                sequence += 1

    # timers in their time even for a fixed split: its customers must react as they would live
    run_resolved(source(), engine, None, DictTable(), DictTable(), keep, timers_in_time=True)
    return ArmsRun(events, choices)


def tail_ms(journey: dict[str, Any]) -> int:
    """How long after the last arrival an entry may still reach any step: every wait and
    wait_for timeout of the journey in a row (at most a week)."""
    total = 0
    for step in journey.get("steps") or ():
        if "wait" in step:
            total += parse_duration(step["wait"])
        elif "wait_for" in step and step["wait_for"].get("timeout") is not None:
            total += parse_duration(step["wait_for"]["timeout"])
    return min(total, 7 * 86_400_000)


def _clock_keys(books: Books) -> list[str]:
    """One key on each partition: a clock event of each moves every partition's time (the
    live rule) as far as replay goes."""
    keys: dict[int, str] = {}
    i = 0
    while len(keys) < books.partitions:
        key = f"sim-clock-{i}"
        keys.setdefault(books.partition_of(key), key)
        i += 1
    return [keys[p] for p in sorted(keys)]


def _envelope(
    event_id: str, etype: str, customer: str, at_ms: int, properties: dict[str, Any]
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": etype,
        "customer_id": customer,
        "timestamp": format_ms(at_ms),
        "properties": dict(properties),
    }
