"""Adaptive ``split`` and ``decide``: Thompson sampling over arm statistics kept in event time.

A step with ``adaptive: {reward, floor, holdout}`` chooses its arm (a split's variant, a decide's
option) per entry:

1. **holdout** (``unit_interval(seed + ":holdout") < holdout``): the step's fixed rule (the spec's
   split by weights; decide's highest ``scores[propensity] x value x weight``), so the learner's
   lift over the fixed rule can be measured;
2. **explore** (``u = unit_interval(seed + ":explore") < floor x K`` for K arms): arm
   ``floor(u / floor)``, so every arm keeps at least ``floor`` of the learner's entries
   (``floor x (1 - holdout)`` of all);
3. **exploit**: each arm draws a conversion rate from ``Beta(1 + rewards, 1 + pulls - rewards)``
   (a generator seeded from ``sha256(seed + ":draw")``), times the option's ``value x weight``
   for decide; the highest wins, ties to the earlier arm.

The seed is ``"{journey}:{step}:{customer}:{entry}:{moment ms}"``, so the same history gives the
same choices in replay and live.

**What a choice sees.** Pulls (a choice, at its moment) and rewards (at the reward's event time)
are counted in fixed event-time windows of one hour (:data:`WINDOW_MS`). A choice at time T uses
only the windows that ended at least one full window before T's own (index <= T // W - 2): a
reward is seen between one and two hours after it happened. Because no choice reads the window
it is in, nor the one before, the statistics a choice sees do not depend on the order in which
the records of the last hour or two were processed: live (one partition's records in offset
order, timers after each batch) and replay (every event in time order) see the same counts as
long as no record arrives more than an hour behind its partition's time (the later of its newest
event and, once it has read everything, the wall clock, which moves its timers). A later one is
still counted, in its own window, but a choice made meanwhile could not see it: the one way live
and replay can then differ.

Control entries (the journey's holdout, the global control group) get the fixed rule and are
not counted: nothing is sent to them. A step visited twice in one entry counts two pulls; only
the later choice can still be rewarded. An anonymous visitor's pull stays in its partition's
book when identity merges it into a customer on another partition, whose book gets the reward:
rewards are capped at pulls when read.

**Where the statistics live.** One *book* per partition of the customer-keyed topic (a plain
dict, stored under :data:`BOOK_KEY` in the journey agent's store, changelogged and checkpointed
with the customers of its batch); each partition's arms converge on that partition's traffic.
Replay keeps one book per ``partition_for(customer, partitions)`` with the deployment's count, so
it makes the live choices. The book holds counts only, no personal data.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

from app.core.journeys.cel_program import Expr
from app.core.journeys.hashing import unit_interval

#: the width of an arm-statistics window (event time)
WINDOW_MS = 3_600_000
#: a choice at T reads the windows with index <= T // WINDOW_MS - LAG_WINDOWS
LAG_WINDOWS = 2
#: windows kept one by one; older ones are folded into the settled totals
KEEP_WINDOWS = 72
#: the store key of a partition's book (NUL: never a customer key)
BOOK_KEY = "\x00arms"

EXPLOIT = "exploit"
EXPLORE = "explore"
HOLDOUT = "holdout"
#: ``reward: goal``
GOAL_REWARD = "goal"

#: the default exploration floor (each arm's least share of the traffic)
DEFAULT_FLOOR = 0.05

Book = dict[str, Any]
#: arm -> [pulls, rewards]
Stats = dict[str, list[int]]


@dataclass(frozen=True, slots=True)
class Adaptive:
    """A step's ``adaptive`` block, compiled."""

    #: the event type that rewards the arm; None: the journey's goal
    reward_event: str | None
    reward_when: Expr | None
    floor: float
    holdout: float

    @property
    def reward_name(self) -> str:
        return self.reward_event if self.reward_event is not None else GOAL_REWARD


def new_book() -> Book:
    """``{"w": {window: {journey/step: {arm: [pulls, rewards]}}}, "s": {journey/step: {arm:
    [pulls, rewards]}}}``: the windows one by one, and the totals of the oldest (settled)."""
    return {"w": {}, "s": {}}


def stats_key(journey: str, step: str) -> str:
    return f"{journey}/{step}"


