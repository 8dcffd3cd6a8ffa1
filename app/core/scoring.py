"""The scorer interface the journey engine asks for ``scores``.

A scorer maps the profile *as it is at that moment* (and the moment itself, for features that
age) to named probabilities. The engine calls it lazily, at most once per customer per moment,
only when an expression or a ``decide`` step needs scores or a send records them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

SCORE_NAMES = ("churn", "intent")


class Scorer(Protocol):
    #: stamped on every action as ``model_version`` so a decision can be traced to its model
    version: str

    def score(self, profile: Mapping[str, Any], now_ms: int) -> dict[str, float]: ...


class ZeroScorer:
    """The default until models are configured: every score is 0.0 (as the spec requires)."""

    version = "none"

    def score(self, profile: Mapping[str, Any], now_ms: int) -> dict[str, float]:
        return dict.fromkeys(SCORE_NAMES, 0.0)
