"""Consumer lag and the stall rule, as plain arithmetic over offsets and times (no Kafka here).

The figures come from the broker (lag_monitor.py asks it); this module only says what they mean:

- a partition's **lag** is its end offset (the last stable offset: what a read-committed reader
  can reach) minus the offset this consumer group would resume from, i.e. the records a restart
  would still have to read. The resume offset is the group's committed offset (the low
  watermark when there is none or retention has passed it), or the consumer's read position
  when everything read so far has been committed: a transaction's commit marker takes an offset
  that no record shows, so a committed "last record + 1" trails the position by the markers read,
  and a partition read to its end would otherwise report a lag of 1 for ever;
- a partition is **stalled** when it has had records waiting (lag > 0) at every sample for
  ``stall_after_s`` seconds and its read position has not moved in that time. One stall is one
  episode: it is reported once when it starts and once when it ends (the position moved, or
  nothing is waiting any more, or the partition is no longer this process's).
"""

from __future__ import annotations

from dataclasses import dataclass

#: a partition: (topic, partition)
Key = tuple[str, int]


def resume_offset(committed: int, low: int, position: int | None, pending: bool) -> int:
    """Where the group would resume reading: the committed offset (the low watermark when none
    or older), or the read position when no record read is waiting for a checkpoint.

    ``committed`` < 0 means none (librdkafka's OFFSET_INVALID); the worker's consumers start
    such a partition at its earliest offset (``auto.offset.reset=earliest``)."""
    start = max(committed, low) if committed >= 0 else low
    if not pending and position is not None and position > start:
        # every record before the position was handled and committed: the gap is markers
        start = position
    return start


def lag_of(end: int, committed: int, low: int, position: int | None, pending: bool) -> int:
    """Records on the broker that the group has not yet committed as processed (>= 0)."""
    return max(0, end - resume_offset(committed, low, position, pending))


@dataclass(frozen=True, slots=True)
class Stalled:
    key: Key
    lag: int
    #: how long records have been waiting with none read (>= stall_after_s)
    seconds: float


@dataclass(frozen=True, slots=True)
class Recovered:
    key: Key
    lag: int
    #: how long the stall lasted, from the first sample with records waiting
    seconds: float
    #: why it is over: "reading" (the position moved), "caught up" (nothing waiting) or
    #: "revoked" (the partition is no longer this process's)
    reason: str


@dataclass(slots=True)
class _Watch:
    position: int | None
    #: the first sample of the current wait (lag > 0, position unchanged); None: not waiting
    waiting_since: float | None
    stalled: bool = False


class StallDetector:
    """Samples in, stall episodes out: ``observe`` each partition at each sample (times in
    seconds from any monotonic clock), ``forget`` a partition that is no longer ours."""

    def __init__(self, stall_after_s: float) -> None:
        self.stall_after_s = stall_after_s
        self._watch: dict[Key, _Watch] = {}

    @property
    def stalled(self) -> set[Key]:
        return {key for key, watch in self._watch.items() if watch.stalled}

    def observe(
        self, now: float, key: Key, lag: int, position: int | None
    ) -> Stalled | Recovered | None:
        watch = self._watch.get(key)
        if watch is None:
            self._watch[key] = _Watch(position, now if lag > 0 else None)
            return None
        moved = position != watch.position
        watch.position = position
        if lag <= 0 or moved:
            ended = None
            if watch.stalled:
                since = watch.waiting_since if watch.waiting_since is not None else now
                reason = "reading" if moved else "caught up"
                ended = Recovered(key, max(lag, 0), now - since, reason)
            # Waiting starts again at this sample if records are still there: they were read
            # from (moved), so nothing proves they waited before it.
            watch.waiting_since = now if lag > 0 else None
            watch.stalled = False
            return ended
        if watch.waiting_since is None:
            watch.waiting_since = now  # records arrived since the last sample, none read yet
            return None
        waited = now - watch.waiting_since
        if not watch.stalled and waited >= self.stall_after_s:
            watch.stalled = True
            return Stalled(key, lag, waited)
        return None

    def forget(self, now: float, key: Key) -> Recovered | None:
        """The partition is not ours any more: an open stall episode ends here."""
        watch = self._watch.pop(key, None)
        if watch is None or not watch.stalled:
            return None
        since = watch.waiting_since if watch.waiting_since is not None else now
        return Recovered(key, 0, now - since, "revoked")
