"""The callbacks endpoint over real sockets: body limits before authentication, answers to a
malformed Content-Length, timeouts for idle and half-sent requests, the connection cap, and one
receipt per (action, kind) however often a signed callback is replayed, across a restart too.

The server is the real one (aiohttp); only the broker is replaced by a recorder of what would
be produced (tests/integration/test_sinks.py runs the endpoint on the real broker)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest

from app.core.delivery.signing import sign_headers
from app.settings import Settings
from app.sinks.callbacks import Unavailable
from app.sinks.config import SinkSettings
from tests.sink_servers import callback_endpoint, post_callback

SECRET = "cb-secret"
OPENED = {"action_id": "a-1", "customer_id": "c-1", "channel": "email", "status": "opened"}
#: a bound for the server to close a connection in; far above its 1 s timeout, so a slow
#: machine never fails the test: it only shows the connection is closed, not how fast
GENEROUS_S = 60


class Broker:
    """Stands in for the receipts topic: keeps what is produced; ``fail`` refuses the next."""

    def __init__(self) -> None:
        self.produced: list[dict[str, Any]] = []
        self.fail = 0
        self.lock = threading.Lock()

    def publish(self, event: dict[str, Any]) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self.lock:
            if self.fail:
                self.fail -= 1
                done.set_exception(Unavailable("broker down"))
            else:
                self.produced.append(event)
                done.set_result(None)
        return done

    def ids(self) -> list[str]:
        with self.lock:
            return [e["event_id"] for e in self.produced]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state")


@contextmanager
def endpoint(settings: Settings, broker: Broker, **limits: Any) -> Iterator[int]:
    sinks = SinkSettings(callback_secret=SECRET, **limits)
    with callback_endpoint(settings, sinks, broker.publish) as port:
        yield port


def signed(body: dict[str, Any], secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    raw = orjson.dumps(body)
    return raw, sign_headers(secret.encode(), int(time.time()), raw)


def post(port: int, raw: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    status, body = post_callback(port, raw, headers, GENEROUS_S)
    return status, orjson.loads(body)


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=GENEROUS_S)


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (b'' from recv)."""
    got = b""
    while chunk := sock.recv(65536):
        got += chunk
    return got


def read_answer(sock: socket.socket) -> bytes:
    """One whole answer on a connection the server keeps open."""
    got = b""
    while b"\r\n\r\n" not in got:
        got += sock.recv(65536)
    head, _, body = got.partition(b"\r\n\r\n")
    fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
    while len(body) < int(fields[b"Content-Length"]):
        body += sock.recv(65536)
    return head


def test_a_replayed_signed_callback_produces_one_receipt(settings: Settings) -> None:
    broker = Broker()
    raw, headers = signed(OPENED)
    with endpoint(settings, broker) as port:
        assert post(port, raw, headers) == (202, {"event_id": "a-1:MessageOpened"})
        for _ in range(4):  # the same bytes and signature, within the signature's window
            assert post(port, raw, headers) == (
                200,
                {"event_id": "a-1:MessageOpened", "duplicate": True},
            )
        # The same (action, kind) signed afresh, as a provider's own retry would be.
        again, again_headers = signed({**OPENED, "journey": "j"})
        assert post(port, again, again_headers)[0] == 200
    assert broker.ids() == ["a-1:MessageOpened"]


def test_a_replay_after_a_restart_is_still_a_duplicate(settings: Settings) -> None:
    broker = Broker()
    raw, headers = signed({**OPENED, "status": "delivered"})
    with endpoint(settings, broker) as port:
        assert post(port, raw, headers)[0] == 202
    with endpoint(settings, broker) as port:  # a new process on the same state directory
        assert post(port, raw, headers)[0] == 200
    assert broker.ids() == ["a-1:MessageDelivered"]


def test_one_receipt_per_action_and_kind_and_clicks_per_callback_id(settings: Settings) -> None:
    broker = Broker()
    bodies = [
        {**OPENED, "status": "delivered"},
        OPENED,
        {**OPENED, "status": "clicked", "callback_id": "k1"},
        {**OPENED, "status": "clicked", "callback_id": "k2"},
        {**OPENED, "status": "clicked", "callback_id": "k1"},  # k1 again
        {**OPENED, "action_id": "a-2"},
    ]
    with endpoint(settings, broker) as port:
        statuses = [post(port, *signed(body))[0] for body in bodies]
    assert statuses == [202, 202, 202, 202, 200, 202]
    assert broker.ids() == [
        "a-1:MessageDelivered",
        "a-1:MessageOpened",
        "a-1:MessageClicked:k1",
        "a-1:MessageClicked:k2",
        "a-2:MessageOpened",
    ]


