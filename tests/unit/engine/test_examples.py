"""Each example journey replayed through ``segue replay`` with the example policies.

The event files are small and hand-written; every expected action below was derived by hand
from the journey file and the spec (the comments give the reasoning), not from a run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from app.cli import _register, app
from app.core.envelope import validate_event
from app.core.journeys.definitions import load_journeys, load_policies
from app.core.journeys.engine import Engine
from app.core.journeys.replay import replay
from app.paths import JOURNEYS_DIR, ROOT
from tests.unit.engine.helpers import FixedScorer, u

_register()
POLICIES = ROOT / "policies.yaml"
D = "2026-11-23"  # day 0
D1, D2, D3, D5, D7 = "2026-11-24", "2026-11-25", "2026-11-26", "2026-11-28", "2026-11-30"


def ev(eid: str, etype: str, when: str, customer: str, **props: Any) -> dict[str, Any]:
    return {
        "event_id": eid,
        "type": etype,
        "customer_id": customer,
        "timestamp": when,
        "properties": props,
    }


def addressed(*customers: str) -> list[dict[str, Any]]:
    """Identify events giving each customer an email address before day 0's events: the
    example policies suppress an email to a profile without one (reason unreachable)."""
    return [
        ev(f"id-{c}", "Identify", f"{D}T08:00:00Z", c, email=f"{c}@example.com") for c in customers
    ]


def cli_replay(
    tmp_path: Path, events: list[dict[str, Any]], until: str, *extra: str
) -> list[dict[str, Any]]:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    out = tmp_path / "actions.jsonl"
    decisions = tmp_path / "decisions.jsonl"
    args = ["replay", "--events", str(path), "--journeys", str(JOURNEYS_DIR)]
    args += ["--policies", str(POLICIES), "--until", until, "--out", str(out)]
    args += ["--decisions", str(decisions), *extra]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    records += [orjson.loads(line) for line in decisions.read_bytes().splitlines()]
    return records


def summary(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(
        (
            r["event_time"],
            r["customer_id"],
            r["journey"],
            r["step"],
            r["channel"],
            r.get("decision", "emitted"),
        )
        for r in records
    )


def test_cart_recovery(tmp_path: Path) -> None:
    assert u("cart_recovery:c-1") >= 0.1 and u("cart_recovery:c-2") >= 0.1
    assert u("cart_recovery:c-3") < 0.1  # c-3 is in the control group
    events = [
        # c-1: no purchase: wait 2h -> intent 0.0 < 0.6 -> sms_nudge at 12:00; the wait_for
        # times out 24h later -> agent_call at 12:00 the next day.
        ev("e-1", "CartAbandoned", f"{D}T10:00:00Z", "c-1", cart_value=50.0, items=2),
        # c-2: cart below 20.0: the trigger's `when` is false, no entry.
        ev("e-2", "CartAbandoned", f"{D}T10:00:00Z", "c-2", cart_value=10.0, items=1),
        # c-4: buys at 13:00 after the sms: the goal (within 7d) ends the entry.
        ev("e-3", "CartAbandoned", f"{D}T10:00:00Z", "c-4", cart_value=80.0, items=3),
        ev("e-4", "OrderPlaced", f"{D}T13:00:00Z", "c-4", order_id="o-4", total=80.0, items=3),
        # c-3: control group: the same path, held out instead of sent.
        ev("e-5", "CartAbandoned", f"{D}T10:00:00Z", "c-3", cart_value=30.0, items=1),
        # c-5: a high-severity ticket at 11:00 exits the entry before the sms.
        ev("e-6", "CartAbandoned", f"{D}T10:00:00Z", "c-5", cart_value=30.0, items=1),
        ev("e-7", "TicketOpened", f"{D}T11:00:00Z", "c-5", ticket_id="t-1", severity="high"),
    ]
    assert summary(cli_replay(tmp_path, events, f"{D3}T00:00:00Z")) == [
        (f"{D}T12:00:00Z", "c-1", "cart_recovery", "sms_nudge", "sms", "emitted"),
        (f"{D}T12:00:00Z", "c-3", "cart_recovery", "sms_nudge", "sms", "held_out"),
        (f"{D}T12:00:00Z", "c-4", "cart_recovery", "sms_nudge", "sms", "emitted"),
        (f"{D1}T12:00:00Z", "c-1", "cart_recovery", "agent_call", "agent", "emitted"),
        (f"{D1}T12:00:00Z", "c-3", "cart_recovery", "agent_call", "agent", "held_out"),
    ]


def test_onboarding(tmp_path: Path) -> None:
    assert u("onboarding:pick_nudge:c-2") < 0.5  # c-2 draws email_tips (share 50/100)
    events = [
        *addressed("c-1"),
        # c-1: welcome at once; completes a step at 11:00 -> on_event: celebrate (in_app).
        # step "profile" is not the goal's "activate_service": the entry stays open.
        ev("e-1", "SignedUp", f"{D}T10:00:00Z", "c-1", plan="pro"),
        ev("e-2", "OnboardingStepCompleted", f"{D}T11:00:00Z", "c-1", step="profile"),
        # c-1 signs up again: reentry once -> ignored.
        ev("e-3", "SignedUp", f"{D}T12:00:00Z", "c-1", plan="pro"),
        # c-2: welcome; the 2d wait_for times out -> split -> email_tips at D2 10:00;
        # wait 3d -> no OnboardingStepCompleted in counts -> offer_help at D5 10:00. c-2 has
        # no email address: each of those emails is suppressed (unreachable) and the entry
        # moves on as if it had been sent.
        ev("e-4", "SignedUp", f"{D}T10:00:00Z", "c-2", plan="basic"),
    ]
    records = cli_replay(tmp_path, events, f"{D7}T00:00:00Z")
    assert summary(records) == [
        (f"{D}T10:00:00Z", "c-1", "onboarding", "welcome", "email", "emitted"),
        (f"{D}T10:00:00Z", "c-2", "onboarding", "welcome", "email", "suppressed"),
        (f"{D}T11:00:00Z", "c-1", "onboarding", "celebrate", "in_app", "emitted"),
        (f"{D2}T10:00:00Z", "c-2", "onboarding", "tips_email", "email", "suppressed"),
        (f"{D5}T10:00:00Z", "c-2", "onboarding", "offer_help", "email", "suppressed"),
    ]
    assert {r["reason"] for r in records if r["customer_id"] == "c-2"} == {"unreachable"}
    by_step = {(r["customer_id"], r["step"]): r for r in records}
    assert by_step["c-1", "welcome"]["data"] == {"plan": "pro"}
    assert by_step["c-2", "welcome"]["variant"] is None  # before the split
    assert by_step["c-2", "tips_email"]["variant"] == "email_tips"
    assert by_step["c-2", "offer_help"]["variant"] == "email_tips"


def test_failed_payment_rescue(tmp_path: Path) -> None:
    events = [
        # c-1 never pays: sms at once, email after 24h, agent after 24h more.
        ev(
            "e-1",
            "PaymentFailed",
            f"{D}T10:00:00Z",
            "c-1",
            order_id="o-1",
            amount=42.0,
            reason="card_declined",
        ),
        # c-2 pays the same order at 11:00: the goal ends the entry.
        ev(
            "e-2",
            "PaymentFailed",
            f"{D}T10:00:00Z",
            "c-2",
            order_id="o-2",
            amount=9.0,
            reason="expired",
        ),
        ev("e-3", "PaymentSucceeded", f"{D}T11:00:00Z", "c-2", order_id="o-2", amount=9.0),
        # c-3 fails at 23:00 (quiet hours): transactional bypasses them, the sms goes at once;
        # paying another order matches neither the goal nor the wait_for.
        ev(
            "e-4",
            "PaymentFailed",
            f"{D}T23:00:00Z",
            "c-3",
            order_id="o-3",
            amount=5.0,
            reason="card_declined",
        ),
        ev("e-5", "PaymentSucceeded", f"{D1}T01:00:00Z", "c-3", order_id="o-999", amount=1.0),
    ]
    records = cli_replay(tmp_path, [*addressed("c-1", "c-2", "c-3"), *events], f"{D3}T00:00:00Z")
    assert summary(records) == [
        (f"{D}T10:00:00Z", "c-1", "failed_payment_rescue", "retry_link", "sms", "emitted"),
        (f"{D}T10:00:00Z", "c-2", "failed_payment_rescue", "retry_link", "sms", "emitted"),
        (f"{D}T23:00:00Z", "c-3", "failed_payment_rescue", "retry_link", "sms", "emitted"),
        (f"{D1}T10:00:00Z", "c-1", "failed_payment_rescue", "reminder_email", "email", "emitted"),
        (f"{D1}T23:00:00Z", "c-3", "failed_payment_rescue", "reminder_email", "email", "emitted"),
        (f"{D2}T10:00:00Z", "c-1", "failed_payment_rescue", "agent_handoff", "agent", "emitted"),
        (f"{D2}T23:00:00Z", "c-3", "failed_payment_rescue", "agent_handoff", "agent", "emitted"),
    ]
    by_step = {(r["customer_id"], r["step"]): r for r in records}
    assert by_step["c-1", "retry_link"]["data"] == {"order_id": "o-1", "amount": 42.0}
    assert by_step["c-1", "agent_handoff"]["data"] == {
        "order_id": "o-1",
        "amount": 42.0,
        "reason": "card_declined",
    }


def test_churn_save_is_silent_without_a_model(tmp_path: Path) -> None:
    # --models none: every score is 0.0 (the spec's "no model configured"), the risk branch
    # goes to `end`.
    events = [ev("e-1", "ProfileUpdated", f"{D}T10:00:00Z", "c-1", contract="Month-to-month")]
    assert cli_replay(tmp_path, events, f"{D7}T00:00:00Z", "--models", "none") == []


def test_the_example_journeys_score_with_the_shipped_models_by_default(tmp_path: Path) -> None:
    # models/ beside journeys/ holds a manifest: a replay scores as the worker does. The
    # shipped churn model puts a month-to-month customer paying 80.0 at or above 0.7
    # (checked here through the scorer, not assumed), so churn_save's risk branch decides.
    from app.core.profile import new_profile
    from app.models.scorer import ModelScorer

    scorer = ModelScorer.load(ROOT / "models")
    profile = new_profile("c-1")
    profile["attributes"].update(contract="Month-to-month", monthly_charges=80.0)
    assert scorer.churn(profile) >= 0.7
    events = [
        *addressed("c-1"),
        ev("e-1", "ProfileUpdated", f"{D}T10:00:00Z", "c-1", **profile["attributes"]),
    ]
    records = cli_replay(tmp_path, events, f"{D}T12:00:00Z")
    assert records and {r["model_version"] for r in records} == {scorer.version}
    assert {r["journey"] for r in records} == {"churn_save"}


@pytest.mark.parametrize(
    ("churn", "charges", "expected"),
    [
        # churn 0.8: decide. agent_call 0.8*50 = 40 (only with charges >= 70), contract_upgrade
        # 0.8*40*0.8 = 25.6, discount 0.8*30 = 24. Then no click in 7d -> last_try push.
        (0.8, 80.0, [("11:00", "best_offer", "agent"), ("D7 11:00", "last_try", "push")]),
        (0.8, 20.0, [("11:00", "best_offer", "sms"), ("D7 11:00", "last_try", "push")]),
        # churn 0.5: check_in email, then the same wait_reply.
        (0.5, 80.0, [("11:00", "check_in", "email"), ("D7 11:00", "last_try", "push")]),
        (0.1, 80.0, []),
    ],
)
def test_churn_save_with_scores(churn: float, charges: float, expected: list[Any]) -> None:
    engine = Engine(load_journeys(JOURNEYS_DIR), load_policies(POLICIES), FixedScorer(churn=churn))
    events = [
        *addressed("c-1"),
        ev(
            "e-1",
            "ProfileUpdated",
            f"{D}T10:00:00Z",
            "c-1",
            contract="Month-to-month",
            monthly_charges=charges,
        ),
    ]
    result = replay([validate_event(e) for e in events], engine, 10**13)
    times = {"11:00": f"{D}T11:00:00Z", "D7 11:00": f"{D7}T11:00:00Z"}
    assert [(a["event_time"], a["step"], a["channel"]) for a in result.actions] == [
        (times[t], step, channel) for t, step, channel in expected
    ]


def test_missed_appointment(tmp_path: Path) -> None:
    events = [
        *addressed("c-1", "c-2", "c-3"),
        # c-1 has phone service: sms after 30m, email 1d later, a call 3d after that.
        ev("e-0", "ProfileUpdated", f"{D}T09:00:00Z", "c-1", phone_service="Yes"),
        ev("e-1", "AppointmentMissed", f"{D}T10:00:00Z", "c-1", appointment_id="a-1"),
        # c-2 has none: the last step is an email; c-2 books again before the email -> goal.
        ev("e-2", "AppointmentMissed", f"{D}T10:00:00Z", "c-2", appointment_id="a-2"),
        ev("e-3", "AppointmentBooked", f"{D}T12:00:00Z", "c-2", appointment_id="a-3", at="x"),
        # c-3: no phone attribute: last_email.
        ev("e-4", "AppointmentMissed", f"{D}T10:00:00Z", "c-3", appointment_id="a-4"),
    ]
    records = cli_replay(tmp_path, events, f"{D7}T00:00:00Z")
    j = "missed_appointment"
    assert summary(records) == [
        (f"{D}T10:30:00Z", "c-1", j, "rebook_sms", "sms", "emitted"),
        (f"{D}T10:30:00Z", "c-2", j, "rebook_sms", "sms", "emitted"),
        (f"{D}T10:30:00Z", "c-3", j, "rebook_sms", "sms", "emitted"),
        (f"{D1}T10:30:00Z", "c-1", j, "rebook_email", "email", "emitted"),
        (f"{D1}T10:30:00Z", "c-3", j, "rebook_email", "email", "emitted"),
        ("2026-11-27T10:30:00Z", "c-1", j, "call_back", "agent", "emitted"),
        ("2026-11-27T10:30:00Z", "c-3", j, "last_email", "email", "emitted"),
    ]
    assert {r["data"]["appointment_id"] for r in records if r["step"].startswith("rebook")} == {
        "a-1",
        "a-2",
        "a-4",
    }
    assert {
        r["data"]["appointment_id"] for r in records if r["customer_id"] == "c-1" and r["data"]
    } == {"a-1"}


def test_promo_quiet_while_ticket(tmp_path: Path) -> None:
    assert all(u(f"promo_quiet_while_ticket:{c}") >= 0.05 for c in ("c-1", "c-2", "c-3", "c-5"))
    view = {
        "session_id": "s",
        "product_id": "p-9",
        "price": 10.0,
        "duration_s": 45.0,
        "bounce_rate": 0.1,
        "exit_rate": 0.1,
        "page_value": 12.5,
    }
    events = [
        *addressed("c-1", "c-2", "c-3", "c-5", "c-6"),
        # c-1: engaged view, no ticket: offer after 1h, reminder (push) 2d later.
        ev("e-1", "ProductViewed", f"{D}T10:00:00Z", "c-1", **view),
        # c-2: ticket open at 11:00 -> waits for it to close (15:00) -> offer at 15:00,
        # reminder 2d later.
        ev("e-2", "TicketOpened", f"{D}T09:00:00Z", "c-2", ticket_id="t-2", severity="low"),
        ev("e-3", "ProductViewed", f"{D}T10:00:00Z", "c-2", **view),
        ev("e-4", "TicketClosed", f"{D}T15:00:00Z", "c-2", ticket_id="t-2"),
        # c-3: the ticket never closes: after 3d the entry ends without a send.
        ev("e-5", "TicketOpened", f"{D}T09:00:00Z", "c-3", ticket_id="t-3", severity="low"),
        ev("e-6", "ProductViewed", f"{D}T10:00:00Z", "c-3", **view),
        # c-5: a ticket opened after the offer: the reminder branch ends the entry instead.
        ev("e-7", "ProductViewed", f"{D}T10:00:00Z", "c-5", **view),
        ev("e-8", "TicketOpened", f"{D}T12:00:00Z", "c-5", ticket_id="t-5", severity="low"),
        # a short view does not trigger (duration_s < 30).
        ev("e-9", "ProductViewed", f"{D}T10:00:00Z", "c-6", **{**view, "duration_s": 5.0}),
    ]
    records = cli_replay(tmp_path, events, f"{D7}T00:00:00Z")
    j = "promo_quiet_while_ticket"
    assert summary(records) == [
        (f"{D}T11:00:00Z", "c-1", j, "offer", "email", "emitted"),
        (f"{D}T11:00:00Z", "c-5", j, "offer", "email", "emitted"),
        (f"{D}T15:00:00Z", "c-2", j, "offer", "email", "emitted"),
        (f"{D2}T11:00:00Z", "c-1", j, "reminder", "push", "emitted"),
        (f"{D2}T15:00:00Z", "c-2", j, "reminder", "push", "emitted"),
    ]
    assert {r["data"]["product_id"] for r in records if r["step"] == "offer"} == {"p-9"}


def test_sentiment_escalation(tmp_path: Path) -> None:
    # profile.sentiment: the mean VADER compound of the customer's last 5 texts; the journey
    # hands the chat to an agent when it is <= -0.3 after one of the customer's lines.
    def chat(eid: str, clock: str, customer: str, text: str, **more: Any) -> dict[str, Any]:
        return ev(eid, "ChatMessage", f"{D}T{clock}Z", customer, text=text, **more)

    events = [
        # c-1: neutral (0.0), an agent line (not scored, though "terrible"), neutral, -0.765:
        # mean -0.255, not yet; -0.5563 at 10:04 -> mean -0.3303: the agent at once.
        chat("e-1", "10:00:00", "c-1", "Hi, my order has not arrived yet", conversation_id="k"),
        chat("e-2", "10:01:00", "c-1", "Sorry, terrible delays this week", sender="agent"),
        chat("e-3", "10:02:00", "c-1", "It was supposed to come last week"),
        chat("e-4", "10:03:00", "c-1", "This is ridiculous, worst service ever", sender="customer"),
        chat("e-5", "10:04:00", "c-1", "I am really angry, nobody answers"),
        # c-1 stays angry: the 1d cooldown keeps it to one handoff.
        chat("e-6", "10:05:00", "c-1", "Still waiting. Awful."),
        # c-2: an angry survey comment makes the sentiment -0.8666, but no line of the
        # customer's follows (the agent's line is not theirs): the journey is not triggered.
        ev(
            "e-8",
            "SurveyAnswered",
            f"{D}T11:00:00Z",
            "c-2",
            survey="csat",
            score=1,
            comment="Worst support ever, I hate this, terrible",
        ),
        chat("e-9", "11:05:00", "c-2", "We are sorry, this is awful for you", sender="agent"),
        # c-3: at 23:00 (quiet hours): a service journey bypasses them.
        chat("e-10", "23:00:00", "c-3", "I am so frustrated, this is unacceptable"),
    ]
    records = cli_replay(tmp_path, events, f"{D1}T00:00:00Z")
    j = "sentiment_escalation"
    assert summary(records) == [
        (f"{D}T10:04:00Z", "c-1", j, "agent_handoff", "agent", "emitted"),
        (f"{D}T23:00:00Z", "c-3", j, "agent_handoff", "agent", "emitted"),
    ]
    first = records[0]
    assert first["data"] == {"sentiment": -0.3303, "last_line": "I am really angry, nobody answers"}
    assert "sentiment" not in first["profile"]  # in data: the snapshot is as it was
    assert set(first["scores"]) == {"churn", "intent"}  # no sentiment on the action
    assert [line["sender"] for line in first["context"]["transcript"]] == [
        "customer",
        "agent",
        "customer",
        "customer",
        "customer",
    ]
    assert first["context"]["transcript"][-1]["text"] == "I am really angry, nobody answers"
