"""A Confluent-compatible schema registry that Segue starts itself: Apicurio Registry 2.4.2.

``make registry`` builds it from Maven Central (``registry/pom.xml``) into
``.registry/quarkus-app`` once; ``start_registry`` runs that Quarkus fast-jar with Java on
127.0.0.1 only, in-memory storage (H2: every start begins empty), and waits until its Confluent
API answers. Clients (``confluent_kafka.schema_registry.SchemaRegistryClient``) take ``.url``,
the Confluent-compatible base ``http://127.0.0.1:PORT/apis/ccompat/v7``. ``stop`` ends only the
process it started (SIGTERM to that pid, SIGKILL after a grace period).

Heap: 256 MiB at most; the JVM holds about 140 MB resident idle, ~155 MB after 200 subjects.
The JIT's first tier only (``-XX:TieredStopAtLevel=1``), as for the embedded Kafka: on a 2-core
machine C2's threads would take the CPU from the tests for minutes after each start.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from app.broker.kafka import java_binary
from app.broker.process import free_port, port_open
from app.paths import ROOT

HOST = "127.0.0.1"
#: the Confluent Schema Registry API (v7) under Apicurio's compatibility layer
CCOMPAT_PATH = "/apis/ccompat/v7"
JVM_OPTS = ["-Xms64m", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]


class SchemaRegistryError(RuntimeError):
    """The schema registry could not be found, started or reached; the message says what to do."""


def registry_jar() -> Path:
    """The registry's runnable jar (``SEGUE_REGISTRY_APP``, else ``.registry/quarkus-app``)."""
    app = Path(os.environ.get("SEGUE_REGISTRY_APP") or ROOT / ".registry" / "quarkus-app")
    jar = app / "quarkus-run.jar"
    if not jar.is_file():
        raise SchemaRegistryError(
            f"the schema registry is not built ({jar} is missing): run `make registry` "
            "(Maven builds Apicurio Registry from Maven Central into .registry/)"
        )
    return jar


def registry_command(jar: Path, port: int) -> list[str]:
    java = java_binary()
    if java is None:
        raise SchemaRegistryError(
            "the schema registry needs Java 17: apt-get install openjdk-17-jre-headless "
            "(or set JAVA_HOME)"
        )
    return [
        java,
        *JVM_OPTS,
        f"-Dquarkus.http.host={HOST}",
        f"-Dquarkus.http.port={port}",
        # Apicurio's prod profile opens 20 H2 connections up front; two serve the tests
        "-D%prod.quarkus.datasource.jdbc.initial-size=2",
        "-D%prod.quarkus.datasource.jdbc.min-size=2",
        "-Djava.awt.headless=true",
        "-jar",
        str(jar),
    ]


class RegistryProcess:
    """One registry JVM that ``start_registry`` started, on ``127.0.0.1:port``."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, log_file: Path) -> None:
        self._proc = proc
        self.port = port
        self.log_file = log_file

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def url(self) -> str:
        """The Confluent-compatible base URL, for ``SchemaRegistryClient({"url": ...})``."""
        return f"http://{HOST}:{self.port}{CCOMPAT_PATH}"

    def running(self) -> bool:
        return self._proc.poll() is None

    def ready(self) -> bool:
        """Whether the Confluent API answers (``GET /subjects`` gives 200)."""
        try:
            with urllib.request.urlopen(f"{self.url}/subjects", timeout=2) as response:
                return int(response.status) == 200
        except (OSError, urllib.error.URLError):
            return False

    def wait_ready(self, wait_s: float) -> None:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise SchemaRegistryError(
                    f"the schema registry exited with code {self._proc.returncode}; "
                    f"see {self.log_file}"
                )
            if self.ready():
                return
            time.sleep(0.1)
        raise SchemaRegistryError(
            f"the schema registry did not answer on {self.url} in {wait_s:.0f}s; "
            f"see {self.log_file}"
        )

    def stop(self, wait_s: float = 10.0) -> None:
        """End the registry we started (SIGTERM to its pid, then SIGKILL); idempotent."""
        if self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def __enter__(self) -> RegistryProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_registry(
    port: int | None = None, *, log_dir: Path, wait_s: float = 60.0
) -> RegistryProcess:
    """Start a schema registry on ``127.0.0.1:port`` (a free port when None) and wait until its
    Confluent API answers. Its log (and anything the JVM writes to its working folder) goes to
    ``log_dir``. Stop it with ``.stop()`` or use it as a context manager."""
    jar = registry_jar()
    port = free_port(HOST) if port is None else port
    if port_open(HOST, port):
        raise SchemaRegistryError(f"{HOST}:{port} is already taken; pick another port")
    command = registry_command(jar, port)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / f"schema-registry-{port}.log"
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            command,
            cwd=log_dir,  # the transaction manager's ObjectStore folder, if it writes one
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    registry = RegistryProcess(proc, port, log_file)
    try:
        registry.wait_ready(wait_s)
    except BaseException:
        registry.stop()
        raise
    return registry
