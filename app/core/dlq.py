"""The dead-letter record: why input was rejected, the original bytes, and where it came from."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from app.core.envelope import MAX_TS
from app.core.timeutil import format_ms

#: original bytes kept in a DLQ record: the input topics' limit (topics.yaml), so on a broker
#: that enforces it every original is whole; base64 makes 2 MiB 2.67 MiB, under the DLQ's 4 MiB
ORIGINAL_MAX = 2 * 1024 * 1024


def dlq_record(
    reason: str,
    value: bytes | None,
    key: bytes | None,
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int | None,
) -> dict[str, Any]:
    """Build the DLQ value (schema: topics/schemas/dlq.schema.json). Nothing of the input is lost:
    up to ``ORIGINAL_MAX`` bytes of it are kept here; beyond that (a broker that does not enforce
    the topic's size limit let it through) the first ``ORIGINAL_MAX`` bytes and the SHA-256 of the
    whole, which stays at its source offset until the topic's retention ends."""
    original = value or b""
    size = len(original)
    extra: dict[str, Any] = {}
    if size > ORIGINAL_MAX:
        extra = {
            "original_truncated": True,
            "original_sha256": hashlib.sha256(original).hexdigest(),
        }
        original = original[:ORIGINAL_MAX]
    return {
        "reason": reason,
        "source": {
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "timestamp_ms": timestamp_ms,
        },
        "key_b64": base64.b64encode(key).decode("ascii") if key is not None else None,
        "original_b64": base64.b64encode(original).decode("ascii"),
        "original_size": size,
        # a producer sets the record timestamp: it may be anything
        "rejected_at": (
            format_ms(timestamp_ms)
            if timestamp_ms is not None and 0 <= timestamp_ms < MAX_TS
            else None
        ),
        **extra,
    }
