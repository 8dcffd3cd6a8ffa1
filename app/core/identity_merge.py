"""One merge, as the stream and replay both run it: an anonymous visitor folded into a customer.

When identity links anonymous key ``a`` to customer ``c`` at event time ``at`` (the claiming
event's time), two steps run, live at two places (``a``'s partition, then ``c``'s), in replay
one after the other:

1. ``retire(engine, a's profile, a's state, at)``: ``a``'s timers due by ``at`` fire under ``a``
   first (they belong to the anonymous past; live, the partition's time had passed them).
2. ``fold_in(engine, c's profile, c's state, a's profile, a's state, at)``: ``c``'s own due timers
   fire, then ``merge_profiles`` and ``Engine.merge_state`` (rules in docs/identity.md).

The claiming event itself is handled under ``c`` *before* the merge: live, it reaches ``c`` one
hop earlier than the merge does, so replay does the same to agree with it.
"""

from __future__ import annotations

from typing import Any

from app.core.journeys import Engine, Outcome
from app.core.journeys.state import JState
from app.core.profile_merge import merge_profiles


def retire(engine: Engine, profile: dict[str, Any], jstate: JState, at: int) -> Outcome:
    """The anonymous side's last moment: fire what was due by ``at``."""
    if not jstate["entries"]:
        return Outcome()
    return engine.advance(profile, jstate, at)


def fold_in(
    engine: Engine,
    profile: dict[str, Any],
    jstate: JState,
    other_profile: dict[str, Any],
    other_jstate: JState,
    at: int,
) -> Outcome:
    """Fold the anonymous side into the customer's (both in place on the customer's side)."""
    out = engine.advance(profile, jstate, at) if jstate["entries"] else Outcome()
    merge_profiles(profile, other_profile)
    out.extend(engine.merge_state(jstate, other_jstate, at))
    return out
