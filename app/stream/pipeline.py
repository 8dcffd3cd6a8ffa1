"""The faust application: topics, tables and agents. Agents move bytes and call the core.

    events, events.receipts --ingest--> segue.customer-events (key = customer id) --journeys-->
        (anonymous events and identifier claims: --> segue.identity --identity--> identity table,
         customer-events, segue.identity-review; see identity_agent.py and docs/identity.md)
        profiles table (profile + journey state, RocksDB, changelog)
        timers table (customer -> next due ms, changelog) --ticker--> ticks into customer-events
        actions.<channel>, segue.decisions
    invalid input --> segue.dlq (reason, bytes)

Both agents read in batches (``take_events``) and produce through one confluent-kafka producer
(app/stream/sink.py), awaiting the batch's deliveries before faust may ack it. See docs/live.md.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import faust
import orjson

from app.core.dlq import dlq_record
from app.core.envelope import InvalidEvent, decode_event
from app.core.journeys import Engine
from app.kafka_io import partition_for
from app.settings import Settings
from app.stream import codec, compat, metrics
from app.stream.identity_agent import IdentityProcessor, IngestRouter
from app.stream.journey_agent import (  # noqa: F401  (re-exported for the CLI and tests)
    Item,
    JourneyProcessor,
    applied_before,
    new_record,
)
from app.stream.latency import LatencyTracker
from app.stream.offset_guard import OffsetGuard
from app.stream.sink import Batch, Sink
from app.stream.tables import IdentityStore, TableStore
from app.stream.ticker import Ticker
from app.stream.timer_index import TimerIndex
from app.topics.specs import TopicNames

#: records per batch at most, and how long a batch waits to fill (latency vs. overhead)
BATCH_MAX = 500
BATCH_WITHIN_S = 0.005
#: the worker's exit code when a batch failed (delivery refused, a bug): restart it
EXIT_BATCH_FAILED = 70
#: how often latency windows, lag and timer backlog are reported
REPORT_INTERVAL_S = 5.0
#: RocksDB memory per partition database (faust opens one per table and partition). faust's
#: defaults (3 x 64 MiB write buffers and a 2 GiB block cache per database) took a
#: worker with 1,000,000 profiles to ~600 MB RSS under events (BENCHMARKS.md, Scale of state);
#: these caps keep it bounded: at most 2 x 16 + 32 MiB per database.
ROCKSDB_OPTIONS = {
    "write_buffer_size": 16 * 1024 * 1024,
    "max_write_buffer_number": 2,
    "block_cache_size": 32 * 1024 * 1024,
}


log = logging.getLogger("segue.pipeline")


def faust_id(settings: Settings) -> str:
    # The prefix is part of the id so that the group and the changelog topic names
    # ({id}-profiles-changelog) follow the deployment's topic prefix.
    return f"{settings.topic_prefix}{settings.app_id}"


def create_app(settings: Settings, data_dir: Path, engine: Engine) -> faust.App:
    codec.register()
    names = TopicNames(settings)
    conf: dict[str, Any] = {
        "broker": [f"kafka://{h.strip()}" for h in settings.bootstrap_servers.split(",")],
        "store": "rocksdb://",
        "datadir": str(data_dir),
        "topic_partitions": settings.partitions,
        "topic_replication_factor": settings.replication_factor,
        # Topics are declared by `segue topics apply` (run at worker start), never by faust.
        "topic_allow_declare": False,
        "topic_disable_leader": True,
        "consumer_auto_offset_reset": "earliest",
        "web_enabled": False,
        "autodiscover": False,
        "table_standby_replicas": 0,
        # Oversize input (up to the events topic's 2 MiB) is dead-lettered with its bytes, in
        # base64: the DLQ record can reach ~2.8 MiB (the DLQ topic takes 4 MiB).
        "producer_max_request_size": 4 * 1024 * 1024,
        "consumer_max_fetch_size": 4 * 1024 * 1024,
    }
    if settings.security_protocol != "PLAINTEXT":
        conf["broker_credentials"] = _credentials(settings)
    conf.update(compat.faust_overrides(settings))
    app = faust.App(faust_id(settings), **conf)
    compat.install_transport(app, settings)

    inputs = app.topic(
        *names.inputs,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    customer_events = keyed_topic(app, settings, names.customer_events)
    profiles = customer_table(app, settings, "profiles")
    timers = customer_table(app, settings, "timers")
    identity_topic = keyed_topic(app, settings, names.identity)
    identity = customer_table(app, settings, "identity")
    store = TableStore(profiles, timers)
    sink = Sink(settings)
    index = TimerIndex()
    latency = LatencyTracker(settings.latency_budget_ms)
    processor = JourneyProcessor(
        engine, names, sink, index, latency, partitions=settings.partitions
    )
    config = settings.identity_config
    router = IngestRouter(names, sink, settings.partitions, config)
    resolver = IdentityProcessor(names, sink, settings.partitions, config)
    identity_store = IdentityStore(identity)
    progress: dict[tuple[str, int], int] = {}  # last processed offset per input partition
    guards = {
        agent: compat.offset_guard(app, settings, agent)
        for agent in ("ingest", "identity", "journeys")
    }

    @app.agent(inputs, name="ingest")
    async def ingest(stream: faust.StreamT[bytes]) -> None:
        async for batch in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):  # type: ignore[attr-defined]
            with fail_fast("ingest"):
                out = sink.batch()
                for event in in_order(app, guards["ingest"], batch):
                    message = event.message
                    progress[message.topic, message.partition] = message.offset
                    forward(names, sink, out, settings.partitions, message, router)
                await sink.deliver(out)
                await rewind(app, guards["ingest"])

    def item_agent(name: str, process: Callable[[list[Item]], Awaitable[None]]) -> Any:
        """An agent that hands each batch of in-order records to ``process`` as Items."""
        guard = guards[name]

        async def agent(stream: faust.StreamT[dict[str, Any]]) -> None:
            async for batch in stream.take_events(BATCH_MAX, within=BATCH_WITHIN_S):  # type: ignore[attr-defined]
                with fail_fast(name):
                    items = []
                    for event in in_order(app, guard, batch):
                        message = event.message
                        progress[message.topic, message.partition] = message.offset
                        items.append(Item(event.value, message.partition, message.offset, event))
                    await process(items)
                    await rewind(app, guard)

        return agent

    app.agent(identity_topic, name="identity")(
        item_agent("identity", lambda items: resolver.process(items, identity_store))
    )
    app.agent(customer_events, name="journeys")(
        item_agent("journeys", lambda items: processor.process(items, store))
    )

    ticker = Ticker(app, settings, names, sink, index, timers)
    app.on_rebalance_complete.connect(ticker.on_rebalance_complete)

    @app.timer(settings.tick_interval_ms / 1000)
    async def tick() -> None:
        await ticker.run_once()

    @app.timer(REPORT_INTERVAL_S)
    async def report() -> None:
        latency.report()
        ticker.report(progress)

    app.segue_profiles = profiles  # type: ignore[attr-defined]
    app.segue_identity = identity  # type: ignore[attr-defined]
    app.segue_sink = sink  # type: ignore[attr-defined]
    return app


def keyed_topic(app: faust.App, settings: Settings, name: str) -> Any:
    """One of the worker's own topics: raw keys, orjson values, co-partitioned."""
    return app.topic(
        name,
        key_type=bytes,
        key_serializer="raw",
        value_serializer="orjson",
        partitions=settings.partitions,
    )


