"""The checkpoint: the one place that orders how processed input becomes durable.

Between checkpoints the agents only produce outputs (queued in the process's producer) and
change their stores' caches. A checkpoint then, in this order (Quix Streams' ``Checkpoint.commit``
is the model):

0. flush the producer and check every delivery: the outputs are on the broker (at-least-once
   only: librdkafka orders deliveries within a partition, not across topics, so a crash in one
   flush of both could leave the changelog delivered and an output not; the new state would
   then mark its records as applied and their outputs would never be made again);
1. produce one changelog record per changed key of every store touched (encoded once), to the
   store's changelog partition, with the input offsets covered in a header;
2. flush the producer and check every delivery: the changelog is on the broker;
3. commit the input offsets (the last processed + 1 per partition); with exactly-once, 1-3 are
   one transaction and the offsets go in with ``send_offsets_to_transaction``;
4. write each store's changes and the changelog offset they reach in one RocksDB WriteBatch.

What a crash does at each point (at-least-once; exactly-once in brackets):

- before 2 completes: outputs may be on the broker, offsets are not committed; the restart
  processes the records again on the old state and produces the same outputs again (the same
  action ids, which the sinks deduplicate) [the transaction is aborted: nothing was visible];
- after 2 or 3, before 4: the changelog holds the new state and the store does not; recovery
  reads the changelog past the store's offset first, so the store holds the new state before
  any record is processed again; records seen again (offsets not yet committed) meet state
  that already has them, and the agents' guards skip them (journey_agent.applied_before)
  [after 3 the offsets are committed: nothing is seen again];
- after 4: nothing to redo.

A checkpoint that fails (a delivery refused, a commit refused) raises: the process must end
without writing the stores, and the restart follows the first case.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaException, TopicPartition

from app.runtime.changelog import SOURCE_HEADER, source_header
from app.runtime.faults import crash_point
from app.runtime.producer import RuntimeProducer
from app.runtime.store import Change, PartitionStore

#: how long a checkpoint waits for the broker to acknowledge its records
FLUSH_TIMEOUT_S = 60.0

log = logging.getLogger("segue.runtime.checkpoint")


class CheckpointFailed(RuntimeError):
    """A checkpoint could not complete; the process must end without writing its stores."""


@dataclass(slots=True)
class StoreSlot:
    store: PartitionStore
    changelog: str  # topic
    partition: int


@dataclass
class Checkpoint:
    producer: RuntimeProducer
    consumer: Consumer
    exactly_once: bool = False
    #: (topic, partition) -> last processed offset, since the last commit
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    #: the stores touched since the last commit
    stores: dict[int, StoreSlot] = field(default_factory=dict)
    _open: bool = False

    def begin(self) -> None:
        """Before the first output of a checkpoint period (opens the transaction)."""
        if self.exactly_once and not self._open:
            self.producer.producer.begin_transaction()
        self._open = True

    def processed(self, topic: str, partition: int, offset: int) -> None:
        """``offset`` of the input partition was handled (and every one before it)."""
        self.offsets[topic, partition] = offset

    def touch(self, store: PartitionStore, changelog: str, partition: int) -> None:
        self.stores[id(store)] = StoreSlot(store, changelog, partition)

    @property
    def empty(self) -> bool:
        return not self.offsets

    def commit(self) -> None:
        if not self.offsets and not self.stores:
            return
        producer = self.producer
        if not self.exactly_once:  # (one transaction makes the order moot)
            self._flush()
            crash_point("outputs-flushed")
        header: list[tuple[str, str | bytes | None]] = [
            (SOURCE_HEADER, source_header(self.offsets))
        ]
        written: list[tuple[StoreSlot, list[Change]]] = []
        for slot in self.stores.values():
            if not slot.store.dirty:
                continue
            changes = slot.store.changes()
            for key, value in changes:
                producer.produce(
                    slot.changelog,
                    key,
                    value,
                    partition=slot.partition,
                    headers=header,
                    track=True,
                )
            written.append((slot, changes))
        crash_point("changelog-produced")
        self._flush()
        crash_point("flushed")
        commits = [TopicPartition(t, p, o + 1) for (t, p), o in self.offsets.items()]
        try:
            if self.exactly_once:
                kafka = producer.producer
                if commits:
                    kafka.send_offsets_to_transaction(
                        commits, self.consumer.consumer_group_metadata(), FLUSH_TIMEOUT_S
                    )
                kafka.commit_transaction(FLUSH_TIMEOUT_S)
            elif commits:
                for tp in self.consumer.commit(offsets=commits, asynchronous=False) or []:
                    if tp.error is not None:
                        raise KafkaException(tp.error)
        except KafkaException as exc:
            raise CheckpointFailed(f"checkpoint: committing offsets: {exc}") from exc
        self._open = False
        crash_point("committed")
        reached = producer.take_offsets()
        for slot, changes in written:
            slot.store.write(changes, reached.get((slot.changelog, slot.partition)))
        crash_point("stored")
        self.offsets = {}
        self.stores = {}

    def _flush(self) -> None:
        try:
            self.producer.flush(FLUSH_TIMEOUT_S)
        except Exception as exc:
            raise CheckpointFailed(f"checkpoint: {exc}") from exc

    def abandon(self) -> None:
        """Partitions lost (not revoked in order): forget the work; another owner redoes it."""
        if self.exactly_once and self._open:
            try:
                self.producer.producer.abort_transaction(FLUSH_TIMEOUT_S)
            except KafkaException as exc:
                log.warning("aborting the transaction: %s", exc)
        self._open = False
        self.producer.discard_held()
        for slot in self.stores.values():
            slot.store.discard()
        self.offsets = {}
        self.stores = {}