def test_a_receipt_the_broker_refused_is_produced_on_the_retry(settings: Settings) -> None:
    broker = Broker()
    broker.fail = 1
    raw, headers = signed(OPENED)
    with endpoint(settings, broker) as port:
        assert post(port, raw, headers) == (503, {"error": "broker unavailable"})
        assert post(port, raw, headers)[0] == 202  # not remembered as produced: retried
        assert post(port, raw, headers)[0] == 200
    assert broker.ids() == ["a-1:MessageOpened"]


def test_unsigned_and_wrongly_signed_callbacks_are_refused(settings: Settings) -> None:
    broker = Broker()
    raw, _ = signed(OPENED)
    with endpoint(settings, broker) as port:
        assert post(port, raw, {}) == (401, {"error": "bad or stale signature"})
        assert post(port, *signed(OPENED, "wrong"))[0] == 401
        assert post(port, *signed({**OPENED, "status": "eaten"}))[0] == 400
    assert broker.ids() == []


def test_an_oversized_body_is_refused_before_it_is_read(settings: Settings) -> None:
    broker = Broker()
    with endpoint(settings, broker, callback_max_body_bytes=1024) as port, connect(port) as sock:
        # 300 MiB announced, 4 KiB sent: the answer comes without the rest ever being sent.
        sock.sendall(
            b"POST /callbacks HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (300 << 20)
        )
        sock.sendall(b"x" * 4096)
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"Connection: close" in answer and b"body over 1024 bytes" in answer
    assert broker.ids() == []


def test_an_oversized_body_announced_with_expect_gets_no_continue(settings: Settings) -> None:
    with endpoint(settings, Broker(), callback_max_body_bytes=1024) as port, connect(port) as sock:
        sock.sendall(
            b"POST /callbacks HTTP/1.1\r\nHost: x\r\nContent-Length: 2048\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 413 ") and b"100 Continue" not in answer


def test_an_oversized_chunked_body_is_cut_off_at_the_limit(settings: Settings) -> None:
    chunk = b"x" * 1000
    with endpoint(settings, Broker(), callback_max_body_bytes=1024) as port, connect(port) as sock:
        sock.sendall(b"POST /callbacks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        sock.sendall((b"%x\r\n%s\r\n" % (len(chunk), chunk)) * 3)
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 413 ")


@pytest.mark.parametrize("length", [b"-1", b"abc", b"1, 2", b""])
def test_a_malformed_content_length_is_answered_400(settings: Settings, length: bytes) -> None:
    with endpoint(settings, Broker()) as port, connect(port) as sock:
        sock.sendall(
            b"POST /callbacks HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n{}"
        )
        answer = read_until_closed(sock)
    assert answer.split(b"\r\n")[0].split(b" ")[1] == b"400"


def test_idle_and_half_sent_requests_are_closed(settings: Settings) -> None:
    with endpoint(settings, Broker(), callback_timeout_s=1) as port:
        with connect(port) as silent:  # connected, never a byte
            assert read_until_closed(silent) == b""
        with connect(port) as headers:  # headers cut off midway
            headers.sendall(b"POST /callbacks HTTP/1.1\r\nHost: x\r\nContent-")
            assert read_until_closed(headers) == b""
        with connect(port) as body:  # whole headers, 10 bytes of a 100-byte body
            body.sendall(b"POST /callbacks HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
            body.sendall(b"{" * 10)
            answer = read_until_closed(body)
            assert answer.startswith(b"HTTP/1.1 408 ")
        with connect(port) as kept:  # a kept-alive connection left idle after an answer
            kept.sendall(b"POST /callbacks HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
            assert read_answer(kept).startswith(b"HTTP/1.1 401 ")
            assert read_until_closed(kept) == b""


def test_connections_over_the_cap_are_answered_503(settings: Settings) -> None:
    with endpoint(settings, Broker(), callback_max_connections=2) as port:
        first, second = connect(port), connect(port)
        try:
            for sock in (first, second):  # each answered once, so the server holds both
                sock.sendall(b"POST /callbacks HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
                assert read_answer(sock).startswith(b"HTTP/1.1 401 ")
            with connect(port) as third:
                assert read_until_closed(third).startswith(b"HTTP/1.1 503 ")
        finally:
            first.close()
            second.close()


def test_a_retention_shorter_than_the_signature_window_is_refused(settings: Settings) -> None:
    sinks = SinkSettings(callback_secret=SECRET, callback_dedupe_retention="5m")
    with pytest.raises(SystemExit, match="at least 10m"), callback_endpoint(settings, sinks):
        pass
