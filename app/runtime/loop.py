"""One consumer per process: micro-batches per partition, checkpoints, rebalances.

    poll(timeout) + consume(batch_max - 1, 0)  ->  group by (agent, partition), in order
      -> agent.handle(PartitionBatch)          ->  outputs queued, store caches changed
      -> every commit_interval_s, or once MAX_KEYS keys are dirty: a checkpoint (checkpoint.py
         owns the order; pipelined, the loop goes on while the broker acknowledges it)
      -> every lag_interval_s: the broker's offsets -> lag gauges, stall reports (lag_monitor.py)

The consumer joins the group with the range assignor: partition i of every topic goes to the same
member, so each agent's partitions spread evenly over the workers and a customer's input and
customer-events partitions live in one process. (librdkafka's cooperative-sticky balances the count
of partitions over all topics together: a second worker once took all 8 input partitions and none
of the 4 journey partitions, so it folded no event.) The price is the eager protocol: a rebalance
revokes every partition, each member checkpoints and reopens its stores (local, recovered from
their checkpointed changelog offset to the end). A partition handed to this process has its stores opened and
recovered from their changelogs before its first record is handled (``on_assign`` runs inside
``consume``, between batches). A partition taken away is checkpointed first, then its stores
close (``on_revoke``); a partition *lost* (the group moved on without us: a long stall) is not
committed: its uncommitted work is discarded and its new owner redoes it.

Back-pressure is the loop itself: nothing is fetched beyond librdkafka's bounded prefetch
queue while a batch is handled, and nothing sleeps in the poll loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from prometheus_client import Counter, Gauge, Histogram

from app import kafka_log
from app.broker import reach
from app.kafka_io import make_consumer, make_producer, partitions_of
from app.runtime.agent import Agent, DueBatch, PartitionBatch
from app.runtime.changelog import changelog_topic, recover
from app.runtime.checkpoint import MAX_KEYS, Checkpoint
from app.runtime.faults import crash_point, hold_from_env
from app.runtime.gc_policy import CollectorPolicy
from app.runtime.lag_monitor import LagMonitor
from app.runtime.producer import RuntimeProducer
from app.runtime.store import PartitionStore
from app.runtime.timers import DUE_STORE, PartitionTimers, partition_time
from app.settings import Settings
from app.stream import compat

#: records per consume() call at most, and how long it waits for the first one
BATCH_MAX = 1_000
POLL_TIMEOUT_S = 0.05
#: how long the outputs still queued at the end get to reach the broker
CLOSE_FLUSH_S = 10.0
#: how often processed work is checkpointed (more often: fewer records redone after a crash
#: and, with exactly-once, less output latency; less often: fewer changelog records per key)
COMMIT_INTERVAL_S = 1.0

RECORDS = Counter("segue_runtime_records_total", "Records handled by agents", ["agent"])
CHECKPOINT_SECONDS = Histogram(
    "segue_runtime_checkpoint_seconds",
    "Time the loop is held by a checkpoint (pipelined: its snapshot; else all of it)",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
ASSIGNED = Gauge(
    "segue_runtime_assigned_partitions", "Agent partitions this process owns", ["agent"]
)
RECOVERED = Counter(
    "segue_runtime_recovered_records_total", "Changelog records recovered", ["store"]
)

log = logging.getLogger("segue.runtime")


class Runtime:
    def __init__(
        self,
        settings: Settings,
        agents: Sequence[Agent],
        state_dir: Path,
        group_id: str,
        *,
        batch_max: int = BATCH_MAX,
        poll_timeout_s: float = POLL_TIMEOUT_S,
        commit_interval_s: float = COMMIT_INTERVAL_S,
        max_keys: int = MAX_KEYS,
        exactly_once: bool = False,
        transactional_id: str | None = None,
        instance_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.agents: dict[str, Agent] = {}
        self.by_topic: dict[str, Agent] = {}
        self.add_agents(agents)
        #: called once per turn of the loop (periodic reports); must be quick
        self.housekeeping: Callable[[], None] | None = None
        self._failed = False
        self.state_dir = state_dir
        self.group_id = group_id
        self.batch_max = batch_max
        self.poll_timeout_s = poll_timeout_s
        self.commit_interval_s = commit_interval_s
        extra: dict[str, Any] = {"linger.ms": 1}
        if exactly_once:
            extra["transactional.id"] = transactional_id or f"{group_id}-0"
        if settings.tansu_profile:
            extra.update(compat.LONE_TAIL_BATCHING)
        self.producer = RuntimeProducer(make_producer(settings, **extra))
        if settings.tansu_profile:
            # Tansu's end-offset defect, without its one-record batches (app/stream/compat.py)
            self.producer.tails = compat.LoneTails(
                lambda topic: len(partitions_of(self.consumer, topic))
            )
        if exactly_once:
            self.producer.producer.init_transactions(30)
        group_conf: dict[str, Any] = {
            # per-topic balance and co-partitioning; see the module docstring
            "partition.assignment.strategy": "range",
            "isolation.level": "read_committed",
            "enable.auto.offset.store": False,
            # The prefetch queue bounds what waits in memory behind the batch being handled
            # (back-pressure: the rest stays on the broker). librdkafka's defaults (64 MiB,
            # 100,000 records, fetches of up to 50 MiB) held ~100 MB of a preloaded backlog;
            # 16 MiB is still seconds of work at the worker's rate.
            "queued.max.messages.kbytes": 16 * 1024,
            "queued.min.messages": 10_000,
            "fetch.max.bytes": 8 * 1024 * 1024,
        }
        if instance_id:
            # Static membership (KIP-345): a member restarted under the same id gets its
            # partitions back at once, without a rebalance; one that does not come back keeps
            # them until its session times out.
            group_conf["group.instance.id"] = instance_id
        # Pipelined checkpoints (checkpoint.py) need every acknowledgement to mean what it says;
        # on Tansu each checkpoint's last records are held back until a flush (compat.py).
        pipelined = not exactly_once and not settings.tansu_profile
        self.consumer = make_consumer(settings, group_id, **group_conf)
        self.checkpoint = Checkpoint(self.producer, self.consumer, exactly_once, pipelined)
        self.checkpoint.offsets_every_s = commit_interval_s
        # a stop does not wait for a broker that is not there; a commit is not held by one
        self._should_stop: Callable[[], bool] = lambda: False
        self.checkpoint.give_up = self._give_up
        self.checkpoint.broker_away = lambda: reach.suspect_away(settings)
        self.max_keys = max_keys
        self.collector = CollectorPolicy()
        #: the lag gauges and stall reports, from the broker's offsets (lag_monitor.py)
        self.lag: LagMonitor | None = None
        if settings.lag_interval_s > 0:
            self.lag = LagMonitor(
                settings,
                self.consumer,
                self.checkpoint,
                group_id,
                interval_s=settings.lag_interval_s,
                stall_after_s=settings.stall_after_s,
            )
        self._hold = hold_from_env()  # the stall test's fault (faults.py); None in production
        #: (agent, partition) -> that partition's stores, open while the partition is ours
        self.stores: dict[tuple[str, int], dict[str, PartitionStore]] = {}
        #: (agent, partition) -> its schedule, for agents with on_due
        self.timers: dict[tuple[str, int], PartitionTimers] = {}
        #: input partition -> the offset to read next, known from the assignment or handling
        self._next: dict[tuple[str, int], int] = {}
        self.clock = clock
        self.assigned: set[tuple[str, int]] = set()
        self._restorer: Consumer | None = None
        self._last_commit = time.monotonic()

    def add_agents(self, agents: Sequence[Agent]) -> None:
        """Before ``run``: agents that need the runtime's producer are made after it."""
        for agent in agents:
            if agent.name in self.agents:
                raise ValueError(f"two agents are named {agent.name!r}")
            for topic in agent.topics:
                if topic in self.by_topic:
                    raise ValueError(
                        f"topic {topic} is read by agents {self.by_topic[topic].name} and "
                        f"{agent.name}: one agent per topic"
                    )
                self.by_topic[topic] = agent
            self.agents[agent.name] = agent

    # -- naming ----------------------------------------------------------------------------------

    def changelog(self, agent: str, store: str) -> str:
        return changelog_topic(self.settings.topic_prefix, self.settings.app_id, agent, store)

    def store_path(self, agent: str, store: str, partition: int) -> Path:
        return self.state_dir / agent / store / str(partition)

    def _store_names(self, agent: Agent) -> tuple[str, ...]:
        return (*agent.stores, DUE_STORE) if agent.on_due else agent.stores

    # -- what the local state depends on (app/incarnation.py checks it at start) ---------------

    def state_topics(self) -> list[str]:
        """The topics the state folder belongs to: the inputs (the stores keep input offsets:
        the agents' redelivery guards) and every store's changelog."""
        changelogs = [
            self.changelog(agent.name, store)
            for agent in self.agents.values()
            for store in self._store_names(agent)
        ]
        return sorted({*self.by_topic, *changelogs})

    def reached_offsets(self) -> dict[tuple[str, int], int]:
        """Per changelog partition with a local store: the end offset the broker must have at
        least for the store to be its (the store's checkpointed changelog offset + 1)."""
        reached: dict[tuple[str, int], int] = {}
        for agent in self.agents.values():
            for store in self._store_names(agent):
                folder = self.state_dir / agent.name / store
                if not folder.is_dir():
                    continue
                for path in folder.iterdir():
                    if not path.name.isdigit():
                        continue
                    partition = PartitionStore(path)
                    try:
                        offset = partition.changelog_offset()
                    finally:
                        partition.close()
                    if offset is not None:
                        reached[self.changelog(agent.name, store), int(path.name)] = offset + 1
        return reached

    # -- the loop --------------------------------------------------------------------------------

    def run(self, should_stop: Callable[[], bool]) -> None:
        self._should_stop = should_stop
        consumer = self.consumer
        consumer.subscribe(
            list(self.by_topic),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        try:
            while not should_stop():
                first = consumer.poll(self.poll_timeout_s)
                if first is not None:
                    # what has arrived, at once: consume(n, timeout) alone would hold a
                    # partial batch for the whole timeout, adding it to every record's latency
                    self.handle([first, *consumer.consume(self.batch_max - 1, 0)])
                self.producer.poll()  # delivery reports (latency, errors), once per turn
                checkpoint = self.checkpoint
                if checkpoint.flight is not None:
                    checkpoint.advance()
                    if checkpoint.flight is None:
                        self.collector.after_checkpoint()
                if self.timers:
                    self.fire_due()
                now = time.monotonic()
                if now - self._last_commit >= self.commit_interval_s:
                    self.commit(wait=not checkpoint.pipelined)
                elif checkpoint.pipelined and checkpoint.dirty_keys() >= self.max_keys:
                    self.commit(wait=False)
                if self.lag is not None:
                    self.lag.poll(now)
                if self.housekeeping is not None:
                    self.housekeeping()
                if self._hold is not None:
                    self._hold.release_if_due(consumer)
            self.commit()
        except BaseException:
            # A failed handler or checkpoint: nothing of the unfinished work may become
            # durable (not even by the revoke at close); the restart redoes it from the last
            # checkpoint.
            self._failed = True
            self.checkpoint.abandon()
            for stores in self.stores.values():
                for store in stores.values():
                    store.discard()
            raise
        finally:
            self.close()

    def handle(self, messages: list[Any]) -> None:
        # Any: the stubs make every Message accessor optional; a consumed record has them all
        groups: dict[tuple[str, int], list[Any]] = {}
        #: the last record of each input partition, per group (what the checkpoint commits)
        last_of: dict[tuple[str, int], dict[str, Any]] = {}
        by_topic = self.by_topic
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                if error.fatal():
                    raise KafkaException(error)
                kafka_log.LOG.warning("consumer: %s", error.str())  # one per back-off step
                continue
            topic = message.topic()
            key = (by_topic[topic].name, message.partition())
            group = groups.get(key)
            if group is None:
                groups[key] = [message]
                last_of[key] = {topic: message}
            else:
                group.append(message)
                last_of[key][topic] = message
        if not groups:
            return
        checkpoint = self.checkpoint
        checkpoint.begin()
        for (name, partition), records in groups.items():
            stores = self.stores.get((name, partition))
            if stores is None:  # not ours any more (revoked in this consume call)
                continue
            agent = self.agents[name]
            timers = self.timers.get((name, partition))
            agent.handle(PartitionBatch(partition, records, stores, self.producer, timers))
            RECORDS.labels(name).inc(len(records))
            nexts = self._next
            for topic, message in last_of[name, partition].items():
                offset = message.offset()
                checkpoint.processed(topic, partition, offset)
                nexts[topic, partition] = offset + 1
            self._touch(name, partition, stores)
        crash_point("handled")

    def _touch(self, agent: str, partition: int, stores: dict[str, PartitionStore]) -> None:
        for store_name, store in stores.items():
            self.checkpoint.touch(store, self.changelog(agent, store_name), partition)

    # -- timers ----------------------------------------------------------------------------------

    def fire_due(self) -> None:
        """Call ``on_due`` for every agent partition with keys due at the partition's time."""
        wall = int(self.clock() * 1000)
        for (name, partition), timers in self.timers.items():
            first = timers.next_due()
            if first is None or first > max(wall, timers.newest):
                continue  # nothing due even by the wall clock: no lag check needed
            now = partition_time(wall, timers.newest, self._caught_up(name, partition))
            keys = timers.take_due(now)
            if not keys:
                continue
            agent = self.agents[name]
            stores = self.stores[name, partition]
            self.checkpoint.begin()
            assert agent.on_due is not None
            agent.on_due(DueBatch(partition, now, keys, stores, self.producer, timers))
            self._touch(name, partition, stores)

    def _caught_up(self, agent: str, partition: int) -> bool:
        """No record of the partition's input is on the broker beyond what was read.

        The read position comes from librdkafka once a record was consumed (it passes
        transaction markers, which no record shows), else from where the assignment started;
        the end is the high watermark of the last fetch response (unknown: not caught up)."""
        consumer = self.consumer
        for topic in self.agents[agent].topics:
            tp = TopicPartition(topic, partition)
            _low, high = consumer.get_watermark_offsets(tp, cached=True)
            if high < 0:
                return False
            position = consumer.position([tp])[0].offset
            if position < 0:
                position = self._next.get((topic, partition), -1)
            if position < high:
                return False
        return True

    def commit(self, wait: bool = True) -> None:
        """A checkpoint of everything processed; ``wait=False`` (pipelined): only its snapshot
        now, unless the one before is still in flight (then nothing: the next turn tries)."""
        started = time.monotonic()
        checkpoint = self.checkpoint
        if checkpoint.empty and not checkpoint.stores:
            if wait:
                checkpoint.commit()  # the one in flight and the offsets waiting for a commit
            else:
                checkpoint.commit_offsets()  # an idle stream's last offsets, once due
            self._last_commit = started
            return
        if wait:
            checkpoint.commit()
        elif not checkpoint.start():
            return
        CHECKPOINT_SECONDS.observe(time.monotonic() - started)
        self._last_commit = started
        if checkpoint.flight is None:
            self.collector.after_checkpoint()

    # -- rebalances ------------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        timed = {tp.topic for tp in partitions if self._timed(tp.topic)}
        # The group's committed offsets, once per assignment: the lag monitor's (checkpoint.py,
        # ``committed``) and where reading starts, for the timers' lag check before a record
        # was consumed.
        for tp in consumer.committed(partitions, timeout=30):
            if tp.offset >= 0:
                self.checkpoint.committed[tp.topic, tp.partition] = tp.offset
            if tp.topic not in timed:
                continue
            if tp.offset >= 0:
                self._next[tp.topic, tp.partition] = tp.offset
            else:
                low, _high = consumer.get_watermark_offsets(tp, timeout=30)
                self._next[tp.topic, tp.partition] = low
        for tp in partitions:
            agent = self.by_topic.get(tp.topic)
            if agent is None:
                continue
            key = (agent.name, tp.partition)
            self.assigned.add(key)
            if key not in self.stores:
                self.stores[key] = self._open_stores(agent, tp.partition)
        self._count_assigned()
        if self._hold is not None:
            self._hold.on_assign(consumer, partitions)
        log.info("assigned: %s", _names(partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if not self._failed:
            self.commit()
        self._release(partitions)
        log.info("revoked: %s", _names(partitions))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # librdkafka reports the whole assignment lost (the session expired or the member was
        # fenced), so forgetting every uncommitted record and cache entry loses nothing ours
        log.warning("lost (not committed, redone by their new owner): %s", _names(partitions))
        self.checkpoint.abandon()
        self._release(partitions)

    def _release(self, partitions: list[TopicPartition]) -> None:
        if self.lag is not None:
            self.lag.forget(time.monotonic(), partitions)
        gone = {(tp.topic, tp.partition) for tp in partitions}
        keep = {
            (self.by_topic[tp.topic].name, tp.partition)
            for tp in self.consumer.assignment()
            if (tp.topic, tp.partition) not in gone and tp.topic in self.by_topic
        }
        for tp in partitions:
            agent = self.by_topic.get(tp.topic)
            if agent is None:
                continue
            key = (agent.name, tp.partition)
            if key in keep:
                continue  # another of the agent's topics still has this partition
            self.assigned.discard(key)
            self.timers.pop(key, None)
            for store in self.stores.pop(key, {}).values():
                store.close()
        for tp in partitions:
            self._next.pop((tp.topic, tp.partition), None)
            self.checkpoint.committed.pop((tp.topic, tp.partition), None)
        self._count_assigned()

    def _timed(self, topic: str) -> bool:
        agent = self.by_topic.get(topic)
        return agent is not None and agent.on_due is not None

    def _count_assigned(self) -> None:
        for name in self.agents:
            ASSIGNED.labels(name).set(sum(1 for agent, _p in self.assigned if agent == name))

    def _open_stores(self, agent: Agent, partition: int) -> dict[str, PartitionStore]:
        stores = {}
        for name in self._store_names(agent):
            store = PartitionStore(self.store_path(agent.name, name, partition))
            topic = self.changelog(agent.name, name)
            done = recover(self._recovery_consumer(), topic, partition, store)
            if done.records:
                store.settle()
                RECOVERED.labels(f"{agent.name}/{name}").inc(done.records)
                log.info(
                    "recovered %s[%d]: %d records in %.1f s (%.0f/s)",
                    topic,
                    partition,
                    done.records,
                    done.seconds,
                    done.records / max(done.seconds, 1e-6),
                )
            stores[name] = store
        if agent.on_due:
            self.timers[agent.name, partition] = PartitionTimers(stores[DUE_STORE])
        return stores

    def _recovery_consumer(self) -> Consumer:
        if self._restorer is None:
            self._restorer = make_consumer(
                self.settings,
                None,
                **{
                    "isolation.level": "read_committed",
                    "fetch.max.bytes": 64 * 1024 * 1024,
                    "max.partition.fetch.bytes": 16 * 1024 * 1024,
                    "enable.partition.eof": False,
                    # one fetch in flight per broker: after a partition is read to its end,
                    # the broker holds the next (empty) fetch this long, and the next
                    # partition's first fetch waits behind it (500 ms by default, per store)
                    "fetch.wait.max.ms": 10,
                },
            )
        return self._restorer

    def _give_up(self) -> str | None:
        """Why a checkpoint's wait should end now: a stop was asked for and no broker is there
        (its work is redone after the restart). Without a stop the wait rides an outage out."""
        return reach.away(self.settings) if self._should_stop() else None

    def close(self) -> None:
        try:
            self.consumer.close()  # revokes (and so checkpoints) what is still assigned
        finally:
            # after a failure the outputs left are redone by the restart: no reason to wait
            self.producer.producer.flush(0 if self._failed else CLOSE_FLUSH_S)
            if self._restorer is not None:
                self._restorer.close()
            for stores in self.stores.values():
                for store in stores.values():
                    store.close()
            self.stores = {}


def _names(partitions: list[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions) or "nothing"
