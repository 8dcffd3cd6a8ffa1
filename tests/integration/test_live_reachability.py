"""Reachability is a decision live as in replay: an email to a profile without an address is
suppressed by the engine (reason ``unreachable``), not dead-lettered at the sink."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from app.core.timeutil import format_ms
from tests.integration.live_support import (
    live_actions,
    live_decisions,
    produce_events,
    run_replay,
    same_decision,
)
from tests.integration.support import Deployment

JOURNEY = """
id: hello
version: 1
category: transactional
trigger: {event: SignedUp}
steps:
  - id: welcome
    send: {channel: email, template: onboarding_welcome}
  - id: in_app
    send: {channel: in_app, template: onboarding_progress}
"""
POLICIES = "reachability: {email: email}\n"


def test_an_email_without_an_address_is_unreachable_live_as_in_replay(
    deployment: Deployment, start_worker: Any, tmp_path: Path
) -> None:
    journeys = tmp_path / "journeys"
    journeys.mkdir()
    (journeys / "hello.yaml").write_text(JOURNEY)
    policies = tmp_path / "policies.yaml"
    policies.write_text(POLICIES)
    start = (int(time.time()) + 3600) * 1000

    def ev(eid: str, etype: str, customer: str, at: int, **props: Any) -> dict[str, Any]:
        return {
            "event_id": eid,
            "type": etype,
            "customer_id": customer,
            "timestamp": format_ms(start + at),
            "properties": props,
        }

    events = [
        ev("r-1", "Identify", "with-address", 0, email="a@example.com"),
        ev("r-2", "SignedUp", "with-address", 10, plan="pro"),
        ev("r-3", "SignedUp", "without-address", 20, plan="pro"),
    ]
    args = ("--journeys", str(journeys), "--policies", str(policies), "--models", "none")
    replay_actions, replay_decisions = run_replay(tmp_path, events, *args)
    assert sorted((a["customer_id"], a["channel"]) for a in replay_actions) == [
        ("with-address", "email"),
        ("with-address", "in_app"),
        ("without-address", "in_app"),  # the entry moved on past the unreachable email
    ]
    assert [(d["customer_id"], d["decision"], d["reason"]) for d in replay_decisions] == [
        ("without-address", "suppressed", "unreachable")
    ]

    deployment.env["SEGUE_MODELS_DIR"] = "none"
    worker = start_worker("0", "--journeys", str(journeys), "--policies", str(policies))
    produce_events(deployment, events)
    decisions: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []

    def arrived() -> bool:
        decisions[:] = live_decisions(deployment)
        actions[:] = live_actions(deployment)
        return len(decisions) >= 1 and len({a["action_id"] for a in actions}) >= 3

    worker.wait_for("the decision and the actions", arrived, 120)
    assert len(decisions) == 1 and same_decision(decisions[0], replay_decisions[0])
    by_id = {a["action_id"]: a for a in actions}
    assert set(by_id) == {a["action_id"] for a in replay_actions}
