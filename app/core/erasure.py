"""Erasure (GDPR art. 17) in stream order: what an ``ErasureRequested`` event does to a customer.

The request is an event like any other (``segue forget`` publishes it to the events topic,
keyed by the customer), so it is carried out exactly where it falls in the customer's stream:
everything before it is processed first, everything after it starts a fresh profile. At the
request, timers due by its time fire first (live, the partition's clock may have fired them
already: both ways they fire once), then the profile, the journey state and its timers, and the
customer's identity rows are deleted. The entries it ends leave no outcome record (a record
would be one more trace of the customer). Replay and live both call this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.core.journeys.engine import Engine
    from app.core.journeys.outcome import Outcome

ERASURE = "ErasureRequested"


def is_erasure(event: dict[str, Any]) -> bool:
    return event["type"] == ERASURE


def before_erasure(
    engine: Engine, profile: dict[str, Any], jstate: dict[str, Any], event: dict[str, Any]
) -> Outcome:
    """What happens to the customer up to the request's time (their due timers), before their
    state is dropped."""
    return engine.advance(profile, jstate, event["ts"])