def customer_table(app: faust.App, settings: Settings, name: str) -> Any:
    """A RocksDB table with its changelog, co-partitioned with the worker's topics."""
    return app.Table(
        name,
        default=None,
        partitions=settings.partitions,
        schema=faust.Schema(key_serializer="json", value_serializer="orjson"),
        options=dict(ROCKSDB_OPTIONS),
    )


def in_order(app: faust.App, guard: OffsetGuard | None, batch: list[Any]) -> list[Any]:
    """The batch's events that are next in their partition (offset_guard.py); the others are
    held: never acknowledged, so no commit passes them, and asked for again by ``rewind``."""
    if guard is None:
        return batch
    guard.follow(app.consumer_generation_id)
    admitted = []
    consumer = app.consumer
    for event in batch:
        message = event.message
        if guard.admit(message.tp, message.offset):
            admitted.append(event)
        else:
            message.acked = True  # take_events' ack becomes a no-op
            consumer._unacked_messages.discard(message)  # type: ignore[attr-defined]
    return admitted


async def rewind(app: faust.App, guard: OffsetGuard | None) -> None:
    """Seek the partitions with missing records back to the first one missing."""
    if guard is not None and (rewinds := guard.take_rewinds()):
        await app.consumer.seek_wait(cast(Any, rewinds))


