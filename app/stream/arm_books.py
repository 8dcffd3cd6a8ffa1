"""The live engine's arm statistics: each partition's book in the journey agent's own store.

An adaptive step's choice reads, and its pulls and rewards write, the book of the partition the
customer is processed on (core/journeys/bandit.py). Here that book is one record of the
partition's customer store under ``BOOK_KEY`` (a NUL key: never a customer), read once per
batch and written back with the batch's customers, so the checkpoint makes it durable with
them, a restart or a new owner reads it from the changelog, and a batch replayed after a crash
starts again from the book it started from.
"""

from __future__ import annotations

from typing import Any, Protocol

from app.core.journeys.bandit import BOOK_KEY, Book, Books, new_book


class RecordStore(Protocol):
    def get_record(self, handle: Any, key: str) -> dict[str, Any] | None: ...
    def put_record(self, handle: Any, key: str, record: dict[str, Any] | None) -> None: ...


class StoredBooks(Books):
    """``book(key)`` is the book of the partition whose record is being handled (``at``): live,
    a customer is always handled on the partition ``partition_for(key)`` gives, which is what
    replay computes."""

    def __init__(self) -> None:
        super().__init__()
        self._store: RecordStore | None = None
        self._partition = 0
        self._handle: Any = None
        self._loaded: dict[int, tuple[Any, Book]] = {}

    def begin(self, store: RecordStore) -> None:
        """A new batch: books are read again from ``store`` when first needed."""
        self._store = store
        self._loaded = {}

    def at(self, partition: int, handle: Any) -> None:
        self._partition = partition
        self._handle = handle

    def book(self, key: str) -> Book:
        loaded = self._loaded.get(self._partition)
        if loaded is None:
            assert self._store is not None, "begin() first"
            book = self._store.get_record(self._handle, BOOK_KEY) or new_book()
            loaded = self._loaded[self._partition] = (self._handle, book)
        return loaded[1]

    def write(self) -> None:
        """Every book the batch read goes back to the store (a read is always followed by a
        pull)."""
        if self._store is None:
            return
        for handle, book in self._loaded.values():
            self._store.put_record(handle, BOOK_KEY, book)
        self._loaded = {}
