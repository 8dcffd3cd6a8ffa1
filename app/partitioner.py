"""Kafka's default key partitioner (the Java clients' and Kafka Streams' murmur2), in Python.

Segue places a customer's records itself (customer-events, actions, identity) and decides
whether an input event is already on its customer's partition, so it must hash exactly as the
producers do: librdkafka's ``murmur2_random`` and the Java clients both use this function.
``partition_for`` runs for every event on the worker's hot path; customer ids repeat, so the
partition of a key is remembered (bounded) and the hash itself reads 4-byte words in one call.
"""

from __future__ import annotations

import struct

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF

#: key bytes -> partition, per partition count; cleared when full (a miss costs ~1 us)
_CACHE_SIZE = 200_000
_cache: dict[int, dict[bytes, int]] = {}


def murmur2(data: bytes) -> int:
    """The unsigned 32-bit murmur2 of ``data``, as org.apache.kafka.common.utils.Utils.murmur2."""
    length = len(data)
    h = _SEED ^ length
    words = length // 4
    if words:
        for k in struct.unpack_from(f"<{words}I", data):
            k = (k * _M) & _MASK
            k ^= k >> 24
            k = (k * _M) & _MASK
            h = ((h * _M) & _MASK) ^ k
    tail = length & 3
    if tail:
        base = length & ~3
        if tail == 3:
            h ^= data[base + 2] << 16
        if tail >= 2:
            h ^= data[base + 1] << 8
        h ^= data[base]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def partition_for(key: bytes, partitions: int) -> int:
    """The partition a key lands on with the Java-compatible (murmur2) partitioner."""
    cache = _cache.get(partitions)
    if cache is None:
        cache = _cache[partitions] = {}
    partition = cache.get(key)
    if partition is None:
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        partition = cache[key] = (murmur2(key) & 0x7FFFFFFF) % partitions
    return partition
