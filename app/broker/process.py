"""A broker process that Segue starts, records by pid and stops by pid.

Both embedded brokers (Apache Kafka and Tansu) share this: a pid file and a log file under the
state folder, a start that waits until the broker answers, a stop that ends only the process we
started (after checking that the pid still belongs to that broker's command line).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path


class EmbeddedBrokerError(RuntimeError):
    """The embedded broker could not be found, started or stopped; the message says what to do."""


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def can_bind(host: str, port: int) -> bool:
    """Whether a server could listen on ``port`` now: nothing listens there and no connection
    uses it as its local port (a connect test misses the second; a broker's bind then fails)."""
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


#: where ``free_port`` looks: from here up to the kernel's ephemeral range
FREE_PORTS_FROM = 10_000


def free_port(host: str = "127.0.0.1", count: int = 1) -> int:
    """The first of ``count`` consecutive ports a server could listen on now, below the
    kernel's ephemeral range. A port from that range can be handed to a client as its own
    source port: a client polling the port before its server listens (a test, the demo, a
    broker start) then connects to itself (TCP simultaneous open; the poll reads its own
    request back, "BadStatusLine: GET /metrics") and holds the port, so the server's bind
    fails. Below the range no connection is ever given it."""
    low = _ephemeral_start()
    rng = random.Random()
    for _ in range(500):
        first = rng.randrange(FREE_PORTS_FROM, max(FREE_PORTS_FROM + 1, low - count))
        if all(can_bind(host, port) for port in range(first, first + count)):
            return first
    with socket.socket() as sock:  # a crowded machine: whatever the kernel gives
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _ephemeral_start() -> int:
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        return int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default; other systems start higher


def pid_cmdline(pid_file: Path) -> tuple[int, bytes] | None:
    """The pid in ``pid_file`` and its command line, if that process is alive."""
    try:
        pid = int(pid_file.read_text().strip())
        return pid, Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None


class BrokerProcess:
    """One broker on ``host:port`` whose files live in ``state_dir``."""

    kind = ""
    name = ""  # for messages: "Apache Kafka", "Tansu"
    cmdline_marker = b""  # found in /proc/PID/cmdline of our broker and of no other process
    start_wait_s = 15.0
    stop_wait_s = 10.0

    def __init__(self, host: str, port: int, state_dir: Path) -> None:
        self.host = host
        self.port = port
        self.state_dir = state_dir

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / f"broker-{self.port}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / f"broker-{self.port}.log"

    def pid(self) -> int | None:
        """The pid of the broker we started, if it is still alive and still this broker."""
        found = pid_cmdline(self.pid_file)
        if found is None or self.cmdline_marker not in found[1]:
            return None
        return found[0]

    def running(self) -> bool:
        return self.pid() is not None and port_open(self.host, self.port)

    def command(self) -> list[str]:
        """The command line that runs the broker (after ``prepare``)."""
        raise NotImplementedError

    def prepare(self) -> None:
        """Anything the broker needs on disk before its first start."""

    def ready(self) -> bool:
        """Whether the broker serves clients (the port being open may come first)."""
        return port_open(self.host, self.port)

    def start(self, wait_s: float | None = None) -> int:
        """Start the broker (if ours is not running already) and wait until it serves clients."""
        wait_s = self.start_wait_s if wait_s is None else wait_s
        existing = self.pid()
        if existing is not None:
            self._wait_ready(wait_s)
            return existing
        if port_open(self.host, self.port):
            raise EmbeddedBrokerError(
                f"{self.bootstrap} is already taken by a process Segue did not start; "
                "stop it, or point SEGUE_BOOTSTRAP_SERVERS at it to use it as the broker"
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.prepare()
        log = self.log_file.open("ab")
        proc = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives the CLI that started it; stopped by pid
        )
        log.close()
        self.pid_file.write_text(f"{proc.pid}\n")
        try:
            self._wait_ready(wait_s, proc)
        except EmbeddedBrokerError:
            self.stop()
            raise
        return proc.pid

    def _wait_ready(self, wait_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.ready():
                return
            if proc is not None and proc.poll() is not None:
                raise EmbeddedBrokerError(
                    f"{self.name} exited with code {proc.returncode}; see {self.log_file}"
                )
            time.sleep(0.1)
        raise EmbeddedBrokerError(
            f"{self.name} did not serve clients on {self.bootstrap} in {wait_s:.0f}s; "
            f"see {self.log_file}"
        )

    def stop(self, wait_s: float | None = None) -> bool:
        """Stop the broker we started (by its pid); returns False if none was running."""
        wait_s = self.stop_wait_s if wait_s is None else wait_s
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and _alive(pid):
            with contextlib.suppress(ChildProcessError):  # reap it if it is our child (tests)
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self.pid_file.unlink(missing_ok=True)
        return True


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing
