"""One partition's state for one agent's store: rocksdict underneath, decoded values on top.

Agents read and write decoded values (``get``/``put``); the store keeps them in a write-back
cache, so a customer touched by many batches is decoded once, and encoded once per checkpoint
however often it changed (``changes``). The checkpoint (checkpoint.py) produces those encoded
changes to the changelog and then hands them back to ``write`` together with the changelog
offset they reach: the values and that offset land in one RocksDB WriteBatch, so the store is
always exactly "the changelog up to offset N". Recovery (changelog.py) writes the changelog's
raw bytes past N straight into RocksDB (``write_raw``), without decoding them.

``changes()`` takes the dirty keys: keys put after it are the next checkpoint's, while the
taken ones wait (encoded) for their changelog records to be acknowledged before ``write``.

The cache is bounded: after a checkpoint, clean entries beyond ``cache_max`` are dropped,
oldest first (dirty ones are never dropped before they are written).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
from rocksdict import Options, Rdict, WriteBatch

#: keys of the store's own bookkeeping (NUL first: never an agent's key)
META_PREFIX = b"\x00segue/"
CHANGELOG_OFFSET_KEY = META_PREFIX + b"changelog-offset"
#: decoded values kept per partition store beyond the dirty ones: the customers of the moment
#: in memory, the rest on disk. A decoded profile takes ~10 KB of Python objects (measured on the
#: simulator's profiles, ~1.9 KB of JSON each), so 4,000 per partition is ~40 MB; at 20,000 a
#: worker holding 1,000,000 profiles grew to 1.4 GB RSS under events (bench/scale_state.py).
CACHE_MAX = 4_000
#: RocksDB memory: at most 2 x 16 MiB write buffers per partition store, and one block cache
#: for all the process's stores (a cache per store grew with the number of partitions owned)
WRITE_BUFFER_BYTES = 16 * 1024 * 1024
BLOCK_CACHE_BYTES = 64 * 1024 * 1024
_block_cache: Any = None

Change = tuple[bytes, bytes | None]  # key, encoded value (None: deleted)
_MISSING = object()


def rocksdb_options() -> Options:
    from rocksdict import BlockBasedOptions, Cache

    options = Options(raw_mode=True)
    options.create_if_missing(True)
    options.set_write_buffer_size(WRITE_BUFFER_BYTES)
    options.set_max_write_buffer_number(2)
    global _block_cache
    if _block_cache is None:
        _block_cache = Cache(BLOCK_CACHE_BYTES)
    table = BlockBasedOptions()
    table.set_block_cache(_block_cache)
    options.set_block_based_table_factory(table)
    return options


def _write_batch(changes: Iterable[Change], changelog_offset: int | None) -> WriteBatch:
    batch = WriteBatch(raw_mode=True)
    for key, value in changes:
        if value is None:
            batch.delete(key)
        else:
            batch.put(key, value)
    if changelog_offset is not None:
        batch.put(CHANGELOG_OFFSET_KEY, str(changelog_offset).encode())
    return batch


class PartitionStore:
    def __init__(
        self,
        path: Path,
        dumps: Callable[[Any], bytes] = orjson.dumps,
        loads: Callable[[bytes], Any] = orjson.loads,
        cache_max: int = CACHE_MAX,
    ) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = Rdict(str(path), rocksdb_options())
        self._dumps = dumps
        self._loads = loads
        self._cache_max = cache_max
        self._cache: dict[str, Any] = {}  # key -> decoded value (None: known absent)
        self._dirty: set[str] = set()

    # -- the agent's view ------------------------------------------------------------------------

    def get(self, key: str) -> Any | None:
        value = self._cache.get(key, _MISSING)
        if value is _MISSING:
            raw = self._db.get(key.encode())
            value = None if raw is None else self._loads(raw)
            self._cache[key] = value
        return value

    def put(self, key: str, value: Any | None) -> None:
        """Set (``None``: delete) a key's value; written at the next checkpoint."""
        self._cache[key] = value
        self._dirty.add(key)

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def items(self) -> Iterator[tuple[str, Any]]:
        """Every stored key and value, as of the last checkpoint (bookkeeping keys left out)."""
        it = self._db.iter()
        it.seek_to_first()
        while it.valid():
            key = it.key()
            if not key.startswith(META_PREFIX):
                yield key.decode(), self._loads(it.value())
            it.next()

    # -- the checkpoint's view -------------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        return bool(self._dirty)

    @property
    def dirty_count(self) -> int:
        return len(self._dirty)

    def changes(self) -> list[Change]:
        """The keys changed since the last ``changes()``, each encoded once (and no longer
        dirty: a later ``put`` makes a key dirty again, for the next checkpoint)."""
        cache, dumps = self._cache, self._dumps
        taken, self._dirty = self._dirty, set()
        out: list[Change] = []
        for key in taken:
            value = cache[key]
            out.append((key.encode(), None if value is None else dumps(value)))
        return out

    def write(self, changes: list[Change], changelog_offset: int | None) -> None:
        """Write ``changes`` (from ``changes()``) and the changelog offset they reach, atomically."""
        self._db.write(_write_batch(changes, changelog_offset))
        self._trim()

    def discard(self) -> None:
        """Forget changes not written (an aborted checkpoint): the next reads come from disk.

        The whole cache goes: a handler may have changed a value in place without ``put``."""
        self._cache.clear()
        self._dirty.clear()

    def changelog_offset(self) -> int | None:
        """The last changelog offset this store reflects (None: nothing recovered or written)."""
        raw = self._db.get(CHANGELOG_OFFSET_KEY)
        return None if raw is None else int(raw)

    def write_raw(self, records: Iterable[Change], changelog_offset: int) -> None:
        """Recovery: changelog records as they are (no decode), up to ``changelog_offset``."""
        records = list(records)
        for key, _value in records:
            self._cache.pop(key.decode(), None)
        self._db.write(_write_batch(records, changelog_offset))

    def settle(self) -> None:
        """After a recovery: write the memtables out to disk files, so that the memory the
        recovered records took (up to 2 write buffers per store) is not held while idle."""
        self._db.flush()

    def _trim(self) -> None:
        cache = self._cache
        excess = len(cache) - self._cache_max
        if excess <= 0:
            return
        dirty = self._dirty  # put since the last changes(): not on disk yet
        for key in list(cache)[: excess + len(dirty)]:
            if key not in dirty:
                del cache[key]

    def close(self) -> None:
        self._db.close()

    def destroy(self) -> None:
        """Close and delete the store's files (its changelog rebuilds it)."""
        self._db.close()
        shutil.rmtree(self.path, ignore_errors=True)
