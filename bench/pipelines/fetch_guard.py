"""Never step over records the broker left out of a fetch (a Tansu workaround, see compat.py).

Defect: under CPU load, Tansu 0.6.0 (memory storage) now and then answers a fetch at offset N
with records that start after N (a "hole": the partition's high watermark is raised before the
batch is stored, so a fetch can see a later batch before an earlier one). aiokafka accepts any
offset above the fetch position, because a compacted topic legitimately has holes, and moves its
position past the missing records; faust then treats the jump as a compaction gap and commits
over it. The records are on the broker, but the worker never reads them (seen in
tests/integration/test_pipeline.py's restart test: consecutive input records never delivered).

The guard wraps aiokafka's per-partition record iterator: at the first record whose offset is
above the next expected one, it stops and leaves the position at the hole, so the next fetch asks
for it again and the broker, by then, returns it. Nothing in the Tansu profile is compacted or
transactional, so a hole is always this defect; a hole that persists (``MAX_RETRIES`` fetches at
the same offset) is logged as an error and stepped over, so a real gap cannot stall a partition.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import Counter

log = logging.getLogger("segue.fetch_guard")

#: fetches that may return the same hole before it is accepted as a real gap
MAX_RETRIES = 200

HOLES = Counter(
    "segue_fetch_holes_total", "Fetches that skipped records and were asked again (Tansu defect)"
)
HOLES_ACCEPTED = Counter(
    "segue_fetch_holes_accepted_total", "Holes that persisted and were stepped over"
)

_installed = False
#: (topic, partition, expected offset) -> fetches that came back with a hole there
_retries: dict[tuple[str, int, int], int] = {}


def guarded(unpack: Callable[[Any], Iterator[Any]]) -> Callable[[Any], Iterator[Any]]:
    """Wrap ``PartitionRecords._unpack_records`` (which sets ``next_fetch_offset`` itself)."""

    def unpack_without_holes(self: Any) -> Iterator[Any]:
        expected = self.next_fetch_offset
        for record in unpack(self):
            if record.offset > expected:
                where = (record.topic, record.partition, expected)
                tries = _retries.get(where, 0) + 1
                if tries < MAX_RETRIES:
                    _retries[where] = tries
                    HOLES.inc()
                    if tries == 1:
                        log.warning(
                            "fetch of %s/%d skipped offsets %d..%d; asking again",
                            record.topic,
                            record.partition,
                            expected,
                            record.offset - 1,
                        )
                    self.next_fetch_offset = expected  # the position stays at the hole
                    return
                _retries.pop(where, None)
                HOLES_ACCEPTED.inc()
                log.error(
                    "offsets %d..%d of %s/%d never arrived after %d fetches; stepping over them",
                    expected,
                    record.offset - 1,
                    record.topic,
                    record.partition,
                    tries,
                )
            elif _retries:
                _retries.pop((record.topic, record.partition, expected), None)
            expected = record.offset + 1
            yield record

    return unpack_without_holes


def install() -> None:
    """Patch aiokafka once per process (the Tansu profile only)."""
    global _installed
    if _installed:
        return
    from aiokafka.consumer.fetcher import PartitionRecords

    PartitionRecords._unpack_records = guarded(PartitionRecords._unpack_records)
    _installed = True
