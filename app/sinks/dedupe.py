"""The record of what happened to each action id, in RocksDB (rocksdict), for a retention window.

Value: ``{"s": status, "at": epoch ms, "r": receipt acknowledged, "c": customer id}``; status
``pending`` is
written before a provider call, ``sent``/``failed`` after it. A redelivered action whose status
is final is not delivered again; one still ``pending`` was cut off by a crash mid-send.

The store also keeps the offsets the sink has committed (``OFFSETS_KEY``): how far its input
reached, which app/incarnation.py compares with the topic's end offsets where the broker gives
no topic ids to tell a new incarnation of the topic by."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from rocksdict import Options

from app.core.timeutil import format_ms
from app.sinks.rocks import open_store

PENDING = "pending"
#: keys of the store's own bookkeeping (NUL first: never an action id)
META_PREFIX = b"\x00segue/"
OFFSETS_KEY = META_PREFIX + b"offsets"


class DedupeStore:
    def __init__(self, path: Path, retention_ms: int) -> None:
        path.mkdir(parents=True, exist_ok=True)
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        hint = "one sink per channel and --worker-id on a host (stop it, or give this one another)"
        self._db = open_store(path, options, hint)
        self.retention_ms = retention_ms
        raw = self._db.get(OFFSETS_KEY)
        #: topic -> partition -> the next offset to read (as committed)
        self._offsets: dict[str, dict[str, int]] = {} if raw is None else orjson.loads(raw)

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

    def committed(self, topic: str, offsets: dict[int, int]) -> None:
        """The offsets the sink committed (partition -> next offset), kept as the furthest."""
        kept = self._offsets.setdefault(topic, {})
        for partition, offset in offsets.items():
            kept[str(partition)] = max(offset, kept.get(str(partition), 0))
        self._db[OFFSETS_KEY] = orjson.dumps(self._offsets)

    def reached(self) -> dict[tuple[str, int], int]:
        """Per partition the sink committed: the end offset the broker must have at least."""
        return {(t, int(p)): o for t, parts in self._offsets.items() for p, o in parts.items()}

    def _actions(self) -> Iterator[tuple[bytes, dict[str, Any]]]:
        for key, value in self._db.items():
            assert isinstance(key, bytes)  # raw mode: keys are bytes
            if not key.startswith(META_PREFIX):
                yield key, orjson.loads(value)

    def purge(self, now_ms: int) -> int:
        """Forget ids recorded before the retention window; returns how many."""
        horizon = now_ms - self.retention_ms
        old = [k for k, v in self._actions() if v["at"] < horizon]
        for key in old:
            del self._db[key]
        return len(old)

    def forget_customer(self, customer: str) -> int:
        """An erasure: forget every action id of ``customer``; returns how many. A scan of the
        store (retention-bounded): erasures are rare, an index kept for them would not be."""
        theirs = [k for k, v in self._actions() if v.get("c") == customer]
        for key in theirs:
            del self._db[key]
        return len(theirs)

    def close(self) -> None:
        self._db.close()


class DedupeLog:
    """A dedupe is a decision (an action not delivered): each is logged, with the action id, the
    customer, the channel and why, up to ``lines`` per ``window_ms``; beyond that they are counted
    and the window's count is logged once when it ends (``flush``, called from the sink's loop),
    so a redelivery of thousands after a crash costs a few lines. Every dedupe is also counted in
    ``segue_sink_deduplicated_total``."""

    def __init__(
        self, channel: str, logger: logging.Logger, lines: int = 20, window_ms: float = 60_000
    ) -> None:
        self.channel = channel
        self.log = logger
        self.lines = lines
        self.window_ms = window_ms
        self._window_start: float | None = None
        self._logged = 0
        self._held = 0

    def note(self, action_id: str, customer: str, why: str, now_ms: float) -> None:
        self.flush(now_ms)
        if self._window_start is None:
            self._window_start = now_ms
        if self._logged < self.lines:
            self._logged += 1
            self.log.info(
                "%s: action %s for customer %s not delivered again: %s",
                self.channel,
                action_id,
                customer,
                why,
            )
        else:
            self._held += 1

    def flush(self, now_ms: float, final: bool = False) -> None:
        """End the window if its time is up (or ``final``: the sink stops), logging how many
        dedupes it did not show."""
        start = self._window_start
        if start is None or (now_ms - start < self.window_ms and not final):
            return
        if self._held:
            self.log.info(
                "%s: %d more actions not delivered again in the last %d s (already delivered; "
                "segue_sink_deduplicated_total counts them all)",
                self.channel,
                self._held,
                max(1, round((now_ms - start) / 1000)),
            )
        self._window_start = None
        self._logged = 0
        self._held = 0


def why_deduplicated(record: dict[str, Any], elsewhere: bool = False) -> str:
    """Why an action with this dedupe record is not delivered again, for the log."""
    if elsewhere:
        kind = "sent" if record["s"] != "failed" else "failed"
        return f"already {kind} by the partition's previous owner (its receipt is on the broker)"
    at = format_ms(int(record["at"]))
    if record["s"] == "failed":
        return f"already failed at {at} ({record.get('why') or 'no reason kept'})"
    return f"already {record['s']} at {at}"
