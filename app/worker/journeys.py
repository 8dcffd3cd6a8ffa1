"""The ``journeys`` agent on the runtime: customer-keyed records through the JourneyProcessor.

The processor (app/stream/journey_agent.py) knows no framework: it reads and writes through a
Store, produces through a Sink and keeps partition clocks through an index. Here those are the
runtime's: the ``profiles`` PartitionStore, the partition's timers (the runtime's ``due`` store
replaces the timers table; due keys come back through ``on_due`` as tick records, handled by the
same code path as events) and its producer, whose deliveries the checkpoint awaits. So
``finish()`` runs at once after ``apply``: nothing of a batch is durable before the checkpoint
has the batch's outputs on the broker (app/runtime/checkpoint.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from app.core.journeys.bandit import LAG_WINDOWS, WINDOW_MS
from app.core.journeys.state import next_due
from app.runtime.agent import Agent, DueBatch, PartitionBatch
from app.runtime.producer import RuntimeProducer
from app.runtime.store import PartitionStore
from app.runtime.timers import DUE_BATCH_MAX, PartitionTimers
from app.stream.journey_agent import CLOCK_PREFIX, Item, JourneyProcessor
from app.stream.sink import Batch, Headers, OnDelivered

AGENT = "journeys"
PROFILES = "profiles"


@dataclass(frozen=True, slots=True)
class Here:
    """An Item's handle on the runtime: the partition's profiles store and timers."""

    profiles: PartitionStore
    timers: PartitionTimers


class PartitionStores:
    """The processor's Store over the runtime's stores (the handle says which partition)."""

    def get_record(self, handle: Here, key: str) -> dict[str, Any] | None:
        record: dict[str, Any] | None = handle.profiles.get(key)
        return record

    def put_record(self, handle: Here, key: str, record: dict[str, Any] | None) -> None:
        handle.profiles.put(key, record)

    def get_timer(self, handle: Here, key: str) -> int | None:
        return handle.timers.due_of(key)

    def put_timer(self, handle: Here, key: str, due: int | None) -> None:
        if key.startswith(CLOCK_PREFIX):
            return  # the partition's event time: kept by the timers themselves (``saw``)
        handle.timers.schedule(key, due)


class PartitionClocks:
    """The processor's index, reduced to what the runtime leaves to it: each partition's newest
    event time (the runtime's timers hold the schedule and fire it)."""

    def __init__(self) -> None:
        self._newest: dict[int, int] = {}

    def newest(self, partition: int) -> int:
        return self._newest.get(partition, 0)

    def saw_event(self, partition: int, ts: int) -> None:
        if ts > self._newest.get(partition, 0):
            self._newest[partition] = ts

    def set(self, partition: int, key: str, due: int | None) -> None:
        """The schedule is the runtime's (PartitionStores.put_timer)."""


class RuntimeSink:
    """The processors' Outlet over the runtime's producer: a batch's deliveries are the
    checkpoint's to await."""

    def __init__(self, producer: RuntimeProducer) -> None:
        self.producer = producer

    def batch(self) -> Batch:
        return Batch()

    def produce(
        self,
        batch: Batch,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None = None,
        on_delivered: OnDelivered | None = None,
        internal: bool = False,
        headers: Headers | None = None,
    ) -> None:
        self.producer.produce(
            topic, key, value, partition=partition, on_delivered=on_delivered, headers=headers
        )


#: validates an input record and routes it; returns the event when it stays on ``here``
Admit = Callable[[Batch, Any, int], "dict[str, Any] | None"]


def journeys_agent(
    processor: JourneyProcessor,
    topic: str,
    inputs: tuple[str, ...] = (),
    admit: Admit | None = None,
) -> Agent:
    """``processor`` must have been made with a RuntimeSink and a PartitionClocks index.

    ``inputs``: input topics co-partitioned with ``topic`` (customer-events), read by this agent
    too: the range assignment gives partition i of each to the same process, so an event already
    on its customer's partition is handled here at once (``admit`` returns it) instead of going
    through customer-events; the others (anonymous, on another partition) are routed by
    ``admit`` (app/worker/ingest.py) and come back through ``topic``."""
    stores = PartitionStores()
    direct = frozenset(inputs)
    if direct and admit is None:
        raise ValueError("input topics need an admit function")

    adaptive = processor.engine.adaptive
    #: per partition: timers due before this time have fired (adaptive journeys only)
    fired_before: dict[int, int] = {}

    def handle(batch: PartitionBatch) -> None:
        timers = batch.timers
        assert timers is not None
        here = Here(batch.stores[PROFILES], timers)
        items: list[Item] = []
        out = processor.sink.batch()
        message: Any  # a consumed record: key, value and offset are all there
        for message in batch.records:
            if direct and message.topic() in direct:
                assert admit is not None
                value = admit(out, message, batch.partition)
                if value is None:
                    continue  # routed elsewhere, or dead-lettered
            else:
                value = orjson.loads(message.value())
            ts = value.get("ts")
            if ts is not None:
                timers.saw(ts)
                if adaptive:
                    items = _fire_windows_behind(batch.partition, ts, here, items)
            items.append(Item(value, batch.partition, message.offset(), here))
        processor.apply(items, stores).finish()

    def _fire_windows_behind(partition: int, ts: int, here: Here, items: list[Item]) -> list[Item]:
        """Adaptive choices at ``ts`` read the arm windows two or more behind its own
        (core/journeys/bandit.py), so every timer due in them must have fired first, as replay
        fires it in its time: in a batch that spans hours (a worker catching up) the timers
        would otherwise wait for the batch's end. Returns the items still to apply."""
        boundary = (ts // WINDOW_MS - LAG_WINDOWS + 1) * WINDOW_MS
        if boundary <= fired_before.get(partition, 0):
            return items
        fired_before[partition] = boundary
        if items:  # their timers are scheduled when they are applied
            processor.apply(items, stores).finish()
        _fire_window_by_window(here, partition, boundary - 1)
        return []

    def _fire_window_by_window(here: Here, partition: int, until: int, most: int = 0) -> None:
        """Fire the timers due up to ``until`` one arm window at a time, each key only to its
        own due time (its later timers come back through the schedule): every moment then comes
        in due order among the partition's others, as replay runs them, so no choice is made
        before a pull of a window it reads. ``most``: stop after about that many keys (0: no
        limit)."""
        fired = 0
        while (first := here.timers.next_due()) is not None and first <= until:
            end = min(until, (first // WINDOW_MS + 1) * WINDOW_MS - 1)
            while taken := here.timers.take_due(end):
                _fire(here, partition, end, taken)
                fired += len(taken)
            if most and fired >= most:
                return

    def _fire(here: Here, partition: int, now: int, keys: list[tuple[str, int]]) -> None:
        """Handle due keys as tick records at ``now`` (with adaptive journeys: at each key's
        own due time, see ``_fire_window_by_window``)."""
        items = [
            Item({"key": key, "tick": at if adaptive else now, "due": at}, partition, -1, here)
            for key, at in keys
        ]
        processor.apply(items, stores).finish()
        # ``take_due`` unscheduled the keys; the processor schedules a key again only when its
        # next due time changed, so one whose state was not advanced (a tick it found stale)
        # gets its time back from the state here
        for key, _at in keys:
            if here.timers.due_of(key) is None:
                record = here.profiles.get(key)
                jstate = record.get("journeys") if record else None
                if jstate and (again := next_due(jstate)) is not None:
                    here.timers.schedule(key, again)

    def on_due(due: DueBatch) -> None:
        here = Here(due.stores[PROFILES], due.timers)
        if not adaptive:
            _fire(here, due.partition, due.now, due.keys)
            return
        for key, at in due.keys:  # back in the schedule: fired in windows, in due order
            due.timers.schedule(key, at)
        _fire_window_by_window(here, due.partition, due.now, most=DUE_BATCH_MAX)

    return Agent(AGENT, (*inputs, topic), handle, stores=(PROFILES,), on_due=on_due)
