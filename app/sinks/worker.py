"""``segue sink CHANNEL``: one confluent-kafka consumer group per channel.

For each action, in partition order:

1. decode and check it (a bad one is dead-lettered, never retried);
2. look its ``action_id`` up in the dedupe store: a final outcome means it was handled before a
   crash or a rebalance, so it is skipped (its receipt re-emitted if that was not acknowledged);
3. record ``pending``, deliver (rate limit, breaker, retries), record ``sent``/``failed``;
4. produce the receipt (``MessageSent``/``MessageFailed``) and, on failure, the DLQ record.

Offsets are committed only for actions whose outcome is recorded, after the producer has
flushed their receipts and DLQ records, every ``commit_every`` actions or ``commit_interval_ms``.
"""

from __future__ import annotations

import logging
import os
import random
import signal
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from app import incarnation, kafka_log
from app.broker import reach
from app.core.delivery import receipts
from app.core.delivery.action import decode_action, partial_action
from app.core.delivery.errors import PermanentError
from app.core.dlq import dlq_value_and_headers
from app.core.timeutil import TimeFormatError, format_ms, parse_duration, parse_rfc3339
from app.core.trace import trace_headers
from app.formats.deployment import Formats, load_formats
from app.kafka_io import make_consumer, make_producer
from app.settings import Settings
from app.sinks import metrics
from app.sinks.clock import Clock, SystemClock
from app.sinks.config import ProviderConfig, SinkSettings
from app.sinks.dedupe import PENDING, DedupeLog, DedupeStore, why_deduplicated
from app.sinks.delivery import FAILED, SENT, ChannelDelivery, Result
from app.sinks.ledger import ReceiptLedger
from app.sinks.profiles import ProfileView
from app.sinks.providers import make_provider
from app.sinks.templates import Renderer
from app.topics.specs import CHANNELS, TopicNames

log = logging.getLogger("segue.sink")
_PURGE_EVERY_MS = 3_600_000
# Profile snapshots are read between actions at most this often (a drain costs a fetch call).
_DRAIN_EVERY_MS = 100
_BATCH = 100  # records per consume() call
_FLUSH_S = 30.0  # how long a commit waits for its receipts and dead letters to be acknowledged


def component(channel: str) -> str:
    """What the channel's clients are named after: client.id ``<prefix>segue-sink-<channel>``."""
    return f"sink-{channel}"


def group_id(settings: Settings, channel: str) -> str:
    return f"{settings.topic_prefix}{settings.app_id}-sink-{channel}"


def store_path(settings: Settings, channel: str, worker_id: str = "0") -> Path:
    # One RocksDB per worker process: RocksDB locks its folder, and workers of one channel may
    # share a host (and its state dir).
    return settings.state_dir / f"{group_id(settings, channel)}-{worker_id}-dedupe"


def provider_config(settings: Settings, sinks: SinkSettings, channel: str) -> ProviderConfig:
    config = sinks.provider(channel)
    if config.kind == "file" and config.path is None:
        config = config.model_copy(
            update={"path": settings.state_dir / "outbox" / f"{channel}.jsonl"}
        )
    return config


