"""The trained models reach the journeys live exactly as in replay (`--models`)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from app.core.timeutil import format_ms
from tests.integration.live_support import live_actions, produce_events, run_replay
from tests.integration.support import ROOT, Deployment

JOURNEY = """
id: score_routing
version: 1
trigger: {event: CartAbandoned}
steps:
  - id: route
    branch:
      - when: "scores.intent >= 0.2 || scores.churn >= 0.5"
        goto: offer
      - goto: reminder
  - id: offer
    send: {channel: email, template: cart_offer, data: {churn: "scores.churn"}}
    next: end
  - id: reminder
    send: {channel: push, template: cart_reminder}
"""


def customer_events(i: int, start: int) -> list[dict[str, Any]]:
    cid, t = f"m-{i:03d}", start + i * 1000
    contract = ("Month-to-month", "One year", "Two year")[i % 3]

    def ev(n: int, etype: str, props: dict[str, Any]) -> dict[str, Any]:
        return {
            "event_id": f"{cid}-{n}",
            "type": etype,
            "customer_id": cid,
            "timestamp": format_ms(t + n * 10),
            "properties": props,
        }

    events = [
        ev(
            0,
            "ProfileUpdated",
            {
                "tenure": 1 + 7 * i % 70,
                "contract": contract,
                "monthly_charges": 20.0 + 3 * i,
                "internet_service": "Fiber optic",
                "payment_method": "Electronic check",
            },
        ),
        ev(1, "SessionStarted", {"session_id": f"s{i}", "visitor_type": "Returning_Visitor"}),
    ]
    for n in range(2, 2 + i % 6):
        events.append(
            ev(
                n,
                "ProductViewed",
                {
                    "session_id": f"s{i}",
                    "duration_s": 30.0,
                    "bounce_rate": 0.01,
                    "exit_rate": 0.02,
                    "page_value": float(10 * (i % 4)),
                },
            )
        )
    events.append(ev(9, "CartAbandoned", {"cart_value": 50}))
    return events


def test_live_scores_and_routes_equal_replay_with_models(
    deployment: Deployment, start_worker: Any, tmp_path: Path
) -> None:
    journeys = tmp_path / "journeys"
    journeys.mkdir()
    (journeys / "score_routing.yaml").write_text(JOURNEY)
    start = (int(time.time()) + 86_400) * 1000
    events = [e for i in range(40) for e in customer_events(i, start)]
    replay_actions, _ = run_replay(
        tmp_path, events, "--journeys", str(journeys), "--models", str(ROOT / "models")
    )
    expected = {a["action_id"]: a for a in replay_actions}
    assert len(expected) == 40
    assert {a["step"] for a in expected.values()} == {"offer", "reminder"}  # scores matter
    assert all(a["model_version"].startswith("churn-") for a in expected.values())

    no_policies = tmp_path / "no-policies.yaml"
    no_policies.write_text("{}\n")  # replay ran without policies; so does the worker
    deployment.env["SEGUE_MODELS_DIR"] = str(ROOT / "models")
    worker = start_worker("0", "--journeys", str(journeys), "--policies", str(no_policies))
    produce_events(deployment, events)
    live: dict[str, dict[str, Any]] = {}

    def all_arrived() -> bool:
        live.update((a["action_id"], a) for a in live_actions(deployment))
        return set(live) >= set(expected)

    worker.wait_for("the live actions", all_arrived, 150)
    assert set(live) == set(expected)
    for action_id, want in expected.items():
        got = live[action_id]
        assert (got["step"], got["model_version"], got["data"]) == (
            want["step"],
            want["model_version"],
            want["data"],
        )
        assert got["scores"] == want["scores"]


def test_the_worker_serves_the_project_models_by_default_and_says_so(
    deployment: Deployment, start_worker: Any, tmp_path: Path
) -> None:
    # A project folder (journeys/ beside models/, as the repository is laid out) and no
    # SEGUE_MODELS_DIR: the worker scores with those models and logs which.
    project = tmp_path / "project"
    (project / "journeys").mkdir(parents=True)
    (project / "journeys" / "score_routing.yaml").write_text(JOURNEY)
    shutil.copytree(ROOT / "models", project / "models", ignore=shutil.ignore_patterns("data"))
    no_policies = tmp_path / "no-policies.yaml"
    no_policies.write_text("{}\n")
    deployment.env.pop("SEGUE_MODELS_DIR", None)
    journeys = str(project / "journeys")
    worker = start_worker("0", "--journeys", journeys, "--policies", str(no_policies))
    start = (int(time.time()) + 86_400) * 1000
    events = [e for i in range(3) for e in customer_events(i, start)]
    produce_events(deployment, events)
    live: list[dict[str, Any]] = []

    def arrived() -> bool:
        live[:] = live_actions(deployment)
        return len(live) == 3

    worker.wait_for("the live actions", arrived, 150)
    versions = {a["model_version"] for a in live}
    assert len(versions) == 1 and next(iter(versions)).startswith("churn-")
    assert f"models: {next(iter(versions))} from {project / 'models'}" in worker.log()
