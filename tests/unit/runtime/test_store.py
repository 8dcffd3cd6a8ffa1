"""PartitionStore on a real RocksDB: the write-back cache, atomic writes with the changelog
offset, raw recovery writes, and what survives a reopen."""

from __future__ import annotations

from pathlib import Path

import orjson

from app.runtime.store import PartitionStore


def test_values_are_decoded_once_and_encoded_once_per_checkpoint(tmp_path: Path) -> None:
    decoded: list[bytes] = []
    encoded: list[object] = []

    def loads(raw: bytes) -> object:
        decoded.append(raw)
        return orjson.loads(raw)

    def dumps(value: object) -> bytes:
        encoded.append(value)
        return orjson.dumps(value)

    store = PartitionStore(tmp_path / "s", dumps=dumps, loads=loads)
    store.write([(b"a", b'{"n":1}')], 0)
    for _ in range(5):
        value = store.get("a")
        assert value is not None
        value["n"] += 1
        store.put("a", value)
    assert len(decoded) == 1
    changes = store.changes()
    assert changes == [(b"a", b'{"n":6}')]
    assert len(encoded) == 1
    store.write(changes, 7)
    assert not store.dirty
    store.close()
    reopened = PartitionStore(tmp_path / "s")
    assert reopened.get("a") == {"n": 6}
    assert reopened.changelog_offset() == 7


def test_a_deleted_key_is_a_tombstone_and_gone_after_the_write(tmp_path: Path) -> None:
    store = PartitionStore(tmp_path / "s")
    store.put("a", {"x": 1})
    store.write(store.changes(), 0)
    store.put("a", None)
    changes = store.changes()
    assert changes == [(b"a", None)]
    store.write(changes, 1)
    store.close()
    reopened = PartitionStore(tmp_path / "s")
    assert reopened.get("a") is None
    assert list(reopened.items()) == []


def test_unwritten_changes_never_reach_disk_and_discard_forgets_them(tmp_path: Path) -> None:
    store = PartitionStore(tmp_path / "s")
    store.put("a", {"v": 1})
    store.write(store.changes(), 0)
    value = store.get("a")
    assert value is not None
    value["v"] = 2  # changed in place, then the checkpoint is abandoned
    store.put("b", {"v": 3})
    store.discard()
    assert store.get("a") == {"v": 1}
    assert store.get("b") is None
    assert store.changelog_offset() == 0


def test_recovery_writes_raw_bytes_and_the_offset_they_reach(tmp_path: Path) -> None:
    store = PartitionStore(tmp_path / "s")
    store.put("a", {"old": True})
    store.write(store.changes(), 3)
    assert store.get("a") == {"old": True}  # cached
    store.write_raw([(b"a", b'{"new":true}'), (b"b", b"[1]"), (b"b", None)], 9)
    assert store.get("a") == {"new": True}  # the cache no longer hides the recovered value
    assert store.get("b") is None
    assert store.changelog_offset() == 9
    assert dict(store.items()) == {"a": {"new": True}}


def test_the_cache_stays_bounded_and_values_come_back_from_disk(tmp_path: Path) -> None:
    store = PartitionStore(tmp_path / "s", cache_max=10)
    for i in range(100):
        store.put(f"k{i}", {"i": i})
    changes = store.changes()
    assert len(changes) == 100  # dirty values are never dropped before the write
    store.write(changes, 0)
    assert len(store._cache) == 10
    assert all(store.get(f"k{i}") == {"i": i} for i in range(100))


def test_keys_put_while_a_checkpoint_is_in_flight_are_the_next_ones(tmp_path: Path) -> None:
    """changes() takes the dirty keys; keys put before that checkpoint's write stay dirty and
    cached (a trim never drops them: they are on no disk yet) for the next one."""
    store = PartitionStore(tmp_path / "s", cache_max=2)
    for i in range(5):
        store.put(f"k{i}", {"i": i})
    in_flight = store.changes()
    assert not store.dirty
    store.put("k0", {"i": 10})  # again, after the snapshot
    for i in range(5, 9):
        store.put(f"k{i}", {"i": i})
    store.write(in_flight, 0)
    assert store.dirty_count == 5
    assert {key.decode() for key, _value in in_flight} == {f"k{i}" for i in range(5)}
    assert store.get("k0") == {"i": 10} and store.get("k8") == {"i": 8}
    changes = dict(store.changes())
    assert set(changes) == {b"k0", b"k5", b"k6", b"k7", b"k8"}
    store.write(list(changes.items()), 1)
    store.close()
    reopened = PartitionStore(tmp_path / "s")
    assert reopened.get("k0") == {"i": 10} and reopened.get("k4") == {"i": 4}
