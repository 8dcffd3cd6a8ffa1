"""Opening a sink's RocksDB folder: a second process on it is told in one line.

RocksDB locks its folder; a second ``segue sink CHANNEL`` with the same worker id, or a second
``segue sink-callbacks`` of a deployment on one host, got librdkafka-length tracebacks ending in
``IO error: While lock file: .../LOCK: Resource temporarily unavailable``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rocksdict import Options, Rdict


class StoreInUse(RuntimeError):
    """Another process has the store open; the message says what to do, in one line."""


def open_store(path: Path, options: Options, hint: str, **kwargs: Any) -> Rdict:
    """``Rdict(path, options, **kwargs)``; ``StoreInUse`` (with ``hint``) if it is locked."""
    try:
        return Rdict(str(path), options, **kwargs)
    except Exception as exc:  # rocksdict raises a bare Exception for every error
        if "lock" not in str(exc).lower():
            raise
        raise StoreInUse(f"{path} is open in another process: {hint}") from None
