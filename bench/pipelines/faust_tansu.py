"""The faust peer's workarounds for Tansu, so the bench measures faust and not the broker.

Segue's worker no longer runs on faust; these apply only to bench/pipelines/framework.py and
only in the Tansu profile (against a real Kafka, faust runs with its defaults).
"""

from __future__ import annotations

from typing import Any

from app.settings import Settings
from bench.pipelines import fetch_guard


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
        # default (60 s) would stall every start for 30 s; 10 s keeps the stall at ~5 s.
        "broker_session_timeout": 10.0,
        "broker_heartbeat_interval": 1.0,
        "broker_rebalance_timeout": 10.0,
        # Defect: aiokafka's InitProducerId v0 is rejected, so no idempotent aiokafka producer.
        "producer_acks": -1,
        "processing_guarantee": "at_least_once",
        # Defect: a fetch that may return many megabytes of one-record batches takes Tansu so
        # long to build that the consumer all but stops; small fetches keep it flowing.
        "consumer_max_fetch_size": 256 * 1024,
    }


def install_transport(app: Any, settings: Settings) -> None:
    """Swap faust's aiokafka transport for one whose consumer does not idle 1.5 s per fetch.

    Defect: Tansu holds every fetch for the client's full ``fetch_max_wait_ms``, even when data
    is waiting, and faust hard-codes ``fetch_max_wait_ms=1500`` for its worker consumer
    (faust/transport/drivers/aiokafka.py, ``_create_worker_consumer``). The subclass sets the
    consumer's wait after faust built it and before it starts.
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
        def _new_consumer_thread(self) -> Any:
            return TansuConsumerThread(self, loop=self.loop, beacon=self.beacon)

    class TansuTransport(driver.Transport):
        Consumer = TansuConsumer

    app.transport = TansuTransport(app.conf.broker_consumer, app)
