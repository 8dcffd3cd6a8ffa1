"""The in-memory index of due timers for the partitions this worker actively owns.

The durable truth is the ``timers`` table (customer -> next due ms, with its changelog); this
index is rebuilt from it whenever the assignment changes and kept current by the journey agent
as it writes the table. The ticker asks it which customers are due and sends each of them one
*tick* record through the customer-events topic, so every state change happens in the agent, in
partition order, through the same code path as events.

A partition's time is the later of the wall clock and the newest event time seen in it (the
spec's live rule). A tick is sent once per (customer, due) and sent again only if the agent has
not handled it within ``resend_after_s`` (a tick lost to a crash or a rebalance is re-sent; a
duplicate tick is harmless: the engine fires nothing that is not due).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass

#: timers-table key under which a partition's newest event time is kept (NUL: never a customer)
CLOCK_PREFIX = "\x00clock/"
#: ticks sent and not yet handled, at most: a catch-up of many due timers (a restart after a
#: long stop, 532,628 timers in bench/scale_state.py) is fed to the agent in slices instead of
#: one flood, and every ticker run stays cheap
MAX_IN_FLIGHT = 5_000


def clock_key(partition: int) -> str:
    return f"{CLOCK_PREFIX}{partition}"


@dataclass(frozen=True, slots=True)
class Tick:
    partition: int
    key: str
    due: int
    now: int  # the partition's time when the tick was made: the agent advances to it


class TimerIndex:
    def __init__(self, resend_after_s: float = 5.0, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self.resend_after_s = resend_after_s
        self.max_in_flight = max_in_flight
        self._due: dict[int, dict[str, int]] = {}
        self._heaps: dict[int, list[tuple[int, str]]] = {}
        self._newest: dict[int, int] = {}
        #: key -> (partition, due, sent at, monotonic seconds): ticks not yet handled
        self._inflight: dict[str, tuple[int, int, float]] = {}
        #: partition -> in-flight ticks handled so far, and (that count, when it last moved)
        self._handled: dict[int, int] = {}
        self._moved: dict[int, tuple[int, float]] = {}
        self._last_scan = float("-inf")

    # -- ownership -----------------------------------------------------------------------------

    def reset(self, partitions: Iterable[int], timers: Iterable[tuple[int, str, int]]) -> None:
        """Own exactly ``partitions``, with the (partition, key, due) timers read from the table
        (``clock_key`` entries give a partition's newest event time, kept durable so that a
        restart or a new owner does not move the partition's time backwards).

        In-flight marks are dropped, so every due timer is ticked again (cheap, and safe after
        a rebalance)."""
        owned = set(partitions)
        self._due = {p: {} for p in owned}
        self._newest = {p: t for p, t in self._newest.items() if p in owned}
        self._inflight = {}
        for partition, key, due in timers:
            if partition not in owned:
                continue
            if key.startswith(CLOCK_PREFIX):
                self.saw_event(partition, due)
            else:
                self._due[partition][key] = due
        self._heaps = {p: [(d, k) for k, d in keys.items()] for p, keys in self._due.items()}
        for heap in self._heaps.values():
            heapq.heapify(heap)

    @property
    def partitions(self) -> set[int]:
        return set(self._due)

    # -- updates from the agent ----------------------------------------------------------------

    def set(self, partition: int, key: str, due: int | None) -> None:
        """The customer's next due time after the agent handled it (None: no timer)."""
        self._inflight.pop(key, None)
        # the partition's queue moved (an event or a tick): ticks behind it are waiting, not lost
        self._handled[partition] = self._handled.get(partition, 0) + 1
        keys = self._due.get(partition)
        if keys is None:  # not (or no longer) ours: the owner's index has it
            return
        if due is None:
            keys.pop(key, None)
            return
        if keys.get(key) != due:
            keys[key] = due
            heapq.heappush(self._heaps[partition], (due, key))

    def saw_event(self, partition: int, ts: int) -> None:
        if ts > self._newest.get(partition, 0):
            self._newest[partition] = ts

    def newest(self, partition: int) -> int:
        return self._newest.get(partition, 0)

    def partition_time(self, partition: int, wall_ms: int) -> int:
        return max(wall_ms, self._newest.get(partition, 0))

    # -- the ticker ------------------------------------------------------------------------------

    def due_ticks(self, wall_ms: int, mono_s: float) -> list[Tick]:
        """Ticks to send now: timers due at their partition's time, each (key, due) once."""
        ticks: list[Tick] = []
        room = self.max_in_flight - len(self._inflight)
        for partition, heap in self._heaps.items():
            keys = self._due[partition]
            now = self.partition_time(partition, wall_ms)
            while heap and heap[0][0] <= now and room > 0:
                due, key = heapq.heappop(heap)
                if keys.get(key) != due:
                    continue  # stale: the timer moved or went
                flying = self._inflight.get(key)
                if flying is not None and flying[1] == due:
                    continue  # a second heap entry of a timer that was set again
                self._inflight[key] = (partition, due, mono_s)
                room -= 1
                ticks.append(Tick(partition, key, due, now))
                # new ticks start a wait: resend only if nothing moves for the delay from now
                self._moved[partition] = (self._handled.get(partition, 0), mono_s)
        # Resend only where the agent stalled: ticks queue in their partition's order, so while
        # the agent keeps handling a partition's records, a later tick is waiting, not lost.
        # (Resending every in-flight tick after the delay multiplied the ticks under a backlog:
        # 9 per timer in bench/scale_state.py's catch-up of 53,000 timers, and 17.5 M ticks sent
        # for 532,000 timers, starving the agent, at 1,000,000 profiles.)
        for partition, count in self._handled.items():
            if self._moved.get(partition, (-1, 0.0))[0] != count:
                self._moved[partition] = (count, mono_s)
        stalled = any(
            mono_s - since >= self.resend_after_s for _count, since in self._moved.values()
        )
        if not stalled or mono_s - self._last_scan < 1.0:
            return ticks  # nothing stalled, or looked at just now: the scan is O(in flight)
        self._last_scan = mono_s
        for key, (partition, due, sent) in list(self._inflight.items()):
            if mono_s - sent < self.resend_after_s:
                continue
            moved = self._moved.get(partition)
            if moved is not None and mono_s - moved[1] < self.resend_after_s:
                continue
            if self._due.get(partition, {}).get(key) != due:
                del self._inflight[key]
                continue
            self._inflight[key] = (partition, due, mono_s)
            ticks.append(Tick(partition, key, due, self.partition_time(partition, wall_ms)))
        return ticks

    def pending(self) -> int:
        """Timers held for the owned partitions."""
        return sum(len(keys) for keys in self._due.values())

    def backlog(self) -> int:
        """Timers that are due and ticked but not yet handled by the agent."""
        return len(self._inflight)
