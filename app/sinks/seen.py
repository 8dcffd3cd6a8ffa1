"""The receipt event ids the callbacks endpoint has put on the broker, in RocksDB with a TTL.

A provider callback (or a replay of one) whose receipt id is here is answered as a duplicate
and produces nothing. RocksDB drops an entry in a compaction after the TTL, never before it: an
id is remembered at least ``retention_s`` (longer is harmless, it only finds more duplicates).
The write-ahead log is written before ``add`` returns, so a restarted process remembers."""

from __future__ import annotations

from pathlib import Path

from rocksdict import AccessType, Options

from app.sinks.rocks import open_store


class SeenReceipts:
    def __init__(self, path: Path, retention_s: int) -> None:
        path.mkdir(parents=True, exist_ok=True)
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        # A TTL database instead of a purge scan: nothing blocks the endpoint's event loop.
        self._db = open_store(
            path,
            options,
            "one sink-callbacks per deployment and state folder (stop the other, or give "
            "this one another SEGUE_STATE_DIR)",
            access_type=AccessType.with_ttl(retention_s),
        )

    def __contains__(self, event_id: str) -> bool:
        return self._db.get(event_id.encode()) is not None

    def add(self, event_id: str, at_ms: int) -> None:
        self._db[event_id.encode()] = b"%d" % at_ms

    def close(self) -> None:
        self._db.close()
