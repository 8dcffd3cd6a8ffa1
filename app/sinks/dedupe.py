"""The record of what happened to each action id, in RocksDB (rocksdict), for a retention window.

Value: ``{"s": status, "at": epoch ms, "r": receipt acknowledged, "c": customer id}``; status
``pending`` is
written before a provider call, ``sent``/``failed`` after it. A redelivered action whose status
is final is not delivered again; one still ``pending`` was cut off by a crash mid-send."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from rocksdict import Options, Rdict

PENDING = "pending"


class DedupeStore:
    def __init__(self, path: Path, retention_ms: int) -> None:
        path.mkdir(parents=True, exist_ok=True)
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        self._db = Rdict(str(path), options)
        self.retention_ms = retention_ms

    def get(self, action_id: str) -> dict[str, Any] | None:
        raw = self._db.get(action_id.encode())
        return None if raw is None else orjson.loads(raw)

    def put(
        self,
        action_id: str,
        status: str,
        at_ms: int,
        receipted: bool = False,
        reason: str | None = None,
        customer: str | None = None,
    ) -> None:
        # RocksDB's write-ahead log is written before put() returns: a killed process (not a
        # lost machine) keeps it. The sink's guarantee is against process crashes.
        value: dict[str, Any] = {"s": status, "at": at_ms, "r": receipted}
        if reason is not None:
            value["why"] = reason  # a failure's reason, for a receipt emitted again
        if customer is not None:
            value["c"] = customer  # whose action it was: an erasure finds them by it
        self._db[action_id.encode()] = orjson.dumps(value)

    def mark_receipted(self, action_id: str) -> None:
        record = self.get(action_id)
        if record is not None and not record["r"]:
            self.put(action_id, record["s"], record["at"], True, record.get("why"), record.get("c"))

    def purge(self, now_ms: int) -> int:
        """Forget ids recorded before the retention window; returns how many."""
        horizon = now_ms - self.retention_ms
        old = [k for k, v in self._db.items() if orjson.loads(v)["at"] < horizon]
        for key in old:
            del self._db[key]
        return len(old)

    def forget_customer(self, customer: str) -> int:
        """An erasure: forget every action id of ``customer``; returns how many. A scan of the
        store (retention-bounded): erasures are rare, an index kept for them would not be."""
        theirs = [k for k, v in self._db.items() if orjson.loads(v).get("c") == customer]
        for key in theirs:
            del self._db[key]
        return len(theirs)

    def close(self) -> None:
        self._db.close()
