"""Table access for a batch: every read and write runs as the record's own event.

faust routes a table operation by the *current event* (a context variable): the RocksDB
partition it reads or writes and the changelog partition it sends to are the current event's
partition. Batches (``take_events``) hold records of several partitions while the stream's
current event is only the last one fetched, so each operation here sets the current event to
the record that concerns that key: state and changelog stay co-partitioned with the input.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from faust.streams import _current_event


@contextmanager
def acting_for(event: Any) -> Iterator[None]:
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


class TableStore:
    """The journey agent's :class:`~app.stream.journey_agent.Store` over two faust tables."""

    def __init__(self, profiles: Any, timers: Any) -> None:
        self.profiles = profiles
        self.timers = timers

    def get_record(self, handle: Any, key: str) -> dict[str, Any] | None:
        with acting_for(handle):
            return self.profiles.get(key)

    def put_record(self, handle: Any, key: str, record: dict[str, Any]) -> None:
        with acting_for(handle):
            self.profiles[key] = record

    def get_timer(self, handle: Any, key: str) -> int | None:
        with acting_for(handle):
            return self.timers.get(key)

    def put_timer(self, handle: Any, key: str, due: int | None) -> None:
        with acting_for(handle):
            if due is not None:
                self.timers[key] = due
            elif key in self.timers:
                del self.timers[key]


class IdentityStore:
    """The identity agent's :class:`~app.stream.identity_agent.RowStore` over the identity table."""

    def __init__(self, identity: Any) -> None:
        self.identity = identity

    def get_row(self, handle: Any, ident: str) -> dict[str, Any] | None:
        with acting_for(handle):
            return self.identity.get(ident)

    def put_row(self, handle: Any, ident: str, row: dict[str, Any]) -> None:
        with acting_for(handle):
            self.identity[ident] = row
