"""Templates (sandboxed, strict), actions, receipts and the helpdesk ticket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from app.core.delivery.action import decode_action, partial_action
from app.core.delivery.errors import PermanentError
from app.core.delivery.handoff import handoff_ticket
from app.core.delivery.receipts import FAILED, SENT, receipt_event
from app.core.envelope import validate_event
from app.core.journeys import load_journeys
from app.paths import JOURNEYS_DIR
from app.sinks.templates import Renderer, template_context
from tests.unit.sinks.helpers import action, profile


def sends_of_example_journeys() -> list[tuple[str, str, dict[str, Any]]]:
    """(journey, template, data keys) of every send and decide option in journeys/."""
    found = []
    for path in sorted(JOURNEYS_DIR.glob("*.yaml")):
        text = path.read_text()
        import yaml

        doc = yaml.safe_load(text)
        for step in doc["steps"]:
            send = step.get("send")
            if send:
                found.append(
                    (doc["id"], send["template"], dict.fromkeys(send.get("data") or {}, "X"))
                )
            for option in (step.get("decide") or {}).get("options", []):
                if option.get("template"):
                    found.append((doc["id"], option["template"], {}))
    return found


def test_the_example_journeys_load() -> None:
    assert load_journeys(JOURNEYS_DIR)  # the templates below are the ones they use


@pytest.mark.parametrize(("journey", "template", "data"), sends_of_example_journeys())
def test_every_example_template_renders(journey: str, template: str, data: dict[str, Any]) -> None:
    renderer = Renderer()
    ctx = template_context(action(template=template, journey=journey, data=data), profile())
    subject, body = renderer.message(template, ctx)
    assert body and subject
    assert "{{" not in body and "{%" not in body


def test_template_sees_profile_and_action(tmp_path: Path) -> None:
    (tmp_path / "t.j2").write_text("{{ attributes.name }}/{{ action.step }}/{{ scores.intent }}")
    (tmp_path / "t.subject.j2").write_text("S {{ data.x }}")
    renderer = Renderer(tmp_path)
    ctx = template_context(action(template="t", data={"x": 3}), profile(name="Bo"))
    assert renderer.message("t", ctx) == ("S 3", "Bo/email_offer/0.7")


def test_missing_variable_or_template_is_a_permanent_error(tmp_path: Path) -> None:
    (tmp_path / "t.j2").write_text("Hi {{ attributes.nickname }}")
    renderer = Renderer(tmp_path)
    ctx = template_context(action(template="t"), profile())
    with pytest.raises(PermanentError, match="nickname"):
        renderer.message("t", ctx)
    with pytest.raises(PermanentError, match=r"missing template: nope\.j2"):
        renderer.message("nope", ctx)
    with pytest.raises(PermanentError):
        renderer.evaluate("attributes.phone", ctx)


def test_the_sandbox_refuses_python_internals(tmp_path: Path) -> None:
    (tmp_path / "t.j2").write_text("{{ action.__class__.__mro__[1].__subclasses__() }}")
    renderer = Renderer(tmp_path)
    with pytest.raises(PermanentError):
        renderer.message("t", template_context(action(template="t"), None))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{% for i in range(10**12) %}{{ i }}{% endfor %}", "OverflowError: Range too big"),
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
        ("{{ 'a' + 1 }}", "TypeError"),
    ],
)
def test_a_python_error_in_a_template_is_a_template_error(
    tmp_path: Path, body: str, reason: str
) -> None:
    (tmp_path / "t.j2").write_text(body)
    renderer = Renderer(tmp_path)
    with pytest.raises(PermanentError, match=rf"template t\.j2: {reason}"):
        renderer.message("t", template_context(action(template="t"), None))


def test_a_python_error_in_a_shape_expression_is_permanent() -> None:
    renderer = Renderer()
    with pytest.raises(PermanentError, match="OverflowError"):
        renderer.evaluate("range(10**12) | list", template_context(action(), None))


def test_decode_action_checks_schema_and_channel() -> None:
    good = action("sms")
    assert decode_action(orjson.dumps(good), "sms") == good
    bad = [
        (b"{nope", "bad JSON"),
        (orjson.dumps({**good, "journey_version": "3"}), "schema"),
        (orjson.dumps({k: v for k, v in good.items() if k != "action_id"}), "schema"),
        (orjson.dumps(good), "channel"),  # read on the email topic below
        (orjson.dumps({**good, "channel": "email", "decision": "suppressed"}), "decision"),
        (b"", "empty"),
    ]
    for raw, why in bad:
        with pytest.raises(PermanentError, match=why):
            decode_action(raw, "email")
    assert partial_action(orjson.dumps({"action_id": "a", "customer_id": "c"})) == {
        "action_id": "a",
        "customer_id": "c",
    }
    assert partial_action(b"[1]") == {} and partial_action(b"{") == {}


def test_receipts_are_valid_events_with_stable_ids() -> None:
    a = action("email")
    sent = receipt_event(SENT, a, 1_795_000_000_000, channel="email", extra={"attempts": 1})
    failed = receipt_event(FAILED, a, 1_795_000_000_000, channel="email", extra={"reason": "x"})
    for receipt in (sent, failed):
        event = validate_event(receipt)
        assert event["key"] == a["customer_id"]
        assert event["properties"]["action_id"] == a["action_id"]
        assert event["properties"]["journey"] == "cart_recovery"
    assert sent["event_id"] == f"{a['action_id']}:MessageSent"
    assert sent == receipt_event(SENT, a, 1_795_000_000_000, channel="email", extra={"attempts": 1})


def test_handoff_ticket_carries_the_full_context() -> None:
    a = action(
        "agent",
        template="cart_callback",
        context={"priority": 50, "last_events": [{"type": "CartAbandoned"}]},
        data={"transcript": ["bot: hello"], "order_id": "o-1"},
    )
    ticket = handoff_ticket(a, profile(), "summary", "subject")
    assert ticket["ticket_id"] == a["action_id"]
    assert ticket["profile"]["attributes"]["email"] == "c1@example.com"
    assert ticket["last_events"] == [{"type": "CartAbandoned"}]
    assert ticket["transcript"] == ["bot: hello"]
    assert ticket["journey"]["id"] == "cart_recovery" and ticket["journey"]["step"] == "email_offer"
    assert ticket["summary"] == "summary" and ticket["scores"] == a["scores"]


def test_a_receipt_is_never_dated_before_its_action() -> None:
    action = {"action_id": "a1", "customer_id": "c-1", "event_time": "2026-11-23T08:00:10Z"}
    early = receipt_event(SENT, action, 1_795_420_805_000, channel="email")  # sink clock behind
    assert early["timestamp"] == "2026-11-23T08:00:10Z"
    late = receipt_event(SENT, action, 1_795_420_815_000, channel="email")
    assert late["timestamp"] == "2026-11-23T08:00:15Z"
    partial = receipt_event(SENT, {"action_id": "a2", "event_time": "bad"}, 5, channel="email")
    assert partial["timestamp"] == "1970-01-01T00:00:00.005Z"
