"""The provider callback endpoint: ``POST /callbacks`` with a JSON body
``{"action_id", "customer_id", "channel", "status": "delivered"|"opened"|"clicked",
"journey"?, "callback_id"?}``, signed like our own requests (X-Segue-Timestamp,
X-Segue-Signature: HMAC-SHA256 over ``timestamp.body``). Each good callback becomes a
``MessageDelivered``/``MessageOpened``/``MessageClicked`` event on ``events.receipts``, once.

``callback_event`` is the pure part (signature, body, receipt). The rest is the shell, on
aiohttp: the body limit is checked on Content-Length before any byte of the body is read (and
enforced on chunked bodies while reading), malformed Content-Length is answered 400 by aiohttp's
parser, slow or idle clients are timed out, connections are capped, and every receipt id is
remembered (app/sinks/seen.py) so a replayed or repeated callback produces no second receipt."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from aiohttp.http import HttpVersion11
from confluent_kafka import KafkaError, KafkaException, Message

from app import incarnation
from app.core.delivery import receipts
from app.core.delivery.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, TOLERANCE_S, verify
from app.core.timeutil import parse_duration
from app.kafka_io import make_producer
from app.settings import Settings
from app.sinks.config import SinkSettings
from app.sinks.seen import SeenReceipts
from app.topics.specs import CHANNELS, TopicNames

log = logging.getLogger("segue.sink.callbacks")

#: how long a callback waits for the broker's acknowledgement before it is answered 503
ACK_TIMEOUT_S = 10.0
#: after an answer sent before the body was read (413, 408), how long the rest is read and
#: thrown away before the connection is closed: a client still sending then reads the answer
#: instead of a connection reset
LINGER_S = 2.0

Publish = Callable[[dict[str, Any]], "asyncio.Future[None]"]


class BadCallback(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Unavailable(Exception):
    """The broker did not take the receipt (in time): answered 503, the provider retries."""


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


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class KafkaReceipts:
    """Produces receipts to the receipts topic; each future settles on its own delivery report
    (a flush would also count a failed delivery as done)."""

    def __init__(self, settings: Settings) -> None:
        self._producer = make_producer(settings)
        self._topic = TopicNames(settings).receipts
        self._running = True
        # confluent-kafka has no asyncio: its delivery reports are served on this thread.
        self._poller = threading.Thread(target=self._poll, name="callback-receipts", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while self._running:
            self._producer.poll(0.1)

    def publish(self, event: dict[str, Any]) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def report(err: KafkaError | None, _msg: Message) -> None:
            # A closed loop (after stop) has nobody waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, done, err)

        try:
            self._producer.produce(
                self._topic,
                key=event["customer_id"].encode(),
                value=orjson.dumps(event),
                on_delivery=report,
            )
        except (BufferError, KafkaException) as exc:
            done.set_exception(Unavailable(str(exc)))
        return done

    def close(self) -> None:
        self._running = False
        self._poller.join()
        self._producer.flush(ACK_TIMEOUT_S)


def _settle(done: asyncio.Future[None], err: KafkaError | None) -> None:
    if done.done():
        return
    if err is None:
        done.set_result(None)
    else:
        done.set_exception(Unavailable(str(err)))


class OnceReceipts:
    """Puts each receipt id on the broker once: an id already acknowledged (``seen``, kept
    across restarts) is a duplicate; one still in flight is waited for, not produced again.
    An id is remembered only once the broker has it, so a failed produce can be retried."""

    def __init__(
        self, publish: Publish, seen: SeenReceipts, clock_ms: Callable[[], int] = _wall_ms
    ) -> None:
        self._publish = publish
        self._seen = seen
        self._clock_ms = clock_ms
        self._in_flight: dict[str, asyncio.Future[None]] = {}

    async def emit(self, event: dict[str, Any]) -> bool:
        """True if this call put the receipt on the broker, False for a duplicate; Unavailable
        if the broker did not acknowledge it within ACK_TIMEOUT_S."""
        event_id: str = event["event_id"]
        pending = self._in_flight.get(event_id)
        first = pending is None
        if pending is None:
            if event_id in self._seen:
                return False
            pending = self._publish(event)
            self._in_flight[event_id] = pending
            pending.add_done_callback(functools.partial(self._settled, event_id))
        try:
            # shield: a late acknowledgement still reaches _settled and is remembered.
            async with asyncio.timeout(ACK_TIMEOUT_S):
                await asyncio.shield(pending)
        except TimeoutError:
            raise Unavailable("the broker did not acknowledge the receipt in time") from None
        return first

    def _settled(self, event_id: str, done: asyncio.Future[None]) -> None:
        self._in_flight.pop(event_id, None)
        if not done.cancelled() and done.exception() is None:
            self._seen.add(event_id, self._clock_ms())


def _reply(status: int, obj: dict[str, Any], close: bool = False) -> web.Response:
    resp = web.json_response(obj, status=status, dumps=lambda o: orjson.dumps(o).decode())
    if close:
        resp.force_close()
    return resp


class _Endpoint:
    def __init__(self, secret: bytes, once: OnceReceipts, sinks: SinkSettings) -> None:
        self._secret = secret
        self._once = once
        self._max_body = sinks.callback_max_body_bytes
        self._timeout_s = sinks.callback_timeout_s

    def _too_large(self, request: web.BaseRequest) -> web.Response | None:
        length = request.content_length
        if length is not None and length > self._max_body:
            return _reply(413, {"error": f"body over {self._max_body} bytes"}, close=True)
        return None

    async def expect(self, request: web.Request) -> web.StreamResponse | None:
        """``Expect: 100-continue``: refuse an oversized body before the client sends it."""
        refused = self._too_large(request)
        if refused is not None:
            return refused
        if request.version == HttpVersion11:
            if request.headers.get("Expect", "").lower() != "100-continue":
                return _reply(417, {"error": "unknown Expect"}, close=True)
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.writer.output_size = 0  # the answer proper has not started
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        refused = self._too_large(request)
        if refused is not None:
            return refused
        try:
            async with asyncio.timeout(self._timeout_s):
                body = await request.read()  # chunked bodies: client_max_size stops it
        except TimeoutError:
            return _reply(408, {"error": "body not sent in time"}, close=True)
        except web.HTTPRequestEntityTooLarge:
            return _reply(413, {"error": f"body over {self._max_body} bytes"}, close=True)
        try:
            event = callback_event(
                body,
                request.headers.get(TIMESTAMP_HEADER),
                request.headers.get(SIGNATURE_HEADER),
                self._secret,
                _wall_ms(),
            )
        except BadCallback as exc:
            return _reply(exc.status, {"error": exc.reason})
        try:
            first = await self._once.emit(event)
        except Unavailable as exc:
            log.warning("receipt %s not acknowledged: %s", event["event_id"], exc)
            return _reply(503, {"error": "broker unavailable"})
        if not first:
            # 2xx: providers retry anything else, and there is nothing left to do.
            return _reply(200, {"event_id": event["event_id"], "duplicate": True})
        return _reply(202, {"event_id": event["event_id"]})


class _Busy(asyncio.Protocol):
    """The connection over the cap: answered 503 at once and closed."""

    BODY = b'{"error":"too many clients"}'
    ANSWER = (
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nRetry-After: 1\r\nConnection: close\r\n\r\n%s" % (len(BODY), BODY)
    )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(self.ANSWER)
        transport.close()


class _CappedSite(web.BaseSite):
    """aiohttp's TCPSite with a cap on open connections (aiohttp has none)."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, max_connections: int):
        super().__init__(runner)
        self._host = host
        self._port = port
        self._max = max_connections

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None

        def protocol() -> asyncio.BaseProtocol:
            return _Busy() if len(server.connections) >= self._max else server()

        self._server = await asyncio.get_running_loop().create_server(
            protocol, self._host, self._port, backlog=128
        )
        self._port = self._server.sockets[0].getsockname()[1]

    @property
    def port(self) -> int:
        return self._port


