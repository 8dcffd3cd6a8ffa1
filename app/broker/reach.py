"""Is there a broker? The one question every command that talks to Kafka asks first.

Without it, a command whose broker is away learned so from librdkafka: ``segue produce`` after
61 s and 622 log lines, ``tail`` or ``profile get`` after 11-17 s and a traceback (issue 16).
``probe`` answers in a second or two and says so in one line: a TCP connect to the bootstrap
addresses first (a closed port answers at once; librdkafka would retry it until its timeout,
logging each attempt), then one metadata request through a client whose log is off, which
also proves the security settings.

``away`` (the connect alone) and ``suspect_away`` serve the long-running loops: a worker or a
sink asked to stop does not wait a minute for acknowledgements from a broker that is not there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.broker.detect import addresses, loopback_port, remember_cluster_id
from app.broker.process import port_open
from app.settings import EMBEDDED_BOOTSTRAP, Settings

#: per address, and for all of them (the first three of the bootstrap list are tried): a
#: broker that does not answer a connect in a second is not one to wait for
CONNECT_TIMEOUT_S = 1.0
CONNECT_BUDGET_S = 2.0
#: a loop's suspicion is checked with a shorter connect (it may be asked every second)
SUSPECT_TIMEOUT_S = 0.3
#: the metadata request, once something accepted the connection
METADATA_TIMEOUT_S = 3.0
#: how long a flush waits before it asks whether the broker is still there
FLUSH_SLICE_S = 0.5


class BrokerAway(Exception):
    """No broker answers at the configured address; the message says so in one line."""


def away_message(settings: Settings) -> str:
    """``no broker at HOST:PORT (...)`` with what to do: start the embedded broker (at that
    port) when the address is this machine's, else check the configured address."""
    bootstrap = settings.bootstrap_servers.strip()
    if bootstrap == EMBEDDED_BOOTSTRAP:
        hint = "start one with `segue broker start`"
    elif (port := loopback_port(bootstrap)) is not None:
        hint = f"start one with `segue broker start --port {port}`"
    else:
        hint = "is it up? check SEGUE_BOOTSTRAP_SERVERS"
    return f"no broker at {bootstrap} ({hint})"


def away(settings: Settings, timeout_s: float = CONNECT_TIMEOUT_S) -> str | None:
    """``away_message`` if nothing accepts a connection at the bootstrap addresses now, else
    None (something listens: not proof of a working broker, but librdkafka's to judge)."""
    found = addresses(settings.bootstrap_servers)[:3]
    each = min(timeout_s, CONNECT_BUDGET_S / max(len(found), 1))
    if any(port_open(host, port, each) for host, port in found):
        return None
    return away_message(settings)


def suspect_away(settings: Settings) -> str | None:
    """``away`` only when a Kafka client of this process complained lately (``kafka_log``):
    cheap enough for every turn of a loop."""
    from app import kafka_log

    return away(settings, SUSPECT_TIMEOUT_S) if kafka_log.troubled() else None


def probe(settings: Settings) -> None:
    """Raise ``BrokerAway`` (one line) unless the broker answers a metadata request."""
    reason = away(settings)
    if reason is not None:
        raise BrokerAway(reason)
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    # log_level 0: its failures are reported here, once, not by librdkafka line by line
    try:
        admin = AdminClient(settings.admin_config(log_level=0))
    except KafkaException as exc:  # settings librdkafka refuses (or was built without)
        raise BrokerAway(
            f"the Kafka client settings are refused: {_reason(exc)} (check the "
            "SEGUE_SECURITY_PROTOCOL/SASL/SSL settings and SEGUE_KAFKA_EXTRA)"
        ) from None
    try:
        metadata = admin.list_topics(timeout=METADATA_TIMEOUT_S)
    except KafkaException as exc:
        raise BrokerAway(
            f"the broker at {settings.bootstrap_servers} does not answer: {_reason(exc)} "
            "(check SEGUE_BOOTSTRAP_SERVERS and the SEGUE_SECURITY_PROTOCOL/SASL/SSL settings)"
        ) from None
    # the profile detection (Settings.tansu_profile) need not ask again
    remember_cluster_id(settings.bootstrap_servers, metadata.cluster_id)


def flush(producer: Any, timeout_s: float, give_up: Callable[[], str | None]) -> tuple[int, str]:
    """``producer.flush(timeout_s)``, in slices; after each slice with records still waiting,
    ``give_up`` may end it with its reason. Returns (records left, why they are: "" when
    none are)."""
    from time import monotonic

    deadline = monotonic() + timeout_s
    while True:
        left = int(producer.flush(max(0.0, min(FLUSH_SLICE_S, deadline - monotonic()))))
        if not left:
            return 0, ""
        if monotonic() >= deadline:
            return left, f"{timeout_s:.0f} s passed"
        reason = give_up()
        if reason is not None:
            return left, reason


def _reason(exc: Exception) -> str:
    error = exc.args[0] if exc.args else None
    return str(error.str()) if error is not None and hasattr(error, "str") else str(exc)
