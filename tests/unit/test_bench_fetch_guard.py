"""The fetch guard on aiokafka's real record parsing: a fetch that skips records is asked again."""

from __future__ import annotations

import struct
from collections.abc import Iterator

import pytest
from aiokafka.consumer.fetcher import PartitionRecords
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import TopicPartition

from bench.pipelines import fetch_guard

TP = TopicPartition("events", 2)


def batch(base: int, count: int) -> bytes:
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 20,
    )
    for i in range(count):
        builder.append(
            i, timestamp=1_700_000_000_000, key=b"k", value=b"v%d" % (base + i), headers=[]
        )
    raw = bytearray(builder.build())
    raw[0:8] = struct.pack(">q", base)  # the batch's base offset
    return bytes(raw)


def fetched(fetch_offset: int, *batches: bytes) -> PartitionRecords:
    return PartitionRecords(
        TP,
        MemoryRecords(b"".join(batches)),
        [],
        fetch_offset,
        None,
        None,
        False,
        0,  # READ_UNCOMMITTED
    )


@pytest.fixture(autouse=True)
def guard_installed() -> Iterator[None]:
    fetch_guard.install()
    fetch_guard._retries.clear()
    yield
    fetch_guard._retries.clear()


def offsets(records: PartitionRecords) -> list[int]:
    return [r.offset for r in records]


def test_contiguous_fetch_passes_untouched() -> None:
    records = fetched(170, batch(170, 6), batch(176, 3))
    assert offsets(records) == list(range(170, 179))
    assert records.next_fetch_offset == 179


def test_a_hole_stops_the_fetch_at_the_missing_offset() -> None:
    records = fetched(170, batch(170, 6), batch(178, 3))  # 176 and 177 left out
    assert offsets(records) == list(range(170, 176))
    assert records.next_fetch_offset == 176  # the next fetch asks for 176 again


def test_a_hole_at_the_fetch_offset_returns_nothing() -> None:
    records = fetched(142, batch(144, 3))
    assert offsets(records) == []
    assert records.next_fetch_offset == 142


def test_the_fetch_after_the_hole_is_filled_delivers_everything() -> None:
    assert offsets(fetched(176, batch(178, 2))) == []
    assert offsets(fetched(176, batch(176, 4))) == [176, 177, 178, 179]
    assert fetch_guard._retries == {}


def test_records_below_the_fetch_offset_are_still_skipped() -> None:
    assert offsets(fetched(172, batch(170, 6))) == [172, 173, 174, 175]


def test_a_hole_that_persists_is_stepped_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch_guard, "MAX_RETRIES", 3)
    assert offsets(fetched(10, batch(12, 2))) == []
    assert offsets(fetched(10, batch(12, 2))) == []
    third = fetched(10, batch(12, 2))
    assert offsets(third) == [12, 13]
    assert third.next_fetch_offset == 14