class CallbackServer:
    """The running endpoint. ``publish`` defaults to the receipts topic of ``settings``."""

    def __init__(
        self,
        settings: Settings,
        sinks: SinkSettings,
        host: str,
        port: int,
        publish: Publish | None = None,
    ) -> None:
        if sinks.callback_secret is None:
            raise SystemExit("SEGUE_SINK_CALLBACK_SECRET is required: callbacks must be signed")
        retention_s = parse_duration(sinks.callback_dedupe_retention) // 1000
        if retention_s < 2 * TOLERANCE_S:
            raise SystemExit(
                f"SEGUE_SINK_CALLBACK_DEDUPE_RETENTION must be at least {2 * TOLERANCE_S // 60}m: "
                "a signed callback stays acceptable that long"
            )
        self._sinks = sinks
        self._secret = sinks.callback_secret.get_secret_value().encode()
        self._host = host
        self._port = port
        self._seen_path = seen_path(settings)
        self._retention_s = retention_s
        self._settings = settings
        self._publish = publish
        self._kafka: KafkaReceipts | None = None
        self._seen: SeenReceipts | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> int:
        """Listen; returns the port (useful with port 0)."""
        self._seen = SeenReceipts(self._seen_path, self._retention_s)
        publish = self._publish
        if publish is None:
            self._kafka = KafkaReceipts(self._settings)
            publish = self._kafka.publish
        endpoint = _Endpoint(self._secret, OnceReceipts(publish, self._seen), self._sinks)
        app = web.Application(client_max_size=self._sinks.callback_max_body_bytes)
        for path in ("/callbacks", "/callbacks/"):
            app.router.add_post(path, endpoint.handle, expect_handler=endpoint.expect)
        self._runner = web.AppRunner(
            app,
            # From connecting to the end of the headers, and idle between requests: aiohttp's
            # keep-alive timer runs from the connection's start, whatever arrives.
            keepalive_timeout=self._sinks.callback_timeout_s,
            lingering_time=LINGER_S,
            access_log=None,
            handle_signals=False,
        )
        await self._runner.setup()
        site = _CappedSite(
            self._runner, self._host, self._port, self._sinks.callback_max_connections
        )
        await site.start()
        self.port = site.port
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()  # waits for requests in progress
        if self._kafka is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._kafka.close)
            await asyncio.sleep(0)  # the last acknowledgements reach the seen store
        if self._seen is not None:
            self._seen.close()


def seen_path(settings: Settings) -> Path:
    """The folder of the receipt ids the endpoint has published (SeenReceipts)."""
    return settings.state_dir / f"{settings.topic_prefix}{settings.app_id}-callbacks"


def serve_callbacks(settings: Settings, sinks: SinkSettings, host: str, port: int) -> None:
    settings = settings.for_component("callbacks")  # client.id <prefix>segue-callbacks
    server = CallbackServer(settings, sinks, host, port)  # its settings checked first
    # The seen receipts must be this broker's (issue 16): kept from another broker, a provider's
    # callback for a message sent again would be dropped as already published. One line
    # (incarnation.StateMismatch) if not; the claim is held while the endpoint runs.
    claim = incarnation.check(
        settings, seen_path(settings), "sink-callbacks", [TopicNames(settings).receipts]
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await server.start()
        log.info("callbacks on http://%s:%d/callbacks", host, server.port)
        try:
            await stop.wait()
        finally:
            await server.stop()

    try:
        asyncio.run(main())
    finally:
        claim.release()
