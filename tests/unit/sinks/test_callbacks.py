"""Provider callbacks: signature, body checks, receipt events; and the sink CLI's arguments."""

from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

from app.cli import _register, app
from app.core.delivery.signing import sign_headers
from app.core.envelope import validate_event
from app.sinks.callbacks import BadCallback, callback_event

SECRET = b"cb"
NOW_MS = 1_795_000_000_000


def call(body: dict[str, object], secret: bytes = SECRET, at_s: int = NOW_MS // 1000) -> dict:
    raw = orjson.dumps(body)
    h = sign_headers(secret, at_s, raw)
    return callback_event(raw, h["X-Segue-Timestamp"], h["X-Segue-Signature"], SECRET, NOW_MS)


GOOD = {"action_id": "a-1", "customer_id": "c-1", "channel": "email", "journey": "j"}


@pytest.mark.parametrize(
    ("status", "kind"),
    [("delivered", "MessageDelivered"), ("opened", "MessageOpened"), ("clicked", "MessageClicked")],
)
def test_each_status_becomes_a_valid_receipt(status: str, kind: str) -> None:
    event = call({**GOOD, "status": status})
    assert event["type"] == kind and event["event_id"] == f"a-1:{kind}"
    assert validate_event(event)["key"] == "c-1"
    assert event["properties"]["journey"] == "j" and event["properties"]["channel"] == "email"


def test_repeated_clicks_are_told_apart_by_callback_id() -> None:
    one = call({**GOOD, "status": "clicked", "callback_id": "k1"})
    two = call({**GOOD, "status": "clicked", "callback_id": "k2"})
    assert one["event_id"] != two["event_id"]


@pytest.mark.parametrize(
    ("body", "secret", "at_s", "status"),
    [
        ({**GOOD, "status": "opened"}, b"wrong", NOW_MS // 1000, 401),
        ({**GOOD, "status": "opened"}, SECRET, NOW_MS // 1000 - 3600, 401),  # replayed later
        ({**GOOD, "status": "bounced"}, SECRET, NOW_MS // 1000, 400),
        ({**GOOD, "status": "opened", "channel": "fax"}, SECRET, NOW_MS // 1000, 400),
        (
            {"customer_id": "c-1", "channel": "email", "status": "opened"},
            SECRET,
            NOW_MS // 1000,
            400,
        ),
    ],
)
def test_bad_callbacks_are_refused(
    body: dict[str, object], secret: bytes, at_s: int, status: int
) -> None:
    with pytest.raises(BadCallback) as caught:
        call(body, secret, at_s)
    assert caught.value.status == status


def test_not_json_is_refused_after_the_signature_check() -> None:
    h = sign_headers(SECRET, NOW_MS // 1000, b"{nope")
    with pytest.raises(BadCallback, match="bad JSON"):
        callback_event(b"{nope", h["X-Segue-Timestamp"], h["X-Segue-Signature"], SECRET, NOW_MS)


def test_sink_cli_refuses_an_unknown_channel() -> None:
    _register()
    result = CliRunner().invoke(app, ["sink", "fax"])
    assert result.exit_code == 2
    assert "email, sms, push, webhook, in_app, agent" in result.output
