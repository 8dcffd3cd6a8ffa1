"""The murmur2 partitioner must place keys exactly as Kafka's Java clients and librdkafka's
``murmur2_random`` do: Segue decides from it whether an event is on its customer's partition."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app import partitioner
from app.partitioner import murmur2, partition_for

# org.apache.kafka.common.utils.UtilsTest.testMurmur2 (signed Java ints)
JAVA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


def _signed(value: int) -> int:
    return value - (1 << 32) if value >= 1 << 31 else value


def _reference(data: bytes) -> int:
    """Utils.murmur2 transcribed byte by byte (no word reads), for the property below."""
    m, h = 0x5BD1E995, 0x9747B28C ^ len(data)
    for i in range(len(data) // 4):
        k = int.from_bytes(data[4 * i : 4 * i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    rest, base = len(data) % 4, len(data) & ~3
    if rest >= 3:
        h ^= data[base + 2] << 16
    if rest >= 2:
        h ^= data[base + 1] << 8
    if rest >= 1:
        h ^= data[base]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    return h ^ (h >> 15)


def test_murmur2_gives_the_java_clients_values() -> None:
    for key, expected in JAVA_VECTORS.items():
        assert _signed(murmur2(key)) == expected, key


@given(st.binary(max_size=64))
def test_murmur2_equals_the_bytewise_reference(data: bytes) -> None:
    assert murmur2(data) == _reference(data)


@given(st.binary(min_size=1, max_size=32), st.integers(min_value=1, max_value=64))
def test_partition_is_the_positive_hash_modulo_the_count_and_cached_alike(
    key: bytes, partitions: int
) -> None:
    expected = (murmur2(key) & 0x7FFFFFFF) % partitions
    assert partition_for(key, partitions) == expected
    assert partition_for(key, partitions) == expected  # from the cache


def test_a_full_cache_is_cleared_not_wrong(monkeypatch) -> None:
    monkeypatch.setattr(partitioner, "_CACHE_SIZE", 3)
    monkeypatch.setattr(partitioner, "_cache", {})
    keys = [f"c-{i}".encode() for i in range(10)]
    assert [partition_for(k, 7) for k in keys] == [(murmur2(k) & 0x7FFFFFFF) % 7 for k in keys]
    assert len(partitioner._cache[7]) <= 3
