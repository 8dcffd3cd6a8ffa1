"""Real local providers for the sink tests: an SMTP server (aiosmtpd) and an HTTP server that
checks every request's HMAC-SHA256 signature. Both count what they accept, per action id.
And the callbacks endpoint itself, run on a thread of its own for the tests to call."""

from __future__ import annotations

import asyncio
import email
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
from aiosmtpd.controller import Controller

from app.broker.embedded import free_port
from app.core.delivery.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from app.settings import Settings
from app.sinks.callbacks import CallbackServer, Publish
from app.sinks.config import SinkSettings


class SmtpRecorder:
    """aiosmtpd handler: keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.arrivals: list[float] = []  # time.monotonic() of each accepted message
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content)
        with self.lock:
            self.messages.append(msg)
            self.arrivals.append(time.monotonic())
        return "250 Message accepted for delivery"

    def action_ids(self) -> Counter[str]:
        with self.lock:
            return Counter(str(m["X-Segue-Action-Id"]) for m in self.messages)


@contextmanager
def smtp_server(tls: ssl.SSLContext | None = None) -> Iterator[tuple[SmtpRecorder, int]]:
    """With ``tls``, the server offers STARTTLS and refuses mail before it."""
    recorder = SmtpRecorder()
    port = free_port()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=port,
        tls_context=tls,
        require_starttls=tls is not None,
    )
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


class HttpRecorder:
    """What the HTTP server accepted; ``respond`` picks the status of each request."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.accepted: list[dict[str, Any]] = []
        self.arrivals: list[float] = []  # time.monotonic() of each accepted request
        self.rejected_signatures = 0
        self.requests = 0
        self.respond: Callable[[dict[str, Any]], int] = lambda _body: 200
        self.lock = threading.Lock()

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [a["body"] for a in self.accepted]

    def idempotency_keys(self) -> Counter[str]:
        with self.lock:
            return Counter(a["idempotency_key"] for a in self.accepted)


@contextmanager
def http_server(secret: bytes) -> Iterator[tuple[HttpRecorder, str]]:
    recorder = HttpRecorder(secret)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real providers
        # The status line and the body go out in two writes: without TCP_NODELAY, Nagle's
        # algorithm meets the client's delayed ACK and every response waits ~40 ms.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            ok = verify(
                recorder.secret,
                self.headers.get(TIMESTAMP_HEADER),
                self.headers.get(SIGNATURE_HEADER),
                raw,
                int(time.time()),
            )
            with recorder.lock:
                recorder.requests += 1
            if not ok:
                with recorder.lock:
                    recorder.rejected_signatures += 1
                self._reply(401)
                return
            body = orjson.loads(raw)
            status = recorder.respond(body)
            if 200 <= status < 300:
                with recorder.lock:
                    recorder.arrivals.append(time.monotonic())
                    recorder.accepted.append(
                        {
                            "path": self.path,
                            "idempotency_key": self.headers.get("Idempotency-Key"),
                            "body": body,
                        }
                    )
            self._reply(status)

        def _reply(self, status: int) -> None:
            data = b'{"ok": %s}' % (b"true" if status < 300 else b"false")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def self_signed(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context for 127.0.0.1 with a fresh self-signed certificate (openssl CLI),
    and the certificate file for the client to trust."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    return context, cert


@contextmanager
def callback_endpoint(
    settings: Settings, sinks: SinkSettings, publish: Publish | None = None
) -> Iterator[int]:
    """The real callbacks endpoint (aiohttp) on its own event loop thread; yields its port."""
    server = CallbackServer(settings, sinks, "127.0.0.1", 0, publish)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield asyncio.run_coroutine_threadsafe(server.start(), loop).result(60)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def post_callback(
    port: int, raw: bytes, headers: dict[str, str], timeout_s: float
) -> tuple[int, bytes]:
    """POST ``raw`` to the callbacks endpoint on ``port`` as a provider would: (status, body)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/callbacks",
        data=raw,
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()