def visible(book: Book, key: str, at_ms: int) -> Stats:
    """The statistics a choice at ``at_ms`` sees (see the module docstring)."""
    limit = at_ms // WINDOW_MS - LAG_WINDOWS
    total: Stats = {arm: list(counts) for arm, counts in book["s"].get(key, {}).items()}
    for window, steps in book["w"].items():
        if int(window) > limit:
            continue
        for arm, (pulls, rewards) in steps.get(key, {}).items():
            _add(total, arm, pulls, rewards)
    return total


def count(book: Book, key: str, arm: str, at_ms: int, pulls: int = 0, rewards: int = 0) -> None:
    """Add a pull or a reward of ``arm`` at ``at_ms`` to its window."""
    window = str(at_ms // WINDOW_MS)
    windows = book["w"]
    steps = windows.get(window)
    if steps is None:
        steps = windows[window] = {}
        if len(windows) > KEEP_WINDOWS:
            _settle(book)
    _add(steps.setdefault(key, {}), arm, pulls, rewards)


def _settle(book: Book) -> None:
    """Fold the oldest windows into the settled totals until KEEP_WINDOWS remain."""
    windows = book["w"]
    settled = book["s"]
    for window in sorted(windows, key=int)[: len(windows) - KEEP_WINDOWS]:
        for key, arms in windows.pop(window).items():
            into = settled.setdefault(key, {})
            for arm, (pulls, rewards) in arms.items():
                _add(into, arm, pulls, rewards)


def _add(stats: Stats, arm: str, pulls: int, rewards: int) -> None:
    counts = stats.get(arm)
    if counts is None:
        stats[arm] = [pulls, rewards]
    else:
        counts[0] += pulls
        counts[1] += rewards


def in_holdout(seed: str, holdout: float) -> bool:
    return holdout > 0 and unit_interval(seed + ":holdout") < holdout


def choose(
    arms: Sequence[str], values: Sequence[float], stats: Stats, seed: str, floor: float
) -> tuple[int, str, list[float]]:
    """The arm to play (its index), how it was chosen (explore or exploit) and each arm's
    sampled score (conversion rate draw x value)."""
    rng = random.Random(int(sha256((seed + ":draw").encode()).hexdigest()[:16], 16))
    scores = []
    for arm, value in zip(arms, values, strict=True):
        pulls, rewards = stats.get(arm, (0, 0))
        rewards = min(rewards, pulls)  # a reward whose pull is in a window not yet visible
        scores.append(beta(rng, 1.0 + rewards, 1.0 + pulls - rewards) * value)
    u = unit_interval(seed + ":explore")
    if u < floor * len(arms):
        return min(int(u / floor), len(arms) - 1), EXPLORE, scores
    best = 0
    for i in range(1, len(scores)):
        if scores[i] > scores[best]:
            best = i
    return best, EXPLOIT, scores


def beta(rng: random.Random, a: float, b: float) -> float:
    """A Beta(a, b) draw for a, b >= 1, from two gamma draws.

    Written out (not ``random.betavariate``) so the draws depend only on ``Random.random()``,
    whose sequence Python keeps stable for a given seed across versions."""
    x = _gamma(rng, a)
    y = _gamma(rng, b)
    return x / (x + y)


def _gamma(rng: random.Random, shape: float) -> float:
    """Marsaglia and Tsang (2000), shape >= 1."""
    d = shape - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        x = _normal(rng)
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        u = rng.random()
        if u < 1.0 - 0.0331 * x * x * x * x:
            return d * v
        if u > 0.0 and math.log(u) < 0.5 * x * x + d * (1.0 - v + math.log(v)):
            return d * v


def _normal(rng: random.Random) -> float:
    """Box-Muller, one of the pair."""
    u1 = 1.0 - rng.random()  # (0, 1]
    u2 = rng.random()
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


class Books:
    """The engine's books, one per partition of the customer-keyed topic (in memory; the live
    shell gives the engine a stored kind, app/stream/journey_agent.py)."""

    def __init__(self, partitions: int = 1) -> None:
        self.partitions = partitions
        self._books: dict[int, Book] = {}

    def partition_of(self, key: str) -> int:
        if self.partitions <= 1:
            return 0
        from app.partitioner import partition_for  # the Java-compatible hash, no Kafka import

        return partition_for(key.encode(), self.partitions)

    def book(self, key: str) -> Book:
        """The book of the partition ``key`` (a customer) is processed on."""
        partition = self.partition_of(key)
        book = self._books.get(partition)
        if book is None:
            book = self._books[partition] = new_book()
        return book
