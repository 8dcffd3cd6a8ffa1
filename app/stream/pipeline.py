"""The faust application: topics, tables and agents. Agents move bytes and call the core.

    events, events.receipts --ingest--> segue.customer-events (key = customer id) --profiles-->
    profiles table (RocksDB, changelog)            invalid input --> segue.dlq (reason, bytes)

A profiles-table value is ``{"sources": {"topic/partition": last applied input offset},
"profile": {...}}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faust

from app.core.dlq import dlq_record
from app.core.envelope import InvalidEvent, decode_event
from app.core.profile import fold, new_profile
from app.settings import Settings
from app.stream import codec, compat, metrics
from app.topics.specs import TopicNames


def faust_id(settings: Settings) -> str:
    # The prefix is part of the id so that the group and the changelog topic names
    # ({id}-profiles-changelog) follow the deployment's topic prefix.
    return f"{settings.topic_prefix}{settings.app_id}"


def create_app(settings: Settings, data_dir: Path) -> faust.App:
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

    inputs = app.topic(
        *names.inputs,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    dlq = app.topic(names.dlq, key_serializer="raw", value_serializer="orjson")
    customer_events = app.topic(
        names.customer_events,
        key_type=bytes,
        key_serializer="raw",
        value_serializer="orjson",
        partitions=settings.partitions,
    )
    profiles = app.Table(
        "profiles",
        default=None,
        partitions=settings.partitions,
        schema=faust.Schema(key_serializer="json", value_serializer="orjson"),
    )

    @app.agent(inputs, name="ingest")
    async def ingest(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            message = event.message
            metrics.EVENTS_IN.labels(message.topic).inc()
            try:
                valid = decode_event(message.value)
                if not message.key:
                    raise InvalidEvent("missing key: records must be keyed by customer id")
            except InvalidEvent as exc:
                metrics.EVENTS_REJECTED.labels(metrics.reason_kind(exc.reason)).inc()
                await dlq.send(
                    key=message.key,
                    value=dlq_record(
                        exc.reason,
                        message.value,
                        message.key,
                        message.topic,
                        message.partition,
                        message.offset,
                        int(message.timestamp * 1000),
                    ),
                )
                continue
            metrics.EVENTS_ACCEPTED.inc()
            # Where it came from: lets the profile agent drop a record that a crash made us
            # forward twice (see applied_before).
            valid["source"] = {
                "topic": message.topic,
                "partition": message.partition,
                "offset": message.offset,
            }
            await customer_events.send(key=valid["key"].encode(), value=valid)

    @app.agent(customer_events, name="profiles")
    async def profile_agent(stream: faust.StreamT[dict[str, Any]]) -> None:
        async for event in stream:
            key = event["key"]
            record = profiles.get(key)
            if record is None:
                record = new_record(key)
                metrics.PROFILES_CREATED.inc()
            if applied_before(record, event):
                metrics.REDELIVERED_SKIPPED.inc()
                continue
            fold(record["profile"], event)
            profiles[key] = record
            metrics.PROFILE_UPDATES.inc()

    app.segue_profiles = profiles  # type: ignore[attr-defined]
    return app


def new_record(key: str) -> dict[str, Any]:
    return {"sources": {}, "profile": new_profile(key)}


def applied_before(record: dict[str, Any], event: dict[str, Any]) -> bool:
    """True if this input record was already folded (and record it as applied if not).

    Processing is at-least-once: after a crash, ingest may forward input records again and
    the profile agent may see customer-events records again. Ingest forwards each input
    partition in order, so for one key the input offsets from one input partition only grow;
    an offset at or below the last applied one is a repeat."""
    source = event.get("source")
    if not source:
        return False
    slot = f"{source['topic']}/{source['partition']}"
    sources = record["sources"]
    if source["offset"] <= sources.get(slot, -1):
        return True
    sources[slot] = source["offset"]
    return False


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
