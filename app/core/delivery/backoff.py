"""Exponential backoff with full jitter (AWS architecture blog's 'full jitter').

Full jitter spreads the retries of many workers that failed together, so a provider that comes
back is not hit by a synchronised wave. The random source is injected (seeded in tests)."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    base_ms: int = 200
    cap_ms: int = 10_000
    max_attempts: int = 5  # attempts in all, the first one included

    def ceiling_ms(self, attempt: int) -> int:
        """The upper bound of the wait after failed attempt number ``attempt`` (1-based)."""
        return min(self.cap_ms, self.base_ms * (2 ** max(attempt - 1, 0)))

    def delay_ms(self, attempt: int, rng: random.Random) -> int:
        """How long to wait after failed attempt ``attempt`` before the next: U[0, ceiling]."""
        return rng.randint(0, self.ceiling_ms(attempt))

    def gives_up(self, attempt: int) -> bool:
        """True when ``attempt`` failed attempts leave no retry."""
        return attempt >= self.max_attempts
