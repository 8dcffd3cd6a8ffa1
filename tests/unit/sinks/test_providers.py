"""Providers against real local servers (aiosmtpd, http.server checking signatures), driven
through ChannelDelivery with a fake clock: retries, give-ups, no retry on 4xx, breaker."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from app.broker.embedded import free_port
from app.sinks.config import ProviderConfig
from app.sinks.delivery import FAILED, SENT, ChannelDelivery
from app.sinks.providers import make_provider
from app.sinks.templates import Renderer
from tests.sink_servers import http_server, self_signed, smtp_server
from tests.unit.sinks.helpers import FakeClock, action, profile

SECRET = b"s3cret"


def clock() -> FakeClock:
    return FakeClock(wall_ms=time.time_ns() // 1_000_000)  # the server checks freshness


def channel(name: str, config: ProviderConfig, c: FakeClock) -> ChannelDelivery:
    provider = make_provider(name, config, Renderer(), c)
    return ChannelDelivery(name, config, provider, c, random.Random(3))


def http_config(url: str, **over: Any) -> ProviderConfig:
    return ProviderConfig(kind="http", url=url + "/hook", secret=SECRET.decode(), **over)


def test_email_reaches_the_smtp_server_with_rendered_content() -> None:
    with smtp_server() as (recorder, port):
        c = clock()
        ch = channel("email", ProviderConfig(kind="smtp", port=port), c)
        results = [ch.deliver(action("email", n), profile(n)) for n in range(1, 4)]
        assert [r.status for r in results] == [SENT] * 3
        ch.provider.close()
    assert recorder.action_ids() == {f"a-email-{n}": 1 for n in range(1, 4)}
    msg = recorder.messages[0]
    assert msg["To"] == "c1@example.com"
    assert msg["Message-ID"] == "<a-email-1@segue>"
    assert msg["Subject"] == "Your cart is waiting, with something extra"
    assert "Hi Ada 1," in msg.get_payload(decode=True).decode()


def test_starttls_upgrades_the_session_and_verifies_the_server(tmp_path: Path) -> None:
    tls, cert = self_signed(tmp_path)
    with smtp_server(tls) as (recorder, port):
        plain = channel("email", ProviderConfig(kind="smtp", port=port, max_attempts=1), clock())
        refused = plain.deliver(action("email", 1), profile(1))
        secure = channel(
            "email", ProviderConfig(kind="smtp", port=port, starttls=True, ssl_cafile=cert), clock()
        )
        sent = secure.deliver(action("email", 2), profile(2))
        untrusted = channel(
            "email", ProviderConfig(kind="smtp", port=port, starttls=True, max_attempts=1), clock()
        ).deliver(action("email", 3), profile(3))
        secure.provider.close()
    assert refused.status == FAILED and "530" in (refused.reason or "")  # STARTTLS required
    assert sent.status == SENT
    assert untrusted.status == FAILED and "CERTIFICATE_VERIFY_FAILED" in (untrusted.reason or "")
    assert recorder.action_ids() == {"a-email-2": 1}


def test_email_without_address_or_with_missing_variable_fails_without_sending() -> None:
    with smtp_server() as (recorder, port):
        ch = channel("email", ProviderConfig(kind="smtp", port=port), clock())
        no_address = ch.deliver(action("email"), {"attributes": {}})
        bad_template = ch.deliver(action("email", template="no_such_template"), profile())
    assert (no_address.status, no_address.attempts) == (FAILED, 0)
    assert "no email address" in (no_address.reason or "")
    assert "missing template" in (bad_template.reason or "")
    assert recorder.messages == []


def test_smtp_down_is_retried_with_backoff_then_given_up() -> None:
    c = clock()
    config = ProviderConfig(kind="smtp", port=free_port(), max_attempts=4, breaker_threshold=10)
    result = channel("email", config, c).deliver(action("email"), profile())
    assert result.status == FAILED and result.attempts == 4 and result.retryable
    assert "gave up after 4 attempts" in (result.reason or "")
    assert len(c.sleeps) == 3  # a wait between attempts, none after the last
    assert all(s <= config.backoff().ceiling_ms(i + 1) for i, s in enumerate(c.sleeps))


def test_webhook_is_signed_and_verified_by_the_server() -> None:
    with http_server(SECRET) as (recorder, url):
        ch = channel("webhook", http_config(url), clock())
        a = action("webhook", data={"coupon": "X1"})
        assert ch.deliver(a, profile()).status == SENT
    assert recorder.rejected_signatures == 0
    (body,) = recorder.bodies()
    assert body["action_id"] == a["action_id"] and body["data"] == {"coupon": "X1"}
    assert body["body"].startswith("Hi Ada 1,")
    assert recorder.idempotency_keys() == {a["action_id"]: 1}


def test_a_wrong_secret_is_refused_by_the_server_and_not_retried() -> None:
    with http_server(SECRET) as (recorder, url):
        config = ProviderConfig(kind="http", url=url, secret="wrong")
        result = channel("webhook", config, clock()).deliver(action("webhook"), profile())
    assert result.status == FAILED and result.attempts == 1 and not result.retryable
    assert "HTTP 401" in (result.reason or "")
    assert recorder.rejected_signatures == 1


def test_5xx_is_retried_until_it_succeeds() -> None:
    with http_server(SECRET) as (recorder, url):
        statuses = iter([503, 500, 200])
        recorder.respond = lambda _body: next(statuses)
        c = clock()
        result = channel("sms", http_config(url), c).deliver(
            action("sms", template="cart_reminder"), profile()
        )
    assert result.status == SENT and result.attempts == 3
    assert recorder.requests == 3 and len(recorder.bodies()) == 1
    assert len(c.sleeps) == 2


@pytest.mark.parametrize("status", [400, 404, 422])
def test_4xx_is_not_retried(status: int) -> None:
    with http_server(SECRET) as (recorder, url):
        recorder.respond = lambda _body: status
        result = channel("push", http_config(url), clock()).deliver(
            action("push", template="churn_last_chance"), profile()
        )
    assert result.status == FAILED and result.attempts == 1 and not result.retryable
    assert recorder.requests == 1


def test_sms_and_push_shapes_and_a_custom_shape() -> None:
    with http_server(SECRET) as (recorder, url):
        c = clock()
        channel("sms", http_config(url), c).deliver(
            action("sms", template="cart_reminder"), profile(phone="+3312345")
        )
        channel("push", http_config(url), c).deliver(
            action("push", template="churn_last_chance"), profile()
        )
        shape = {"number": "attributes.phone", "msg": "body | upper"}
        channel("sms", http_config(url, shape=shape), c).deliver(
            action("sms", 2, template="cart_reminder"), profile(2, phone="+44")
        )
        missing = channel("sms", http_config(url, shape=shape), c).deliver(
            action("sms", 3, template="cart_reminder"), profile(3)
        )
    sms, push, custom = recorder.bodies()
    assert sms["to"] == "+3312345" and sms["text"].startswith("Hi Ada 1, your cart")
    assert push == {
        "to": "c-1",
        "title": "Your offer ends today",
        "body": "Your loyalty offer ends today. Tap to keep your discount.",
        "data": {},
        "reference": "a-push-1",
    }
    assert custom == {"number": "+44", "msg": sms["text"].replace("Ada 1", "Ada 2").upper()}
    assert missing.status == FAILED and missing.attempts == 0  # no phone: never sent


def test_agent_handoff_posts_the_ticket() -> None:
    with http_server(SECRET) as (recorder, url):
        a = action("agent", template="cart_callback", context={"last_events": [{"type": "X"}]})
        assert channel("agent", http_config(url), clock()).deliver(a, profile()).status == SENT
    (ticket,) = recorder.bodies()
    assert ticket["ticket_id"] == a["action_id"]
    assert ticket["profile"] == profile()
    assert ticket["last_events"] == [{"type": "X"}]
    assert ticket["subject"] == "Call back: abandoned cart, no purchase after reminders"


def test_breaker_stops_calls_to_a_dead_provider_for_the_cooldown() -> None:
    with http_server(SECRET) as (recorder, url):
        recorder.respond = lambda _body: 503
        c = clock()
        config = http_config(url, max_attempts=3, breaker_threshold=2, breaker_cooldown_ms=60_000)
        ch = channel("webhook", config, c)
        first = ch.deliver(action("webhook", 1), profile())
        calls_after_first = recorder.requests
        second = ch.deliver(action("webhook", 2), profile())
    assert first.status == second.status == FAILED
    assert calls_after_first == 3
    # The breaker opened at the 2nd failure: every later call waited out a 60 s cooldown.
    assert recorder.requests == 6
    assert sum(1 for s in c.sleeps if s >= 59_000) >= 3


def test_rate_limit_spaces_sends() -> None:
    with http_server(SECRET) as (_recorder, url):
        c = clock()
        ch = channel("webhook", http_config(url, rate_per_s=10, burst=2), c)
        for n in range(6):
            assert ch.deliver(action("webhook", n), profile()).status == SENT
    # 6 sends at 10/s with a burst of 2: at least 400 ms of (fake) waiting.
    assert sum(c.sleeps) >= 400 - 1e-6


def test_file_provider_writes_json_lines(tmp_path: Path) -> None:
    out = tmp_path / "o" / "in_app.jsonl"
    ch = channel("in_app", ProviderConfig(kind="file", path=out), clock())
    a = action("in_app", template="onboarding_progress")
    assert ch.deliver(a, profile()).status == SENT
    ch.provider.close()
    (line,) = out.read_bytes().splitlines()
    record = orjson.loads(line)
    assert record["action"] == a and record["body"] == "You are on your way: keep going!"


def test_non_ascii_subject_and_body_arrive_intact(tmp_path: Path) -> None:
    (tmp_path / "hi.j2").write_text("Grüße, {{ attributes.name }} ✓")
    (tmp_path / "hi.subject.j2").write_text("Schöne Grüße")
    with smtp_server() as (recorder, port):
        config = ProviderConfig(kind="smtp", port=port)
        c = clock()
        provider = make_provider("email", config, Renderer(tmp_path), c)
        ch = ChannelDelivery("email", config, provider, c, random.Random(1))
        assert ch.deliver(action("email", template="hi"), profile(name="Zoë")).status == SENT
        provider.close()
    (msg,) = recorder.messages
    from email.header import decode_header, make_header

    assert str(make_header(decode_header(msg["Subject"]))) == "Schöne Grüße"
    assert msg.get_payload(decode=True).decode(msg.get_content_charset()) == "Grüße, Zoë ✓"
