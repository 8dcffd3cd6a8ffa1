"""Small builders for engine scenarios: valid journeys, events at clock times, one-call runs."""

from __future__ import annotations

from hashlib import sha256
from typing import Any

from app.core.envelope import validate_event
from app.core.journeys.defaults import journey_with_defaults, policies_with_defaults
from app.core.journeys.definitions import validate_journey, validate_policies
from app.core.journeys.engine import Engine
from app.core.journeys.replay import ReplayResult, replay
from app.core.scoring import Scorer
from app.core.timeutil import format_ms, parse_rfc3339

DAY = "2026-11-23"  # a Monday
HOUR = 3_600_000
MINUTE = 60_000


def ms(clock: str, day: str = DAY) -> int:
    """``"10:00"`` (or a full RFC 3339 text) -> epoch ms on the test day, UTC."""
    if "T" in clock:
        return parse_rfc3339(clock)
    if clock.count(":") == 1:
        clock += ":00"
    return parse_rfc3339(f"{day}T{clock}Z")


def iso(clock: str, day: str = DAY) -> str:
    return format_ms(ms(clock, day))


def journey(**fields: Any) -> dict[str, Any]:
    """A journey validated by the real loader's checks, with its defaults applied."""
    doc: dict[str, Any] = {
        "id": "j",
        "version": 1,
        "trigger": {"event": "Start"},
        "steps": [{"id": "hello", "send": {"channel": "email", "template": "hi"}}],
    }
    doc.update(fields)
    problems = validate_journey(doc, "test.yaml")
    assert not problems, [str(p) for p in problems]
    return journey_with_defaults(doc, "test.yaml")


def policies(**fields: Any) -> dict[str, Any]:
    problems = validate_policies(fields, "policies.yaml")
    assert not problems, [str(p) for p in problems]
    return policies_with_defaults(fields)


_counter = iter(range(1, 10**9))


def event(
    etype: str,
    clock: str,
    customer: str | None = "c-1",
    eid: str | None = None,
    anonymous: str | None = None,
    **props: Any,
) -> dict[str, Any]:
    """A normalised event of ``customer`` at ``clock`` on the test day."""
    return validate_event(
        {
            "event_id": eid or f"e-{next(_counter):06d}",
            "type": etype,
            "customer_id": customer,
            "anonymous_id": anonymous,
            "timestamp": iso(clock),
            "properties": props,
        }
    )


def run(
    journeys: list[dict[str, Any]],
    events: list[dict[str, Any]],
    policy: dict[str, Any] | None = None,
    until: str | None = None,
    scorer: Scorer | None = None,
) -> ReplayResult:
    engine = Engine(journeys, policy, scorer)
    return replay(events, engine, ms(until) if until else None)


def sent(result: ReplayResult) -> list[tuple[str, str, str]]:
    """(event_time, customer, step) of each emitted action, in output order."""
    return [(a["event_time"], a["customer_id"], a["step"]) for a in result.actions]


def decided(result: ReplayResult) -> list[tuple[str, str, str, str]]:
    return [(d["event_time"], d["step"], d["decision"], d["reason"]) for d in result.decisions]


def u(text: str) -> float:
    """The spec's hash draw, written out independently of the engine."""
    return int(sha256(text.encode()).hexdigest()[:8], 16) / 2**32


class FixedScorer:
    """A scorer with fixed scores that counts its calls (scores are computed lazily)."""

    version = "fixed-1"

    def __init__(self, **scores: float) -> None:
        self.scores = {"churn": 0.0, "intent": 0.0, **scores}
        self.calls = 0

    def score(self, profile: Any, now_ms: int) -> dict[str, float]:
        self.calls += 1
        return dict(self.scores)


def lives(outcomes: list[dict[str, Any]]) -> list[str]:
    """The entry-level outcome kinds in order (entered and the endings), an exit with its
    reason (``exited:orphaned``): what happened to entries, without their steps and sends."""
    kinds = []
    for o in outcomes:
        if o["kind"] in ("entered", "goal", "ended"):
            kinds.append(o["kind"])
        elif o["kind"] == "exited":
            kinds.append(f"exited:{o['reason']}")
    return kinds
