"""Apache Kafka as the embedded broker: one KRaft node (broker + controller) on 127.0.0.1.

The jars come from Maven Central through ``broker/pom.xml`` (``make kafka`` copies them into
``.kafka/libs``); Java 17 runs them. Everything the broker writes lives in
``STATE_DIR/kafka-PORT/``: its configuration (written once, on the first start), the KRaft log
folder (formatted once) and the log4j2 configuration. Data survives ``stop``/``start``.

Heap: 1 GiB at most (``-Xmx1g``, 256 MiB to begin with). The test suite creates a few thousand
partitions and the benchmarks push ~50 MB/s; 1 GiB leaves room for the page cache, two workers and
the tests in 24 GiB, and G1 with a 20 ms pause goal (Kafka's own start script's choice) keeps the
broker's pauses out of the latency figures.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import uuid
from pathlib import Path

from app.broker.process import (
    BrokerProcess,
    EmbeddedBrokerError,
    can_bind,
    free_port,
    port_open,
)
from app.paths import ROOT

HEAP_OPTS = ["-Xms256m", "-Xmx1g"]
#: The JIT's first tier only (C1). On a 2-core machine shared with the workers, C2's compiler
#: threads take the CPU for minutes after each start. Measured side by side in one run
#: (`.venv/bin/python bench/broker_jit.py`, bench/logs/broker_jit.log): the limit pipeline's p99
#: at 1,000 events/s over three rounds on a fresh broker was 156/22/15 ms with C1 only and
#: 269/87/151 ms with C2 on, the broker's CPU 15.5 s against 25.1 s; the limit's throughput
#: afterwards ~200-280k against ~270-540k events/s, both far beyond what a worker asks of it.
#: Production estates run Kafka with its own start scripts (and C2).
JIT_OPTS = ["-XX:TieredStopAtLevel=1"]
GC_OPTS = ["-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35"]
MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"


def kafka_libs() -> Path:
    """The folder of Kafka's jars (``SEGUE_KAFKA_LIBS``, else ``.kafka/libs`` in the checkout)."""
    libs = Path(os.environ.get("SEGUE_KAFKA_LIBS") or ROOT / ".kafka" / "libs")
    if not any(libs.glob("kafka_2.13-*.jar")):
        raise EmbeddedBrokerError(
            f"Apache Kafka's jars are not in {libs}: run `make kafka` (Maven copies them there), "
            "or start the light broker with `segue broker start --kind tansu`"
        )
    return libs


def java_binary() -> str | None:
    """The ``java`` to run Kafka with: ``JAVA_HOME``'s, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def require_java() -> str:
    java = java_binary()
    if java is None:
        raise EmbeddedBrokerError(
            "Apache Kafka needs Java 17 or newer: apt-get install openjdk-17-jre-headless "
            "(or set JAVA_HOME), or start the light broker with `segue broker start --kind tansu`"
        )
    return java


def new_cluster_id() -> str:
    """A Kafka cluster id: a random UUID in URL-safe base64 without padding (as Kafka's Uuid)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


LOG4J2 = """\
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = warn
logger.apache.name = org.apache.kafka
logger.apache.level = warn
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = info
"""


class KafkaBroker(BrokerProcess):
    kind = "kafka"
    name = "Apache Kafka"
    cmdline_marker = MAIN_CLASS.encode()
    start_wait_s = 90.0  # the JVM, the KRaft quorum and the first metadata: ~5-15 s here
    stop_wait_s = 30.0  # a controlled shutdown flushes every partition

    def __init__(
        self,
        host: str,
        port: int,
        state_dir: Path,
        controller_port: int = 0,
        jit_opts: list[str] | None = None,
    ) -> None:
        super().__init__(host, port, state_dir)
        self._controller_port = controller_port
        self._jit_opts = JIT_OPTS if jit_opts is None else jit_opts

    @property
    def home(self) -> Path:
        return self.state_dir / f"kafka-{self.port}"

    @property
    def config_file(self) -> Path:
        return self.home / "server.properties"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    def controller_port(self) -> int:
        """The KRaft controller's port: the one written at the first start, else a free one."""
        if self.config_file.is_file():
            for line in self.config_file.read_text().splitlines():
                if line.startswith("controller.quorum.voters="):
                    return int(line.rsplit(":", 1)[1])
        if self._controller_port:
            return self._controller_port
        beside = self.port + 1
        return beside if can_bind(self.host, beside) else free_port(self.host)

    def server_properties(self, controller_port: int) -> str:
        host = self.host
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{host}:{controller_port}",
            "listeners": f"PLAINTEXT://{host}:{self.port},CONTROLLER://{host}:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://{host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir.resolve()),
            # One node: every internal topic has one replica.
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Fewer internal partitions than a production default: a node for one machine.
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.num.partitions": "10",
            # A group's first member starts at once (the default waits 3 s for more members).
            "group.initial.rebalance.delay.ms": "0",
            "num.network.threads": "2",
            "num.io.threads": "4",
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def prepare(self) -> None:
        """Write the configuration and format the log folder, once (data survives restarts)."""
        java = require_java()
        libs = kafka_libs()
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "log4j2.properties").write_text(LOG4J2)
        if not self.config_file.is_file():
            self.config_file.write_text(self.server_properties(self.controller_port()))
        if (self.data_dir / "meta.properties").is_file():
            return
        done = subprocess.run(
            [
                java,
                *self._jvm_opts(),
                "-cp",
                f"{libs}/*",
                STORAGE_TOOL,
                "format",
                # one argument: an id may begin with "-", which argparse would take for an option
                f"--cluster-id={new_cluster_id()}",
                "--config",
                str(self.config_file),
                "--ignore-formatted",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
            raise EmbeddedBrokerError(
                f"formatting Kafka's log folder {self.data_dir} failed: {' '.join(tail)}"
            )

    def _jvm_opts(self) -> list[str]:
        return [
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.home}",
        ]

    def command(self) -> list[str]:
        return [
            require_java(),
            "-server",
            *HEAP_OPTS,
            *GC_OPTS,
            *self._jit_opts,
            *self._jvm_opts(),
            "-cp",
            f"{kafka_libs()}/*",
            MAIN_CLASS,
            str(self.config_file),
        ]

    def ready(self) -> bool:
        """The listener is open and the broker answers a metadata request naming itself."""
        if not port_open(self.host, self.port):
            return False
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0})
        try:
            return bool(admin.list_topics(timeout=2).brokers)
        except Exception:  # not ready yet: any client error means "ask again"
            return False
