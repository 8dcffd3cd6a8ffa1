"""Which real broker the integration tests use, in order of preference.

1. ``KAFKA_BOOTSTRAP_SERVERS`` set: that broker (an existing estate or CI service).
2. Otherwise the embedded broker the tests start themselves on free ports: Apache Kafka by
   default (``make kafka`` installs its jars), Tansu with ``SEGUE_TEST_BROKER=tansu`` (the light
   broker's smoke run, ``make test-tansu``).
3. ``SEGUE_TEST_BROKER=testcontainers``: a Kafka container, where a Docker engine answers.

Never a silent skip: if the chosen broker cannot start, the fixture fails with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from app.broker.embedded import KafkaBroker, TansuBroker, free_port


@dataclass(frozen=True)
class BrokerUnderTest:
    bootstrap: str
    kind: str  # "external" | "testcontainers" | "kafka" | "tansu"
    process: KafkaBroker | TansuBroker | None = None

    @property
    def tansu(self) -> bool:
        """Whether Tansu's workarounds apply (the Tansu profile)."""
        return self.kind == "tansu"

    @property
    def profile(self) -> str:
        return "tansu" if self.tansu else "kafka"


def chosen_kind() -> str:
    kind = os.environ.get("SEGUE_TEST_BROKER", "kafka")
    if kind not in ("kafka", "tansu", "testcontainers"):
        raise RuntimeError(f"SEGUE_TEST_BROKER={kind!r}: use kafka, tansu or testcontainers")
    return kind


@contextmanager
def broker_under_test(state_dir: Path) -> Iterator[BrokerUnderTest]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield BrokerUnderTest(external, "external")
        return
    kind = chosen_kind()
    if kind == "testcontainers":
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer() as kafka:
            yield BrokerUnderTest(kafka.get_bootstrap_server(), "testcontainers")
        return
    broker: KafkaBroker | TansuBroker
    if kind == "kafka":
        broker = KafkaBroker("127.0.0.1", free_port(), state_dir, controller_port=free_port())
    else:
        broker = TansuBroker("127.0.0.1", free_port(), state_dir)
    broker.start()
    try:
        yield BrokerUnderTest(broker.bootstrap, kind, broker)
    finally:
        broker.stop()
