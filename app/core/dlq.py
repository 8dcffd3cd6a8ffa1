"""The dead-letter record: the rejected record as it was, and why, in headers.

Its key, value and headers are the original's, byte for byte, so a fixed record can be
re-published by copying it back (``kcat``, a replayer: nothing to unwrap). Segue's own headers
are added after the original's, all named ``segue-dlq-*``:

- ``segue-dlq-reason``: why it was rejected (UTF-8), e.g. ``properties of OrderPlaced:
  properties.total must be number``;
- ``segue-dlq-path``: the field at fault, where one is known (``properties.total``);
- ``segue-dlq-topic``, ``segue-dlq-partition``, ``segue-dlq-offset``, ``segue-dlq-timestamp``
  (the record's epoch ms, where it had one): where it came from;
- and, from a sink, ``segue-dlq-channel`` and ``segue-dlq-attempts``.

A value larger than ``ORIGINAL_MAX`` (a broker that does not enforce the input topic's size limit
let it through) is cut there; then ``segue-dlq-original-size`` and ``segue-dlq-original-sha256``
name the whole, which stays at its source offset until the topic's retention ends.
"""

from __future__ import annotations

import hashlib
from typing import Any

#: original bytes kept in a DLQ record: the input topics' limit (topics.yaml), under the DLQ's
#: own 4 MiB with room for the headers
ORIGINAL_MAX = 2 * 1024 * 1024
PREFIX = "segue-dlq-"

Headers = list[tuple[str, str | bytes | None]]  # confluent-kafka's


def dlq_value_and_headers(
    reason: str,
    value: bytes | None,
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int | None,
    headers: Any = None,  # confluent-kafka's Message.headers(): a list of pairs or None
    path: str | None = None,
    **more: str | int,
) -> tuple[bytes | None, Headers]:
    """The DLQ record's value and headers for a rejected record (its key is the original's)."""
    out: Headers = [(name, data) for name, data in headers or ()]
    out.append((f"{PREFIX}reason", reason.encode("utf-8", "replace")))
    if path:
        out.append((f"{PREFIX}path", path.encode()))
    out += [
        (f"{PREFIX}topic", topic.encode()),
        (f"{PREFIX}partition", str(partition).encode()),
        (f"{PREFIX}offset", str(offset).encode()),
    ]
    if timestamp_ms is not None:
        out.append((f"{PREFIX}timestamp", str(timestamp_ms).encode()))
    for name, data in more.items():
        out.append((f"{PREFIX}{name.replace('_', '-')}", str(data).encode()))
    if value is not None and len(value) > ORIGINAL_MAX:
        out.append((f"{PREFIX}original-size", str(len(value)).encode()))
        out.append((f"{PREFIX}original-sha256", hashlib.sha256(value).hexdigest().encode()))
        value = value[:ORIGINAL_MAX]
    return value, out


def dlq_reason(headers: Any) -> dict[str, str]:
    """Segue's ``segue-dlq-*`` headers of a DLQ record, by their short name (``reason``, ...)."""
    return {
        name[len(PREFIX) :]: (data or b"").decode("utf-8", "replace")
        for name, data in headers or ()
        if name.startswith(PREFIX)
    }
