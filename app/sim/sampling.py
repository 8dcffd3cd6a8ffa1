"""Small, fast samplers over a seeded ``random.Random`` (no numpy on the per-event path).

Each sampler is built once from the calibration figures and then costs one or two RNG calls.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Mapping
from itertools import accumulate
from typing import Any, Generic, TypeVar

T = TypeVar("T")
_MASK64 = (1 << 64) - 1


class Categorical(Generic[T]):
    """Draw a key of ``freq`` with probability proportional to its value."""

    __slots__ = ("_cum", "_last", "_total", "_values")

    def __init__(self, freq: Mapping[T, float]) -> None:
        if not freq or min(freq.values()) < 0 or sum(freq.values()) <= 0:
            raise ValueError(f"need non-negative weights with a positive sum: {freq!r}")
        self._values: list[T] = list(freq)
        self._cum = list(accumulate(freq.values()))
        self._total = self._cum[-1]
        self._last = len(self._values) - 1

    def sample(self, rng: random.Random) -> T:
        return self.at(rng.random())

    def at(self, u: float) -> T:
        """The value at quantile ``u`` in [0, 1) (for draws that come from a hash)."""
        i = bisect_right(self._cum, u * self._total)
        # min(): rng.random() * total can round up to total itself.
        return self._values[i if i <= self._last else self._last]


class ZeroLognormal:
    """0 with probability ``p_zero``, else ``exp(N(mu, sigma))`` capped at ``cap``."""

    __slots__ = ("cap", "mu", "p_zero", "sigma")

    def __init__(self, p_zero: float, mu: float, sigma: float, cap: float) -> None:
        self.p_zero = p_zero
        self.mu = mu
        self.sigma = sigma
        self.cap = cap

    @classmethod
    def of(cls, fit: Mapping[str, float], cap: float) -> ZeroLognormal:
        return cls(fit["p_zero"], fit["mu"], fit["sigma"], cap)

    def sample(self, rng: random.Random) -> float:
        if rng.random() < self.p_zero:
            return 0.0
        # exp(gauss) rather than lognormvariate: same law, about 3x cheaper.
        value = math.exp(rng.gauss(self.mu, self.sigma))
        return value if value < self.cap else self.cap

    def positive(self, rng: random.Random) -> float:
        """A draw from the positive part only (e.g. the length of a page that was viewed)."""
        value = math.exp(rng.gauss(self.mu, self.sigma))
        return value if value < self.cap else self.cap


def from_quantiles(quantiles: list[float], u: float) -> float:
    """Inverse CDF by linear interpolation between evenly spaced quantiles (u in [0, 1))."""
    pos = u * (len(quantiles) - 1)
    i = int(pos)
    if i >= len(quantiles) - 1:
        return quantiles[-1]
    return quantiles[i] + (quantiles[i + 1] - quantiles[i]) * (pos - i)


def mix64(x: int) -> int:
    """SplitMix64 finaliser: a cheap, well-spread hash of an integer (seed-free traits)."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def lognormal_ms(rng: random.Random, median_ms: float, sigma: float, floor_ms: int) -> int:
    """A positive delay in ms with the given median, never below ``floor_ms``."""
    value = int(median_ms * math.exp(rng.gauss(0.0, sigma)))
    return value if value > floor_ms else floor_ms


def as_int_keys(freq: Mapping[Any, float]) -> dict[int, float]:
    return {int(k): v for k, v in freq.items()}
