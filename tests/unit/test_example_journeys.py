"""The shipped examples: all valid, and each one shows what its name promises."""

from __future__ import annotations

from typing import Any

import pytest

from app.core.journeys import load_journeys, load_policies
from app.core.journeys.flow import STEP_KINDS, step_kind
from app.paths import JOURNEYS_DIR, ROOT

EXPECTED = {
    "cart_recovery",
    "onboarding",
    "failed_payment_rescue",
    "churn_save",
    "missed_appointment",
    "promo_quiet_while_ticket",
    "sentiment_escalation",
}


@pytest.fixture(scope="module")
def examples() -> dict[str, dict[str, Any]]:
    return {j["id"]: j for j in load_journeys(JOURNEYS_DIR)}


def _kinds(journey: dict[str, Any]) -> set[str | None]:
    return {step_kind(s) for s in journey["steps"]}


def test_all_examples_load(examples: dict[str, dict[str, Any]]) -> None:
    assert set(examples) == EXPECTED


def test_examples_use_every_step_kind(examples: dict[str, dict[str, Any]]) -> None:
    used = set().union(*(_kinds(j) for j in examples.values()))
    assert used == set(STEP_KINDS)


def test_cart_recovery_is_the_spec_example(examples: dict[str, dict[str, Any]]) -> None:
    cart = examples["cart_recovery"]
    assert (cart["version"], cart["priority"], cart["holdout"]) == (3, 50, 0.1)
    assert cart["trigger"] == {
        "event": "CartAbandoned",
        "when": "event.properties.cart_value >= 20.0",
    }
    assert [s["id"] for s in cart["steps"]] == [
        "wait_2h",
        "route",
        "email_offer",
        "sms_nudge",
        "wait_purchase",
        "agent_call",
    ]
    assert cart["goal"] == {"event": "OrderPlaced", "within": "7d", "when": None}


def test_onboarding(examples: dict[str, dict[str, Any]]) -> None:
    journey = examples["onboarding"]
    assert journey["trigger"]["event"] == "SignedUp"
    assert {"wait", "wait_for", "split"} <= _kinds(journey)
    waits = [s["wait_for"]["event"] for s in journey["steps"] if "wait_for" in s]
    assert "OnboardingStepCompleted" in waits


def test_failed_payment_rescue(examples: dict[str, dict[str, Any]]) -> None:
    journey = examples["failed_payment_rescue"]
    steps = journey["steps"]
    assert journey["category"] == "transactional"
    assert journey["trigger"]["event"] == "PaymentFailed"
    assert steps[0]["send"]["channel"] == "sms"
    assert any(s.get("wait_for", {}).get("event") == "PaymentSucceeded" for s in steps)
    assert all("timeout" in s["wait_for"] for s in steps if "wait_for" in s)
    assert steps[-1]["send"]["channel"] == "agent"


def test_churn_save(examples: dict[str, dict[str, Any]]) -> None:
    journey = examples["churn_save"]
    branch_conditions = [
        case.get("when", "") for s in journey["steps"] if "branch" in s for case in s["branch"]
    ]
    assert any("scores.churn" in c for c in branch_conditions)
    decides = [s["decide"] for s in journey["steps"] if "decide" in s]
    assert decides and len(decides[0]["options"]) >= 2
    assert any("channel" not in o for o in decides[0]["options"])  # a "do nothing" option


def test_missed_appointment(examples: dict[str, dict[str, Any]]) -> None:
    journey = examples["missed_appointment"]
    assert journey["trigger"]["event"] == "AppointmentMissed"
    assert {"event": "AppointmentBooked", "when": None} in journey["exit_on"]
    assert sum(1 for s in journey["steps"] if "send" in s) >= 2


def test_promo_stays_quiet_while_a_ticket_is_open(examples: dict[str, dict[str, Any]]) -> None:
    journey = examples["promo_quiet_while_ticket"]
    assert journey["category"] == "promotional"
    conditions = [c.get("when", "") for s in journey["steps"] if "branch" in s for c in s["branch"]]
    assert any("profile.open_tickets" in c for c in conditions)
    policies = load_policies(ROOT / "policies.yaml")
    assert "open_tickets" in policies["categories"]["promotional"]["suppress_when"]


def test_sentiment_escalation_hands_a_negative_chat_to_an_agent(
    examples: dict[str, dict[str, Any]],
) -> None:
    journey = examples["sentiment_escalation"]
    assert journey["trigger"]["event"] == "ChatMessage"
    assert "profile.sentiment" in journey["trigger"]["when"]
    sends = [s["send"] for s in journey["steps"] if "send" in s]
    assert [s["channel"] for s in sends] == ["agent"]
    assert sends[0]["data"]["sentiment"] == "scores.sentiment"
    assert (ROOT / "templates" / "sentiment_escalation.j2").is_file()
    assert (ROOT / "templates" / "sentiment_escalation.subject.j2").is_file()
