"""A token bucket: ``rate`` sends per second on average, bursts of up to ``burst``."""

from __future__ import annotations


class TokenBucket:
    __slots__ = ("_at_ms", "_tokens", "burst", "rate")

    def __init__(self, rate_per_s: float, burst: float, now_ms: float) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate_per_s
        self.burst = float(burst)
        self._tokens = float(burst)
        self._at_ms = now_ms

    def _refill(self, now_ms: float) -> None:
        if now_ms > self._at_ms:
            self._tokens = min(self.burst, self._tokens + (now_ms - self._at_ms) * self.rate / 1000)
            self._at_ms = now_ms

    def take(self, now_ms: float) -> float:
        """Take one token. Returns 0 if one was there, else the milliseconds to wait for it
        (the token is then reserved: the caller sleeps that long and goes ahead)."""
        self._refill(now_ms)
        self._tokens -= 1.0
        if self._tokens >= 0:
            return 0.0
        return -self._tokens * 1000 / self.rate
