"""Fakes and sample actions for the sink unit tests."""

from __future__ import annotations

from typing import Any


class FakeClock:
    """Time moves only when someone sleeps; every sleep is recorded."""

    def __init__(self, wall_ms: int = 1_795_000_000_000) -> None:
        self.mono = 0.0
        self.wall = wall_ms
        self.sleeps: list[float] = []

    def monotonic_ms(self) -> float:
        return self.mono

    def wall_ms(self) -> int:
        return self.wall + int(self.mono)

    def sleep_ms(self, ms: float) -> None:
        if ms > 0:
            self.sleeps.append(ms)
            self.mono += ms


def action(channel: str = "email", n: int = 1, **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "action_id": f"a-{channel}-{n}",
        "customer_id": f"c-{n}",
        "journey": "cart_recovery",
        "journey_version": 3,
        "step": "email_offer",
        "channel": channel,
        "template": "cart_offer",
        "variant": None,
        "trigger_event_id": f"e-{n}",
        "event_time": "2026-11-23T10:00:00Z",
        "decided_at": "2026-11-23T10:00:00Z",
        "scores": {"churn": 0.2, "intent": 0.7},
        "data": {},
        "context": {"category": "promotional", "priority": 50, "visit": 1},
    }
    base.update(over)
    return base


def profile(n: int = 1, **attributes: Any) -> dict[str, Any]:
    return {
        "id": f"c-{n}",
        "attributes": {"email": f"c{n}@example.com", "name": f"Ada {n}", **attributes},
        "counts": {"CartAbandoned": 1},
        "first_seen": 0,
        "last_seen": 0,
        "consent": {},
        "open_tickets": 0,
        "lifetime_value": 0.0,
    }
