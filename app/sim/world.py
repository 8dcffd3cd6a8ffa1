"""The simulator's mutable world: the seeded RNG, the customer pool, id counters, the clock.

Episodes (see ``episodes.py``) read and change it; the scheduler (``generator.py``) sets
``now`` to the time of the event it just emitted before asking an episode for its next one.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from itertools import accumulate

from app.sim.customers import Customer, pool_traits
from app.sim.sampling import Categorical, lognormal_ms

# Churn-prone customers are quieter: they start episodes less often ...
ACTIVITY_WEIGHT = {False: 1.0, True: 0.4}
# ... but open tickets, revoke consent and unsubscribe more often.
DISCONTENT_WEIGHT = {False: 0.5, True: 1.5}
CATALOG_SIZE = 500


class World:
    __slots__ = (
        "_activity_cum",
        "_churner",
        "_counters",
        "_customers",
        "_discontent_cum",
        "_prospect",
        "catalog",
        "now",
        "rng",
        "seed",
    )

    def __init__(self, seed: int, customers: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.now = 0
        self._churner, self._prospect = pool_traits(customers)
        # Customer objects are made on first sight: a large pool costs little up front.
        self._customers: list[Customer | None] = [None] * customers
        self._activity_cum = list(accumulate(ACTIVITY_WEIGHT[c] for c in self._churner))
        self._discontent_cum = list(accumulate(DISCONTENT_WEIGHT[c] for c in self._churner))
        self._counters: dict[str, int] = {}
        # A fixed catalogue (same under every seed): product id -> price, log-normal around 35.
        catalog_rng = random.Random(0x50524F44)
        self.catalog = [
            (f"p-{i:04d}", round(35.0 * catalog_rng.lognormvariate(0.0, 0.8), 2))
            for i in range(CATALOG_SIZE)
        ]

    def next_id(self, prefix: str) -> str:
        """A unique, deterministic id for this run: ``<prefix>-<seed>-<n>``."""
        n = self._counters.get(prefix, 0) + 1
        self._counters[prefix] = n
        return f"{prefix}-{self.seed}-{n}"

    @property
    def size(self) -> int:
        return len(self._customers)

    def customer(self, i: int) -> Customer:
        cust = self._customers[i]
        if cust is None:
            cust = self._customers[i] = Customer(i, self._churner[i], self._prospect[i])
        return cust

    def pick(self, discontent: bool = False) -> Customer:
        """A customer drawn by weight (churn-prone ones are quieter, but more discontent)."""
        cum = self._discontent_cum if discontent else self._activity_cum
        i = bisect_right(cum, self.rng.random() * cum[-1])
        return self.customer(min(i, len(cum) - 1))

    def product(self) -> tuple[str, float]:
        return self.catalog[int(self.rng.random() * CATALOG_SIZE)]

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def delay(self, median_ms: float, sigma: float, floor_ms: int) -> int:
        return lognormal_ms(self.rng, median_ms, sigma, floor_ms)

    def choose(self, options: Categorical[str]) -> str:
        return options.sample(self.rng)
