"""The checkpoint: the one place that orders how processed input becomes durable.

Between checkpoints the agents only produce outputs (queued in the process's producer, in the
producer's current ``Epoch``) and change their stores' caches. A checkpoint then, in this order
(Quix Streams' ``Checkpoint.commit`` is the model):

0. take a snapshot: the input offsets processed, every changed key of every store touched
   (encoded once) and the outputs' epoch (``producer.cut``: later outputs are the next period's);
1. wait until every output of the epoch is acknowledged (at-least-once only: librdkafka orders
   deliveries within a partition, not across topics, so a crash while both were in flight could
   leave the changelog delivered and an output not; the new state would then mark its records
   as applied and their outputs would never be made again);
2. produce one changelog record per changed key to the store's changelog partition, with the
   input offsets covered in a header, and wait until every one is acknowledged;
3. commit the input offsets (the last processed + 1 per partition); with exactly-once, 1-3 are
   one transaction and the offsets go in with ``send_offsets_to_transaction``;
4. write each store's changes and the changelog offset they reach in one RocksDB WriteBatch.

Run ``pipelined`` (at-least-once on a broker without Tansu's defects), the waits of 1 and 2 do
not stop the loop: ``start`` takes the snapshot and returns, the loop goes on with the next
records and calls ``advance`` once per turn, which moves the checkpoint on as the acknowledgements
arrive; the offsets are committed at most every ``offsets_every_s`` (``_commit_offsets`` says
why). At most one checkpoint is in flight; ``commit`` (a rebalance, the end, the other modes)
finishes it and runs one to the end. The snapshot is the only part that holds the loop, so the
loop also starts a checkpoint when ``MAX_KEYS`` keys are dirty, not only every
``commit_interval_s``: a pause stays short.

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

Records of the next period handled while a checkpoint is in flight change nothing of this: their
outputs are in the next epoch and their state in the stores' next dirty keys, and their offsets
are not in the checkpoint.

A checkpoint that fails (a delivery refused, a commit refused) raises: the process must end
without writing the stores, and the restart follows the first case.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaException, TopicPartition

from app.runtime.changelog import SOURCE_HEADER, source_header
from app.runtime.faults import crash_point
from app.runtime.producer import DeliveryFailed, Epoch, RuntimeProducer
from app.runtime.store import Change, PartitionStore

#: how long a checkpoint waits for the broker to acknowledge its records
FLUSH_TIMEOUT_S = 60.0
#: with ``give_up``, how long a wait goes on before it asks again whether to give up
GIVE_UP_SLICE_S = 0.5
#: dirty keys that start a checkpoint before its interval (pipelined): ~10-20 ms of encoding
MAX_KEYS = 1_000

log = logging.getLogger("segue.runtime.checkpoint")


class CheckpointFailed(RuntimeError):
    """A checkpoint could not complete; the process must end without writing its stores."""


@dataclass(slots=True)
class StoreSlot:
    store: PartitionStore
    changelog: str  # topic
    partition: int


@dataclass(slots=True)
class InFlight:
    """A checkpoint between its snapshot and its store writes."""

    offsets: dict[tuple[str, int], int]
    written: list[tuple[StoreSlot, list[Change]]]
    outputs: Epoch
    started: float
    #: the changelog records' epoch, once they are produced (step 2)
    changelog: Epoch | None = None


@dataclass
class Checkpoint:
    producer: RuntimeProducer
    consumer: Consumer
    exactly_once: bool = False
    #: the loop does not wait for acknowledgements (see the module's docstring)
    pipelined: bool = False
    #: (topic, partition) -> last processed offset, since the last snapshot
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    #: the stores touched since the last snapshot
    stores: dict[int, StoreSlot] = field(default_factory=dict)
    flight: InFlight | None = None
    #: pipelined: how often the offsets of completed checkpoints are committed at the latest
    offsets_every_s: float = 1.0
    #: (topic, partition) -> last offset of a completed checkpoint, not committed yet
    committable: dict[tuple[str, int], int] = field(default_factory=dict)
    #: (topic, partition) -> the group's committed offset, as this member (the only one that
    #: commits for its partitions) knows it: read at assignment, then each commit's
    committed: dict[tuple[str, int], int] = field(default_factory=dict)
    #: asked while a wait for acknowledgements drags on (the runtime's: a stop was asked for
    #: and the broker is not there); a reason ends the wait and fails the checkpoint, which
    #: loses nothing (issue 16: a worker took ~62 s to stop when its broker had gone)
    give_up: Callable[[], str | None] | None = None
    #: asked before a synchronous offset commit, which librdkafka holds ~45 s when no broker
    #: answers: a reason skips a due commit (its offsets stay committable) and fails a commit
    #: asked for now
    broker_away: Callable[[], str | None] | None = None
    _offsets_committed: float = 0.0
    _open: bool = False
    _finishing: bool = False

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

    def dirty_keys(self) -> int:
        return sum(slot.store.dirty_count for slot in self.stores.values())

    def uncommitted(self) -> set[tuple[str, int]]:
        """Input partitions with processed records whose offsets are not committed yet."""
        keys = set(self.offsets) | set(self.committable)
        if self.flight is not None:
            keys |= set(self.flight.offsets)
        return keys

    # -- running it ------------------------------------------------------------------------------

    def commit(self) -> None:
        """Finish the checkpoint in flight, then checkpoint everything processed, to the end,
        its offsets and those of every checkpoint before it committed."""
        self._finishing = True
        try:
            self.wait()
            if self.offsets or self.stores:
                self._snapshot()
                self.wait()
            self.commit_offsets()
        finally:
            self._finishing = False

    def commit_offsets(self) -> None:
        """Commit the offsets of completed checkpoints that wait for a due commit (none in
        flight: its own come with it)."""
        if self.committable and self.flight is None:
            self._commit_offsets({}, now=True)

    def start(self) -> bool:
        """Pipelined: take the snapshot and return (False: one is still in flight)."""
        if self.flight is not None:
            self.advance()
            if self.flight is not None:
                return False
        if self.offsets or self.stores:
            self._snapshot()
            self.advance()
        return True

    def advance(self) -> None:
        """Move the checkpoint in flight on as far as the acknowledgements received allow."""
        flight = self.flight
        if flight is None:
            return
        if flight.changelog is None:
            if not (self.exactly_once or flight.outputs.delivered):
                return self._check_age(flight)
            self._fail_on(flight.outputs)
            if not self.exactly_once:
                crash_point("outputs-flushed")
            self._produce_changelog(flight)
            crash_point("changelog-produced")
        assert flight.changelog is not None
        if not flight.changelog.delivered:
            return self._check_age(flight)
        self._fail_on(flight.changelog)
        crash_point("flushed")
        self._commit_offsets(flight.offsets, now=self._finishing)
        self._open = False
        crash_point("committed")
        reached = flight.changelog.offsets
        for slot, changes in flight.written:
            slot.store.write(changes, reached.get((slot.changelog, slot.partition)))
        self.flight = None
        crash_point("stored")

    def wait(self) -> None:
        """Finish the checkpoint in flight, waiting for the broker (less when ``give_up``
        names a reason)."""
        while self.flight is not None:
            try:
                self._flush()
            except DeliveryFailed as exc:
                raise CheckpointFailed(f"checkpoint: {exc}") from exc
            self.advance()

    def _flush(self) -> None:
        if self.give_up is None:
            self.producer.flush(FLUSH_TIMEOUT_S)
            return
        began = time.monotonic()
        while True:
            try:
                self.producer.flush(GIVE_UP_SLICE_S)
                return
            except DeliveryFailed:
                waited = time.monotonic() - began
                if waited >= FLUSH_TIMEOUT_S:
                    raise DeliveryFailed(f"records not acknowledged in {waited:.0f} s") from None
                reason = self.give_up()
                if reason is not None:
                    raise DeliveryFailed(f"records not acknowledged: {reason}") from None

    def _snapshot(self) -> None:
        written: list[tuple[StoreSlot, list[Change]]] = []
        for slot in self.stores.values():
            if slot.store.dirty:
                written.append((slot, slot.store.changes()))
        self.flight = InFlight(self.offsets, written, self.producer.cut(), time.monotonic())
        self.offsets = {}
        self.stores = {}

    def _produce_changelog(self, flight: InFlight) -> None:
        header: list[tuple[str, str | bytes | None]] = [
            (SOURCE_HEADER, source_header(flight.offsets))
        ]
        epoch = flight.changelog = Epoch()
        produce = self.producer.produce
        for slot, changes in flight.written:
            topic, partition = slot.changelog, slot.partition
            for key, value in changes:
                produce(topic, key, value, partition, None, header, True, epoch)

    def _commit_offsets(self, offsets: dict[tuple[str, int], int], now: bool) -> None:
        """Step 3. Pipelined, the offsets of checkpoints started by their size wait for the
        next commit that is due (``offsets_every_s``) or asked for (``now``): a synchronous
        commit is a round trip to the coordinator, and an offset committed later only means
        more records seen again after a crash, which the agents' guards skip. Synchronous, so
        that a refused commit fails the checkpoint at once."""
        self.committable.update(offsets)
        if self.exactly_once:
            commits = self._take_committable()
            try:
                kafka = self.producer.producer
                if commits:
                    kafka.send_offsets_to_transaction(
                        commits, self.consumer.consumer_group_metadata(), FLUSH_TIMEOUT_S
                    )
                kafka.commit_transaction(FLUSH_TIMEOUT_S)
            except KafkaException as exc:
                raise CheckpointFailed(f"checkpoint: committing offsets: {exc}") from exc
            self._note_committed(commits)
            return
        due = time.monotonic() - self._offsets_committed >= self.offsets_every_s
        if not (now or due or not self.pipelined) or not self.committable:
            return
        away = self.broker_away() if self.broker_away is not None else None
        if away is None and now and self.give_up is not None:
            away = self.give_up()  # the last commit of a stop: asked for sure, not suspected
        if away is not None:
            if now:
                raise CheckpointFailed(f"checkpoint: committing offsets: {away}")
            return
        commits = self._take_committable()
        try:
            for tp in self.consumer.commit(offsets=commits, asynchronous=False) or []:
                if tp.error is not None:
                    raise KafkaException(tp.error)
        except KafkaException as exc:
            raise CheckpointFailed(f"checkpoint: committing offsets: {exc}") from exc
        self._offsets_committed = time.monotonic()
        self._note_committed(commits)

    def _note_committed(self, commits: list[TopicPartition]) -> None:
        for tp in commits:
            self.committed[tp.topic, tp.partition] = tp.offset

    def _take_committable(self) -> list[TopicPartition]:
        commits = [TopicPartition(t, p, o + 1) for (t, p), o in self.committable.items()]
        self.committable = {}
        return commits

    @staticmethod
    def _fail_on(epoch: Epoch) -> None:
        problem = epoch.failure()
        if problem is not None:
            raise CheckpointFailed(f"checkpoint: {problem}")

    @staticmethod
    def _check_age(flight: InFlight) -> None:
        waited = time.monotonic() - flight.started
        if waited > FLUSH_TIMEOUT_S:
            raise CheckpointFailed(
                f"checkpoint: records not acknowledged in {waited:.0f} s (is the broker away?)"
            )

    def abandon(self) -> None:
        """Partitions lost (not revoked in order): forget the work; another owner redoes it."""
        if self.exactly_once and self._open:
            away = self.give_up() if self.give_up is not None else None
            if away is not None:
                # the next start's init_transactions aborts it (it fences this transactional id)
                log.warning("transaction left open, aborted at the next start: %s", away)
            else:
                try:
                    self.producer.producer.abort_transaction(FLUSH_TIMEOUT_S)
                except KafkaException as exc:
                    log.warning("aborting the transaction: %s", exc)
        self._open = False
        self.producer.discard_held()
        self.producer.cut()  # its records' reports no longer matter
        stores = [slot.store for slot in self.stores.values()]
        if self.flight is not None:
            stores += [slot.store for slot, _changes in self.flight.written]
        for store in stores:
            store.discard()
        self.offsets = {}
        self.stores = {}
        self.flight = None
        self.committable = {}
