"""The dead-letter record: why input was rejected, the original bytes, and where it came from."""

from __future__ import annotations

import base64
from typing import Any

from app.core.timeutil import format_ms


def dlq_record(
    reason: str,
    value: bytes | None,
    key: bytes | None,
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int | None,
) -> dict[str, Any]:
    """Build the DLQ value (schema: topics/schemas/dlq.schema.json). Nothing of the input is lost."""
    original = value or b""
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
        "original_size": len(original),
        "rejected_at": format_ms(timestamp_ms) if timestamp_ms is not None else None,
    }
