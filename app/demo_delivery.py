"""The demo's delivery half: local providers and one ``segue sink`` per channel, so that the
demo's actions are delivered for real and their receipts flow back into the pipeline.

The providers are real servers on 127.0.0.1, the same kinds a deployment points its sinks at:
an SMTP server (aiosmtpd) for email and an HTTP server for the JSON POSTs of push and the agent
handoff; in-app messages go to a JSON lines file (the ``file`` provider). Each counts what it
accepted, so the summary can hold the receipts against what actually arrived.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from app.broker.embedded import free_port

HOST = "127.0.0.1"
#: the channels the demo journeys send on, and how each is delivered
DEMO_CHANNELS = ("email", "push", "agent", "in_app")


@dataclass
class Arrivals:
    """What the local providers accepted, by channel."""

    counts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, channel: str) -> None:
        with self.lock:
            self.counts[channel] = self.counts.get(channel, 0) + 1

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.counts)


class _Mailbox:
    """aiosmtpd handler: accepts every message and counts it."""

    def __init__(self, arrivals: Arrivals) -> None:
        self.arrivals = arrivals

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.arrivals.add("email")
        return "250 Message accepted for delivery"


def _http_handler(arrivals: Arrivals) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real providers
        disable_nagle_algorithm = True  # the reply's two writes must not wait for an ACK

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            arrivals.add(self.path.strip("/") or "webhook")
            data = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:  # the demo's output is its own
            pass

    return Handler


class LocalProviders:
    """The SMTP and HTTP servers, started and stopped together."""

    def __init__(self, folder: Path) -> None:
        self.arrivals = Arrivals()
        self.smtp_port = free_port()
        self._smtp = Controller(_Mailbox(self.arrivals), hostname=HOST, port=self.smtp_port)
        self._http = ThreadingHTTPServer((HOST, 0), _http_handler(self.arrivals))
        self._http.daemon_threads = True
        self.http_url = f"http://{HOST}:{self._http.server_address[1]}"
        self.in_app_file = folder / "in_app.jsonl"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def start(self) -> None:
        self._smtp.start()
        self._thread.start()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._smtp.stop()

    def accepted(self) -> dict[str, int]:
        counts = self.arrivals.snapshot()
        if self.in_app_file.exists():
            with self.in_app_file.open("rb") as lines:
                counts["in_app"] = sum(1 for line in lines if line.strip())
        return counts

    def describe(self) -> str:
        return (
            f"SMTP on {HOST}:{self.smtp_port} (email), HTTP on {self.http_url} (push, agent), "
            f"{self.in_app_file} (in_app)"
        )

    def sink_env(self, channel: str) -> dict[str, str]:
        """The provider settings of one channel's sink (docs/sinks.md)."""
        prefix = f"SEGUE_SINK_{channel.upper()}__"
        if channel == "email":
            return {
                f"{prefix}KIND": "smtp",
                f"{prefix}HOST": HOST,
                f"{prefix}PORT": str(self.smtp_port),
            }
        if channel == "in_app":
            return {f"{prefix}KIND": "file", f"{prefix}PATH": str(self.in_app_file)}
        return {f"{prefix}KIND": "http", f"{prefix}URL": f"{self.http_url}/{channel}"}


class Sinks:
    """One ``segue sink CHANNEL`` process per demo channel, each with its own log."""

    def __init__(self, providers: LocalProviders, env: dict[str, str], folder: Path) -> None:
        self.providers = providers
        self.env = env
        self.folder = folder
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, port: Callable[[], int]) -> None:
        for channel in DEMO_CHANNELS:
            env = {
                **self.env,
                **self.providers.sink_env(channel),
                "SEGUE_METRICS_PORT": str(port()),
            }
            with (self.folder / f"sink-{channel}.log").open("wb") as log:
                self.processes[channel] = subprocess.Popen(
                    [sys.executable, "-m", "app", "sink", channel],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )

    def exited(self) -> list[str]:
        """The channels whose sink has stopped (with its exit code), for the error line."""
        return [
            f"{channel} ({process.returncode}, log {self.folder / f'sink-{channel}.log'})"
            for channel, process in self.processes.items()
            if process.poll() is not None
        ]

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def sink_base_env(env: dict[str, str]) -> dict[str, str]:
    """The worker's environment without its metrics port (each sink gets its own)."""
    return {k: v for k, v in {**os.environ, **env}.items() if k != "SEGUE_METRICS_PORT"}
