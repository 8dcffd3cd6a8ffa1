"""Each input record reaches an agent once, in offset order, or the agent asks for it again.

Why: faust can lose records around a (re)start. Its fetcher runs during changelog recovery, the
stream partitions are resumed before the seek to the committed offsets, and its drain loop drops
every record below the last offset it delivered. Records fetched in that window can advance that
mark past records that were never handed to the agent, whose later copies are then dropped, and
the commit moves over them (seen on the embedded broker under CPU load in
tests/integration/test_pipeline.py's restart test: runs of consecutive input offsets never
processed, with faust's dev log showing "DROPPED MESSAGE" for exactly those). A fetch that skips
records (fetch_guard.py) would look the same here.

So each agent checks that the offsets it processes per partition follow each other, starting at
the committed offset:

- the expected offset: process it;
- below it: a copy of a record already processed: skip it;
- above it: records are missing. The agent processes nothing more of that partition in this
  batch, leaves those records unacknowledged (so no commit passes them), and seeks the partition
  back to the missing offset; the fetcher delivers from there again.

Records of the old fetch keep arriving for a moment after a seek, so a partition is sought back at
most once per ``REWIND_INTERVAL_S``. A gap that persists over ``MAX_REWINDS`` rewinds at the same
offset is a real one (a compacted or transactional input topic on a real Kafka has offsets
without records): it is logged and passed. Pure bookkeeping with an injected clock: the agent
does the acking and the seeking (pipeline.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from typing import Any

from prometheus_client import Counter

log = logging.getLogger("segue.offsets")

#: rewinds to the same missing offset before the gap is taken as real
MAX_REWINDS = 20
#: at most one rewind of a partition per this many seconds
REWIND_INTERVAL_S = 0.5

REWINDS = Counter(
    "segue_offset_rewinds_total", "Partitions sought back because records went missing", ["agent"]
)
COPIES = Counter(
    "segue_offset_copies_skipped_total", "Records delivered again and skipped", ["agent"]
)
GAPS_PASSED = Counter(
    "segue_offset_gaps_passed_total", "Persistent offset gaps accepted as real", ["agent"]
)


class OffsetGuard:
    """The next offset an agent must process, per input partition (``tp`` any hashable)."""

    def __init__(
        self,
        agent: str,
        committed: Callable[[Any], int | None],
        ready: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.agent = agent
        self._committed = committed
        self._ready = ready
        self._clock = clock
        #: records seen before the consumer sought to the committed offsets: lowest per partition
        self._early: dict[Hashable, int] = {}
        self.generation: object = None
        self._next: dict[Hashable, int] = {}
        self._tries: dict[tuple[Hashable, int], int] = {}
        self._last_rewind: dict[Hashable, float] = {}
        #: partitions with missing records in the current batch -> the offset to seek back to
        self.rewinds: dict[Hashable, int] = {}

    def reset(self) -> None:
        """Forget every partition (after a rebalance: the committed offsets are the truth)."""
        self._next.clear()
        self._tries.clear()
        self._last_rewind.clear()
        self._early.clear()
        self.rewinds.clear()

    def follow(self, generation: object) -> None:
        """Reset when the consumer group generation changed (a rebalance happened)."""
        if generation != self.generation:
            self.reset()
            self.generation = generation

    def admit(self, tp: Hashable, offset: int) -> bool:
        """True if this record is the next one of its partition (and count it as processed)."""
        if not self._ready():
            # Before the seek to the committed offsets nothing is known for sure: hold it, and
            # ask for the partition again from the committed offset once it is known.
            self._early[tp] = min(offset, self._early.get(tp, offset))
            return False
        expected = self._next.get(tp)
        if expected is None:
            committed = self._committed(tp)
            expected = offset if committed is None else committed
        if offset == expected:
            self._next[tp] = offset + 1
            if self._tries:
                self._tries.pop((tp, offset), None)
            return True
        if offset < expected:
            COPIES.labels(self.agent).inc()
            return False
        if tp in self.rewinds:
            return False  # already rewinding this partition in this batch
        now = self._clock()
        if now - self._last_rewind.get(tp, -REWIND_INTERVAL_S) < REWIND_INTERVAL_S:
            return False  # a rewind is on its way: this is the old fetch still draining
        key = (tp, expected)
        tries = self._tries.get(key, 0) + 1
        if tries > MAX_REWINDS:
            self._tries.pop(key, None)
            GAPS_PASSED.labels(self.agent).inc()
            log.error(
                "%s: offsets %d..%d of %s never arrived after %d rewinds; passing the gap",
                self.agent,
                expected,
                offset - 1,
                tp,
                MAX_REWINDS,
            )
            self._next[tp] = offset + 1
            return True
        self._tries[key] = tries
        self._last_rewind[tp] = now
        self.rewinds[tp] = expected
        REWINDS.labels(self.agent).inc()
        log.warning(
            "%s: offsets %d..%d of %s missing; seeking back to %d",
            self.agent,
            expected,
            offset - 1,
            tp,
            expected,
        )
        return False

    def take_rewinds(self) -> dict[Hashable, int]:
        """The partitions to seek back, once per batch; the tries are kept until they arrive."""
        if self._early and self._ready():
            for tp, lowest in self._early.items():
                committed = self._committed(tp)
                self.rewinds.setdefault(tp, lowest if committed is None else committed)
            self._early.clear()
        rewinds, self.rewinds = self.rewinds, {}
        return rewinds
