"""The statistics of the report, each chosen for honesty at small samples.

- A conversion rate's 95 % interval: Wilson's score interval (it stays inside [0, 1] and keeps
  its coverage with few entries or few conversions, where the textbook normal interval claims
  too much: at 0 of 12 it gives [0, 0]).
- The absolute lift (treatment rate minus control rate) and its 95 % interval: Newcombe's hybrid
  score interval (method 10 of Newcombe 1998), built from the two Wilson intervals; the usual
  Wald interval of a difference is far too narrow when a rate is near 0 or 1 or a group small.
- Its p-value: Fisher's exact test, two-sided (scipy), exact at any sample size, so a small
  control group never gets a p-value from a normal approximation it does not satisfy.
- The sample size per group to detect the observed difference (two-sided 5 %, power 80 %), by
  the normal approximation for two proportions: a planning figure, labelled as such.
- Quantiles: nearest rank on the sorted values (every figure is one that occurred).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy.stats import fisher_exact

Z95 = 1.959963984540054  # the standard normal's 97.5 % quantile
Z80 = 0.8416212335729143  # its 80 % quantile (power 80 %)


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for successes / n (n = 0: the whole of [0, 1])."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    lower = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the ends, not 1e-17
    upper = 1.0 if successes == n else min(1.0, centre + half)
    return (lower, upper)


def newcombe(k1: int, n1: int, k2: int, n2: int, z: float = Z95) -> tuple[float, float, float]:
    """(p1 - p2, lower, upper): Newcombe's hybrid score interval of the difference."""
    p1 = k1 / n1 if n1 else 0.0
    p2 = k2 / n2 if n2 else 0.0
    l1, u1 = wilson(k1, n1, z)
    l2, u2 = wilson(k2, n2, z)
    delta = p1 - p2
    lower = delta - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    upper = delta + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return (delta, lower, upper)


def fisher_p(k1: int, n1: int, k2: int, n2: int) -> float | None:
    """Two-sided p-value of Fisher's exact test on the 2x2 table (None: a group is empty)."""
    if n1 <= 0 or n2 <= 0:
        return None
    _, p = fisher_exact([[k1, n1 - k1], [k2, n2 - k2]], alternative="two-sided")
    return float(min(1.0, p))


def compare(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float, float, float | None]:
    """(p1 - p2, its 95 % interval's lower and upper bound, Fisher's two-sided p-value)."""
    delta, low, high = newcombe(k1, n1, k2, n2)
    return delta, low, high, fisher_p(k1, n1, k2, n2)


def sample_size(p1: float, p2: float, z_alpha: float = Z95, z_beta: float = Z80) -> int | None:
    """Entries needed per group to detect p1 vs p2 (two-sided 5 %, power 80 %); None when
    there is no difference to detect."""
    if p1 == p2:
        return None
    mean = (p1 + p2) / 2
    a = z_alpha * math.sqrt(2 * mean * (1 - mean))
    b = z_beta * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil((a + b) ** 2 / (p1 - p2) ** 2)


def quantile(ordered: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q`` quantile (0 < q <= 1) of already sorted values."""
    if not ordered:
        return None
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]
