"""Webhook, SMS, push and helpdesk providers: a signed JSON POST over a kept-open connection.

Every request carries ``Idempotency-Key: <action_id>`` so that a provider can drop a copy that a
crash between its acceptance and our record made us send again."""

from __future__ import annotations

import http.client
from typing import Any
from urllib.parse import urlsplit

import orjson

from app.core.delivery.errors import PermanentError, TransientError, check_status
from app.core.delivery.handoff import handoff_ticket
from app.core.delivery.signing import sign_headers
from app.sinks.clock import Clock
from app.sinks.config import ProviderConfig
from app.sinks.templates import Renderer, template_context

#: the default body of each channel: field -> expression (Jinja, sandboxed)
DEFAULT_SHAPES: dict[str, dict[str, str]] = {
    "sms": {
        "to": "attributes.get('phone') or customer_id",
        "text": "body",
        "reference": "action.action_id",
    },
    "push": {
        "to": "customer_id",
        "title": "subject",
        "body": "body",
        "data": "data",
        "reference": "action.action_id",
    },
}
_ACTION_FIELDS = (
    "action_id",
    "customer_id",
    "journey",
    "journey_version",
    "step",
    "channel",
    "template",
    "variant",
    "trigger_event_id",
    "event_time",
    "decided_at",
    "scores",
    "data",
)


class HttpProvider:
    def __init__(
        self, channel: str, config: ProviderConfig, renderer: Renderer, clock: Clock
    ) -> None:
        if not config.url:
            raise ValueError(f"the {channel} provider (kind http) needs a url")
        self.channel = channel
        self.config = config
        self.renderer = renderer
        self.clock = clock
        parts = urlsplit(config.url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._secret = config.secret.get_secret_value().encode() if config.secret else None
        self._shape = config.shape or DEFAULT_SHAPES.get(channel)
        self._conn: http.client.HTTPConnection | None = None

    def compose(self, action: dict[str, Any], profile: dict[str, Any] | None) -> tuple[str, bytes]:
        context = template_context(action, profile)
        subject, body = self.renderer.message(action.get("template"), context)
        if self.channel in ("sms", "push") and not body:
            raise PermanentError(f"a {self.channel} message needs a template")
        context["subject"] = subject
        context["body"] = body
        if self.channel == "agent":
            context["ticket"] = handoff_ticket(action, profile, body, subject)
        if self._shape is not None:
            payload: Any = {k: self.renderer.evaluate(e, context) for k, e in self._shape.items()}
        elif self.channel == "agent":
            payload = context["ticket"]
        else:
            payload = {k: action.get(k) for k in _ACTION_FIELDS}
            payload["subject"] = subject
            payload["body"] = body
        try:
            return action["action_id"], orjson.dumps(payload)
        except TypeError as exc:
            raise PermanentError(f"body is not JSON: {exc}") from None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self.config.timeout_s)
        return self._conn

    def send(self, message: tuple[str, bytes]) -> None:
        action_id, body = message
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": action_id,
            **self.config.headers,
        }
        if self._secret is not None:
            headers.update(sign_headers(self._secret, self.clock.wall_ms() // 1000, body))
        try:
            conn = self._connection()
            conn.request("POST", self._path, body=body, headers=headers)
            resp = conn.getresponse()
            detail = resp.read()
        except (OSError, http.client.HTTPException) as exc:  # refused, timeout, reset
            self.close()
            raise TransientError(f"HTTP: {type(exc).__name__}: {exc}") from None
        if resp.will_close:
            self.close()
        check_status(resp.status, detail.decode(errors="replace"))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
