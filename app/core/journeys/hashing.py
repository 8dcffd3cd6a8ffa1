"""The spec's deterministic hashes: holdout, split, and action ids (and the global control
group, an extension of the policies).

All three hash the event's ``key`` (the customer id, else the anonymous id the event was handled
under), so a replay, a retry or a restart makes exactly the same choices and ids.
"""

from __future__ import annotations

from hashlib import sha256

_SCALE = 2**32


def unit_interval(text: str) -> float:
    """``int(sha256(text).hexdigest()[:8], 16) / 2**32``: a stable draw in [0, 1)."""
    return int(sha256(text.encode()).hexdigest()[:8], 16) / _SCALE


def in_holdout(journey_id: str, customer_id: str, holdout: float) -> bool:
    """The spec's control-group rule for one (journey, customer)."""
    return holdout > 0 and unit_interval(f"{journey_id}:{customer_id}") < holdout


def in_global_control(customer_id: str, share: float) -> bool:
    """The global control group (policies ``global_control.share``): one draw per customer,
    whatever the journey, so the same customers are held out of every journey."""
    return share > 0 and unit_interval(f"global_control:{customer_id}") < share


def split_draw(journey_id: str, step_id: str, customer_id: str) -> float:
    """The spec's ``u`` for a split step."""
    return unit_interval(f"{journey_id}:{step_id}:{customer_id}")


def action_id(
    journey_id: str, version: int, customer_id: str, entry: int, step_id: str, visit: int
) -> str:
    """First 32 hex digits of ``sha256("{journey}:{version}:{customer}:{entry}:{step}:{visit}")``.

    Journey and step ids cannot contain ``:`` and the numbers are decimal, so the text reads back
    unambiguously even when a customer id contains ``:``. 128 bits: no collisions in practice.
    """
    text = f"{journey_id}:{version}:{customer_id}:{entry}:{step_id}:{visit}"
    return sha256(text.encode()).hexdigest()[:32]
