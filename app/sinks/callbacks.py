"""The provider callback endpoint: ``POST /callbacks`` with a JSON body
``{"action_id", "customer_id", "channel", "status": "delivered"|"opened"|"clicked",
"journey"?, "callback_id"?}``, signed like our own requests (X-Segue-Timestamp,
X-Segue-Signature: HMAC-SHA256 over ``timestamp.body``). Each good callback becomes a
``MessageDelivered``/``MessageOpened``/``MessageClicked`` event on ``events.receipts``."""

from __future__ import annotations

import logging
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from app.core.delivery import receipts
from app.core.delivery.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from app.kafka_io import make_producer
from app.settings import Settings
from app.sinks.config import SinkSettings
from app.topics.specs import CHANNELS, TopicNames

log = logging.getLogger("segue.sink.callbacks")


class BadCallback(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def callback_event(
    body: bytes, timestamp: str | None, signature: str | None, secret: bytes, now_ms: int
) -> dict[str, Any]:
    """The receipt event of one callback request, or BadCallback (401 / 400)."""
    if not verify(secret, timestamp, signature, body, now_ms // 1000):
        raise BadCallback(401, "bad or stale signature")
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadCallback(400, "bad JSON") from None
    if not isinstance(obj, dict):
        raise BadCallback(400, "not an object")
    kind = receipts.CALLBACK_KINDS.get(obj.get("status"))  # type: ignore[arg-type]
    if kind is None:
        raise BadCallback(400, f"status must be one of {sorted(receipts.CALLBACK_KINDS)}")
    for field in ("action_id", "customer_id"):
        if not isinstance(obj.get(field), str) or not obj[field]:
            raise BadCallback(400, f"{field} is required")
    if obj.get("channel") not in CHANNELS:
        raise BadCallback(400, f"channel must be one of {', '.join(CHANNELS)}")
    # One delivered/opened per action; clicks may repeat and are told apart by callback_id.
    suffix = f":{obj['callback_id']}" if isinstance(obj.get("callback_id"), str) else ""
    return receipts.receipt_event(
        kind, obj, now_ms, channel=obj["channel"], extra=None, suffix=suffix
    )


def make_server(
    settings: Settings, sinks: SinkSettings, host: str, port: int
) -> ThreadingHTTPServer:
    if sinks.callback_secret is None:
        raise SystemExit("SEGUE_SINK_CALLBACK_SECRET is required: callbacks must be signed")
    secret = sinks.callback_secret.get_secret_value().encode()
    topic = TopicNames(settings).receipts
    producer = make_producer(settings)

    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stalls

        def do_POST(self) -> None:
            if self.path.rstrip("/") != "/callbacks":
                self._reply(404, {"error": "not found"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(length, 1 << 20))
            try:
                event = callback_event(
                    body,
                    self.headers.get(TIMESTAMP_HEADER),
                    self.headers.get(SIGNATURE_HEADER),
                    secret,
                    time.time_ns() // 1_000_000,
                )
            except BadCallback as exc:
                self._reply(exc.status, {"error": exc.reason})
                return
            producer.produce(topic, key=event["customer_id"].encode(), value=orjson.dumps(event))
            # Acknowledge only what the broker has: the provider retries anything else.
            if producer.flush(10) > 0:
                self._reply(503, {"error": "broker unavailable"})
                return
            self._reply(202, {"event_id": event["event_id"]})

        def _reply(self, status: int, obj: dict[str, Any]) -> None:
            data = orjson.dumps(obj)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug(format, *args)

    return ThreadingHTTPServer((host, port), Handler)


def serve_callbacks(settings: Settings, sinks: SinkSettings, host: str, port: int) -> None:
    server = make_server(settings, sinks, host, port)
    log.info("callbacks on http://%s:%d/callbacks", host, port)
    try:
        server.serve_forever()
    finally:
        server.server_close()