class SinkWorker:
    def __init__(
        self,
        settings: Settings,
        sinks: SinkSettings,
        channel: str,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        worker_id: str = "0",
        formats: Formats | None = None,
    ) -> None:
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}; one of {', '.join(CHANNELS)}")
        settings = settings.for_component(component(channel))  # client.id segue-sink-<channel>
        self.settings = settings
        self.sinks = sinks
        self.channel = channel
        self.clock = clock or SystemClock()
        names = TopicNames(settings)
        self.topic = names.actions[channel]
        self.receipts_topic = names.receipts
        self.dlq_topic = names.dlq
        #: actions are read in whatever format they were written; receipts written in theirs
        self.formats = formats or Formats()
        self.receipt_writer = self.formats.writer(self.receipts_topic)
        #: the traceparent of the action in hand (its receipt's parent span)
        self._trace: list[tuple[str, bytes]] = []
        config = provider_config(settings, sinks, channel)
        self.provider = make_provider(channel, config, Renderer(sinks.templates_dir), self.clock)
        self.delivery = ChannelDelivery(channel, config, self.provider, self.clock, rng)
        self.store = DedupeStore(
            store_path(settings, channel, worker_id), parse_duration(sinks.dedupe_retention)
        )
        self.dedupes = DedupeLog(channel, log)
        self.profiles = ProfileView(settings) if sinks.profiles else None
        self.ledger = ReceiptLedger(settings, self.receipts_topic)
        self.consumer: Consumer = make_consumer(
            settings,
            group_id(settings, channel),
            **{
                # A dead provider can hold one action for minutes of retries; staying in the
                # group meanwhile avoids a rebalance storm (the dedupe store covers one).
                "max.poll.interval.ms": 900_000,
                # Static membership (KIP-345), as the worker: a sink restarted under its id
                # (a crash, a deploy) gets its partitions back at once instead of after the
                # session timeout (45 s); one that does not come back keeps them until then.
                "group.instance.id": f"{group_id(settings, channel)}-{worker_id}",
            },
        )
        self.producer: Producer = make_producer(settings)
        self._pending: dict[int, int] = {}  # partition -> next offset to commit
        self._handover: dict[int, int] = {}  # partition -> records left to check (see ledger)
        self._since_commit = 0
        self._last_commit = self.clock.monotonic_ms()
        self._outcomes = 0
        self._stop = False

    # -- the loop ---------------------------------------------------------------------------

    def stop(self, *_: Any) -> None:
        self._stop = True

    def run(self, max_idle_polls: int | None = None) -> None:
        """Consume until stopped (SIGTERM/SIGINT, or ``max_idle_polls`` empty polls in a row)."""
        self.consumer.subscribe(
            [self.topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        self.store.purge(self.clock.wall_ms())
        last_purge = self.clock.monotonic_ms()
        idle = 0
        log.info(
            "sink %s: consuming %s as %s",
            self.channel,
            self.topic,
            group_id(self.settings, self.channel),
        )
        try:
            last_drain = 0.0
            while not self._stop:
                now = self.clock.monotonic_ms()
                if self.profiles is not None and now - last_drain >= _DRAIN_EVERY_MS:
                    self.profiles.drain()
                    last_drain = now
                # A batch per call: one poll() per record costs ~1 ms of wake-ups on its own.
                batch = self.consumer.consume(_BATCH, 0.2)
                self.producer.poll(0)
                if not batch:
                    idle += 1
                    if max_idle_polls is not None and idle >= max_idle_polls:
                        break
                idle = 0 if batch else idle
                for msg in batch:
                    if self._stop:
                        break
                    if (error := msg.error()) is not None:
                        if error.code() != KafkaError._PARTITION_EOF:
                            kafka_log.LOG.warning("consumer: %s", error)  # once a step
                        continue
                    self.handle(msg)
                    self._pending[msg.partition() or 0] = (msg.offset() or 0) + 1
                    self._since_commit += 1
                    self._maybe_commit()
                self._maybe_commit()
                self.dedupes.flush(self.clock.monotonic_ms())
                if self.clock.monotonic_ms() - last_purge > _PURGE_EVERY_MS:
                    self.store.purge(self.clock.wall_ms())
                    last_purge = self.clock.monotonic_ms()
        finally:
            self.dedupes.flush(self.clock.monotonic_ms(), final=True)
            self._commit()
            self.consumer.close()
            self.provider.close()
            if self.profiles is not None:
                self.profiles.close()
            self.store.close()

    def _maybe_commit(self) -> None:
        due = self.clock.monotonic_ms() - self._last_commit >= self.sinks.commit_interval_ms
        if self._since_commit >= self.sinks.commit_every or (due and self._pending):
            self._commit()

    def _commit(self) -> None:
        self._last_commit = self.clock.monotonic_ms()
        if not self._pending:
            return
        # Receipts and DLQ records first: an offset is committed only once everything its
        # action produced is on the broker. A stop does not wait for a broker that is not
        # there, nor does a commit (librdkafka holds a synchronous one ~45 s): the actions
        # are in the dedupe store, so their redelivery after the restart sends nothing twice.
        left, why = reach.flush(self.producer, _FLUSH_S, self._give_up)
        away = None if left else (reach.suspect_away(self.settings) or self._give_up())
        if left or away:
            # while running, once per back-off step (it is asked every commit interval); the
            # stop's own line in full
            (log if self._stop else kafka_log.LOG).warning(
                "sink %s: offsets not committed this round: %s",
                self.channel,
                f"{left} receipts or dead letters not acknowledged: {why}" if left else away,
            )
            if self._stop:
                self._pending.clear()  # said once: the revoke at close does not try again
            return
        offsets = [TopicPartition(self.topic, p, o) for p, o in self._pending.items()]
        self.consumer.commit(offsets=offsets, asynchronous=False)
        # how far this store's input reached, for the start's check where the broker gives no
        # topic ids (app/incarnation.py)
        self.store.committed(self.topic, self._pending)
        self._pending.clear()
        self._since_commit = 0

    def _give_up(self) -> str | None:
        """Why a wait for the broker should end now: stopping, and no broker there."""
        return reach.away(self.settings) if self._stop else None

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        metrics.ASSIGNED.labels(self.channel).set(len(partitions))
        # Another worker may have delivered (and receipted) records of these partitions without
        # committing them: check the first ones against the receipts topic.
        self._handover = {tp.partition: self.sinks.handover_check for tp in partitions}
        self.ledger.forget()

    def _on_revoke(self, _consumer: Consumer, _partitions: list[TopicPartition]) -> None:
        metrics.ASSIGNED.labels(self.channel).set(0)
        try:
            self._commit()
        except Exception:  # the group moved on; the dedupe store covers a redelivery
            log.warning("commit on revoke failed", exc_info=True)
        self._pending.clear()

    def _on_lost(self, _consumer: Consumer, _partitions: list[TopicPartition]) -> None:
        # The partitions were taken away without a clean hand-over: committing now would fail
        # (or worse, move another member's offsets). Their next owner skips what we recorded.
        metrics.ASSIGNED.labels(self.channel).set(0)
        self._pending.clear()

    # -- one action --------------------------------------------------------------------------

    def _erase(self, request: dict[str, Any]) -> None:
        """An erasure request (docs/privacy.md), in the customer's partition order: forget
        their actions in the dedupe store; a receipt to segue.audit."""
        forgotten = self.store.forget_customer(str(request["customer_id"]))
        receipt = {
            "kind": "erasure",
            "request_id": request["request_id"],
            "store": f"sink:{self.channel}",
            "at": format_ms(self.clock.wall_ms()),
            "actions_forgotten": forgotten,
        }
        self.producer.produce(
            TopicNames(self.settings).audit, key=b"erasure", value=orjson.dumps(receipt)
        )

    def handle(self, msg: Message) -> None:
        raw = msg.value()
        if raw is not None and raw.startswith(b'{"op":"erase"'):  # the journey agent's
            self._erase(orjson.loads(raw))
            return
        self._trace = trace_headers(msg.headers())
        try:
            action = decode_action(raw, self.channel, self.formats.decoder.loads)
        except PermanentError as exc:
            self._reject(msg, exc.reason)
            return
        action_id = action["action_id"]
        seen = self.store.get(action_id)
        elsewhere = False
        if seen is None and self._handover.get(msg.partition() or 0, 0) > 0:
            seen = self._delivered_elsewhere(msg.partition() or 0, action)
            elsewhere = seen is not None
        if seen is not None and seen["s"] != PENDING:
            # not delivered again: a decision, so it is logged as well as counted (issue 16)
            metrics.DEDUPLICATED.labels(self.channel).inc()
            self.dedupes.note(
                action_id,
                str(action["customer_id"]),
                why_deduplicated(seen, elsewhere),
                self.clock.monotonic_ms(),
            )
            if not seen["r"]:
                # Either its receipt is still in flight (a rebalance redelivered the record
                # at once) or a crash lost it: let the producer report, then look again.
                self.producer.flush(30)
                seen = self.store.get(action_id) or seen
            if not seen["r"]:
                self._receipt(action, Result(seen["s"], 0, seen.get("why")), True)
            return
        if seen is not None:
            # Cut off by a crash mid-send: the provider may or may not have it. Sent again
            # with the same idempotency key / Message-ID, so the provider can drop the copy.
            metrics.RESENT_AFTER_CRASH.labels(self.channel).inc()
            log.warning("action %s: send was cut off by a crash; sending again", action_id)
        customer = str(action["customer_id"])
        self.store.put(action_id, PENDING, self.clock.wall_ms(), customer=customer)
        # an empty snapshot is none (an Avro action without one reads back as {})
        profile = action.get("profile") if isinstance(action.get("profile"), dict) else None
        profile = profile or None
        if profile is None and self.profiles is not None:
            if not self.profiles.wait_for(action, self.sinks.snapshot_wait_ms / 1000):
                metrics.STALE_SNAPSHOTS.labels(self.channel).inc()
            profile = self.profiles.get(action["customer_id"])
        result = self.delivery.deliver(action, profile)
        self._crash_point("sent")
        self.store.put(
            action_id, result.status, self.clock.wall_ms(), reason=result.reason, customer=customer
        )
        self._crash_point("recorded")
        if result.status == SENT:
            metrics.DELIVERED.labels(self.channel).inc()
            self._observe_latency(action)
        else:
            kind = "gave_up" if result.retryable else "permanent"
            metrics.FAILED.labels(self.channel, kind).inc()
            self._dead_letter(msg, result.reason or "failed", result.attempts)
        self._receipt(action, result)

    def _delivered_elsewhere(self, partition: int, action: dict[str, Any]) -> dict[str, Any] | None:
        """The outcome another worker receipted for this action, recorded here; else None."""
        self._handover[partition] -= 1
        key = str(action["customer_id"]).encode()
        for kind, status in ((receipts.SENT, SENT), (receipts.FAILED, FAILED)):
            if self.ledger.has(key, f"{action['action_id']}:{kind}"):
                self.store.put(action["action_id"], status, self.clock.wall_ms(), True)
                return self.store.get(action["action_id"])
        return None

    def _reject(self, msg: Message, reason: str) -> None:
        metrics.FAILED.labels(self.channel, "bad_action").inc()
        self._dead_letter(msg, reason, 0)
        partial = partial_action(msg.value(), self.formats.decoder.loads)
        if partial:
            self._receipt(partial, Result(FAILED, 0, reason))

    def _receipt(self, action: dict[str, Any], result: Result, again: bool = False) -> None:
        kind = receipts.SENT if result.status == SENT else receipts.FAILED
        key = str(action["customer_id"]).encode()
        extra: dict[str, Any] = {"attempts": result.attempts}
        if result.status == FAILED:
            extra["reason"] = result.reason
        event = receipts.receipt_event(
            kind, action, self.clock.wall_ms(), channel=self.channel, extra=extra
        )
        action_id = action["action_id"]
        if again and self.ledger.has(key, event["event_id"]):
            self.store.mark_receipted(action_id)  # it made it before the crash
            return
        self.ledger.note(key, event["event_id"])

        def acked(err: Any, _msg: Message) -> None:
            if err is not None:
                log.error("receipt for %s not delivered: %s", action_id, err)
                return
            metrics.RECEIPTS.labels(kind).inc()
            self.store.mark_receipted(action_id)

        headers: list[tuple[str, str | bytes | None]] = list(self.receipt_writer.headers)
        headers += self._trace  # the action's trace context, on to its receipt (app/core/trace.py)
        self.producer.produce(
            self.receipts_topic,
            key=key,
            value=self.receipt_writer.encode(event),
            headers=headers,
            on_delivery=acked,
        )

    def _dead_letter(self, msg: Message, reason: str, attempts: int) -> None:
        """The action record to the DLQ as it was, the reason in headers (app/core/dlq.py)."""
        ts_type, ts = msg.timestamp()
        value, headers = dlq_value_and_headers(
            reason,
            msg.value(),
            msg.topic() or self.topic,
            msg.partition() or 0,
            msg.offset() or 0,
            ts if ts_type else None,
            msg.headers(),
            channel=self.channel,
            attempts=attempts,
        )
        self.producer.produce(self.dlq_topic, key=msg.key(), value=value, headers=headers)

    def _observe_latency(self, action: dict[str, Any]) -> None:
        try:
            decided = parse_rfc3339(action["decided_at"])
        except TimeFormatError:
            return
        seconds = max(self.clock.wall_ms() - decided, 0) / 1000
        metrics.DELIVERY_LATENCY.labels(self.channel).observe(seconds)

    def _crash_point(self, point: str) -> None:
        if not self.sinks.crash_after or point != self.sinks.crash_at:
            return
        self._outcomes += 1
        if self._outcomes == self.sinks.crash_after:
            log.warning("fault injection: SIGKILL at delivery %d (%s)", self._outcomes, point)
            os.kill(os.getpid(), signal.SIGKILL)


def run_sink(settings: Settings, sinks: SinkSettings, channel: str, worker_id: str = "0") -> None:
    from app.metrics_endpoint import serve_metrics, sink_port
    from app.topics.apply import apply_topics

    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    settings = settings.for_component(component(channel))
    if settings.create_topics:
        report = apply_topics(settings)
        for line in report.mismatches:
            log.warning("topic mismatch: %s", line)
    else:
        topics_ready(settings, sinks, channel)
    # register (or, topics provisioned elsewhere, look up) the schemas of the formats it writes
    formats = load_formats(settings, register=settings.create_topics)
    claim = check_state(settings, sinks, channel, worker_id)
    try:
        # the channel's own default port, or a free one when taken: one line names it
        serve_metrics(settings, sink_port(channel), log)
        worker = SinkWorker(settings, sinks, channel, worker_id=worker_id, formats=formats)
        signal.signal(signal.SIGTERM, worker.stop)
        signal.signal(signal.SIGINT, worker.stop)
        worker.run()
    finally:
        claim.release()


class TopicsNotReady(RuntimeError):
    """SEGUE_CREATE_TOPICS=false and the sink's topics are not there as it needs them."""


def topics_ready(settings: Settings, sinks: SinkSettings, channel: str) -> None:
    """The sink's own topics (its actions, receipts, the DLQ, the profiles changelog if it
    reads profiles) checked, not created (app/topics/check.py); TopicsNotReady if not."""
    from app.topics.check import check_topics

    names = TopicNames(settings)
    needed = {names.actions[channel], names.receipts, names.dlq}
    if sinks.profiles:
        needed.add(names.profiles_changelog)
    checked = check_topics(settings, needed)
    for line in checked.warnings:
        log.warning("topic mismatch: %s", line)
    if not checked.ok:
        raise TopicsNotReady(checked.line())


def check_state(
    settings: Settings, sinks: SinkSettings, channel: str, worker_id: str
) -> incarnation.Claim:
    """The dedupe store must be this broker's (issue 16: a store that outlived a broker reset
    dropped every re-sent action as delivered); raises incarnation.StateMismatch (one line)."""
    folder = store_path(settings, channel, worker_id)
    store = DedupeStore(folder, parse_duration(sinks.dedupe_retention))
    try:
        reached = store.reached()
    finally:
        store.close()
    topic = TopicNames(settings).actions[channel]
    return incarnation.check(settings, folder, f"sink {channel} {worker_id}", [topic], reached)