@contextmanager
def fail_fast(agent: str) -> Iterator[None]:
    """Exit the process at once if a batch fails.

    faust's ``take_events`` acks the batch's records in a ``finally`` even when the loop body
    raised, and a later commit would then skip records whose outputs were never delivered. A
    hard exit commits nothing: the batch is processed again after the restart (at-least-once).
    """
    try:
        yield
    except Exception:
        log.exception("%s: a batch failed; exiting without committing its offsets", agent)
        logging.shutdown()
        os._exit(EXIT_BATCH_FAILED)


def forward(
    names: TopicNames,
    sink: Sink,
    out: Batch,
    partitions: int,
    message: Any,
    router: IngestRouter | None = None,
) -> None:
    """One input record: validated and forwarded keyed by customer, or dead-lettered.

    With a ``router`` (the worker's), identity resolution decides where a valid event goes."""
    metrics.EVENTS_IN.labels(message.topic).inc()
    try:
        valid = decode_event(message.value)
        if not message.key:
            raise InvalidEvent("missing key: records must be keyed by customer id")
    except InvalidEvent as exc:
        metrics.EVENTS_REJECTED.labels(metrics.reason_kind(exc.reason)).inc()
        record = dlq_record(
            exc.reason,
            message.value,
            message.key,
            message.topic,
            message.partition,
            message.offset,
            int(message.timestamp * 1000),
        )
        sink.produce(out, names.dlq, message.key, orjson.dumps(record))
        return
    metrics.EVENTS_ACCEPTED.inc()
    # Where it came from: lets the journey agent drop a record that a crash made us forward
    # twice (see applied_before), and measure latency from the input's broker timestamp.
    valid["source"] = {
        "topic": message.topic,
        "partition": message.partition,
        "offset": message.offset,
        "timestamp": int(message.timestamp * 1000),
    }
    if router is not None:
        router.send(out, valid)
        return
    key = valid["key"].encode()
    sink.produce(
        out,
        names.customer_events,
        key,
        orjson.dumps(valid),
        partition=partition_for(key, partitions),
        internal=True,
    )


def _credentials(settings: Settings) -> Any:
    """faust broker credentials from the same settings librdkafka gets (SASL and/or SSL)."""
    import ssl

    from faust.auth import SASLCredentials, SSLCredentials

    context = None
    if settings.security_protocol.endswith("SSL"):
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH,
            cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None,
        )
        if settings.ssl_certfile:
            context.load_cert_chain(
                str(settings.ssl_certfile),
                str(settings.ssl_keyfile) if settings.ssl_keyfile else None,
            )
    if settings.security_protocol.startswith("SASL"):
        password = settings.sasl_password.get_secret_value() if settings.sasl_password else None
        return SASLCredentials(
            username=settings.sasl_username,
            password=password,
            mechanism=settings.sasl_mechanism or "PLAIN",
            ssl_context=context,
        )
    return SSLCredentials(context)
