"""Which broker an address serves, for ``SEGUE_BROKER_PROFILE=auto`` (``Settings.tansu_profile``).

The profile follows what the broker *is*, not which port it listens on, in this order:

1. a broker Segue started itself at that address: its pid file in the state folder
   (``broker-PORT.pid``, any port on 127.0.0.1 or localhost) names Tansu or Kafka; no network;
2. otherwise the broker is asked: Tansu reports the cluster id ``tansu_cluster`` (its default,
   which Segue never changes), Apache Kafka a random 22-character id, so any other id is Kafka
   (or a Kafka-compatible broker without Tansu's defects);
3. when neither tells (nothing answers within a few seconds), the ``kafka`` profile (no
   workarounds), and one log line says so and how to choose.

The answer from the broker (or its silence) is kept for the process, so every client of one
process gets the same workarounds even if the broker comes up later.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

Profile = Literal["tansu", "kafka"]

log = logging.getLogger("segue.broker")

#: Tansu's default cluster id (``tansu broker --help``); Apache Kafka's ids are random UUIDs
TANSU_CLUSTER_ID = "tansu_cluster"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
#: connect and metadata timeouts of the question: short, it runs once before the first client
CONNECT_TIMEOUT_S = 1.0
METADATA_TIMEOUT_S = 3.0

_asked: dict[str, str | None] = {}  # bootstrap -> cluster id (None: no answer), per process


def profile_of_cluster(cluster_id: str | None) -> Profile | None:
    """The profile of a broker by the cluster id it reports; None when it reported none."""
    if not cluster_id:
        return None
    return "tansu" if cluster_id.strip().lower().startswith("tansu") else "kafka"


def addresses(bootstrap: str) -> list[tuple[str, int]]:
    """``host:port`` pairs of a bootstrap list (entries without a numeric port are skipped)."""
    found = []
    for entry in bootstrap.split(","):
        host, _, port = entry.strip().rpartition(":")
        host = host.strip("[]")  # [::1]:9092
        if host and port.isdigit():
            found.append((host, int(port)))
    return found


def loopback_port(bootstrap: str) -> int | None:
    """The port of a single-address bootstrap on this machine (where Segue starts brokers)."""
    found = addresses(bootstrap)
    if len(found) == 1 and found[0][0] in LOOPBACK_HOSTS:
        return found[0][1]
    return None


def detect_profile(bootstrap: str, state_dir: Path, client_config: Mapping[str, Any]) -> Profile:
    """The ``auto`` profile of ``bootstrap`` (see the module doc); logs when it cannot tell."""
    port = loopback_port(bootstrap)
    if port is not None:
        from app.broker.embedded import running_kind

        started = running_kind(state_dir, port)
        if started in ("tansu", "kafka"):
            return "tansu" if started == "tansu" else "kafka"
    if bootstrap not in _asked:
        _asked[bootstrap] = ask_cluster_id(bootstrap, client_config)
        if _asked[bootstrap] is None:
            log.warning(
                "broker profile: kafka (auto could not tell which broker %s is: it did not "
                "answer); set SEGUE_BROKER_PROFILE=tansu or kafka to choose",
                bootstrap,
            )
    return profile_of_cluster(_asked[bootstrap]) or "kafka"


def ask_cluster_id(bootstrap: str, client_config: Mapping[str, Any]) -> str | None:
    """The cluster id the broker reports in its metadata, None if it does not answer."""
    from app.broker.process import port_open

    # A plain connect first: librdkafka would retry a closed port until its timeout, noisily.
    if not any(port_open(h, p, CONNECT_TIMEOUT_S) for h, p in addresses(bootstrap)[:3]):
        return None
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({**client_config, "log_level": 0})  # its failures are ours to report
    try:
        cluster_id = admin.list_topics(timeout=METADATA_TIMEOUT_S).cluster_id
    except KafkaException:
        return None
    return str(cluster_id) if cluster_id else None


def remember_cluster_id(bootstrap: str, cluster_id: str | None) -> None:
    """The broker's answer to a question asked elsewhere (``app.broker.reach.probe``): the
    profile detection need not ask again."""
    if cluster_id:
        _asked[bootstrap] = str(cluster_id)


def forget() -> None:
    """Drop the remembered answers (tests that start and stop brokers in one process)."""
    _asked.clear()
