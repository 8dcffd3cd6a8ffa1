"""The scheduler: turns episodes into one stream of envelopes at a fixed rate of event time.

The run has exactly ``round(rate * duration_s)`` records. Record ``n`` gets the time
``start + floor((n + u) * span / total)`` (one uniform draw ``u`` per record, so the times are
non-decreasing, jittered, and fill ``[start, start + duration)`` evenly). At each record's time
the scheduler emits the earliest pending event of a running episode if it is due, else it starts
a new episode. The rate is therefore exact, and the wished-for gaps inside episodes are kept
as long as the rate and the customer pool are in proportion; when they are not, events come
later than wished (never earlier), which keeps every ordering invariant.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from typing import Any

from app.core.timeutil import format_ms, parse_rfc3339
from app.sim.episodes import Episode, Item, start_episode
from app.sim.malformed import MalformedPlan
from app.sim.world import World

# The default start of a run: fixed, so that runs are reproducible (the CLI's ``--start now``
# is the only use of the wall clock).
DEFAULT_START = "2026-11-23T08:00:00Z"
DEFAULT_START_MS = parse_rfc3339(DEFAULT_START)
# The default pool: about 20 events per customer per run, but at least 200 customers per
# event/s of rate. A session lasts ~20 min of event time, so at steady state ~40 x rate
# sessions run at once; 200 x rate keeps most customers free to start one.
EVENTS_PER_CUSTOMER = 20
CUSTOMERS_PER_RATE = 200
MAX_DEFAULT_CUSTOMERS = 1_000_000


def planned_count(rate: float, duration_s: float) -> int:
    """How many records ``simulate`` yields (valid and malformed together)."""
    if rate <= 0 or duration_s < 0:
        raise ValueError(f"need rate > 0 and duration_s >= 0, got {rate} and {duration_s}")
    return round(rate * duration_s)


def default_customers(rate: float, duration_s: float) -> int:
    """The pool size ``simulate`` uses when ``customers`` is None."""
    by_events = planned_count(rate, duration_s) // EVENTS_PER_CUSTOMER
    by_rate = math.ceil(rate * CUSTOMERS_PER_RATE)
    return min(MAX_DEFAULT_CUSTOMERS, max(10, by_events, by_rate))


def simulate(
    seed: int,
    rate: float,
    duration_s: float,
    start_ms: int,
    customers: int | None = None,
    malformed_rate: float = 0.0,
) -> Iterator[dict[str, Any] | bytes]:
    """Yield simulated event envelopes (dicts) in timestamp order; malformed ones as ``bytes``.

    Deterministic: the same arguments always give the same records. Event ids are
    ``sim-<seed>-<n>`` with ``n`` the record's position, zero-padded to 10 digits so that
    ordering by id (the spec's tie-break for equal timestamps) is emission order.
    """
    total = planned_count(rate, duration_s)
    pool = default_customers(rate, duration_s) if customers is None else customers
    if pool < 1:
        raise ValueError(f"customers must be >= 1, got {pool}")
    plan = MalformedPlan(seed, total, malformed_rate)
    if total == 0:
        return
    world = World(seed, pool)
    yield from _run(world, seed, total, round(duration_s * 1000), start_ms, plan)


def _run(
    world: World, seed: int, total: int, span: int, start_ms: int, plan: MalformedPlan
) -> Iterator[dict[str, Any] | bytes]:
    rng = world.rng
    random = rng.random
    heap: list[tuple[int, int, Episode, Item]] = []
    push = heapq.heappush
    pop = heapq.heappop
    seq = 0
    next_bad = plan.next_position()
    last_sec = None
    prefix = ""
    step = span / total
    for n in range(total):
        t = start_ms + int((n + random()) * step)
        sec = t // 1000
        if sec != last_sec:
            last_sec = sec
            prefix = format_ms(sec * 1000)[:-1]  # "YYYY-MM-DDTHH:MM:SS"
        ms = t - sec * 1000
        timestamp = f"{prefix}.{ms:03d}Z" if ms else prefix + "Z"
        if n == next_bad:
            customer_id = f"c-{int(random() * world.size):06d}"
            yield plan.make(f"sim-{seed}-{n:010d}", timestamp, customer_id)
            next_bad = plan.next_position()
            continue
        world.now = t
        if heap and heap[0][0] <= t:
            _, _, episode, item = pop(heap)
        else:
            episode = start_episode(world)
            item = next(episode)
        yield {
            "event_id": f"sim-{seed}-{n:010d}",
            "type": item[1],
            "customer_id": item[2],
            "anonymous_id": item[3],
            "timestamp": timestamp,
            "properties": item[4],
            "context": item[5],
        }
        following = next(episode, None)
        if following is not None:
            push(heap, (t + following[0], seq, episode, following))
            seq += 1
