"""The replay's keyed state on disk: customers' (profile, journey state) and identity rows.

A :class:`StoreTable` is the live runtime's partition store (app/runtime/store.py: rocksdict
under a cache of decoded values) used as the ``Table`` of ``run_resolved``: every change is
``put`` back, the changed values are written to RocksDB once ``flush_every`` of them are
dirty, and the cache then keeps ``cache_max`` decoded values, the customers of the moment. An
input with fewer customers than that never leaves memory; a larger one costs an encode and a
decode per customer that drops out of the cache and comes back.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.runtime.store import PartitionStore

#: decoded states kept: a profile and its journey state take ~10 KB of Python objects, so
#: 16,000 is ~160 MB (app/runtime/store.py measured the size)
STATES_CACHED = 16_000
#: identity rows are small ({"c": customer}): many more of them fit in the same room
ROWS_CACHED = 200_000


class StoreTable:
    def __init__(self, path: Path, cache_max: int) -> None:
        self._store = PartitionStore(path, cache_max=cache_max)
        self._flush_every = max(1, cache_max // 2)

    def get(self, key: str) -> Any | None:
        return self._store.get(key)

    def put(self, key: str, value: Any | None) -> None:
        store = self._store
        store.put(key, value)
        if store.dirty_count >= self._flush_every:
            self.flush()

    def flush(self) -> None:
        self._store.write(self._store.changes(), None)

    def items(self) -> Iterator[tuple[str, Any]]:
        """Every key and value, from disk (after a flush): an erasure's scan of the rows."""
        self.flush()
        return self._store.items()

    def values(self) -> Iterator[Any]:
        """Every value, decoded from disk (after a flush): the end of a replay walks them."""
        self.flush()
        for _, value in self._store.items():
            yield value

    def close(self) -> None:
        self._store.close()
