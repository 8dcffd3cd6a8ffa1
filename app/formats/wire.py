"""The Confluent wire format: magic byte 0, a 4-byte big-endian schema id, then the body
(Avro binary, or JSON text for JSON Schema). The one place that knows that framing.

A JSON value starts with ``{`` (or whitespace), never with a zero byte, so a topic can carry
both while an estate migrates: ``framed`` tells them apart by the first byte.
"""

from __future__ import annotations

import struct

MAGIC = 0
_HEADER = struct.Struct(">bI")
HEADER_SIZE = _HEADER.size  # 5


class WireFormatError(ValueError):
    """Bytes that start as the wire format but are not a whole frame."""


def framed(raw: bytes | None) -> bool:
    """Whether ``raw`` is in the wire format (by its first byte)."""
    return bool(raw) and raw[0] == MAGIC  # type: ignore[index]


def frame(schema_id: int, body: bytes) -> bytes:
    return _HEADER.pack(MAGIC, schema_id) + body


def unframe(raw: bytes) -> tuple[int, memoryview]:
    """The schema id and the body of a framed record."""
    if len(raw) < HEADER_SIZE:
        raise WireFormatError(
            f"wire format: {len(raw)} bytes, shorter than its {HEADER_SIZE}-byte header"
        )
    _, schema_id = _HEADER.unpack_from(raw)
    return schema_id, memoryview(raw)[HEADER_SIZE:]
