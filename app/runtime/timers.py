"""Timers in the runtime: a per-partition index of due times, fired in-process for the agent.

An agent with an ``on_due`` handler schedules keys (``batch.timers.schedule(key, due_ms)``); the
runtime keeps each partition's schedule in a store of its own (``due``, changelogged and
checkpointed like any store, so a restart or a new owner rebuilds the index from it) and calls
``on_due`` with the keys whose time has come, in due order. No record goes through Kafka.

A partition's time (the spec's live rule: the later of the wall clock and the newest event time
seen) must not overtake unread input: while the partition is behind (records on the broker past
the consumer's position), its time is the newest event time read so far, so a timer waits for
the events that may cancel it. A customer who bought during an outage is read as having bought
before the cart reminder's time comes, and gets none.
"""

from __future__ import annotations

import heapq

from app.runtime.store import PartitionStore

#: the runtime's own store per agent partition with timers (agents may not use the name)
DUE_STORE = "due"
#: key in the due store under which the partition's newest event time is kept (NUL: no key)
NEWEST_KEY = "\x00newest"
#: the newest event time is written when it moved by at least this much: after a restart the
#: partition's time may lag by this until the next event (timers fire that much later, never
#: earlier)
NEWEST_STEP_MS = 1_000
#: keys handed to one on_due call at most (the rest at the next turn of the loop)
DUE_BATCH_MAX = 1_000


def partition_time(wall_ms: int, newest_event_ms: int, caught_up: bool) -> int:
    """The time timers fire at: the spec's live rule when nothing is unread, else the events'."""
    return max(wall_ms, newest_event_ms) if caught_up else newest_event_ms


class PartitionTimers:
    """One agent partition's schedule: a heap over the ``due`` store's keys."""

    def __init__(self, store: PartitionStore) -> None:
        self.store = store
        self._due: dict[str, int] = {}
        self._heap: list[tuple[int, str]] = []
        self.newest = 0
        self._newest_written = 0
        for key, value in store.items():
            if key == NEWEST_KEY:
                self.newest = self._newest_written = int(value)
            else:
                self._due[key] = int(value)
        self._heap = [(due, key) for key, due in self._due.items()]
        heapq.heapify(self._heap)

    def schedule(self, key: str, due: int | None) -> None:
        """The key's next due time (None: no timer); replaces any earlier one."""
        if self._due.get(key) == due:
            return
        if due is None:
            self._due.pop(key, None)
        else:
            self._due[key] = due
            heapq.heappush(self._heap, (due, key))
        self.store.put(key, due)

    def due_of(self, key: str) -> int | None:
        return self._due.get(key)

    def saw(self, event_ms: int) -> None:
        """An event of this partition, at its own time."""
        if event_ms > self.newest:
            self.newest = event_ms
            if event_ms - self._newest_written >= NEWEST_STEP_MS:
                self.store.put(NEWEST_KEY, event_ms)
                self._newest_written = event_ms

    def next_due(self) -> int | None:
        heap, due = self._heap, self._due
        while heap and due.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)  # stale: rescheduled or cancelled
        return heap[0][0] if heap else None

    def take_due(self, now: int, most: int = DUE_BATCH_MAX) -> list[tuple[str, int]]:
        """Keys due at ``now`` (key, due), earliest first, unscheduled: the handler schedules
        each key's next time if it has one."""
        out: list[tuple[str, int]] = []
        heap, dues = self._heap, self._due
        while heap and len(out) < most:
            due, key = heap[0]
            if dues.get(key) != due:
                heapq.heappop(heap)
                continue
            if due > now:
                break
            heapq.heappop(heap)
            del dues[key]
            self.store.put(key, None)
            out.append((key, due))
        return out

    def __len__(self) -> int:
        return len(self._due)
