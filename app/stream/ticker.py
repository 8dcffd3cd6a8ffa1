"""The timer scan: due timers become tick records in the customer-events topic.

Runs as a faust timer in every worker. After each rebalance (once the tables are recovered) it
rebuilds the :class:`TimerIndex` from the ``timers`` table for the partitions this worker
actively owns; then, every ``tick_interval_ms``, it sends one tick per due customer, keyed by
the customer, to the customer's own partition. The journey agent handles a tick like an event
(``engine.advance`` to the tick's time), so timers never write to a table from outside the
agent's stream (faust would route such a write by the wrong partition).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from prometheus_client import Counter, Gauge

from app.kafka_io import partition_for
from app.settings import Settings
from app.stream.sink import Sink
from app.stream.timer_index import CLOCK_PREFIX, TimerIndex
from app.topics.specs import TopicNames

log = logging.getLogger("segue.timers")

TICKS_SENT = Counter("segue_ticks_sent_total", "Tick records sent for due timers")
TIMERS_PENDING = Gauge("segue_timers_pending", "Timers held for this worker's partitions")
TIMER_BACKLOG = Gauge("segue_timer_backlog", "Due timers ticked but not yet handled")
LAG = Gauge("segue_consumer_lag", "Records not yet processed", ["topic", "partition"])


class Ticker:
    def __init__(
        self,
        app: Any,
        settings: Settings,
        names: TopicNames,
        sink: Sink,
        index: TimerIndex,
        timers: Any,
    ) -> None:
        self.app = app
        self.partitions = settings.partitions
        self.names = names
        self.sink = sink
        self.index = index
        self.timers = timers
        self.stale = True

    async def on_rebalance_complete(self, *_args: Any, **_kwargs: Any) -> None:
        self.stale = True

    def owned(self) -> set[int]:
        topic = self.names.customer_events
        return {tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == topic}

    def rebuild(self) -> None:
        owned = self.owned()
        n = self.partitions
        timers = [(partition_of(k, n), k, due) for k, due in self.timers.items()]
        self.index.reset(owned, timers)
        self.stale = False
        log.info(
            "timer index rebuilt: partitions %s, %d timers", sorted(owned), self.index.pending()
        )

    async def run_once(self) -> None:
        app = self.app
        if app.rebalancing or not app.tables.recovery.completed.is_set():
            return
        if self.stale or self.owned() != self.index.partitions:
            self.rebuild()
        ticks = self.index.due_ticks(int(time.time() * 1000), time.monotonic())
        if not ticks:
            return
        batch = self.sink.batch()
        topic = self.names.customer_events
        for t in ticks:
            value = orjson.dumps({"key": t.key, "tick": t.now, "due": t.due})
            self.sink.produce(
                batch, topic, t.key.encode(), value, partition=t.partition, internal=True
            )
        await self.sink.deliver(batch)
        TICKS_SENT.inc(len(ticks))

    def report(self, progress: dict[tuple[str, int], int]) -> None:
        TIMERS_PENDING.set(self.index.pending())
        TIMER_BACKLOG.set(self.index.backlog())
        consumer = self.app.consumer
        for tp in consumer.assignment():
            done = progress.get((tp.topic, tp.partition))
            high = consumer.highwater(tp)
            if done is None or high is None:
                continue
            LAG.labels(tp.topic, str(tp.partition)).set(max(0, high - done - 1))


def partition_of(key: str, partitions: int) -> int:
    """The partition of a timers-table key: a customer's, or the one a clock key names."""
    if key.startswith(CLOCK_PREFIX):
        return int(key[len(CLOCK_PREFIX) :])
    return partition_for(key.encode(), partitions)
