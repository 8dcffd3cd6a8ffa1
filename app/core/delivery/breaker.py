"""A circuit breaker per channel: after ``threshold`` consecutive failures the circuit opens
and calls are refused without touching the provider for ``cooldown_ms``; then one trial call
is let through (half-open): its success closes the circuit, its failure opens it again."""

from __future__ import annotations

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"


class CircuitBreaker:
    __slots__ = ("_failures", "_opened_at", "_state", "cooldown_ms", "threshold")

    def __init__(self, threshold: int = 5, cooldown_ms: int = 5_000) -> None:
        self.threshold = threshold
        self.cooldown_ms = cooldown_ms
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0

    def state(self, now_ms: float) -> str:
        if self._state == OPEN and now_ms - self._opened_at >= self.cooldown_ms:
            return HALF_OPEN
        return self._state

    def allow(self, now_ms: float) -> bool:
        """May a call go to the provider now? (In half-open state: the one trial call.)"""
        state = self.state(now_ms)
        if state == HALF_OPEN:
            self._state = HALF_OPEN  # the trial is in flight; no other call until it reports
            self._opened_at = now_ms
            return True
        return state == CLOSED

    def wait_ms(self, now_ms: float) -> float:
        """How long until a call may be tried (0 when allowed now)."""
        if self.state(now_ms) != OPEN:
            return 0.0
        return self._opened_at + self.cooldown_ms - now_ms

    def success(self) -> None:
        self._state = CLOSED
        self._failures = 0

    def failure(self, now_ms: float) -> bool:
        """Record a failed call; True if this opened the circuit."""
        self._failures += 1
        if self._state == HALF_OPEN or self._failures >= self.threshold:
            was_open = self._state == OPEN
            self._state = OPEN
            self._opened_at = now_ms
            return not was_open
        return False
